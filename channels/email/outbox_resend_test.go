package email_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// outboxDB is a database with one tenant, a mailbox that sends through
// srv and one transcript queued in its outbox (the simplest entry to
// queue: a chat and an address).
type outboxDB struct {
	pool   *pgxpool.Pool
	store  *crm.Store
	orgs   *org.Store
	entry  crm.OutboxEntry
	tenant uuid.UUID
}

func newOutboxDB(t *testing.T, srv *smtpServer) outboxDB {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	sealer, err := org.NewSealer([]byte("test secret, 20+ bytes"), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	orgs, store := org.NewStore(pool, org.WithSealer(sealer)), crm.NewStore(pool)
	tn, err := orgs.CreateTenant(ctx, "Outbox", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := orgs.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: "admin@example.com", DisplayName: "Admin", Password: "correct horse", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	q, err := orgs.CreateQueue(ctx, org.Queue{TenantID: tn.ID, Name: "service"})
	if err != nil {
		t.Fatal(err)
	}
	host, port := "127.0.0.1", srv.port
	if _, err := orgs.CreateMailbox(ctx, tn.ID, admin.ID, org.MailboxSettings{Address: ptr("service@dealer.example"), QueueID: &q.ID,
		IMAPHost: ptr("127.0.0.1"), IMAPPort: ptr(993), IMAPSecurity: ptr(org.SecurityTLS), IMAPUsername: ptr("u"), IMAPPassword: ptr("p"),
		SMTPHost: &host, SMTPPort: &port, SMTPSecurity: ptr(org.SecurityNone)}); err != nil {
		t.Fatal(err)
	}
	chat, err := store.RecordInbound(ctx, crm.Inbound{TenantID: tn.ID, QueueID: q.ID, Channel: org.Chat,
		Identities: []crm.Identity{{Kind: crm.KindEmail, Value: "visitor@example.cn"}}, Name: "Visitor",
		Body: "Please send me the transcript.", IdempotencyKey: "chat-" + uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	e, err := store.QueueTranscript(ctx, tn.ID, chat.ContactID, "visitor@example.cn")
	if err != nil {
		t.Fatal(err)
	}
	return outboxDB{pool: pool, store: store, orgs: orgs, entry: e, tenant: tn.ID}
}

// crashAfter250 is the real store whose EmailSent fails as a worker that
// died right after the server's 250 would: nothing is recorded.
type crashAfter250 struct{ *crm.Store }

func (crashAfter250) EmailSent(context.Context, uuid.UUID, uuid.UUID, int) (crm.OutboxEntry, bool, error) {
	return crm.OutboxEntry{}, false, errors.New("worker gone")
}

// lostClaim is the real store whose claim another worker has taken over
// by the time this one would hand the message over.
type lostClaim struct{ *crm.Store }

func (lostClaim) EmailHanded(context.Context, uuid.UUID, uuid.UUID, int) (bool, error) {
	return false, nil
}

func header(t *testing.T, raw []byte, key string) string {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("CreateReader = %v", err)
	}
	return r.Header.Get(key)
}

// TestOutboxResendAfterCrashBetween250AndCommit: the SMTP server accepts
// the message, then the worker "dies" before EmailSent commits. Once the
// claim's lease has run out the next attempt is marked Uncertain (the row
// counts uncertain_resends) and sends the very same message: same
// Message-ID, same Date (the queueing time), same body. The entry ends
// sent, once. A worker whose claim was lost before DATA sends nothing.
func TestOutboxResendAfterCrashBetween250AndCommit(t *testing.T) {
	cert, _ := selfSigned(t)
	srv := startSMTP(t, org.SecurityNone, cert)
	db := newOutboxDB(t, srv)
	ctx := context.Background()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	cfg := email.OutboxConfig{Timeout: 5 * time.Second, Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }}

	// A worker whose claim is lost hands nothing over.
	if _, err := email.NewOutbox(lostClaim{db.store}, db.orgs, nil, cfg, log).SendDue(ctx); err != nil {
		t.Fatalf("SendDue (claim lost) = %v", err)
	}
	if got := srv.got(); len(got) != 0 {
		t.Fatalf("a worker that lost its claim sent %d messages, want 0", len(got))
	}
	expire := func() {
		t.Helper()
		if _, err := db.pool.Exec(ctx, `UPDATE email_outbox SET next_attempt_at = now() WHERE id = $1`, db.entry.ID); err != nil {
			t.Fatal(err)
		}
	}
	expire() // the lost claim's lease

	if _, err := email.NewOutbox(crashAfter250{db.store}, db.orgs, nil, cfg, log).SendDue(ctx); err == nil {
		t.Fatal("SendDue with the crash = nil, want the recording error")
	}
	var state string
	var handed, attempts, uncertain int
	row := func() {
		t.Helper()
		if err := db.pool.QueryRow(ctx, `SELECT state, handed_attempt, attempts, uncertain_resends FROM email_outbox WHERE id = $1`,
			db.entry.ID).Scan(&state, &handed, &attempts, &uncertain); err != nil {
			t.Fatal(err)
		}
	}
	row()
	if state != crm.OutboxSending || handed != attempts || attempts != 2 || uncertain != 0 {
		t.Fatalf("after the crash: state %s handed %d attempts %d uncertain %d; want sending, handed = attempts = 2, 0", state, handed, attempts, uncertain)
	}
	expire() // the dead worker's lease

	if _, err := email.NewOutbox(db.store, db.orgs, nil, cfg, log).SendDue(ctx); err != nil {
		t.Fatalf("SendDue after the crash = %v", err)
	}
	row()
	if state != crm.OutboxSent || attempts != 3 || uncertain != 1 {
		t.Errorf("after the resend: state %s attempts %d uncertain %d; want sent, 3, 1", state, attempts, uncertain)
	}
	got := srv.got()
	if len(got) != 2 {
		t.Fatalf("server received %d copies, want 2 (the crash's and the resend)", len(got))
	}
	for _, k := range []string{"Message-Id", "Date", "Subject"} {
		if a, b := header(t, got[0].data, k), header(t, got[1].data, k); a != b || a == "" {
			t.Errorf("%s: first copy %q, resend %q; want the same", k, a, b)
		}
	}
	if d := header(t, got[0].data, "Date"); strings.Contains(d, "2030") {
		t.Errorf("Date = %q, want the queueing time, not the sender's clock", d)
	}
	if !strings.Contains(logs.String(), "an earlier attempt may have been delivered") {
		t.Errorf("the uncertain resend was not logged: %s", logs.String())
	}
	// Sent is final: nothing is due any more.
	if n, err := email.NewOutbox(db.store, db.orgs, nil, cfg, log).SendDue(ctx); err != nil || n != 0 {
		t.Errorf("SendDue after sent = %d, %v; want 0", n, err)
	}
}
