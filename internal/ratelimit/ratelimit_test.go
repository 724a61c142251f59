package ratelimit_test

import (
	"context"
	"testing"
	"time"

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

// TestAllowAll: one call charges every key only when all allow; a refusal
// charges none and says how long to wait; its budgets are Allow's.
func TestAllowAll(t *testing.T) {
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	ctx := context.Background()
	visitor := ratelimit.Rule{Key: "msg:visitor:v1", Limit: ratelimit.Limit{Rate: 1, Burst: 5, Period: time.Minute}}
	address := ratelimit.Rule{Key: "msg:ip:203.0.113.7", Limit: ratelimit.Limit{Rate: 1, Burst: 2, Period: time.Minute}}
	for i, want := range []bool{true, true, false, false} {
		ok, retry, err := l.AllowAll(ctx, visitor, address)
		if err != nil || ok != want {
			t.Fatalf("AllowAll #%d = %v, %v, want %v", i+1, ok, err, want)
		}
		if !ok && (retry <= 0 || retry > time.Minute) {
			t.Errorf("AllowAll #%d retry after %v, want within a minute", i+1, retry)
		}
	}
	// The refusals charged the visitor nothing: three of its five remain.
	for i := range 3 {
		if ok, _, err := l.AllowAll(ctx, visitor); !ok || err != nil {
			t.Fatalf("visitor alone #%d = %v, %v, want allowed", i+1, ok, err)
		}
	}
	if ok, _, _ := l.AllowAll(ctx, visitor); ok {
		t.Error("visitor's sixth event allowed, want its burst of 5 spent")
	}
	// Allow sees the same budget under the same key.
	if ok, _, err := l.Allow(ctx, address.Key, address.Limit); ok || err != nil {
		t.Errorf("Allow(address) = %v, %v, want refused: AllowAll spent its burst", ok, err)
	}
	other := ratelimit.Rule{Key: "msg:ip:198.51.100.1", Limit: address.Limit}
	if ok, _, err := l.Allow(ctx, other.Key, other.Limit); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _, _ := l.AllowAll(ctx, other); !ok {
		t.Error("AllowAll after one Allow refused, want the second of a burst of 2")
	}
	if ok, _, _ := l.AllowAll(ctx, other); ok {
		t.Error("AllowAll allowed a third of a burst of 2 shared with Allow")
	}
	if ok, _, err := l.AllowAll(ctx, ratelimit.Rule{Key: "x", Limit: ratelimit.Limit{}}); !ok || err == nil {
		t.Errorf("AllowAll(zero limit) = %v, %v, want let through with an error", ok, err)
	}
}
