package crm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// line is a customer's next line on an existing contact.
func line(o tenantOrg, contact uuid.UUID, key string) crm.Inbound {
	return crm.Inbound{TenantID: o.ID, Channel: org.Chat, ContactID: contact, Body: "line " + key, IdempotencyKey: key}
}

func (b bundle) eventKinds(t *testing.T, contact uuid.UUID) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT kind FROM contact_events WHERE contact_id = $1 ORDER BY id`, contact)
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// TestAppendReopensPending: a line on a pending contact queues it again as
// a new wait, with 'reopened' before 'message_in', even when ten lines race
// for it: only the first sees it pending.
func TestAppendReopensPending(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	open := b.record(t, inbound(b.a, "open", "pending@example.cn"))
	if _, err := b.pool.Exec(ctx, `UPDATE contacts SET state = 'pending' WHERE id = $1`, open.ContactID); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	in := line(b.a, open.ContactID, "back")
	in.At = at
	r := b.record(t, in)
	if r.State != crm.StateQueued || r.Seq != 2 || !r.ArrivedAt.Equal(at) || r.Duplicate || r.CustomerID != open.CustomerID ||
		r.Message.Seq != 2 || r.Message.Body != "line back" || r.Message.AuthorName != "Wang Wei" || !r.Message.At.Equal(at) {
		t.Fatalf("RecordInbound(pending) = %+v, want queued again at %v, seq 2, the line read back", r, at)
	}
	want := []string{"created", "message_in", "reopened", "message_in"}
	if diff := cmp.Diff(want, b.eventKinds(t, open.ContactID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var data map[string]any
	if err := b.pool.QueryRow(ctx, `SELECT data FROM contact_events WHERE contact_id = $1 ORDER BY id DESC LIMIT 1`, open.ContactID).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if data["seq"] != float64(2) {
		t.Errorf("message_in data = %v, want seq 2", data)
	}

	// Ten lines race for a pending contact: one reopening, seqs 3…12.
	if _, err := b.pool.Exec(ctx, `UPDATE contacts SET state = 'pending' WHERE id = $1`, open.ContactID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.store.RecordInbound(ctx, line(b.a, open.ContactID, fmt.Sprintf("race-%d", i))) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("RecordInbound %d = %v", i, err)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'reopened'`, open.ContactID); n != 2 {
		t.Errorf("reopened events = %d, want 2 (one per time it was pending)", n)
	}
	ms, err := b.store.Messages(ctx, b.a.ID, open.ContactID, 0)
	if err != nil || len(ms) != 12 {
		t.Fatalf("Messages = %d, %v, want 12", len(ms), err)
	}
	for i, m := range ms {
		if m.Seq != i+1 {
			t.Fatalf("message %d has seq %d, want %d", i, m.Seq, i+1)
		}
	}
}

// TestAppendAnnouncesInsideTransaction: a line on a queued contact sends its
// NOTIFY with the commit; a line on an active one sends none and reports the
// holding agent; a resent line is a duplicate that writes nothing and is
// announced again while the contact waits.
func TestAppendAnnouncesInsideTransaction(t *testing.T) {
	pool, url := pgtest.New(t)
	b := bundle{store: crm.NewStore(pool), pool: pool, a: makeTenant(t, pool, "a"), b: makeTenant(t, pool, "b")}
	ctx := ctxT(t)
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close(context.Background()) })
	if _, err := listener.Exec(ctx, `LISTEN sb_test_intake`); err != nil {
		t.Fatal(err)
	}
	announce := func(r crm.InboundResult) (string, string) {
		return "sb_test_intake", fmt.Sprintf("%s seq %d %s", r.ContactID, r.Seq, r.State)
	}
	next := func(wait time.Duration) string {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			return ""
		}
		return n.Payload
	}

	open := b.record(t, inbound(b.a, "open", "notify@example.cn"))
	in := line(b.a, open.ContactID, "l2")
	in.Announce = announce
	r := b.record(t, in)
	if got, want := next(30*time.Second), fmt.Sprintf("%s seq 2 queued", open.ContactID); got != want {
		t.Errorf("notification = %q, want %q", got, want)
	}

	before := []int{b.count(t, `SELECT last_seq FROM contacts WHERE id = $1`, open.ContactID),
		b.count(t, `SELECT count(*) FROM messages`), b.count(t, `SELECT count(*) FROM contact_events`)}
	again := b.record(t, in)
	if !again.Duplicate || again.Seq != 2 || again.MessageID != r.MessageID || again.NewContact || again.State != crm.StateQueued {
		t.Errorf("resent line = %+v, want the first result (seq 2, message %s) as a duplicate", again, r.MessageID)
	}
	if diff := cmp.Diff(r.Message, again.Message); diff != "" {
		t.Errorf("duplicate's message (-first +again):\n%s", diff)
	}
	after := []int{b.count(t, `SELECT last_seq FROM contacts WHERE id = $1`, open.ContactID),
		b.count(t, `SELECT count(*) FROM messages`), b.count(t, `SELECT count(*) FROM contact_events`)}
	if !cmp.Equal(before, after) {
		t.Errorf("last_seq, messages, events = %v after the resend, want %v unchanged", after, before)
	}
	if got, want := next(30*time.Second), fmt.Sprintf("%s seq 2 queued", open.ContactID); got != want {
		t.Errorf("resend's notification = %q, want %q", got, want)
	}

	b.assign(t, b.a, open.ContactID, b.a.Agent)
	in = line(b.a, open.ContactID, "l3")
	in.Announce = announce
	r = b.record(t, in)
	if r.State != crm.StateActive || r.AssignedAgent != b.a.Agent || r.Seq != 3 {
		t.Errorf("line on an active contact = %+v, want active, held by %s, seq 3", r, b.a.Agent)
	}
	if got := next(time.Second); got != "" {
		t.Errorf("notification for an active contact: %q", got)
	}
}

