package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// smtpServer is a go-smtp server on loopback whose backend records what
// it receives, with switches for the refusals a real server gives.
type smtpServer struct {
	addr string
	port int
	srv  *smtp.Server

	mu       sync.Mutex
	received []received
	// refuseRcpt, when set, is the reply to every RCPT.
	refuseRcpt *smtp.SMTPError
	user, pass string
}

type received struct {
	from   string
	rcpts  []string
	data   []byte
	authed string
	tls    bool
}

type session struct {
	s      *smtpServer
	conn   *smtp.Conn
	cur    received
	authed string
}

func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.user || password != ss.s.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.authed = username
		return nil
	}), nil
}
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && ss.authed == "" {
		return smtp.ErrAuthRequired
	}
	ss.cur = received{from: from}
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuseRcpt
	ss.s.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	ss.cur.rcpts = append(ss.cur.rcpts, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.cur.data, ss.cur.authed, ss.cur.tls = b, ss.authed, isTLS
	ss.s.mu.Lock()
	ss.s.received = append(ss.s.received, ss.cur)
	ss.s.mu.Unlock()
	return nil
}
func (ss *session) Reset()        { ss.cur = received{} }
func (ss *session) Logout() error { return nil }

func (s *smtpServer) got() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

// selfSigned returns a certificate for 127.0.0.1 made for this run, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startSMTP serves on loopback with security "tls" (TLS from the first
// byte), "starttls" (plain, STARTTLS offered) or "none".
func startSMTP(t *testing.T, security string, cert tls.Certificate) *smtpServer {
	t.Helper()
	s := &smtpServer{}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = stdlog.New(io.Discard, "", 0)
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	switch security {
	case org.SecurityTLS:
		l, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	case org.SecurityStartTLS:
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		l, err = net.Listen("tcp", "127.0.0.1:0")
	default:
		s.srv.AllowInsecureAuth = true
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.port = l.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// fakeOutbox is a hand-written OutboxStore (an interface of this package)
// holding one entry; the crm side is tested against PostgreSQL in crm and
// end to end in cmd/switchboard.
type fakeOutbox struct {
	mu      sync.Mutex
	due     []crm.OutboundEmail
	sent    []uuid.UUID
	failed  []failure
	claimed int
}

type failure struct {
	reason string
	retry  bool
}

func (f *fakeOutbox) ClaimEmailOutbox(ctx context.Context, limit int, lease time.Duration) ([]crm.OutboundEmail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.due
	f.due = nil
	f.claimed += len(out)
	return out, nil
}
func (f *fakeOutbox) EmailHanded(ctx context.Context, tenant, id uuid.UUID, attempt int) (bool, error) {
	return true, nil
}
func (f *fakeOutbox) EmailSent(ctx context.Context, tenant, id uuid.UUID, attempt int) (crm.OutboxEntry, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, id)
	return crm.OutboxEntry{ID: id, State: crm.OutboxSent}, true, nil
}
func (f *fakeOutbox) EmailAttemptFailed(ctx context.Context, tenant, id uuid.UUID, attempt int, reason string, retryAt time.Time) (crm.OutboxEntry, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, failure{reason, !retryAt.IsZero()})
	st := crm.OutboxFailed
	if !retryAt.IsZero() {
		st = crm.OutboxQueued
	}
	return crm.OutboxEntry{ID: id, State: st, LastError: reason}, true, nil
}

type fakeMailboxes map[uuid.UUID]org.Mailbox

func (m fakeMailboxes) MailboxWithCredentials(ctx context.Context, tenant, id uuid.UUID) (org.Mailbox, error) {
	mb, ok := m[id]
	if !ok {
		return org.Mailbox{}, org.ErrNotFound
	}
	return mb, nil
}

type notes struct {
	mu  sync.Mutex
	got []crm.OutboxEntry
}

func (n *notes) EmailOutcome(ctx context.Context, tenant, agent uuid.UUID, e crm.OutboxEntry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, e)
}

// testReply is a reply with a Chinese name, subject and file name
// (synthetic: written for this test).
func testReply(mailbox uuid.UUID) crm.OutboundEmail {
	agent := uuid.New()
	return crm.OutboundEmail{
		ID: uuid.New(), TenantID: uuid.New(), ContactID: uuid.New(), MailboxID: mailbox, AgentID: &agent,
		Kind: crm.OutboxReply, To: []string{"wang.wei@example.cn"}, CC: []string{"li.na@example.cn"},
		Subject:   "Re: 保养预约 – service booking for the 王 family, next Tuesday morning please",
		Text:      "王先生您好，\n\nYour car is ready.\n",
		HTML:      "<p>王先生您好</p>",
		MessageID: "0190f5c2-aaaa-7bbb-8ccc-000000000001.tok@dealer.example", InReplyTo: "second@mail.example.cn",
		References: []string{"root@mail.example.cn", "second@mail.example.cn"}, ReplyToken: "tok",
		Attempt: 1, Attachments: []crm.EmailFile{{Name: "报价单.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 synthetic")}},
	}
}

