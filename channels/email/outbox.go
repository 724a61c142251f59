package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// OutboxStore is what the sender needs of crm (crm.Store): the durable
// outbox that QueueReply and QueueTranscript fill.
type OutboxStore interface {
	ClaimEmailOutbox(ctx context.Context, limit int, lease time.Duration) ([]crm.OutboundEmail, error)
	EmailHanded(ctx context.Context, tenant, id uuid.UUID, attempt int) (bool, error)
	EmailSent(ctx context.Context, tenant, id uuid.UUID, attempt int) (crm.OutboxEntry, bool, error)
	EmailAttemptFailed(ctx context.Context, tenant, id uuid.UUID, attempt int, reason string, retryAt time.Time) (crm.OutboxEntry, bool, error)
}

// SendingMailboxes gives a mailbox with its SMTP password opened (org.Store).
type SendingMailboxes interface {
	MailboxWithCredentials(ctx context.Context, tenant, id uuid.UUID) (org.Mailbox, error)
}

// OutboxNotifier tells the agent who wrote a reply how its sending went: a
// failed attempt (retried later, or given up) and the final success. The
// agent desk implements it by publishing to the agent's consoles.
type OutboxNotifier interface {
	EmailOutcome(ctx context.Context, tenant, agent uuid.UUID, e crm.OutboxEntry)
}

// OutboxConfig tunes an Outbox; zero fields take the defaults noted.
type OutboxConfig struct {
	Interval    time.Duration // how often to look for due entries when idle (1s)
	Batch       int           // entries claimed per round (20)
	Parallel    int           // SMTP sessions at once per worker (4)
	Timeout     time.Duration // one SMTP session, dial to QUIT (60s)
	BaseBackoff time.Duration // wait after the first failure, doubled after each (30s)
	MaxBackoff  time.Duration // the longest wait between attempts (1h)
	MaxAttempts int           // give up after this many temporary failures (10)
	// TLS is the base of every TLS configuration (ServerName is set per
	// mailbox); tests give their own RootCAs. Nil: the system's roots.
	TLS *tls.Config
	// LocalName is the name given in EHLO; default "localhost".
	LocalName string
	// Now is the clock, for backoff; default time.Now.
	Now func() time.Time
}

func (c OutboxConfig) withDefaults() OutboxConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, time.Second)
	def(&c.Timeout, time.Minute)
	def(&c.BaseBackoff, 30*time.Second)
	def(&c.MaxBackoff, time.Hour)
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.LocalName == "" {
		c.LocalName = "localhost"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// lease keeps other workers off a claimed entry for longer than its SMTP
// session may last, so two workers never send one entry at the same time.
func (c OutboxConfig) lease() time.Duration { return 2*c.Timeout + 5*time.Second }

// Outbox sends the e-mail outbox over SMTP. Any number of Outboxes, on any
// number of nodes, may run on one database.
type Outbox struct {
	store     OutboxStore
	mailboxes SendingMailboxes
	notify    OutboxNotifier
	cfg       OutboxConfig
	log       *slog.Logger
}

// NewOutbox returns an Outbox. notify may be nil.
func NewOutbox(store OutboxStore, mailboxes SendingMailboxes, notify OutboxNotifier, cfg OutboxConfig, log *slog.Logger) *Outbox {
	return &Outbox{store: store, mailboxes: mailboxes, notify: notify, cfg: cfg.withDefaults(), log: log}
}

// Run sends until ctx ends: a full batch is followed at once by the next,
// otherwise it waits Interval. Errors are logged and retried; only ctx
// ends it.
func (o *Outbox) Run(ctx context.Context) error {
	for {
		n, err := o.SendDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			o.log.WarnContext(ctx, "e-mail outbox round failed", "err", err)
		}
		if err == nil && n >= o.cfg.Batch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.cfg.Interval):
		}
	}
}

// SendDue claims up to Batch due entries, sends them and records each
// outcome; it returns how many it claimed.
func (o *Outbox) SendDue(ctx context.Context) (int, error) {
	// The claim runs to its end even when ctx ends meanwhile: a claim that
	// commits after its caller gave up would leave entries leased for nobody.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	claimed, err := o.store.ClaimEmailOutbox(cctx, o.cfg.Batch, o.cfg.lease())
	cancel()
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	var g errgroup.Group
	g.SetLimit(o.cfg.Parallel)
	for _, e := range claimed {
		g.Go(func() error { return o.sendOne(ctx, e) })
	}
	return len(claimed), g.Wait()
}

