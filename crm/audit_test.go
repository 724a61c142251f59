package crm_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// TestMoveQueuedIsAudited: a supervisor's move of a waiting contact writes
// one audit entry, in the move's transaction: when the entry cannot be
// written (an actor who is no user of the tenant), the contact stays where
// it was and no event is recorded.
func TestMoveQueuedIsAudited(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	second := uuid.New()
	if _, err := b.pool.Exec(ctx, `INSERT INTO queues (id, tenant_id, name) VALUES ($1, $2, 'Sales')`, second, b.a.ID); err != nil {
		t.Fatal(err)
	}
	c := b.record(t, inbound(b.a, "move-1", "mover@example.com")).ContactID
	events := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1`, c)

	if _, err := b.store.MoveQueued(ctx, b.a.ID, c, second, b.b.Agent); err == nil {
		t.Fatal("MoveQueued by another tenant's user succeeded")
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND queue_id = $2`, c, b.a.QueueID); n != 1 {
		t.Error("the contact moved although its audit entry could not be written")
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1`, c); n != events {
		t.Errorf("%d events written by the failed move, want none", n-events)
	}

	moved, err := b.store.MoveQueued(ctx, b.a.ID, c, second, b.a.Agent2)
	if err != nil || moved.QueueID != second {
		t.Fatalf("MoveQueued = %+v, %v; want the contact in Sales", moved, err)
	}
	if n := b.count(t, `
		SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND actor_id = $2 AND action = 'contact.move'
		AND target_kind = 'contact' AND target_id = $3 AND data = jsonb_build_object('from_queue', $4::text, 'to_queue', $5::text)`,
		b.a.ID, b.a.Agent2, c, b.a.QueueID.String(), second.String()); n != 1 {
		t.Errorf("%d matching contact.move audit entries, want 1", n)
	}
	if _, err := b.store.MoveQueued(ctx, b.a.ID, c, b.b.QueueID, b.a.Agent2); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("MoveQueued(to another tenant's queue) = %v, want ErrNotFound", err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log`); n != 1 {
		t.Errorf("%d audit entries, want only the one successful move", n)
	}
}