func TestBuildMessageReadsBackAsAMailClientWould(t *testing.T) {
	mb := org.Mailbox{Address: "service@dealer.example", DisplayName: "上海店 Service"}
	e := testReply(uuid.New())
	raw, err := email.BuildMessage(e, mb, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("BuildMessage = %v", err)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets, over RFC 5322's 998", i, len(line))
		}
		for _, r := range line {
			if r > 127 {
				t.Fatalf("line %d has a non-ASCII byte: %q", i, line)
			}
		}
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("CreateReader = %v", err)
	}
	from, _ := r.Header.AddressList("From")
	to, _ := r.Header.AddressList("To")
	cc, _ := r.Header.AddressList("Cc")
	subject, _ := r.Header.Subject()
	id, _ := r.Header.MessageID()
	irt, _ := r.Header.MsgIDList("In-Reply-To")
	refs, _ := r.Header.MsgIDList("References")
	if len(from) != 1 || from[0].Name != mb.DisplayName || from[0].Address != mb.Address {
		t.Errorf("From = %v, want %q <%s>", from, mb.DisplayName, mb.Address)
	}
	if len(to) != 1 || to[0].Address != e.To[0] || len(cc) != 1 || cc[0].Address != e.CC[0] {
		t.Errorf("To %v Cc %v, want %v %v", to, cc, e.To, e.CC)
	}
	if subject != e.Subject {
		t.Errorf("Subject = %q, want %q", subject, e.Subject)
	}
	if id != e.MessageID || len(irt) != 1 || irt[0] != e.InReplyTo {
		t.Errorf("Message-ID %q In-Reply-To %v, want %q %q", id, irt, e.MessageID, e.InReplyTo)
	}
	if diff := cmp.Diff(e.References, refs); diff != "" {
		t.Errorf("References (-want +got):\n%s", diff)
	}
	if got := r.Header.Get("X-Switchboard-Ref"); got != "tok" {
		t.Errorf("token header = %q", got)
	}
	var texts, files []string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("NextPart = %v", err)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			ct, params, _ := h.ContentType()
			// Text travels with CRLF line ends (RFC 5322 §2.3); a client shows LF.
			texts = append(texts, ct+";"+params["charset"]+";"+strings.ReplaceAll(string(b), "\r\n", "\n"))
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			files = append(files, name+";"+string(b))
		}
	}
	wantTexts := []string{"text/plain;utf-8;" + e.Text, "text/html;utf-8;" + e.HTML}
	if diff := cmp.Diff(wantTexts, texts); diff != "" {
		t.Errorf("text parts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"报价单.pdf;%PDF-1.4 synthetic"}, files); diff != "" {
		t.Errorf("attachments (-want +got):\n%s", diff)
	}
}