// sendOne sends one claimed entry and records the outcome. Recording uses a
// context that outlives a stopping ctx: an SMTP server's answer is a fact.
//
// At most one visible copy, and the window that remains. The entry's
// message is fixed when it is queued (Message-ID, threading headers, text)
// and its Date is the queueing time, so every attempt sends the same
// message. An attempt records "handed to SMTP" (EmailHanded, fenced by the
// attempt number, its own commit) right before DATA, and the success right
// after the server's 250 to the message's end, before QUIT. What is left:
// a worker that dies (or loses its database) between that 250 and the
// commit of EmailSent, or a connection that breaks after the message's end
// but before the server's answer arrives, leaves a message the server may
// have accepted with no record of it; the next attempt, after the claim's
// lease, sends it again, marked Uncertain (logged, counted in the row's
// uncertain_resends). The customer then has two deliveries of one
// Message-ID: Gmail and most threading clients show one, some (Outlook
// among them) show both. Not sending again would lose the reply whenever
// the server had in fact refused or never got it, which is worse; no SMTP
// extension lets a client ask whether a message was taken.
func (o *Outbox) sendOne(ctx context.Context, e crm.OutboundEmail) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if e.Uncertain {
		o.log.WarnContext(ctx, "e-mail sent again: an earlier attempt may have been delivered", "tenant_id", e.TenantID,
			"contact_id", e.ContactID, "outbox_id", e.ID, "kind", e.Kind, "attempt", e.Attempt)
	}
	var sentErr error
	accepted := func() {
		entry, ok, err := o.store.EmailSent(rctx, e.TenantID, e.ID, e.Attempt)
		if err != nil {
			sentErr = fmt.Errorf("outbox %s sent: %w", e.ID, err)
			return
		}
		if ok {
			o.log.InfoContext(ctx, "e-mail sent", "tenant_id", e.TenantID, "contact_id", e.ContactID, "outbox_id", e.ID, "kind", e.Kind, "attempt", e.Attempt)
			o.tell(rctx, e, entry)
		}
	}
	handed := func() (bool, error) { return o.store.EmailHanded(rctx, e.TenantID, e.ID, e.Attempt) }
	failure, permanent := o.send(ctx, e, handed, accepted)
	if failure == "" {
		return sentErr
	}
	var retryAt time.Time
	if !permanent && e.Attempt < o.cfg.MaxAttempts {
		retryAt = o.cfg.Now().Add(Backoff(e.Attempt, o.cfg.BaseBackoff, o.cfg.MaxBackoff, rand.Float64()))
	}
	entry, ok, err := o.store.EmailAttemptFailed(rctx, e.TenantID, e.ID, e.Attempt, failure, retryAt)
	if err != nil {
		return fmt.Errorf("outbox %s failed: %w", e.ID, err)
	}
	if ok {
		o.log.WarnContext(ctx, "e-mail not sent", "tenant_id", e.TenantID, "contact_id", e.ContactID, "outbox_id", e.ID,
			"kind", e.Kind, "attempt", e.Attempt, "reason", failure, "retry", !retryAt.IsZero())
		o.tell(rctx, e, entry)
	}
	return nil
}

func (o *Outbox) tell(ctx context.Context, e crm.OutboundEmail, entry crm.OutboxEntry) {
	if o.notify != nil && e.AgentID != nil {
		o.notify.EmailOutcome(ctx, e.TenantID, *e.AgentID, entry)
	}
}

// Backoff is the wait after the given failed attempt (1 for the first):
// base doubled per attempt, capped at max, with equal jitter (half fixed,
// half random by r in [0, 1)) so that many replies failing together do not
// retry together.
func Backoff(attempt int, base, max time.Duration, r float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(r*float64(d/2))
}