// TestAppendRefusals: unknown, another tenant's and ended contacts are
// refused with crm's errors and nothing is written; a statement that fails
// inside the hand-made transaction leaves no connection in it.
func TestAppendRefusals(t *testing.T) {
	_, url := pgtest.New(t)
	ctx := ctxT(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every call reuses the connection a failure might have spoilt
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := bundle{store: crm.NewStore(pool), pool: pool, a: makeTenant(t, pool, "a"), b: makeTenant(t, pool, "b")}
	open := b.record(t, inbound(b.a, "open", "refuse@example.cn"))
	other := b.record(t, inbound(b.b, "open-b", "refuse@example.cn"))

	writes := func() []int {
		return []int{b.count(t, `SELECT count(*) FROM messages`), b.count(t, `SELECT count(*) FROM contact_events`),
			b.count(t, `SELECT sum(last_seq) FROM contacts`)}
	}
	before := writes()
	if _, err := b.store.RecordInbound(ctx, line(b.a, uuid.New(), "k1")); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("RecordInbound(unknown contact) = %v, want ErrNotFound", err)
	}
	if _, err := b.store.RecordInbound(ctx, line(b.a, other.ContactID, "k2")); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("RecordInbound(another tenant's contact) = %v, want ErrNotFound", err)
	}
	bad := line(b.a, open.ContactID, "k3")
	bad.Body = "a NUL \x00 PostgreSQL refuses"
	if _, err := b.store.RecordInbound(ctx, bad); err == nil {
		t.Error("RecordInbound(body with NUL) = nil error")
	}
	if n := b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`); n != 0 {
		t.Errorf("%d connections idle in a transaction after a failed line", n)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE contacts SET state = 'closed', closed_at = now() WHERE id = $1`, open.ContactID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.RecordInbound(ctx, line(b.a, open.ContactID, "k4")); !errors.Is(err, crm.ErrClosed) {
		t.Errorf("RecordInbound(closed contact) = %v, want ErrClosed", err)
	}
	if after := writes(); !cmp.Equal(before, after) {
		t.Errorf("messages, events, seqs = %v after refusals, want %v unchanged", after, before)
	}
	// The connection is fine: the next line on an open contact goes through.
	if r := b.record(t, line(b.b, other.ContactID, "k5")); r.Seq != 2 {
		t.Errorf("next line = seq %d, want 2", r.Seq)
	}
}

// TestAppendReturnsTheStoredLine: the line an append returns is the one
// Messages reads back, with the sender's client id and the attachment
// linked to it beforehand.
func TestAppendReturnsTheStoredLine(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	first := inbound(b.a, "chat:v1:c1", "attach@example.cn")
	first.Channel = org.Chat
	open := b.record(t, first)
	info, err := b.store.SaveAttachment(ctx, b.a.ID, open.ContactID, "car.png", "image/png", []byte("\x89PNG\r\n\x1a\nfake"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.LinkAttachment(ctx, b.a.ID, open.ContactID, info.ID, "chat:v1:c2"); err != nil {
		t.Fatal(err)
	}
	r := b.record(t, line(b.a, open.ContactID, "chat:v1:c2"))
	ms, err := b.store.Messages(ctx, b.a.ID, open.ContactID, 1)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Messages = %v, %v, want the line", ms, err)
	}
	if diff := cmp.Diff(ms[0], r.Message); diff != "" {
		t.Errorf("returned line (-stored +returned):\n%s", diff)
	}
	if r.Message.ClientID != "c2" || r.Message.Attachment == nil || r.Message.Attachment.ID != info.ID || r.Message.AuthorName != "Wang Wei" {
		t.Errorf("returned line = %+v, want client id c2, attachment %s, author Wang Wei", r.Message, info.ID)
	}
}
