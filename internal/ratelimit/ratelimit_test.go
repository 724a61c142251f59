package ratelimit_test

import (
	"context"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/redistest"
)

// TestLimitIsSharedAcrossLimiters: two limiters on one Redis, as two nodes
// would have, share one budget per key.
func TestLimitIsSharedAcrossLimiters(t *testing.T) {
	rdb, prefix := redistest.New(t)
	a, b := ratelimit.New(rdb, prefix), ratelimit.New(rdb, prefix)
	ctx := context.Background()
	limit := ratelimit.PerMinute(4)
	allowed := 0
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, _, err := l.Allow(ctx, "login:203.0.113.7", limit)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		}
	}
	if allowed != 4 {
		t.Errorf("%d of 10 events allowed across two nodes, want the shared budget of 4", allowed)
	}
	if ok, _, _ := a.Allow(ctx, "login:198.51.100.1", limit); !ok {
		t.Error("another key is limited too")
	}
}
