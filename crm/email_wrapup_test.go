package crm_test

import (
	"errors"
	"testing"

	"github.com/switchboard-cc/switchboard/crm"
)

// TestReplyDuringWrapUpAndReopen: an agent who closed an e-mail thread and
// wraps it up gets ErrInWrapUp (also ErrClosed) for a reply; the
// customer's next mail reopens the thread at once: the wrap-up's
// assignment ends (event wrap_up_ended, reason reopened), the thread waits
// with its last agent preferred and nobody holding it.
func TestReplyDuringWrapUpAndReopen(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	if _, err := b.pool.Exec(ctx, `UPDATE queues SET wrap_up_seconds = 600 WHERE id = $1`, o.QueueID); err != nil {
		t.Fatal(err)
	}
	th := makeEmailThread(t, b, o)
	if _, err := b.store.Close(ctx, o.ID, o.Agent, th.contact, ""); err != nil {
		t.Fatalf("Close = %v", err)
	}
	_, err := b.store.QueueReply(ctx, o.ID, o.Agent, th.contact, crm.Reply{ClientID: "w1", Text: "One more thing."})
	if !errors.Is(err, crm.ErrInWrapUp) || !errors.Is(err, crm.ErrClosed) {
		t.Fatalf("QueueReply during wrap-up = %v, want ErrInWrapUp", err)
	}
	_, err = b.store.QueueReply(ctx, o.ID, o.Agent2, th.contact, crm.Reply{ClientID: "w2", Text: "Not mine."})
	if !errors.Is(err, crm.ErrNotHeld) {
		t.Fatalf("QueueReply by another agent = %v, want ErrNotHeld", err)
	}

	in := mail(o, th.mailbox, 1, "again@example.cn", "Re: Is my car ready?", "Sorry, one more question.")
	in.Email.InReplyTo = "first." + th.contact.String() + "@mail.example.cn"
	res := b.recordEmail(t, in)
	if res.ContactID != th.contact || !res.Reopened || res.State != crm.StateQueued || res.AssignedAgent != [16]byte{} {
		t.Fatalf("reply during wrap-up = %+v, want the thread reopened, queued, held by nobody", res)
	}
	if len(res.Preference.Agents) != 1 || res.Preference.Agents[0] != o.Agent {
		t.Errorf("preference = %+v, want the last agent", res.Preference)
	}
	if res.WrapUpEnded != o.Agent {
		t.Errorf("WrapUpEnded = %v, want the agent who wrapped up (%v): their console must be told", res.WrapUpEnded, o.Agent)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NULL`, th.contact); n != 0 {
		t.Errorf("open assignments after the reopen = %d, want 0 (the wrap-up ended)", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'wrap_up_ended' AND data->>'reason' = 'reopened' AND agent_id = $2`,
		th.contact, o.Agent); n != 1 {
		t.Errorf("wrap_up_ended (reopened) events = %d, want 1", n)
	}
	// Offered and accepted again: no open assignment is in the way.
	b.assign(t, o, th.contact, o.Agent)
	if _, err := b.store.QueueReply(ctx, o.ID, o.Agent, th.contact, crm.Reply{ClientID: "w3", Text: "Answered."}); err != nil {
		t.Errorf("QueueReply after the reopen = %v", err)
	}
}

// TestReplyOnPendingThread: the agent who held a pending thread (waiting
// for the customer) last may answer it, and it stays pending; another
// agent may not.
func TestReplyOnPendingThread(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	th := makeEmailThread(t, b, o)
	if _, err := b.store.SetPending(ctx, o.ID, o.Agent, th.contact); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.QueueReply(ctx, o.ID, o.Agent2, th.contact, crm.Reply{ClientID: "p1", Text: "Not mine."}); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("QueueReply by another agent = %v, want ErrNotHeld", err)
	}
	q, err := b.store.QueueReply(ctx, o.ID, o.Agent, th.contact, crm.Reply{ClientID: "p2", Text: "Any news?"})
	if err != nil {
		t.Fatalf("QueueReply on the pending thread by its agent = %v", err)
	}
	if q.Outbox.State != crm.OutboxQueued || q.Message.AuthorKind != "agent" || !q.Pending {
		t.Errorf("QueueReply = %+v, want a queued reply, an agent line, pending", q)
	}
	if c, err := b.store.Contact(ctx, o.ID, th.contact); err != nil || c.State != crm.StatePending {
		t.Errorf("state after the reply = %q, %v; want pending", c.State, err)
	}
}
