package crm_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

func TestAssign(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	res := b.record(t, inbound(b.a, "mail-1", "wang.wei@example.cn"))
	offer := uuid.New()
	accept := crm.Assignment{TenantID: b.a.ID, ContactID: res.ContactID, AgentID: b.a.Agent, OfferID: offer, Epoch: leaseEpoch, Holder: leaseHolder}
	if err := b.store.Assign(ctx, accept); err != nil {
		t.Fatalf("Assign = %v", err)
	}
	c, err := b.store.Contact(ctx, b.a.ID, res.ContactID)
	if err != nil || c.State != crm.StateActive {
		t.Errorf("contact after Assign = %q, %v, want active", c.State, err)
	}
	if h, err := b.store.Holder(ctx, b.a.ID, res.ContactID); err != nil || h != b.a.Agent {
		t.Errorf("Holder = %s, %v, want %s", h, err, b.a.Agent)
	}
	var data map[string]any
	var agent, queue uuid.UUID
	if err := b.pool.QueryRow(ctx, `SELECT data, agent_id, queue_id FROM contact_events WHERE contact_id = $1 AND kind = 'assigned'`, res.ContactID).Scan(&data, &agent, &queue); err != nil {
		t.Fatalf("assigned event: %v", err)
	}
	if data["offer_id"] != offer.String() || agent != b.a.Agent || queue != b.a.QueueID {
		t.Errorf("assigned event = %v agent %s queue %s, want offer %s agent %s queue %s", data, agent, queue, offer, b.a.Agent, b.a.QueueID)
	}

	// The same offer again (a retried accept) is a no-op.
	if err := b.store.Assign(ctx, accept); err != nil {
		t.Errorf("Assign(same offer again) = %v, want nil", err)
	}
	// Another agent's accept of another offer comes too late.
	late := crm.Assignment{TenantID: b.a.ID, ContactID: res.ContactID, AgentID: b.a.Agent2, OfferID: uuid.New(), Epoch: leaseEpoch, Holder: leaseHolder}
	if err := b.store.Assign(ctx, late); !errors.Is(err, crm.ErrNotQueued) {
		t.Errorf("Assign(second agent) = %v, want ErrNotQueued", err)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1`, res.ContactID); n != 1 {
		t.Errorf("assignments = %d, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'assigned'`, res.ContactID); n != 1 {
		t.Errorf("assigned events = %d, want 1", n)
	}
	// The same offer id for another agent is a bug, not a success.
	reused := accept
	reused.AgentID = b.a.Agent2
	if err := b.store.Assign(ctx, reused); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("Assign(offer reused for another agent) = %v, want ErrInvalid", err)
	}

	t.Run("fenced", func(t *testing.T) {
		queued := b.record(t, inbound(b.a, "mail-fenced", "fenced@example.cn"))
		for _, a := range []crm.Assignment{
			{TenantID: b.a.ID, ContactID: queued.ContactID, AgentID: b.a.Agent, OfferID: uuid.New(), Epoch: leaseEpoch - 1, Holder: leaseHolder},
			{TenantID: b.a.ID, ContactID: queued.ContactID, AgentID: b.a.Agent, OfferID: uuid.New(), Epoch: leaseEpoch, Holder: "node-2"},
		} {
			if err := b.store.Assign(ctx, a); !errors.Is(err, crm.ErrFenced) {
				t.Errorf("Assign(epoch %d holder %s) = %v, want ErrFenced", a.Epoch, a.Holder, err)
			}
		}
		if c, err := b.store.Contact(ctx, b.a.ID, queued.ContactID); err != nil || c.State != crm.StateQueued {
			t.Errorf("contact after fenced accepts = %q, %v, want queued", c.State, err)
		}
		if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1`, queued.ContactID); n != 0 {
			t.Errorf("assignments after fenced accepts = %d, want 0", n)
		}
	})

	t.Run("race", func(t *testing.T) {
		queued := b.record(t, inbound(b.a, "mail-race", "race@example.cn"))
		agents := []uuid.UUID{b.a.Agent, b.a.Agent2, b.a.Agent, b.a.Agent2}
		errs := make([]error, len(agents))
		var wg sync.WaitGroup
		for i, agent := range agents {
			wg.Go(func() {
				errs[i] = b.store.Assign(ctx, crm.Assignment{TenantID: b.a.ID, ContactID: queued.ContactID, AgentID: agent, OfferID: uuid.New(), Epoch: leaseEpoch, Holder: leaseHolder})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, crm.ErrNotQueued):
				t.Errorf("accept %d = %v, want nil or ErrNotQueued", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d accepts won, want 1", won)
		}
		if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NULL`, queued.ContactID); n != 1 {
			t.Errorf("open assignments = %d, want 1", n)
		}
	})

	t.Run("same offer concurrently", func(t *testing.T) {
		queued := b.record(t, inbound(b.a, "mail-twice", "twice@example.cn"))
		a := crm.Assignment{TenantID: b.a.ID, ContactID: queued.ContactID, AgentID: b.a.Agent, OfferID: uuid.New(), Epoch: leaseEpoch, Holder: leaseHolder}
		errs := make([]error, 5)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = b.store.Assign(ctx, a) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("accept %d of one offer = %v, want nil", i, err)
			}
		}
		if n := b.count(t, `SELECT count(*) FROM assignments WHERE offer_id = $1`, a.OfferID); n != 1 {
			t.Errorf("assignments of the offer = %d, want 1", n)
		}
	})
}

