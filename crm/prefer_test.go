package crm_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

func TestNewContactsPreferTheAgentsWhoKnowTheCustomer(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	first := b.record(t, inbound(o, "k1", "wang@example.cn"))
	if len(first.Preference.Agents) != 0 {
		t.Fatalf("a brand-new customer prefers %v, want nobody", first.Preference.Agents)
	}
	customer := first.CustomerID
	// Agent2 handled the first contact; Agent owns the customer and advises
	// on an open order; a collected order's advisor and a lost deal's
	// salesperson do not count.
	b.assign(t, o, first.ContactID, o.Agent2)
	if _, err := b.store.Close(ctx, o.ID, o.Agent2, first.ContactID, ""); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`UPDATE customers SET owner_id = $3 WHERE tenant_id = $1 AND id = $2`, o.ID, customer, o.Agent)
	exec(`INSERT INTO service_orders (id, tenant_id, number, customer_id, status, advisor_id) VALUES ($1, $2, 'SO-1', $3, 'in_progress', $4)`,
		uuid.New(), o.ID, customer, o.Agent)
	exec(`INSERT INTO service_orders (id, tenant_id, number, customer_id, status, advisor_id) VALUES ($1, $2, 'SO-0', $3, 'collected', $4)`,
		uuid.New(), o.ID, customer, o.Agent2)
	exec(`INSERT INTO deals (id, tenant_id, customer_id, stage, salesperson_id) VALUES ($1, $2, $3, 'lost', $4)`,
		uuid.New(), o.ID, customer, o.Agent2)

	before := time.Now()
	second := b.record(t, inbound(o, "k2", "wang@example.cn"))
	p := second.Preference
	// The advisor (also the owner) comes first, once; the last agent after.
	if !slices.Equal(p.Agents, []uuid.UUID{o.Agent, o.Agent2}) || p.Reason != "advisor,last_agent" {
		t.Fatalf("Preference = %+v, want [Agent (advisor), Agent2 (last agent)] with reasons advisor,last_agent", p)
	}
	// The queue has no window of its own: 30 s.
	if d := p.Until.Sub(before); d < 29*time.Second || d > 40*time.Second {
		t.Errorf("preference window ends %v after intake, want about 30 s", d)
	}
	// Routing's rebuild reads the same back.
	qs, err := b.store.Queued(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, q := range qs {
		if q.ContactID == second.ContactID {
			found = true
			if !slices.Equal(q.Preference.Agents, p.Agents) || q.Preference.Reason != p.Reason || !q.Preference.Until.Equal(p.Until) {
				t.Errorf("Queued() preference = %+v, want %+v", q.Preference, p)
			}
		}
	}
	if !found {
		t.Fatal("the second contact is not queued")
	}
	// A queue's own window applies.
	exec(`UPDATE queues SET prefer_window_seconds = 120 WHERE tenant_id = $1 AND id = $2`, o.ID, o.QueueID)
	third := b.record(t, inbound(o, "k3", "wang@example.cn"))
	if d := time.Until(third.Preference.Until); d < 100*time.Second {
		t.Errorf("with a 120 s window the preference ends in %v", d)
	}
}

