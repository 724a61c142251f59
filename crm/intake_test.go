package crm_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

func TestResolveByEmail(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	known, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "Wang Wei", Tier: "gold",
		Identities: []crm.Identity{{Kind: crm.KindEmail, Value: "wang.wei@example.cn"}}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("known", func(t *testing.T) {
		ids := []crm.Identity{{Kind: crm.KindEmail, Value: "wang.wei@example.cn"}, {Kind: crm.KindChat, Value: "visitor-1"}}
		r, err := b.store.Resolve(ctx, b.a.ID, ids, "someone else")
		want := crm.Resolution{CustomerID: known, Candidates: []uuid.UUID{}}
		if err != nil || !cmp.Equal(r, want) {
			t.Fatalf("Resolve(known e-mail) = %+v, %v, want %+v", r, err, want)
		}
		// The chat id it lacked is now the customer's; the name stays.
		if n := b.count(t, `SELECT count(*) FROM customer_identities WHERE customer_id = $1`, known); n != 2 {
			t.Errorf("identities of the known customer = %d, want 2", n)
		}
		c, err := b.store.Customer(ctx, b.a.ID, known)
		if err != nil || c.Name != "Wang Wei" || c.Tier != "gold" {
			t.Errorf("Customer = %+v, %v, want the name and tier kept", c, err)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		r, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{{Kind: crm.KindEmail, Value: "new@example.cn"}}, "Li Na")
		if err != nil || !r.Created || r.CustomerID == uuid.Nil || r.CustomerID == known || len(r.Candidates) != 0 {
			t.Fatalf("Resolve(unknown e-mail) = %+v, %v, want a new customer", r, err)
		}
		c, err := b.store.Customer(ctx, b.a.ID, r.CustomerID)
		if err != nil || c.Name != "Li Na" || c.Kind != "person" {
			t.Errorf("Customer(new) = %+v, %v, want Li Na, person", c, err)
		}
		again, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{{Kind: crm.KindEmail, Value: "new@example.cn"}}, "")
		if err != nil || again.Created || again.CustomerID != r.CustomerID {
			t.Errorf("Resolve(same e-mail again) = %+v, %v, want %s not created", again, err, r.CustomerID)
		}
	})

	t.Run("ambiguous", func(t *testing.T) {
		other, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "Zhang Min",
			Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+8613800138000"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids := []crm.Identity{{Kind: crm.KindPhone, Value: "+8613800138000"}, {Kind: crm.KindEmail, Value: "wang.wei@example.cn"}}
		r, err := b.store.Resolve(ctx, b.a.ID, ids, "")
		want := []uuid.UUID{known, other}
		slices.SortFunc(want, func(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) })
		if err != nil || r.CustomerID != uuid.Nil || r.Created || !cmp.Equal(r.Candidates, want) {
			t.Fatalf("Resolve(two customers' identities) = %+v, %v, want candidates %v", r, err, want)
		}
		// A household's shared identities are not copied onto either customer.
		if n := b.count(t, `SELECT count(*) FROM customer_identities WHERE customer_id = $1`, other); n != 1 {
			t.Errorf("identities of the other customer = %d, want 1", n)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, ids := range [][]crm.Identity{nil, {{Kind: "fax", Value: "1"}}, {{Kind: crm.KindEmail}}} {
			if _, err := b.store.Resolve(ctx, b.a.ID, ids, ""); !errors.Is(err, crm.ErrInvalid) {
				t.Errorf("Resolve(%v) = %v, want ErrInvalid", ids, err)
			}
		}
	})
}

func TestConcurrentFirstContactsMakeOneCustomer(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	const n = 20
	results := make([]crm.InboundResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = b.store.RecordInbound(ctx, inbound(b.a, fmt.Sprintf("mail-%d", i), "first@example.cn"))
		})
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("RecordInbound %d = %v", i, errs[i])
		}
		if r.CustomerID != results[0].CustomerID || !r.NewContact || r.Duplicate {
			t.Errorf("result %d = customer %s new contact %v duplicate %v, want customer %s, a new contact", i, r.CustomerID, r.NewContact, r.Duplicate, results[0].CustomerID)
		}
		if r.NewCustomer {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d results say they created the customer, want 1", created)
	}
	if got := b.count(t, `SELECT count(*) FROM customers`); got != 1 {
		t.Errorf("customers = %d, want 1", got)
	}
	if got := b.count(t, `SELECT count(*) FROM customer_identities`); got != 1 {
		t.Errorf("identities = %d, want 1", got)
	}
	if got := b.count(t, `SELECT count(DISTINCT id) FROM contacts WHERE customer_id = $1`, results[0].CustomerID); got != n {
		t.Errorf("contacts of the customer = %d, want %d", got, n)
	}
}