func TestQueuedAndOpenAssignments(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	first := b.record(t, inbound(b.a, "m1", "one@example.cn"))
	second := b.record(t, inbound(b.a, "m2", "two@example.cn"))
	third := b.record(t, inbound(b.a, "m3", "three@example.cn"))
	b.record(t, inbound(b.b, "m1", "one@example.cn")) // another tenant's
	b.assign(t, b.a, second.ContactID, b.a.Agent2)
	if err := b.store.Abandon(ctx, b.a.ID, third.ContactID, "timeout"); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Abandon(ctx, b.a.ID, third.ContactID, "timeout"); !errors.Is(err, crm.ErrNotQueued) {
		t.Errorf("Abandon(twice) = %v, want ErrNotQueued", err)
	}
	if err := b.store.Abandon(ctx, b.a.ID, second.ContactID, "timeout"); !errors.Is(err, crm.ErrNotQueued) {
		t.Errorf("Abandon(active) = %v, want ErrNotQueued", err)
	}
	qs, err := b.store.Queued(ctx, b.a.ID)
	want := []crm.QueuedContact{{ContactID: first.ContactID, QueueID: b.a.QueueID, Channel: org.Email, ArrivedAt: first.ArrivedAt}}
	if err != nil || !cmp.Equal(qs, want) {
		t.Errorf("Queued = %+v, %v, want %+v", qs, err, want)
	}
	as, err := b.store.OpenAssignments(ctx, b.a.ID)
	wantA := []crm.OpenAssignment{{ContactID: second.ContactID, AgentID: b.a.Agent2, Channel: org.Email}}
	if err != nil || !cmp.Equal(as, wantA) {
		t.Errorf("OpenAssignments = %+v, %v, want %+v", as, err, wantA)
	}
	held, err := b.store.HeldContacts(ctx, b.a.ID, b.a.Agent2)
	if err != nil || len(held) != 1 || held[0].ID != second.ContactID || held[0].State != "active" || held[0].QueueName != "Enquiries" {
		t.Errorf("HeldContacts = %+v, %v, want the second contact", held, err)
	}
	if held, err := b.store.HeldContacts(ctx, b.a.ID, b.a.Agent); err != nil || held == nil && err != nil || len(held) != 0 {
		t.Errorf("HeldContacts(idle agent) = %+v, %v, want none", held, err)
	}
	if _, err := b.store.Holder(ctx, b.a.ID, first.ContactID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Holder(queued) = %v, want ErrNotFound", err)
	}

	if err := b.store.RecordEvent(ctx, b.a.ID, first.ContactID, "offered", uuid.Nil, b.a.Agent, map[string]any{"offer_id": "o-1"}); err != nil {
		t.Fatalf("RecordEvent = %v", err)
	}
	var queue, agent uuid.UUID
	if err := b.pool.QueryRow(ctx, `SELECT queue_id, agent_id FROM contact_events WHERE contact_id = $1 AND kind = 'offered'`, first.ContactID).Scan(&queue, &agent); err != nil || queue != b.a.QueueID || agent != b.a.Agent {
		t.Errorf("offered event = queue %s agent %s, %v; want the contact's queue and the agent", queue, agent, err)
	}
	if err := b.store.RecordEvent(ctx, b.a.ID, first.ContactID, "", uuid.Nil, uuid.Nil, nil); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("RecordEvent(no kind) = %v, want ErrInvalid", err)
	}
}

