package email_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/dovecottest"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// countingReceiver is the real Receiver (crm.RecordEmails: parse,
// threading, customer, contact and the checkpoint in one transaction) that
// counts, per UID, the messages it committed: exactly-once means every UID
// is committed once and never handed over again after.
type countingReceiver struct {
	real  *email.Receiver
	mu    sync.Mutex
	calls map[uint32]int
}

func newCountingReceiver(pool *pgxpool.Pool) *countingReceiver {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &countingReceiver{
		real: email.NewReceiver(crm.NewStore(pool), quietAnnouncer{}, nil, crm.ReplyKey([]byte("ingest test secret")),
			email.Limits{}, crm.EmailPolicy{}, quiet),
		calls: map[uint32]int{},
	}
}

func (r *countingReceiver) Receive(ctx context.Context, m org.Mailbox, uidValidity uint32, msgs []email.Fetched) error {
	if err := r.real.Receive(ctx, m, uidValidity, msgs); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range msgs {
		r.calls[f.UID]++
	}
	return nil
}

func (r *countingReceiver) received() map[uint32]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[uint32]int{}
	for k, v := range r.calls {
		out[k] = v
	}
	return out
}

type bundle struct {
	pool    *pgxpool.Pool
	orgs    *org.Store
	dove    *dovecottest.Server
	mailbox org.Mailbox
	recv    *countingReceiver
	logs    *syncBuffer
	log     *slog.Logger
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ptr[T any](v T) *T { return &v }

// setup starts a Dovecot (opt) and a database with one tenant whose
// mailbox reads folder of the Dovecot user.
func setup(t testing.TB, opt dovecottest.Options, folder, password string) bundle {
	t.Helper()
	dove := dovecottest.New(t, opt)
	pool, _ := pgtest.New(t)
	sealer, err := org.NewSealer([]byte("test secret, 20+ bytes"), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	orgs := org.NewStore(pool, org.WithSealer(sealer))
	ctx := context.Background()
	tn, err := orgs.CreateTenant(ctx, "Ingest", "Asia/Shanghai")
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
	host, portStr, _ := net.SplitHostPort(dove.Addr)
	port, _ := strconv.Atoi(portStr)
	if password == "" {
		password = dove.Password
	}
	m, err := orgs.CreateMailbox(ctx, tn.ID, admin.ID, org.MailboxSettings{Address: ptr("service@dealer.example"), QueueID: &q.ID,
		IMAPHost: &host, IMAPPort: &port, IMAPSecurity: ptr(org.SecurityNone), IMAPUsername: &dove.User, IMAPPassword: &password,
		Folder: &folder})
	if err != nil {
		t.Fatal(err)
	}
	if folder != "INBOX" {
		dove.Deliver(t, folder) // creates it
	}
	logs := &syncBuffer{}
	return bundle{pool: pool, orgs: orgs, dove: dove, mailbox: m, recv: newCountingReceiver(pool),
		logs: logs, log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// testConfig reloads and backs off fast so tests take seconds; fetches 7
// and commits 5 at a time, so commits and fetches do not line up.
func testConfig() email.Config {
	return email.Config{Holder: "test-node", Reload: 200 * time.Millisecond, Poll: 200 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, LeaseTTL: 6 * time.Second, Batch: 7, Commit: 5}
}

// synthetic returns n small messages with distinct Message-IDs. Synthetic:
// they test the ingester's bookkeeping, not MIME (E2's corpus does that).
func synthetic(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "From: Customer %[2]d <customer%[2]d@example.net>\r\nTo: service@dealer.example\r\n"+
			"Subject: synthetic test message %[2]d\r\nMessage-ID: <%[1]s-%[2]d@example.net>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n\r\n"+
			"Synthetic body %[2]d.\r\n", prefix, i)
	}
	return out
}

// run starts an ingester with recv until the returned stop is called.
func (b bundle) run(t *testing.T, cfg email.Config, recv email.MessageReceiver) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ing := email.NewIngester(cfg, b.orgs, recv, b.log)
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (b bundle) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM email_messages WHERE tenant_id = $1`, b.mailbox.TenantID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// contacts counts the tenant's contacts and conversation lines: the real
// receiver opens one contact per synthetic message (each from its own
// customer, with its own subject).
func (b bundle) contacts(t *testing.T) (contacts, lines int) {
	t.Helper()
	if err := b.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM contacts WHERE tenant_id = $1), (SELECT count(*) FROM messages WHERE tenant_id = $1)`,
		b.mailbox.TenantID).Scan(&contacts, &lines); err != nil {
		t.Fatal(err)
	}
	return contacts, lines
}

