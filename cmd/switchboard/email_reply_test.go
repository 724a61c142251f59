package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// mailSink is a go-smtp server on loopback that keeps every message it
// accepts; it can be stopped and started again on the same port, as a
// mail server that goes down and comes back.
type mailSink struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	srv  *smtp.Server
	msgs [][]byte
	rcpt [][]string
}

type sinkSession struct {
	k     *mailSink
	rcpts []string
}

func (k *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error     { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	s.k.msgs = append(s.k.msgs, b)
	s.k.rcpt = append(s.k.rcpt, s.rcpts)
	s.k.mu.Unlock()
	return nil
}
func (s *sinkSession) Reset()        { s.rcpts = nil }
func (s *sinkSession) Logout() error { return nil }

func (k *mailSink) start() {
	k.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(k.port))
	if err != nil {
		k.t.Fatalf("mail sink: %v", err)
	}
	k.port = l.Addr().(*net.TCPAddr).Port
	srv := smtp.NewServer(k)
	srv.Domain = "localhost"
	k.mu.Lock()
	k.srv = srv
	k.mu.Unlock()
	go srv.Serve(l)
}

func (k *mailSink) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.srv.Close()
}

func (k *mailSink) received() ([][]byte, [][]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][]byte(nil), k.msgs...), append([][]string(nil), k.rcpt...)
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiJSON sends a JSON request with the session's CSRF token and decodes
// the answer into out (when given); it returns the status.
func apiJSON(t *testing.T, c *http.Client, base, csrf, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// customerMail is the customer's message (synthetic: written for this
// test in the shape of a Foxmail reply, not taken from a client's export):
// itself a reply, so the thread's References chain has history to carry.
const customerMail = "From: =?UTF-8?B?546L5Lyf?= <Wang.Wei@Example.cn>\r\n" +
	"To: Service <service@huadong.example>\r\n" +
	"Subject: =?UTF-8?B?5L+d5YW76aKE57qm?= / service booking\r\n" +
	"Date: Mon, 03 Mar 2025 09:00:00 +0800\r\n" +
	"Message-ID: <cust-1.e2e@example.cn>\r\n" +
	"In-Reply-To: <campaign-7@news.example.cn>\r\n" +
	"References: <root-3@example.cn> <campaign-7@news.example.cn>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"\r\n" +
	"Can I book a service for next Tuesday?\r\n"

// TestEmailReplyEndToEnd: an e-mail from the demo's known customer is
// recorded (E2's Receiver, as the IMAP ingester would) and offered to an
// agent; the agent replies with a canned response; the SMTP server gets it
// from the mailbox's address with the threading headers a mail client
// needs; with the server down the agent hears email_failed, and once it is
// back the reply arrives exactly once.
func TestEmailReplyEndToEnd(t *testing.T) {
	const secret = "test-secret-0123456789" // startApp's SWITCHBOARD_SECRET
	a := startApp(t, map[string]string{
		"SWITCHBOARD_EMAIL_OUTBOX_INTERVAL": "100ms",
		"SWITCHBOARD_EMAIL_RETRY_BASE":      "400ms",
		"SWITCHBOARD_EMAIL_MAX_BACKOFF":     "800ms",
		"SWITCHBOARD_SMTP_TIMEOUT":          "5s",
	})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sealer, err := org.NewSealer([]byte(secret), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	orgs, people := org.NewStore(pool, org.WithSealer(sealer)), crm.NewStore(pool)
	site, err := orgs.SiteByChatKey(ctx, "demo-pudong")
	if err != nil {
		t.Fatal(err)
	}
	var admin uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'admin@huadong.example'`).Scan(&admin); err != nil {
		t.Fatal(err)
	}

	sink := &mailSink{t: t}
	sink.start()
	t.Cleanup(sink.stop)
	str := func(s string) *string { return &s }
	port, imapPort := sink.port, 993
	queue, security := site.ChatQueueID, org.SecurityNone
	mb, err := orgs.CreateMailbox(ctx, site.TenantID, admin, org.MailboxSettings{
		Address: str("service@huadong.example"), DisplayName: str("华东汽车 Service"), QueueID: &queue,
		IMAPHost: str("127.0.0.1"), IMAPPort: &imapPort, IMAPSecurity: str(org.SecurityTLS), IMAPUsername: str("service"),
		IMAPPassword: str("unused"), SMTPHost: str("127.0.0.1"), SMTPPort: &port, SMTPSecurity: &security,
	})
	if err != nil {
		t.Fatalf("CreateMailbox = %v", err)
	}

	// A canned response, written by the admin; an agent may not write one.
	adminHTTP, adminCSRF := a.login(t, "admin@huadong.example")
	var canned crm.CannedResponse
	if st := apiJSON(t, adminHTTP, a.url, adminCSRF, "POST", "/api/canned-responses",
		map[string]any{"title": "Booking confirmed", "body": "Dear {{customer.name}},\n\nyour booking is confirmed ({{order.number}}).\n\n{{agent.name}} {{unknown.thing}}"}, &canned); st != http.StatusCreated {
		t.Fatalf("POST /api/canned-responses by admin = %d", st)
	}

	lina := a.availableAgent(t, "lina@huadong.example")
	linaHTTP, linaCSRF := a.login(t, "lina@huadong.example")
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/canned-responses", map[string]any{"title": "x", "body": "y"}, nil); st != http.StatusForbidden {
		t.Errorf("POST /api/canned-responses by an agent = %d, want 403", st)
	}

	// The customer's mail arrives as the ingester would hand it over.
	opt, _ := redis.ParseURL(redistest.URL())
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	intake := channels.NewIntake(people, dispatch.NewEnqueuer(pool), bus.New(rdb, a.prefix, log), log)
	replyKey := crm.ReplyKey([]byte(secret))
	rcv := email.NewReceiver(people, intake, nil, replyKey, email.Limits{}, crm.EmailPolicy{}, log)
	mbc, err := orgs.MailboxWithCredentials(ctx, site.TenantID, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Receive(ctx, mbc, 1, []email.Fetched{{UID: 1, Raw: []byte(customerMail)}}); err != nil {
		t.Fatalf("Receive = %v", err)
	}

	offer := lina.expect("offer", nil)
	lina.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	assigned := lina.expect("assigned", nil)
	contactID := path(assigned, "contact", "id").(string)
	if ch := path(assigned, "contact", "channel"); ch != "email" {
		t.Fatalf("assigned contact channel = %v, want email", ch)
	}

	// The picker's canned responses, filled for this contact.
	var picks []crm.CannedResponse
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "GET", "/api/canned-responses?contact="+contactID, nil, &picks); st != http.StatusOK || len(picks) != 1 || picks[0].Rendered == nil {
		t.Fatalf("GET /api/canned-responses?contact = %d %+v", st, picks)
	}
	text := *picks[0].Rendered
	if !strings.Contains(text, "Dear 王伟 Wang Wei,") || !strings.Contains(text, "李娜 Li Na") || !strings.Contains(text, "{{unknown.thing}}") {
		t.Errorf("rendered canned response = %q, want the customer's and agent's names, the unknown placeholder left", text)
	}

	var q crm.QueuedReply
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/contacts/"+contactID+"/email/reply",
		map[string]any{"client_id": "r-1", "text": text}, &q); st != http.StatusAccepted {
		t.Fatalf("POST reply = %d", st)
	}
	sent := lina.expect("email_sent", func(f map[string]any) bool { return path(f, "outbox", "id") == q.Outbox.ID.String() })
	if path(sent, "outbox", "state") != "sent" {
		t.Errorf("email_sent frame = %v", sent)
	}
	msgs, rcpts := sink.received()
	if len(msgs) != 1 {
		t.Fatalf("SMTP server received %d messages, want 1", len(msgs))
	}
	if strings.Join(rcpts[0], ",") != "wang.wei@example.cn" {
		t.Errorf("RCPT = %v, want the customer", rcpts[0])
	}
	// Read it as a mail client does.
	r, err := mail.CreateReader(bytes.NewReader(msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := r.Header.AddressList("From")
	to, _ := r.Header.AddressList("To")
	subject, _ := r.Header.Subject()
	msgID, _ := r.Header.MessageID()
	irt, _ := r.Header.MsgIDList("In-Reply-To")
	refs, _ := r.Header.MsgIDList("References")
	if len(from) != 1 || from[0].Address != "service@huadong.example" || from[0].Name != "华东汽车 Service" {
		t.Errorf("From = %v, want 华东汽车 Service <service@huadong.example>", from)
	}
	if len(to) != 1 || to[0].Address != "wang.wei@example.cn" {
		t.Errorf("To = %v, want the customer", to)
	}
	if subject != "Re: 保养预约 / service booking" {
		t.Errorf("Subject = %q, want Re: and the thread's subject", subject)
	}
	if len(irt) != 1 || irt[0] != "cust-1.e2e@example.cn" {
		t.Errorf("In-Reply-To = %v, want the customer's message", irt)
	}
	if got, want := strings.Join(refs, " "), "root-3@example.cn campaign-7@news.example.cn cust-1.e2e@example.cn"; got != want {
		t.Errorf("References = %q, want %q (the parent's chain, then the parent)", got, want)
	}
	token := r.Header.Get("X-Switchboard-Ref")
	if c, err := crm.ParseReplyToken(replyKey, site.TenantID, token); err != nil || c.String() != contactID {
		t.Errorf("reply token %q names %v, %v; want the contact", token, c, err)
	}
	if !strings.Contains(msgID, token) || !strings.HasSuffix(msgID, "@huadong.example") {
		t.Errorf("Message-ID = %q, want the token on the mailbox's domain", msgID)
	}
	if msgID != q.Outbox.MessageID {
		t.Errorf("Message-ID = %q, outbox says %q", msgID, q.Outbox.MessageID)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(p.Body)
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != text {
		t.Errorf("text part = %q, want the reply %q", got, text)
	}

	// The server goes down: the next reply fails, the agent hears it, and
	// after the server is back the reply arrives exactly once.
	sink.stop()
	var q2 crm.QueuedReply
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/contacts/"+contactID+"/email/reply",
		map[string]any{"client_id": "r-2", "text": "One more thing: bring the service book."}, &q2); st != http.StatusAccepted {
		t.Fatalf("POST second reply = %d", st)
	}
	failed := lina.expect("email_failed", func(f map[string]any) bool { return path(f, "outbox", "id") == q2.Outbox.ID.String() })
	if failed["retrying"] != true || failed["reason"] != "dial" || failed["contact_id"] != contactID {
		t.Errorf("email_failed = %v, want a dial failure being retried", failed)
	}
	// A resend of the same request is the same reply, not a second one.
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/contacts/"+contactID+"/email/reply",
		map[string]any{"client_id": "r-2", "text": "One more thing: bring the service book."}, nil); st != http.StatusOK {
		t.Errorf("POST the same client_id again = %d, want 200", st)
	}
	sink.start()
	lina.expect("email_sent", func(f map[string]any) bool { return path(f, "outbox", "id") == q2.Outbox.ID.String() })
	time.Sleep(time.Second) // room for a wrong second delivery
	msgs, _ = sink.received()
	n := 0
	for _, m := range msgs {
		if bytes.Contains(m, []byte(q2.Outbox.MessageID)) {
			n++
		}
	}
	if len(msgs) != 2 || n != 1 {
		t.Errorf("after recovery the server has %d messages, %d of them the second reply; want 2 and 1", len(msgs), n)
	}

	// The thread as the panel shows it.
	var thread struct {
		Emails []crm.EmailItem `json:"emails"`
	}
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "GET", "/api/contacts/"+contactID+"/email", nil, &thread); st != http.StatusOK || len(thread.Emails) != 3 {
		t.Fatalf("GET thread = %d, %d e-mails; want 3", st, len(thread.Emails))
	}
	for i, e := range thread.Emails[1:] {
		if e.Direction != "out" || e.Outbox == nil || e.Outbox.State != crm.OutboxSent || e.Subject != "Re: 保养预约 / service booking" {
			t.Errorf("reply %d in the thread = %+v, want sent", i+1, e)
		}
	}

	// Not held by this agent: 409. Another tenant's contact: 404.
	wangleiHTTP, wangleiCSRF := a.login(t, "wanglei@huadong.example")
	if st := apiJSON(t, wangleiHTTP, a.url, wangleiCSRF, "POST", "/api/contacts/"+contactID+"/email/reply",
		map[string]any{"client_id": "x", "text": "hi"}, nil); st != http.StatusConflict {
		t.Errorf("reply by an agent not holding the contact = %d, want 409", st)
	}
	if st := apiJSON(t, wangleiHTTP, a.url, wangleiCSRF, "POST", "/api/contacts/"+contactID+"/email/pending", nil, nil); st != http.StatusConflict {
		t.Errorf("pending by an agent not holding the contact = %d, want 409", st)
	}
	o := otherTenantEmail(t, pool)
	for _, c := range []struct {
		client    *http.Client
		csrf      string
		method, p string
	}{
		{linaHTTP, linaCSRF, "GET", "/api/contacts/" + o.contact + "/email"},
		{linaHTTP, linaCSRF, "POST", "/api/contacts/" + o.contact + "/email/reply"},
		{linaHTTP, linaCSRF, "POST", "/api/contacts/" + o.contact + "/email/pending"},
		{linaHTTP, linaCSRF, "POST", "/api/contacts/" + o.contact + "/email/uploads?name=x.txt"},
		{linaHTTP, linaCSRF, "GET", "/api/contacts/" + o.contact + "/email/attachments/" + o.attachment},
		{linaHTTP, linaCSRF, "GET", "/api/contacts/" + contactID + "/email/attachments/" + o.attachment},
		{linaHTTP, linaCSRF, "POST", "/api/contacts/" + o.contact + "/email/outbox/" + q2.Outbox.ID.String() + "/retry"},
		{linaHTTP, linaCSRF, "POST", "/api/contacts/" + contactID + "/email/outbox/" + uuid.NewString() + "/retry"},
		{linaHTTP, linaCSRF, "POST", "/api/contacts/" + o.contact + "/transcript"},
		{linaHTTP, linaCSRF, "GET", "/api/canned-responses?contact=" + o.contact},
		{linaHTTP, linaCSRF, "GET", "/api/canned-responses/" + o.canned},
		{adminHTTP, adminCSRF, "PATCH", "/api/canned-responses/" + o.canned},
		{adminHTTP, adminCSRF, "DELETE", "/api/canned-responses/" + o.canned},
	} {
		var body any
		switch {
		case strings.HasSuffix(c.p, "/reply"):
			body = map[string]any{"client_id": "x", "text": "hi"}
		case strings.HasSuffix(c.p, "/transcript"):
			body = map[string]any{"to": "x@example.com"}
		case c.method == "PATCH":
			body = map[string]any{"title": "Mine now"}
		case c.method == "POST":
			body = map[string]any{}
		}
		if st := apiJSON(t, c.client, a.url, c.csrf, c.method, c.p, body, nil); st != http.StatusNotFound {
			t.Errorf("%s %s (another tenant's id) = %d, want 404", c.method, c.p, st)
		}
	}
	if n := countRows(t, pool, `SELECT count(*) FROM canned_responses WHERE id = $1 AND title = 'Theirs'`, o.canned); n != 1 {
		t.Errorf("another tenant's canned response changed or gone")
	}

	a.assertNoPersonalData(t, "service book", "保养预约")
}

type otherTenant struct{ contact, attachment, canned string }

// otherTenantEmail makes a second tenant with an e-mail contact, an e-mail
// with an attachment on it, and a canned response.
func otherTenantEmail(t *testing.T, pool *pgxpool.Pool) otherTenant {
	t.Helper()
	ctx := context.Background()
	tenant, queue, contact, mail, att, canned := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (id, name) VALUES ($1, 'Other group')`, []any{tenant}},
		{`INSERT INTO queues (id, tenant_id, name) VALUES ($1, $2, 'Mail')`, []any{queue, tenant}},
		{`INSERT INTO contacts (id, tenant_id, channel, queue_id, state, arrived_at) VALUES ($1, $2, 'email', $3, 'queued', now())`, []any{contact, tenant, queue}},
		{`INSERT INTO email_messages (id, tenant_id, contact_id, message_id, direction, from_addr) VALUES ($1, $2, $3, 'other@example.org', 'in', 'someone@example.org')`, []any{mail, tenant, contact}},
		{`INSERT INTO email_attachments (id, tenant_id, email_id, contact_id, filename, size, data) VALUES ($1, $2, $3, $4, 'a.txt', 1, 'x')`, []any{att, tenant, mail, contact}},
		{`INSERT INTO canned_responses (id, tenant_id, title, body) VALUES ($1, $2, 'Theirs', 'Hello')`, []any{canned, tenant}},
	} {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
	return otherTenant{contact.String(), att.String(), canned.String()}
}

func countRows(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