func TestOutboxSendsOverSMTP(t *testing.T) {
	cert, roots := selfSigned(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		name       string
		security   string // the server's
		mbSecurity string // the mailbox's
		user, pass string // the server's account
		mbPass     string
		refuse     *smtp.SMTPError
		roots      *x509.CertPool
		down       bool
		// want
		sent    bool
		reason  string
		retry   bool
		authed  string
		wantTLS bool
	}{
		{name: "implicit TLS with AUTH PLAIN", security: "tls", mbSecurity: "tls", user: "svc", pass: "pw", mbPass: "pw", roots: roots, sent: true, authed: "svc", wantTLS: true},
		{name: "STARTTLS with AUTH PLAIN", security: "starttls", mbSecurity: "starttls", user: "svc", pass: "pw", mbPass: "pw", roots: roots, sent: true, authed: "svc", wantTLS: true},
		{name: "plain on loopback, no AUTH", security: "none", mbSecurity: "none", sent: true},
		{name: "wrong password is permanent", security: "starttls", mbSecurity: "starttls", user: "svc", pass: "pw", mbPass: "nope", roots: roots, reason: "auth: smtp 535"},
		{name: "recipient refused 550 is permanent", security: "none", mbSecurity: "none", refuse: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, reason: "rcpt: smtp 550"},
		{name: "greylisted 451 is retried", security: "none", mbSecurity: "none", refuse: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "try later"}, reason: "rcpt: smtp 451", retry: true},
		{name: "untrusted certificate is retried, nothing sent", security: "tls", mbSecurity: "tls", user: "svc", pass: "pw", mbPass: "pw", reason: "tls", retry: true},
		{name: "STARTTLS not offered", security: "none", mbSecurity: "starttls", reason: "starttls: connection", retry: true},
		{name: "server down is retried", security: "none", mbSecurity: "none", down: true, reason: "dial", retry: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startSMTP(t, c.security, cert)
			srv.user, srv.pass, srv.refuseRcpt = c.user, c.pass, c.refuse
			if c.down {
				// A port nobody listens on: taken, then let go.
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				srv.port = l.Addr().(*net.TCPAddr).Port
				l.Close()
			}
			mbID := uuid.New()
			mb := org.Mailbox{ID: mbID, Address: "service@dealer.example", DisplayName: "Service", SMTPHost: "127.0.0.1", SMTPPort: srv.port,
				SMTPSecurity: c.mbSecurity, SMTPUsername: "svc", SMTPPassword: c.mbPass}
			store := &fakeOutbox{due: []crm.OutboundEmail{testReply(mbID)}}
			n := &notes{}
			cfg := email.OutboxConfig{Timeout: 5 * time.Second, BaseBackoff: time.Second}
			if c.roots != nil {
				cfg.TLS = &tls.Config{RootCAs: c.roots}
			}
			ob := email.NewOutbox(store, fakeMailboxes{mbID: mb}, n, cfg, log)
			if k, err := ob.SendDue(context.Background()); err != nil || k != 1 {
				t.Fatalf("SendDue = %d, %v", k, err)
			}
			got := srv.got()
			if c.sent {
				if len(store.sent) != 1 || len(got) != 1 {
					t.Fatalf("sent %v, server received %d; want one", store.sent, len(got))
				}
				r := got[0]
				if r.from != "service@dealer.example" || strings.Join(r.rcpts, ",") != "wang.wei@example.cn,li.na@example.cn" || r.authed != c.authed || r.tls != c.wantTLS {
					t.Errorf("server got from %q rcpts %v authed %q tls %v; want the mailbox, To+Cc, %q, %v", r.from, r.rcpts, r.authed, r.tls, c.authed, c.wantTLS)
				}
				if len(n.got) != 1 || n.got[0].State != crm.OutboxSent {
					t.Errorf("agent told %+v, want sent", n.got)
				}
				return
			}
			if len(got) != 0 || len(store.sent) != 0 {
				t.Errorf("server received %d, store sent %v; want nothing", len(got), store.sent)
			}
			if len(store.failed) != 1 || store.failed[0].reason != c.reason || store.failed[0].retry != c.retry {
				t.Errorf("failures = %+v, want %q retry=%v", store.failed, c.reason, c.retry)
			}
			if len(n.got) != 1 || n.got[0].LastError != c.reason {
				t.Errorf("agent told %+v, want the failure", n.got)
			}
		})
	}
}

func TestOutboxRefusesAuthInClearOffLoopback(t *testing.T) {
	// A mailbox on a non-loopback host with security none and a password:
	// the password must not be sent. Nothing listens on the TEST-NET
	// address, so the dial itself fails first unless we point at a local
	// server by name; "localhost" counts as loopback, so use the machine's
	// own non-loopback address when there is one.
	ifaces, _ := net.InterfaceAddrs()
	var host string
	for _, a := range ifaces {
		if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
			host = ip.IP.String()
			break
		}
	}
	if host == "" {
		t.Skip("no non-loopback IPv4 address on this machine")
	}
	s := &smtpServer{user: "svc", pass: "pw"}
	s.srv = smtp.NewServer(s)
	s.srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skip("cannot listen on", host)
	}
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	port, _ := strconv.Atoi(strings.TrimPrefix(l.Addr().String()[strings.LastIndex(l.Addr().String(), ":"):], ":"))
	mbID := uuid.New()
	store := &fakeOutbox{due: []crm.OutboundEmail{testReply(mbID)}}
	ob := email.NewOutbox(store, fakeMailboxes{mbID: {ID: mbID, Address: "service@dealer.example", SMTPHost: host, SMTPPort: port,
		SMTPSecurity: org.SecurityNone, SMTPUsername: "svc", SMTPPassword: "pw"}}, nil, email.OutboxConfig{Timeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ob.SendDue(context.Background())
	if len(store.failed) != 1 || store.failed[0].reason != "auth without tls refused" || store.failed[0].retry || len(s.got()) != 0 {
		t.Errorf("failures %+v, received %d; want a permanent refusal and nothing sent", store.failed, len(s.got()))
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0, 5 * time.Second}, {1, 0.999999, 10*time.Second - 5*time.Microsecond},
		{2, 0, 10 * time.Second}, {3, 0, 20 * time.Second}, {20, 0, 30 * time.Minute},
	} {
		got := email.Backoff(c.attempt, 10*time.Second, time.Hour, c.r)
		if got < c.want-time.Millisecond || got > c.want+time.Millisecond {
			t.Errorf("Backoff(%d, r=%v) = %v, want %v", c.attempt, c.r, got, c.want)
		}
	}
}
