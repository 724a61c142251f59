// Package ratelimit limits events per key across every node, with GCRA in
// Redis (go-redis/redis_rate), so that a client cannot multiply its budget
// by reaching several nodes. It is plumbing and imports nothing of ours.
package ratelimit

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limit is how many events a period allows, with bursts up to Burst.
type Limit = redis_rate.Limit

// PerSecond and PerMinute build limits whose burst equals the rate.
var (
	PerSecond = redis_rate.PerSecond
	PerMinute = redis_rate.PerMinute
)

// Limiter counts events in Redis under a key prefix.
type Limiter struct {
	l      *redis_rate.Limiter
	rdb    *redis.Client
	prefix string
}

// New returns a Limiter whose keys start with prefix.
func New(rdb *redis.Client, prefix string) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), rdb: rdb, prefix: prefix + "rate:"}
}

// Allow takes one event under key. When Redis cannot be asked it lets the
// event through and returns the error for the caller to log: an outage of
// the limiter must not lock every agent out.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (ok bool, retryAfter time.Duration, err error) {
	res, err := l.l.Allow(ctx, l.prefix+key, limit)
	if err != nil {
		return true, 0, err
	}
	return res.Allowed > 0, res.RetryAfter, nil
}