func TestRecordInboundWritesOneTransaction(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	at := time.Date(2026, 11, 22, 9, 59, 58, 0, time.UTC)
	in := inbound(b.a, "mail-1", "wang.wei@example.cn")
	in.At = at
	res := b.record(t, in)
	if !res.NewContact || !res.NewCustomer || res.Duplicate || res.Seq != 1 || res.State != crm.StateQueued ||
		res.QueueID != b.a.QueueID || res.Channel != org.Email || !res.ArrivedAt.Equal(at) || res.AssignedAgent != uuid.Nil {
		t.Fatalf("RecordInbound = %+v, want a new queued contact and customer, seq 1", res)
	}
	wantMsg := crm.Message{ID: res.MessageID, ContactID: res.ContactID, Seq: 1, AuthorKind: "customer", AuthorName: "Wang Wei",
		Body: in.Body, At: res.Message.At}
	if diff := cmp.Diff(wantMsg, res.Message); diff != "" || !res.Message.At.Equal(at) {
		t.Errorf("Message (-want +got):\n%s (at %v, want %v)", diff, res.Message.At, at)
	}

	c, err := b.store.Contact(ctx, b.a.ID, res.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	wantContact := crm.Contact{ID: res.ContactID, Channel: org.Email, QueueID: b.a.QueueID, QueueName: "Enquiries", State: "queued",
		Subject: in.Subject, ArrivedAt: c.ArrivedAt, CustomerID: &res.CustomerID, CustomerName: "Wang Wei", SiteID: &b.a.SiteID}
	if diff := cmp.Diff(wantContact, c); diff != "" || !c.ArrivedAt.Equal(at) {
		t.Errorf("Contact (-want +got):\n%s", diff)
	}
	type event struct {
		Kind  string
		Queue uuid.UUID
		Data  map[string]any
	}
	events := func() []event {
		rows, err := b.pool.Query(ctx, `SELECT kind, queue_id, data FROM contact_events WHERE contact_id = $1 ORDER BY id`, res.ContactID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var es []event
		for rows.Next() {
			var e event
			if err := rows.Scan(&e.Kind, &e.Queue, &e.Data); err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
		}
		return es
	}
	want := []event{
		{"created", b.a.QueueID, map[string]any{"channel": "email"}},
		{"message_in", b.a.QueueID, map[string]any{"seq": float64(1)}},
	}
	if diff := cmp.Diff(want, events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// A reply on the same contact: seq 2, same customer, no new customer.
	reply := crm.Inbound{TenantID: b.a.ID, Channel: org.Email, ContactID: res.ContactID, Body: "Any news?", IdempotencyKey: "mail-2"}
	r2 := b.record(t, reply)
	if r2.NewContact || r2.NewCustomer || r2.Seq != 2 || r2.CustomerID != res.CustomerID || r2.State != "queued" || r2.ContactID != res.ContactID {
		t.Errorf("reply = %+v, want seq 2 on the same contact and customer", r2)
	}
	if got := len(events()); got != 3 {
		t.Errorf("events after the reply = %d, want 3", got)
	}
	if got := b.count(t, `SELECT last_seq FROM contacts WHERE id = $1`, res.ContactID); got != 2 {
		t.Errorf("last_seq = %d, want 2", got)
	}
	ms, err := b.store.Messages(ctx, b.a.ID, res.ContactID, 1)
	if err != nil || len(ms) != 1 || ms[0].Seq != 2 || ms[0].Body != "Any news?" {
		t.Errorf("Messages(after 1) = %+v, %v, want the reply", ms, err)
	}
	if ms, err := b.store.Messages(ctx, b.a.ID, res.ContactID, 2); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("Messages(after 2) = %#v, %v, want an empty list", ms, err)
	}

	// An ended contact takes no more lines.
	if err := b.store.Abandon(ctx, b.a.ID, res.ContactID, "hung up"); err != nil {
		t.Fatal(err)
	}
	reply.IdempotencyKey = "mail-3"
	if _, err := b.store.RecordInbound(ctx, reply); !errors.Is(err, crm.ErrClosed) {
		t.Errorf("RecordInbound(abandoned contact) = %v, want ErrClosed", err)
	}
}

func TestRecordInboundFailureLeavesNothing(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	in := inbound(b.a, "mail-1", "nobody-yet@example.cn")
	in.QueueID = b.b.QueueID // another tenant's queue: the contact's foreign key fails after the customer was made
	if _, err := b.store.RecordInbound(ctx, in); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("RecordInbound(foreign queue) = %v, want ErrInvalid", err)
	}
	for _, table := range []string{"customers", "customer_identities", "contacts", "messages", "contact_events"} {
		if n := b.count(t, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after a failed intake, want 0", table, n)
		}
	}
	// The key was not burnt: the corrected item goes through.
	in.QueueID = b.a.QueueID
	if r := b.record(t, in); r.Duplicate || !r.NewCustomer {
		t.Errorf("RecordInbound(corrected) = %+v, want a fresh write", r)
	}
	for _, in := range []crm.Inbound{
		{TenantID: b.a.ID, QueueID: b.a.QueueID, Channel: org.Email, Body: "x"},                  // no key
		{TenantID: b.a.ID, QueueID: b.a.QueueID, Channel: "fax", Body: "x", IdempotencyKey: "k"}, // channel
		{TenantID: b.a.ID, Channel: org.Email, Body: "x", IdempotencyKey: "k"},                   // no queue
		{TenantID: b.a.ID, QueueID: b.a.QueueID, Channel: org.Email, IdempotencyKey: "k", Identities: []crm.Identity{{Kind: "fax", Value: "1"}}},
	} {
		if _, err := b.store.RecordInbound(ctx, in); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("RecordInbound(%+v) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestRecordInboundIdempotent(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)

	t.Run("sequential", func(t *testing.T) {
		first := b.record(t, inbound(b.a, "mail-seq", "seq@example.cn"))
		again := b.record(t, inbound(b.a, "mail-seq", "seq@example.cn"))
		if !again.Duplicate || again.ContactID != first.ContactID || again.MessageID != first.MessageID || again.Seq != first.Seq ||
			again.CustomerID != first.CustomerID || !again.NewContact || again.State != first.State {
			t.Errorf("second RecordInbound = %+v, want the first result %+v as a duplicate", again, first)
		}
		if diff := cmp.Diff(first.Message, again.Message); diff != "" {
			t.Errorf("duplicate's message (-first +again):\n%s", diff)
		}
		if n := b.count(t, `SELECT count(*) FROM messages WHERE contact_id = $1`, first.ContactID); n != 1 {
			t.Errorf("messages = %d, want 1", n)
		}
		if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1`, first.ContactID); n != 2 {
			t.Errorf("events = %d, want 2", n)
		}
	})

	t.Run("concurrent new contact", func(t *testing.T) {
		const n = 10
		results := make([]crm.InboundResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = b.store.RecordInbound(ctx, inbound(b.a, "mail-race", "race@example.cn")) })
		}
		wg.Wait()
		fresh := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("RecordInbound %d = %v", i, errs[i])
			}
			if r.ContactID != results[0].ContactID || r.MessageID != results[0].MessageID || r.Seq != 1 {
				t.Errorf("result %d = contact %s message %s seq %d, want one contact and message", i, r.ContactID, r.MessageID, r.Seq)
			}
			if !r.Duplicate {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("%d results are not duplicates, want 1", fresh)
		}
		if got := b.count(t, `SELECT count(*) FROM messages WHERE idempotency_key = 'mail-race'`); got != 1 {
			t.Errorf("messages = %d, want 1", got)
		}
		if got := b.count(t, `SELECT count(*) FROM contacts c JOIN customer_identities i ON i.customer_id = c.customer_id WHERE i.value = 'race@example.cn'`); got != 1 {
			t.Errorf("contacts = %d, want 1", got)
		}
	})

	t.Run("concurrent append", func(t *testing.T) {
		open := b.record(t, inbound(b.a, "mail-open", "append@example.cn"))
		const n = 10
		results := make([]crm.InboundResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = b.store.RecordInbound(ctx, crm.Inbound{TenantID: b.a.ID, Channel: org.Email,
					ContactID: open.ContactID, Body: "again", IdempotencyKey: "mail-append"})
			})
		}
		wg.Wait()
		for i, r := range results {
			if errs[i] != nil || r.Seq != 2 || r.MessageID != results[0].MessageID {
				t.Errorf("result %d = seq %d message %s, %v, want seq 2 once", i, r.Seq, r.MessageID, errs[i])
			}
		}
		if got := b.count(t, `SELECT last_seq FROM contacts WHERE id = $1`, open.ContactID); got != 2 {
			t.Errorf("last_seq = %d, want 2 (duplicates must not burn seqs)", got)
		}
	})
}

func TestSeqGapFreeUnderConcurrentWriters(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	open := b.record(t, inbound(b.a, "open", "busy@example.cn"))
	b.assign(t, b.a, open.ContactID, b.a.Agent)
	const writers, each = 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				var err error
				if w%2 == 0 {
					_, err = b.store.RecordInbound(ctx, crm.Inbound{TenantID: b.a.ID, Channel: org.Email, ContactID: open.ContactID,
						Body: fmt.Sprintf("customer %d/%d", w, i), IdempotencyKey: fmt.Sprintf("k-%d-%d", w, i)})
				} else {
					_, err = b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, open.ContactID, fmt.Sprintf("c-%d-%d", w, i), "agent line")
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, err := b.store.Messages(ctx, b.a.ID, open.ContactID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != writers*each+1 {
		t.Fatalf("messages = %d, want %d", len(ms), writers*each+1)
	}
	for i, m := range ms {
		if m.Seq != i+1 {
			t.Fatalf("message %d has seq %d, want %d (gap-free, ordered)", i, m.Seq, i+1)
		}
	}
	if got := b.count(t, `SELECT last_seq FROM contacts WHERE id = $1`, open.ContactID); got != writers*each+1 {
		t.Errorf("last_seq = %d, want %d", got, writers*each+1)
	}
}