func TestTransferToAnAgent(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	res := b.record(t, inbound(o, "k1", "li@example.cn"))
	b.assign(t, o, res.ContactID, o.Agent)
	for _, tc := range []struct {
		name          string
		agent, target uuid.UUID
		queue         uuid.UUID
		want          error
	}{
		{"to yourself", o.Agent, o.Agent, uuid.Nil, crm.ErrInvalid},
		{"to another tenant's agent", o.Agent, b.b.Agent, uuid.Nil, crm.ErrNotFound},
		{"into another tenant's queue", o.Agent, o.Agent2, b.b.QueueID, crm.ErrNotFound},
		{"by an agent who does not hold it", o.Agent2, o.Agent, uuid.Nil, crm.ErrNotHeld},
	} {
		if _, _, err := b.store.TransferToAgent(ctx, o.ID, tc.agent, res.ContactID, tc.target, tc.queue); !errors.Is(err, tc.want) {
			t.Errorf("%s: TransferToAgent = %v, want %v", tc.name, err, tc.want)
		}
	}
	c, p, err := b.store.TransferToAgent(ctx, o.ID, o.Agent, res.ContactID, o.Agent2, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != crm.StateQueued || c.QueueID != o.QueueID || !c.ArrivedAt.Equal(res.ArrivedAt) {
		t.Errorf("after the transfer: %+v, want queued in its queue with its original arrival %v", c, res.ArrivedAt)
	}
	if !slices.Equal(p.Agents, []uuid.UUID{o.Agent2}) || p.Reason != "transfer" || time.Until(p.Until) < 20*time.Second {
		t.Errorf("preference = %+v, want Agent2 alone, reason transfer, for the window", p)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NULL`, res.ContactID); n != 0 {
		t.Errorf("%d open assignments after the transfer, want 0", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'transferred_to_agent' AND data->>'to_agent' = $2`,
		res.ContactID, o.Agent2.String()); n != 1 {
		t.Errorf("%d transferred_to_agent events naming the target, want 1", n)
	}
}

func TestOverflowMovesOnlyAContactStillWaitingThere(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	spill := uuid.New()
	if _, err := b.pool.Exec(ctx, `INSERT INTO queues (id, tenant_id, name) VALUES ($1, $2, 'Spill')`, spill, o.ID); err != nil {
		t.Fatal(err)
	}
	res := b.record(t, inbound(o, "k1", "zhao@example.cn"))
	if err := b.store.Overflow(ctx, o.ID, res.ContactID, o.QueueID, b.b.QueueID, "max_wait"); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("overflow into another tenant's queue = %v, want ErrNotFound", err)
	}
	if err := b.store.Overflow(ctx, o.ID, res.ContactID, o.QueueID, spill, "max_wait"); err != nil {
		t.Fatal(err)
	}
	c, err := b.store.Contact(ctx, o.ID, res.ContactID)
	if err != nil || c.QueueID != spill || !c.ArrivedAt.Equal(res.ArrivedAt) {
		t.Fatalf("after overflow: %+v, %v; want it in Spill with its arrival time", c, err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind IN ('transferred_out', 'transferred_in')`, res.ContactID); n != 2 {
		t.Errorf("%d transfer events, want out of one queue and into the other", n)
	}
	// A second, stale move (from the queue it has left) changes nothing.
	if err := b.store.Overflow(ctx, o.ID, res.ContactID, o.QueueID, spill, "max_wait"); !errors.Is(err, crm.ErrNotQueued) {
		t.Errorf("stale overflow = %v, want ErrNotQueued", err)
	}
	if err := b.store.Overflow(ctx, b.b.ID, res.ContactID, spill, b.b.QueueID, "max_wait"); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("another tenant's overflow of this contact = %v, want ErrNotFound", err)
	}
}

func TestSystemMessagesAreStoredOncePerKey(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	res := b.record(t, inbound(o, "k1", "sun@example.cn"))
	m, created, err := b.store.AppendSystemMessage(ctx, o.ID, res.ContactID, "queue_closed", "We are closed; we open at 09:00.")
	if err != nil || !created || m.Seq != 2 || m.AuthorKind != "system" {
		t.Fatalf("AppendSystemMessage = %+v, %v, %v; want a new system line with seq 2", m, created, err)
	}
	again, created, err := b.store.AppendSystemMessage(ctx, o.ID, res.ContactID, "queue_closed", "We are closed; we open at 09:00.")
	if err != nil || created || again.ID != m.ID {
		t.Fatalf("the same key again = %+v, %v, %v; want the stored line, not a new one", again, created, err)
	}
	if _, _, err := b.store.AppendSystemMessage(ctx, b.b.ID, res.ContactID, "queue_closed", "x"); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("another tenant's contact = %v, want ErrNotFound", err)
	}
	if _, _, err := b.store.AppendSystemMessage(ctx, o.ID, res.ContactID, "", "x"); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("no key = %v, want ErrInvalid", err)
	}
}

func TestATiersContactsGoAhead(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	plain := b.record(t, inbound(o, "k1", "plain@example.cn"))
	if plain.Priority != 0 {
		t.Fatalf("a standard customer's contact has priority %d, want 0", plain.Priority)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE customers SET tier = 'gold' WHERE id = $1`, plain.CustomerID); err != nil {
		t.Fatal(err)
	}
	gold := b.record(t, inbound(o, "k2", "plain@example.cn"))
	if gold.Priority != 2 {
		t.Errorf("a gold customer's contact has priority %d, want 2", gold.Priority)
	}
	qs, err := b.store.Queued(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.ContactID == gold.ContactID && q.Priority != 2 {
			t.Errorf("Queued() priority %d for the gold contact, want 2", q.Priority)
		}
	}
}

// TestACustomerMadeByIntakeIsFoundByPinyin: the customer a first chat
// creates gets the same search keys as one an admin creates.
func TestACustomerMadeByIntakeIsFoundByPinyin(t *testing.T) {
	b := setup(t)
	in := inbound(b.a, "k1", "new.visitor@example.cn")
	in.Name = "欧阳娜娜"
	res := b.record(t, in)
	var pinyinKey, initials string
	if err := b.pool.QueryRow(ctxT(t), `SELECT name_pinyin, name_initials FROM customers WHERE id = $1`, res.CustomerID).Scan(&pinyinKey, &initials); err != nil {
		t.Fatal(err)
	}
	if pinyinKey != "ouyangnana" || initials != "oynn" {
		t.Errorf("intake's customer has keys %q, %q; want ouyangnana, oynn", pinyinKey, initials)
	}
}