func TestAgentMessagesCloseAndTimeline(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	res := b.record(t, inbound(b.a, "mail-1", "wang.wei@example.cn"))

	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "a-1", "hello"); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("AppendAgentMessage(queued, not held) = %v, want ErrNotHeld", err)
	}
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent2, res.ContactID, "a-1", "hello"); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("AppendAgentMessage(other agent) = %v, want ErrNotHeld", err)
	}
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "a-1", "  "); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("AppendAgentMessage(blank) = %v, want ErrInvalid", err)
	}
	m, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "a-1", "Yes, it is ready.")
	if err != nil {
		t.Fatal(err)
	}
	want := crm.Message{ID: m.ID, ContactID: res.ContactID, Seq: 2, AuthorKind: "agent", AuthorID: &b.a.Agent, AuthorName: "Agent 1 a",
		Body: "Yes, it is ready.", At: m.At, ClientID: "a-1"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("AppendAgentMessage (-want +got):\n%s", diff)
	}
	again, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "a-1", "Yes, it is ready.")
	if err != nil || !cmp.Equal(again, m) {
		t.Errorf("AppendAgentMessage(same client id) = %+v, %v, want %+v", again, err, m)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'message_out'`, res.ContactID); n != 1 {
		t.Errorf("message_out events = %d, want 1", n)
	}

	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent2, res.ContactID, "not mine"); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("Close(other agent) = %v, want ErrNotHeld", err)
	}
	c, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "Car ready, collecting at 5")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != crm.StateClosed || c.ClosedAt == nil || c.WrapUp != "Car ready, collecting at 5" {
		t.Errorf("Close = %+v, want closed with closed_at and wrap-up", c)
	}
	// The queue's default wrap-up time (30 s) keeps the assignment open;
	// wrapup_test.go covers that step. Done ends it.
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "", time.Time{}); err != nil {
		t.Fatalf("EndWrapUp = %v", err)
	}
	var reason string
	var wrapUpSet bool
	if err := b.pool.QueryRow(ctx, `SELECT end_reason, wrap_up_at IS NOT NULL FROM assignments WHERE contact_id = $1 AND ended_at IS NOT NULL`, res.ContactID).Scan(&reason, &wrapUpSet); err != nil || reason != "completed" || !wrapUpSet {
		t.Errorf("ended assignment = %q wrap-up set %v, %v; want completed", reason, wrapUpSet, err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'closed'`, res.ContactID); n != 1 {
		t.Errorf("closed events = %d, want 1", n)
	}
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "again"); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("Close(twice) = %v, want ErrNotHeld", err)
	}
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "a-2", "one more"); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("AppendAgentMessage(closed) = %v, want ErrNotHeld", err)
	}
	// A resend of a line that was stored before the close still gets its ack.
	if again, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "a-1", "Yes, it is ready."); err != nil || again.ID != m.ID {
		t.Errorf("AppendAgentMessage(resend after close) = %v, want the stored line", err)
	}
	if _, err := b.store.Holder(ctx, b.a.ID, res.ContactID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Holder(closed) = %v, want ErrNotFound", err)
	}

	// A later contact of the same customer, still open.
	later := b.record(t, inbound(b.a, "mail-2", "wang.wei@example.cn"))
	if later.CustomerID != res.CustomerID {
		t.Fatalf("second contact's customer = %s, want %s", later.CustomerID, res.CustomerID)
	}
	items, err := b.store.Timeline(ctx, b.a.ID, res.CustomerID, time.Time{}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ContactID != later.ContactID || items[1].ContactID != res.ContactID {
		t.Fatalf("Timeline = %+v, want the later contact then the closed one", items)
	}
	closed := items[1]
	if closed.Kind != "contact" || closed.State != "closed" || closed.WrapUp != "Car ready, collecting at 5" || closed.Channel != org.Email ||
		len(closed.Messages) != 2 || closed.Messages[0].Body != "Hello, is my car ready?" || closed.Messages[1].ID != m.ID {
		t.Errorf("Timeline's closed contact = %+v, want its two messages and wrap-up", closed)
	}
	if page, err := b.store.Timeline(ctx, b.a.ID, res.CustomerID, items[0].At, 1, ""); err != nil || len(page) != 1 || page[0].ContactID != res.ContactID {
		t.Errorf("Timeline(before the newest, limit 1) = %+v, %v, want the closed contact", page, err)
	}
	if mail, err := b.store.Timeline(ctx, b.a.ID, res.CustomerID, time.Time{}, 0, org.Email); err != nil || len(mail) != 2 {
		t.Errorf("Timeline(e-mail) = %d items, %v; want both", len(mail), err)
	}
	if calls, err := b.store.Timeline(ctx, b.a.ID, res.CustomerID, time.Time{}, 0, org.Voice); err != nil || len(calls) != 0 {
		t.Errorf("Timeline(voice) = %+v, %v; want none", calls, err)
	}
}
