package crm

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// TestEventsSinceNeverSkipsALateCommit holds a transaction open that wrote
// an event, commits another one after it, and checks the follower sees
// nothing until the first ends, then both, each exactly once.
func TestEventsSinceNeverSkipsALateCommit(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	s := NewStore(pool)
	tenant, queue := uuid.New(), uuid.New()
	mustExec(t, pool, `INSERT INTO tenants (id, name) VALUES ($1, 'T')`, tenant)
	mustExec(t, pool, `INSERT INTO queues (id, tenant_id, name) VALUES ($1, $2, 'Q')`, queue, tenant)
	newContact := func() uuid.UUID {
		id := uuid.New()
		mustExec(t, pool, `INSERT INTO contacts (id, tenant_id, channel, queue_id, state, arrived_at) VALUES ($1, $2, 'chat', $3, 'queued', now())`, id, tenant, queue)
		return id
	}
	early, late := newContact(), newContact()

	_, cur, err := s.EventsSince(ctx, tenant, EventCursor(""), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if _, err := slow.Exec(ctx, `INSERT INTO contact_events (tenant_id, contact_id, kind) VALUES ($1, $2, 'created')`, tenant, early); err != nil {
		t.Fatal(err)
	}
	mustExec(t, pool, `INSERT INTO contact_events (tenant_id, contact_id, kind) VALUES ($1, $2, 'created')`, tenant, late)

	early0, cur2, err := s.EventsSince(ctx, tenant, cur, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(early0) != 0 {
		t.Fatalf("while an older transaction is open the follower got %v; it must wait, or it would skip that one", early0)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// xmin is the whole server's: other transactions running at this moment
	// (other tests' databases) may hold it back a little longer.
	var got []Event
	cur3 := cur2
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		more, next, err := s.EventsSince(ctx, tenant, cur3, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		got, cur3 = append(got, more...), next
		if len(got) >= 2 {
			break
		}
	}
	if len(got) != 2 || got[0].ContactID != early || got[1].ContactID != late || got[0].Channel != org.Chat || got[0].QueueID != queue {
		t.Fatalf("after the commit the follower got %+v, want both events, the early one first", got)
	}
	again, _, err := s.EventsSince(ctx, tenant, cur3, time.Time{})
	if err != nil || len(again) != 0 {
		t.Errorf("a second read returned %v, %v; want nothing new", again, err)
	}
	if other, _, _ := s.EventsSince(ctx, uuid.New(), EventCursor(""), time.Time{}); len(other) != 0 {
		t.Errorf("another tenant sees %d events", len(other))
	}
}

func mustExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
