package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Chat visitors' sockets, so that a queued chat whose visitor has gone can
// be abandoned by whichever node notices first. Each watched chat (a
// member string chosen by the caller) has a sorted set of its sockets
// scored by expiry, and the set "chatvis:absent" scores each chat by the
// moment it has had no socket since: the far future while a socket is
// open and heartbeating (its expiry), the close time after its last socket
// closed. A node that crashes stops heartbeating, so its visitors' chats
// age from their last expiry without anyone closing them.

var visitorUp = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[3])
return 1`)

var visitorDown = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) end
return 1`)

// claimAbsent removes a chat from the absent set if it has been absent
// since cutoff or earlier and has no live socket: one node wins.
var claimAbsent = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)

func (b *Bus) visitorKeys(member string) []string {
	return []string{b.Key("chatvis", "sockets", member), b.Key("chatvis", "absent")}
}

// VisitorUp records (or, called every ConnTTL/3, keeps alive) a visitor's
// socket on the chat named member.
func (b *Bus) VisitorUp(ctx context.Context, member, socket string) error {
	exp := time.Now().Add(ConnTTL).UnixMilli()
	err := visitorUp.Run(ctx, b.rdb, b.visitorKeys(member), socket, exp, member, (2 * ConnTTL).Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("visitor up: %w", err)
	}
	return nil
}

// VisitorDown forgets one socket; when it was the chat's last, the chat is
// absent from now.
func (b *Bus) VisitorDown(ctx context.Context, member, socket string) error {
	now := time.Now().UnixMilli()
	if err := visitorDown.Run(ctx, b.rdb, b.visitorKeys(member), socket, now, member).Err(); err != nil {
		return fmt.Errorf("visitor down: %w", err)
	}
	return nil
}

// AbsentVisitors returns the chats absent since before (at the latest),
// with the moment each became absent.
func (b *Bus) AbsentVisitors(ctx context.Context, before time.Time) (map[string]time.Time, error) {
	zs, err := b.rdb.ZRangeByScoreWithScores(ctx, b.Key("chatvis", "absent"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(before.UnixMilli(), 10), Count: 1000}).Result()
	if err != nil {
		return nil, fmt.Errorf("absent visitors: %w", err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		out[z.Member.(string)] = time.UnixMilli(int64(z.Score))
	}
	return out, nil
}

// ClaimAbsent takes the chat out of the absent set if it has been absent
// since cutoff or earlier and no socket has come back; true for exactly one
// caller.
func (b *Bus) ClaimAbsent(ctx context.Context, member string, cutoff time.Time) (bool, error) {
	n, err := claimAbsent.Run(ctx, b.rdb, b.visitorKeys(member), member, cutoff.UnixMilli(), time.Now().UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("claim absent visitor: %w", err)
	}
	return n == 1, nil
}

// ForgetVisitor drops a chat from the absent set (it ended).
func (b *Bus) ForgetVisitor(ctx context.Context, member string) error {
	if err := b.rdb.ZRem(ctx, b.Key("chatvis", "absent"), member).Err(); err != nil {
		return fmt.Errorf("forget visitor: %w", err)
	}
	return nil
}