func (b bundle) checkpoint(t *testing.T) (uint32, uint32) {
	t.Helper()
	v, l, err := b.orgs.MailboxCheckpoint(context.Background(), b.mailbox.TenantID, b.mailbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	return v, l
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIngestDovecot: 30 messages delivered to a real Dovecot are recorded
// once each, the checkpoint ends at the last UID, the shared inbox is left
// unread, and with IDLE a new message is recorded within a second.
func TestIngestDovecot(t *testing.T) {
	b := setup(t, dovecottest.Options{}, "INBOX", "")
	uids := b.dove.Deliver(t, "INBOX", synthetic("first", 30)...)
	b.run(t, testConfig(), b.recv)
	waitFor(t, 20*time.Second, "30 messages recorded", func() bool { return b.rows(t) == 30 })
	v, last := b.checkpoint(t)
	if want := b.dove.UIDValidity(t, "INBOX"); v != want || last != uids[29] {
		t.Errorf("checkpoint = (%d, %d), want (%d, %d)", v, last, want, uids[29])
	}
	for uid, n := range b.recv.received() {
		if n != 1 {
			t.Errorf("UID %d received %d times, want once", uid, n)
		}
	}
	if c, l := b.contacts(t); c != 30 || l != 30 {
		t.Errorf("contacts, lines = %d, %d; want 30, 30", c, l)
	}
	for _, uid := range []uint32{uids[0], uids[29]} {
		if b.dove.Seen(t, "INBOX", uid) {
			t.Errorf("UID %d is \\Seen after ingest; the shared inbox must stay unread", uid)
		}
	}

	// IDLE: the worker is waiting in IDLE now; a new message is recorded
	// within a second of its delivery.
	time.Sleep(300 * time.Millisecond)
	for i := range 3 {
		start := time.Now()
		b.dove.Deliver(t, "INBOX", synthetic(fmt.Sprintf("idle%d", i), 1)...)
		waitFor(t, 5*time.Second, "the IDLE message recorded", func() bool { return b.rows(t) == 31+i })
		if d := time.Since(start); d > time.Second {
			t.Errorf("IDLE delivery %d took %v, want ≤ 1s", i, d)
		}
	}
	if !strings.Contains(b.logs.String(), "idle=true") {
		t.Errorf("the session did not use IDLE; log:\n%s", b.logs.String())
	}
}

// failingReceiver commits the first n messages through the real receiver,
// then cancels the ingester in the middle of recording the next commit
// batch, as a crash or a shutdown during a batch would.
type failingReceiver struct {
	real   *countingReceiver
	n      int
	cancel func()
	mu     sync.Mutex
	seen   int
}

func (f *failingReceiver) Receive(ctx context.Context, m org.Mailbox, v uint32, msgs []email.Fetched) error {
	f.mu.Lock()
	crash := f.seen+len(msgs) > f.n
	f.seen += len(msgs)
	f.mu.Unlock()
	if crash {
		f.cancel()
		// The receiver's own context is the one being cancelled: its
		// transaction must not commit.
		cctx, c := context.WithCancel(ctx)
		c()
		return f.real.Receive(cctx, m, v, msgs)
	}
	return f.real.Receive(ctx, m, v, msgs)
}

// TestIngestRestartMidBatch: the ingester is stopped while a message of a
// batch is being recorded; a new ingester resumes from the checkpoint, and
// every message is recorded exactly once: none lost, none handed over
// again after it committed.
func TestIngestRestartMidBatch(t *testing.T) {
	b := setup(t, dovecottest.Options{}, "INBOX", "")
	b.dove.Deliver(t, "INBOX", synthetic("crash", 30)...)
	f := &failingReceiver{real: b.recv, n: 12}
	stop := b.run(t, testConfig(), f)
	f.cancel = func() { go stop() }
	waitFor(t, 20*time.Second, "the crash", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.seen > 12 })
	stop()
	if n := b.rows(t); n != 12 {
		t.Fatalf("after the crash %d messages are recorded, want the 12 committed", n)
	}
	if _, last := b.checkpoint(t); last != 12 {
		t.Fatalf("after the crash the checkpoint is UID %d, want 12", last)
	}

	b.run(t, testConfig(), b.recv)
	waitFor(t, 20*time.Second, "all 30 recorded", func() bool { return b.rows(t) == 30 })
	time.Sleep(300 * time.Millisecond) // let a double delivery show, if there were one
	got := b.recv.received()
	for uid := uint32(1); uid <= 30; uid++ {
		if got[uid] != 1 {
			t.Errorf("UID %d committed %d times across the restart, want once", uid, got[uid])
		}
	}
	var distinct int
	b.pool.QueryRow(context.Background(), `SELECT count(DISTINCT message_id) FROM email_messages`).Scan(&distinct)
	if n := b.rows(t); n != 30 || distinct != 30 {
		t.Errorf("rows = %d with %d distinct Message-IDs, want 30 and 30", n, distinct)
	}
	if c, l := b.contacts(t); c != 30 || l != 30 {
		t.Errorf("contacts, lines = %d, %d; want 30, 30", c, l)
	}
}

// TestIngestUIDValidityChange: the folder is recreated (new UIDVALIDITY)
// and the same messages come back with new UIDs, plus one new one: only
// the new one is inserted, and the checkpoint follows the new validity.
// One message deleted before the re-scan stays recorded once and is not
// fetched again.
func TestIngestUIDValidityChange(t *testing.T) {
	b := setup(t, dovecottest.Options{}, "Support", "")
	msgs := synthetic("uv", 6)
	b.dove.Deliver(t, "Support", msgs[:5]...)
	stop := b.run(t, testConfig(), b.recv)
	waitFor(t, 20*time.Second, "5 recorded", func() bool { return b.rows(t) == 5 })
	oldV, _ := b.checkpoint(t)
	stop()

	b.dove.Recreate(t, "Support")
	b.dove.Deliver(t, "Support", msgs[1:6]...) // message 0 is gone from the server; 5 is new
	newV := b.dove.UIDValidity(t, "Support")
	if newV == oldV {
		t.Fatalf("UIDVALIDITY did not change (%d)", newV)
	}
	recv := newCountingReceiver(b.pool)
	b.run(t, testConfig(), recv)
	waitFor(t, 20*time.Second, "the checkpoint at the new validity's UID 5", func() bool {
		v, l := b.checkpoint(t)
		return v == newV && l == 5
	})
	if n := b.rows(t); n != 6 {
		t.Errorf("after the re-scan %d messages are recorded, want 6 (5 + the new one)", n)
	}
	if c, l := b.contacts(t); c != 6 || l != 6 {
		t.Errorf("contacts, lines = %d, %d; want 6, 6", c, l)
	}
	if got := recv.received(); len(got) != 5 {
		t.Errorf("the re-scan handed over UIDs %v, want the 5 the server still has", got)
	}
	if !strings.Contains(b.logs.String(), "UIDVALIDITY changed") {
		t.Error("no log line about the UIDVALIDITY change")
	}
}

// TestIngestPollWithoutIdle: a server that advertises neither IDLE nor
// ESEARCH nor CONDSTORE is polled, and new mail still arrives.
func TestIngestPollWithoutIdle(t *testing.T) {
	b := setup(t, dovecottest.Options{Capabilities: "IMAP4rev1 LITERAL+"}, "INBOX", "")
	b.dove.Deliver(t, "INBOX", synthetic("poll-a", 3)...)
	b.run(t, testConfig(), b.recv)
	waitFor(t, 10*time.Second, "3 recorded", func() bool { return b.rows(t) == 3 })
	b.dove.Deliver(t, "INBOX", synthetic("poll-b", 2)...)
	waitFor(t, 5*time.Second, "2 more recorded by polling", func() bool { return b.rows(t) == 5 })
	if !strings.Contains(b.logs.String(), "idle=false") {
		t.Errorf("the session used IDLE on a server without it; log:\n%s", b.logs.String())
	}
}

// TestIngestWrongPassword: a refused login backs off (growing waits) with a
// log line that says login and never the password; the mailbox's health
// says login.
func TestIngestWrongPassword(t *testing.T) {
	const wrong = "not-the-password-7f3a"
	b := setup(t, dovecottest.Options{}, "INBOX", wrong)
	b.run(t, testConfig(), b.recv)
	// Dovecot itself delays failed logins (auth_failure_delay, 2s).
	waitFor(t, 20*time.Second, "three failed logins", func() bool {
		return strings.Count(b.logs.String(), "mailbox session failed") >= 3
	})
	logs := b.logs.String()
	if strings.Contains(logs, wrong) || strings.Contains(logs, b.dove.User) {
		t.Errorf("the log carries the password or the user name:\n%s", logs)
	}
	if !strings.Contains(logs, "kind=login") || !strings.Contains(logs, "AUTHENTICATIONFAILED") {
		t.Errorf("the log does not say the login was refused:\n%s", logs)
	}
	if !strings.Contains(logs, "failures=3") {
		t.Errorf("failures are not counted:\n%s", logs)
	}
	m, err := b.orgs.Mailbox(context.Background(), b.mailbox.TenantID, b.mailbox.ID)
	if err != nil || m.LastError != "login" || m.LastErrorAt.IsZero() {
		t.Errorf("mailbox health = %q at %v, %v; want login", m.LastError, m.LastErrorAt, err)
	}
}

// TestIngesterFollowsMailboxList: deactivating a mailbox stops its worker
// at the next reload; reactivating starts it again.
func TestIngesterFollowsMailboxList(t *testing.T) {
	b := setup(t, dovecottest.Options{}, "INBOX", "")
	ing := email.NewIngester(testConfig(), b.orgs, b.recv, b.log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "a worker", func() bool { return len(ing.Workers()) == 1 })
	admin := uuid.Nil
	b.pool.QueryRow(context.Background(), `SELECT id FROM users LIMIT 1`).Scan(&admin)
	if _, err := b.orgs.UpdateMailbox(context.Background(), b.mailbox.TenantID, b.mailbox.ID, admin, org.MailboxSettings{Active: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "no worker", func() bool { return len(ing.Workers()) == 0 })
	if _, err := b.orgs.UpdateMailbox(context.Background(), b.mailbox.TenantID, b.mailbox.ID, admin, org.MailboxSettings{Active: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the worker back", func() bool { return len(ing.Workers()) == 1 })
	b.dove.Deliver(t, "INBOX", synthetic("back", 1)...)
	waitFor(t, 5*time.Second, "the message recorded", func() bool { return b.rows(t) == 1 })
}

// corpusNoise are the fixtures in testdata that must open no contact:
// auto-replies, list mail and bounces (testdata/SOURCES.md).
var corpusNoise = map[string]bool{
	"auto_reply_zh.eml": true, "auto_reply_exchange_oof.eml": true, "auto_reply_zimbra.eml": true,
	"foxmail_gb2312_list_reply.eml": true, "list_reply_gb18030.eml": true, "iso2022jp_outlook_list.eml": true,
	"dsn_exchange2007.eml": true, "no_message_id_postmaster.eml": true,
}

// TestIngestDovecotCorpus delivers the whole e-mail corpus (real captures
// and the labelled synthetic files) to a real Dovecot: each message is
// recorded once, customer mail opens one contact each, noise none, the
// over-limit attachment is refused with its size; after a restart the same
// corpus delivered again adds nothing.
func TestIngestDovecotCorpus(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	var names []string
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".eml" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		raws, names = append(raws, b), append(names, e.Name())
	}
	noise := 0
	for _, n := range names {
		if corpusNoise[n] {
			noise++
		}
	}
	if noise != len(corpusNoise) || len(raws) < 17 {
		t.Fatalf("corpus: %d files, %d of the %d noise fixtures", len(raws), noise, len(corpusNoise))
	}

	b := setup(t, dovecottest.Options{}, "INBOX", "")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	recv := &countingReceiver{calls: map[uint32]int{}, real: email.NewReceiver(crm.NewStore(b.pool), quietAnnouncer{}, nil,
		crm.ReplyKey([]byte("ingest test secret")), email.Limits{MaxAttachmentBytes: 64 << 10}, crm.EmailPolicy{}, quiet)}
	uids := b.dove.Deliver(t, "INBOX", raws...)
	stop := b.run(t, testConfig(), recv)
	waitFor(t, 30*time.Second, "the corpus recorded", func() bool { return b.rows(t) == len(raws) })
	stop()

	ctx := context.Background()
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := b.pool.QueryRow(ctx, sql, b.mailbox.TenantID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(when string) {
		t.Helper()
		if c, _ := b.contacts(t); c != len(raws)-noise {
			t.Errorf("%s: contacts = %d, want %d (one per customer message)", when, c, len(raws)-noise)
		}
		if n := count(`SELECT count(*) FROM email_messages WHERE tenant_id = $1 AND contact_id IS NULL AND noise IN ('auto_reply', 'list', 'bounce')`); n != noise {
			t.Errorf("%s: noise without a contact = %d, want %d", when, n, noise)
		}
		if n := count(`SELECT count(*) FROM email_attachments WHERE tenant_id = $1 AND rejected_reason LIKE 'too large%' AND data IS NULL AND size = 102400`); n != 1 {
			t.Errorf("%s: refused attachments = %d, want the synthetic 100 KiB PDF", when, n)
		}
		// Threading headers and charsets survive Dovecot's CRLF store.
		for _, id := range []string{"1008836323.972.6.camel@star7.planet.rcn.com.hk", "A3CE5E53-2501-4A47-9E48-ACB6137B9E96@example.com",
			"CAJedcCznj8Ve7GOJxopG6X9eDXfi8MMKr+BtTZK7D1xDf0PaBQ@mail.gmail.com"} {
			var n int
			if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM email_messages WHERE tenant_id = $1 AND message_id = $2 AND contact_id IS NOT NULL`,
				b.mailbox.TenantID, id).Scan(&n); err != nil || n != 1 {
				t.Errorf("%s: %s recorded on a contact %d times (%v), want once", when, id, n, err)
			}
		}
		if n := count(`SELECT count(*) FROM customers WHERE tenant_id = $1 AND name IN ('王小明', 'xpto', 'David Chow')`); n != 3 {
			t.Errorf("%s: customers named from GBK, unpadded and Big5-mail senders = %d, want 3", when, n)
		}
	}
	check("first run")
	for uid, n := range recv.received() {
		if n != 1 {
			t.Errorf("UID %d received %d times, want once", uid, n)
		}
	}
	if _, last := b.checkpoint(t); last != uids[len(uids)-1] {
		t.Errorf("checkpoint at UID %d, want %d", last, uids[len(uids)-1])
	}

	// Restart, and the same corpus arrives again (a second copy of each):
	// nothing new is recorded, the checkpoint moves on.
	again := b.dove.Deliver(t, "INBOX", raws...)
	b.run(t, testConfig(), recv)
	waitFor(t, 30*time.Second, "the second copies read", func() bool {
		_, last := b.checkpoint(t)
		return last == again[len(again)-1]
	})
	if n := b.rows(t); n != len(raws) {
		t.Errorf("after the second delivery %d messages are recorded, want %d", n, len(raws))
	}
	check("second delivery")
}
