package bus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// ConnTTL is how long a socket counts as connected without a heartbeat.
const ConnTTL = 30 * time.Second

// MarkConnected records that socket of member (an agent) in group (a tenant)
// is open, until ConnTTL passes without another call. One sorted set per
// group, scored by expiry, so "who is connected" is one range query and
// sockets of a crashed node expire by themselves.
func (b *Bus) MarkConnected(ctx context.Context, group, member uuid.UUID, socket string) error {
	exp := time.Now().Add(ConnTTL).UnixMilli()
	key := b.Key("conns", group.String())
	pipe := b.rdb.TxPipeline()
	pipe.ZAdd(ctx, key, redis.Z{Score: float64(exp), Member: member.String() + "/" + socket})
	pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(time.Now().UnixMilli(), 10))
	pipe.PExpire(ctx, key, 2*ConnTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("mark connected: %w", err)
	}
	return nil
}

// MarkDisconnected forgets one socket.
func (b *Bus) MarkDisconnected(ctx context.Context, group, member uuid.UUID, socket string) error {
	if err := b.rdb.ZRem(ctx, b.Key("conns", group.String()), member.String()+"/"+socket).Err(); err != nil {
		return fmt.Errorf("mark disconnected: %w", err)
	}
	return nil
}

// Connected returns the members of group with at least one live socket.
func (b *Bus) Connected(ctx context.Context, group uuid.UUID) (map[uuid.UUID]bool, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	vals, err := b.rdb.ZRangeByScore(ctx, b.Key("conns", group.String()), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("connected: %w", err)
	}
	out := make(map[uuid.UUID]bool, len(vals))
	for _, v := range vals {
		id, _, _ := strings.Cut(v, "/")
		if u, err := uuid.Parse(id); err == nil {
			out[u] = true
		}
	}
	return out, nil
}
