package crm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/crm"
)

// TestCloseStartsWrapUp: closing keeps the assignment open in wrap-up,
// with the queue's deadline, shown in the snapshot and the rebuild input;
// Done ends it once; repeats are no-ops; nobody else can end it.
func TestCloseStartsWrapUp(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	if _, err := b.pool.Exec(ctx, `UPDATE queues SET wrap_up_seconds = 45 WHERE id = $1`, b.a.QueueID); err != nil {
		t.Fatal(err)
	}
	res := b.record(t, inbound(b.a, "w-1", "wrap@example.com"))
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "", time.Time{}); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("EndWrapUp before Close = %v, want ErrNotHeld", err)
	}
	c, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "first note")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != crm.StateClosed || c.WrapUpUntil == nil || c.ClosedAt == nil || c.WrapUpUntil.Sub(*c.ClosedAt) != 45*time.Second {
		t.Fatalf("Close = state %s, closed %v, wrap-up until %v; want closed, until 45 s after closing", c.State, c.ClosedAt, c.WrapUpUntil)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NULL AND wrap_up_at IS NOT NULL`, res.ContactID); n != 1 {
		t.Errorf("open assignments in wrap-up = %d, want 1", n)
	}
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "late", "one more thing"); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("AppendAgentMessage in wrap-up = %v, want ErrNotHeld", err)
	}
	if _, err := b.store.Transfer(ctx, b.a.ID, b.a.Agent, res.ContactID, b.a.QueueID); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("Transfer in wrap-up = %v, want ErrNotHeld", err)
	}
	held, err := b.store.HeldContacts(ctx, b.a.ID, b.a.Agent)
	if err != nil || len(held) != 1 || held[0].WrapUpUntil == nil || !held[0].WrapUpUntil.Equal(*c.WrapUpUntil) {
		t.Fatalf("HeldContacts = %+v, %v; want the contact in wrap-up until %v", held, err, c.WrapUpUntil)
	}
	open, err := b.store.OpenAssignments(ctx, b.a.ID)
	if err != nil || len(open) != 1 || !open[0].WrapUpUntil.Equal(*c.WrapUpUntil) {
		t.Fatalf("OpenAssignments = %+v, %v; want it with its deadline %v", open, err, c.WrapUpUntil)
	}
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent2, res.ContactID, "", time.Time{}); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("EndWrapUp(other agent) = %v, want ErrNotHeld", err)
	}
	if _, err := b.store.EndWrapUp(ctx, b.b.ID, b.a.Agent, res.ContactID, "", time.Time{}); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("EndWrapUp(other tenant) = %v, want ErrNotHeld", err)
	}
	done, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "final note", time.Time{})
	if err != nil || done.WrapUp != "final note" || done.WrapUpUntil != nil {
		t.Fatalf("EndWrapUp = %+v, %v; want the final note, no longer wrapping up", done, err)
	}
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "", time.Time{}); err != nil {
		t.Errorf("EndWrapUp again = %v, want a no-op", err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'wrap_up_ended' AND data->>'reason' = 'done'`, res.ContactID); n != 1 {
		t.Errorf("wrap_up_ended events = %d, want 1", n)
	}
	if held, _ := b.store.HeldContacts(ctx, b.a.ID, b.a.Agent); len(held) != 0 {
		t.Errorf("HeldContacts after Done = %+v, want none", held)
	}
}

// TestWrapUpTimeout: the routing engine ends a wrap-up whose time ran out,
// dated at the deadline however late it noticed; a note the agent sends
// afterwards is still kept.
func TestWrapUpTimeout(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	res := b.record(t, inbound(b.a, "w-2", "timeout@example.com"))
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	c, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "")
	if err != nil {
		t.Fatal(err)
	}
	deadline := *c.WrapUpUntil
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "", deadline); err != nil {
		t.Fatal(err)
	}
	var ended, eventAt time.Time
	if err := b.pool.QueryRow(ctx, `SELECT ended_at FROM assignments WHERE contact_id = $1`, res.ContactID).Scan(&ended); err != nil || !ended.Equal(deadline) {
		t.Errorf("ended_at = %v, %v; want the deadline %v", ended, err, deadline)
	}
	if err := b.pool.QueryRow(ctx, `SELECT at FROM contact_events WHERE contact_id = $1 AND kind = 'wrap_up_ended' AND data->>'reason' = 'timeout'`, res.ContactID).Scan(&eventAt); err != nil || !eventAt.Equal(deadline) {
		t.Errorf("wrap_up_ended at %v, %v; want the deadline %v", eventAt, err, deadline)
	}
	// The agent's Done, racing the timeout, saves the note and ends nothing.
	c, err = b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "called back later", time.Time{})
	if err != nil || c.WrapUp != "called back later" {
		t.Errorf("EndWrapUp after the timeout = %+v, %v; want the note kept", c, err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'wrap_up_ended'`, res.ContactID); n != 1 {
		t.Errorf("wrap_up_ended events = %d, want 1", n)
	}
}

// TestCloseWithoutWrapUpTime: a queue with no wrap-up time ends the
// assignment at once, with both events.
func TestCloseWithoutWrapUpTime(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	if _, err := b.pool.Exec(ctx, `UPDATE queues SET wrap_up_seconds = 0 WHERE id = $1`, b.a.QueueID); err != nil {
		t.Fatal(err)
	}
	res := b.record(t, inbound(b.a, "w-3", "nowrap@example.com"))
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	c, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "done")
	if err != nil || c.WrapUpUntil != nil {
		t.Fatalf("Close = %+v, %v; want closed without wrap-up", c, err)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NOT NULL AND end_reason = 'completed'`, res.ContactID); n != 1 {
		t.Errorf("ended assignments = %d, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind IN ('closed', 'wrap_up_ended')`, res.ContactID); n != 2 {
		t.Errorf("closed and wrap_up_ended events = %d, want 2", n)
	}
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "", time.Time{}); err != nil {
		t.Errorf("EndWrapUp after an immediate end = %v, want a no-op", err)
	}
}
