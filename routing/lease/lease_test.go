package lease_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/routing/lease"
)

func setup(t *testing.T) (*pgxpool.Pool, uuid.UUID) {
	pool, _ := pgtest.New(t)
	tenant := uuid.New()
	if _, err := pool.Exec(context.Background(), `INSERT INTO tenants (id, name) VALUES ($1, 'T')`, tenant); err != nil {
		t.Fatal(err)
	}
	return pool, tenant
}

func TestTakeoverFencesTheOldHolder(t *testing.T) {
	pool, tenant := setup(t)
	ctx := context.Background()
	a, err := lease.Acquire(ctx, pool, tenant, "node-a", time.Minute)
	if err != nil || a.Epoch != 1 {
		t.Fatalf("first Acquire = %+v, %v; want epoch 1", a, err)
	}
	if _, err := lease.Acquire(ctx, pool, tenant, "node-b", time.Minute); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("Acquire while held = %v, want ErrHeld", err)
	}
	if a, err = lease.Renew(ctx, pool, a, time.Minute); err != nil {
		t.Fatalf("Renew by holder = %v", err)
	}
	// node-a pauses; its lease runs out.
	pool.Exec(ctx, `UPDATE routing_lease SET expires_at = now() - interval '1 second'`)
	b, err := lease.Acquire(ctx, pool, tenant, "node-b", time.Minute)
	if err != nil || b.Epoch != 2 {
		t.Fatalf("takeover = %+v, %v; want epoch 2", b, err)
	}
	if _, err := lease.Renew(ctx, pool, a, time.Minute); !errors.Is(err, lease.ErrLost) {
		t.Errorf("old holder's Renew = %v, want ErrLost", err)
	}
	if err := lease.Release(ctx, pool, a); !errors.Is(err, lease.ErrLost) {
		t.Errorf("old holder's Release = %v, want ErrLost", err)
	}
	if err := lease.Release(ctx, pool, b); err != nil {
		t.Fatal(err)
	}
	c, err := lease.Acquire(ctx, pool, tenant, "node-c", time.Minute)
	if err != nil || c.Epoch != 3 {
		t.Errorf("Acquire after Release = %+v, %v; want epoch 3 at once", c, err)
	}
}

func TestConcurrentAcquireHasOneWinner(t *testing.T) {
	pool, tenant := setup(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := lease.Acquire(context.Background(), pool, tenant, string(rune('a'+i)), time.Minute)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, lease.ErrHeld) {
				t.Errorf("Acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d nodes acquired the lease at once, want 1", wins)
	}
}