// send delivers e over SMTP from its mailbox; handed and accepted are as
// for deliver. It returns "" on success, or a failure class for last_error
// (never an address or text) and whether it is permanent (retrying cannot
// help).
func (o *Outbox) send(ctx context.Context, e crm.OutboundEmail, handed func() (bool, error), accepted func()) (failure string, permanent bool) {
	mb, err := o.mailboxes.MailboxWithCredentials(ctx, e.TenantID, e.MailboxID)
	if errors.Is(err, org.ErrNotFound) {
		return "mailbox gone", true
	} else if err != nil {
		return "mailbox unreadable", false
	}
	if mb.SMTPHost == "" {
		return "no smtp server", true
	}
	// Dated when it was queued, so that every attempt sends the same message.
	date := e.CreatedAt
	if date.IsZero() {
		date = o.cfg.Now()
	}
	raw, err := BuildMessage(e, mb, date)
	if err != nil {
		return "build message", true
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	return o.deliver(ctx, mb, append(append([]string{}, e.To...), e.CC...), raw, handed, accepted)
}

// deliver runs one SMTP session: connect (TLS, STARTTLS or plain), AUTH
// PLAIN when the mailbox has a password, MAIL, RCPT for each recipient,
// DATA, QUIT. handed is asked right before DATA (false or an error: the
// claim is lost or unrecorded, and nothing is sent); accepted is called
// once the server has answered 250 to the message's end, before QUIT.
func (o *Outbox) deliver(ctx context.Context, mb org.Mailbox, rcpts []string, raw []byte, handed func() (bool, error), accepted func()) (string, bool) {
	addr := net.JoinHostPort(mb.SMTPHost, strconv.Itoa(mb.SMTPPort))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "dial", false
	}
	defer conn.Close()
	// The session's deadline is the context's: go-smtp's own timeouts are
	// minutes long, and a stuck server must not hold the claim.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.cfg.TLS != nil {
		tlsCfg = o.cfg.TLS.Clone()
	}
	tlsCfg.ServerName = mb.SMTPHost

	var c *smtp.Client
	switch mb.SMTPSecurity {
	case org.SecurityTLS:
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "tls", false
		}
		c = smtp.NewClient(tc)
	case org.SecurityStartTLS:
		c, err = smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			return smtpFailure("starttls", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := c.Hello(o.cfg.LocalName); err != nil && !isAlreadyHello(err) {
		return smtpFailure("ehlo", err)
	}
	if mb.SMTPPassword != "" {
		// A password never crosses the network in clear, except to a
		// loopback server (org allows plain SMTP only there).
		if _, isTLS := c.TLSConnectionState(); !isTLS && !isLoopbackHost(mb.SMTPHost) {
			return "auth without tls refused", true
		}
		if err := c.Auth(sasl.NewPlainClient("", mb.SMTPUsername, mb.SMTPPassword)); err != nil {
			return smtpFailure("auth", err)
		}
	}
	if err := c.Mail(mb.Address, nil); err != nil {
		return smtpFailure("mail from", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return smtpFailure("rcpt", err)
		}
	}
	if ok, err := handed(); err != nil {
		return "outbox unwritable", false
	} else if !ok {
		return "claim lost", false
	}
	w, err := c.Data()
	if err != nil {
		return smtpFailure("data", err)
	}
	if _, err := w.Write(raw); err != nil {
		return smtpFailure("data", err)
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			// The message's end went out but its answer never came: the
			// server may have taken it (the next attempt is Uncertain).
			f, _ := smtpFailure("data end", err)
			return "uncertain: " + f, false
		}
		return smtpFailure("data", err)
	}
	// The message is accepted once DATA's final reply is 250: recorded
	// before QUIT, whose answer changes nothing and may be slow.
	accepted()
	c.Quit()
	return "", false
}

// isAlreadyHello: NewClientStartTLS has already said EHLO; go-smtp refuses
// a second Hello before the next command.
func isAlreadyHello(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Hello called after other methods")
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// smtpFailure classifies an error of a step: a 5xx reply is permanent, a
// 4xx reply and anything of the network is temporary. The class names the
// step and the code only, never the server's text (which may quote an
// address).
func smtpFailure(step string, err error) (string, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: smtp %d", step, se.Code), se.Code >= 500
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return step + ": timeout", false
	}
	var te *tls.CertificateVerificationError
	if errors.As(err, &te) {
		return step + ": certificate", false
	}
	return step + ": connection", false
}

// BuildMessage is the MIME message of e as mb sends it: UTF-8 throughout,
// encoded words for non-ASCII names and subjects, the threading headers
// e carries, multipart/mixed with the text (and HTML, when there is some)
// as multipart/alternative, then the attachments.
func BuildMessage(e crm.OutboundEmail, mb org.Mailbox, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: mb.DisplayName, Address: mb.Address}})
	h.SetAddressList("To", addressList(e.To))
	h.SetAddressList("Cc", addressList(e.CC))
	h.SetSubject(e.Subject)
	h.SetMessageID(e.MessageID)
	if e.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{e.InReplyTo})
	}
	h.SetMsgIDList("References", e.References)
	if e.ReplyToken != "" {
		h.Set("X-Switchboard-Ref", e.ReplyToken)
	}
	if e.Kind == crm.OutboxTranscript {
		// Asked for, but sent by a machine: RFC 3834 keeps auto-responders
		// from answering it.
		h.Set("Auto-Submitted", "auto-generated")
	}
	h.Set("MIME-Version", "1.0")

	var buf bytes.Buffer
	w, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	iw, err := w.CreateInline()
	if err != nil {
		return nil, err
	}
	if err := writePart(iw, "text/plain", e.Text); err != nil {
		return nil, err
	}
	if e.HTML != "" {
		if err := writePart(iw, "text/html", e.HTML); err != nil {
			return nil, err
		}
	}
	if err := iw.Close(); err != nil {
		return nil, err
	}
	for _, f := range e.Attachments {
		var ah mail.AttachmentHeader
		ct := f.ContentType
		if _, _, err := mime.ParseMediaType(ct); err != nil || ct == "" {
			ct = "application/octet-stream"
		}
		ah.Set("Content-Type", ct)
		ah.SetFilename(f.Name)
		aw, err := w.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(f.Data); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writePart(iw *mail.InlineWriter, contentType, body string) error {
	var ph mail.InlineHeader
	ph.SetContentType(contentType, map[string]string{"charset": "utf-8"})
	pw, err := iw.CreatePart(ph)
	if err != nil {
		return err
	}
	if _, err := pw.Write([]byte(body)); err != nil {
		return err
	}
	return pw.Close()
}

func addressList(addrs []string) []*mail.Address {
	out := make([]*mail.Address, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, &mail.Address{Address: a})
	}
	return out
}
