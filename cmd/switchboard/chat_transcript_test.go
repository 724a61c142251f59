package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestVisitorAsksForTranscript: the visitor asks for the chat's transcript
// by e-mail. Without a mailbox that can send, the widget is told it is not
// available; with one, the transcript goes to the pre-chat form's address
// through the real outbox and a real SMTP server (go-smtp), from the
// mailbox's address, with both sides' lines; asking again for the same
// address sends nothing more. A visitor who gave no address is asked for
// one, a bad one is refused, and asking too often is rate limited.
func TestVisitorAsksForTranscript(t *testing.T) {
	const secret = "test-secret-0123456789" // startApp's SWITCHBOARD_SECRET
	f := newChatFixture(t, map[string]string{
		"SWITCHBOARD_EMAIL_OUTBOX_INTERVAL": "100ms",
		"SWITCHBOARD_SMTP_TIMEOUT":          "5s",
	})
	ctx := context.Background()
	lina := f.a.availableAgent(t, "lina@huadong.example")

	v, w := f.hello(t, map[string]any{"name": "Wang Wei", "email": "Wang.Wei@Example.cn"})
	if w["type"] != "welcome" {
		t.Fatalf("hello = %v", w)
	}
	v.send(map[string]any{"type": "transcript"})
	if e := v.expect("error", nil); e["code"] != "invalid" {
		t.Errorf("transcript before any chat = %v, want invalid", e)
	}
	_, contact := chatting(t, f.a, lina, v)
	lina.send(map[string]any{"type": "send", "id": "s", "contact_id": contact, "client_id": "a1", "body": "您好 Wang Wei, your car is ready."})
	v.expect("message", func(m map[string]any) bool { return m["author_kind"] == "agent" })

	// No mailbox yet: refused, clearly.
	v.send(map[string]any{"type": "transcript"})
	if e := v.expect("error", nil); e["code"] != "unavailable" || !strings.Contains(e["message"].(string), "not available") {
		t.Errorf("transcript without a mailbox = %v, want unavailable", e)
	}

	sink := &mailSink{t: t}
	sink.start()
	t.Cleanup(sink.stop)
	sealer, err := org.NewSealer([]byte(secret), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	orgs := org.NewStore(f.pool, org.WithSealer(sealer))
	site, err := orgs.SiteByChatKey(ctx, "demo-pudong")
	if err != nil {
		t.Fatal(err)
	}
	var admin uuid.UUID
	if err := f.pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'admin@huadong.example'`).Scan(&admin); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	port, imapPort, queue, security := sink.port, 993, site.ChatQueueID, org.SecurityNone
	if _, err := orgs.CreateMailbox(ctx, site.TenantID, admin, org.MailboxSettings{
		Address: str("service@huadong.example"), DisplayName: str("华东汽车 Service"), QueueID: &queue,
		IMAPHost: str("127.0.0.1"), IMAPPort: &imapPort, IMAPSecurity: str(org.SecurityTLS), IMAPUsername: str("service"),
		IMAPPassword: str("unused"), SMTPHost: str("127.0.0.1"), SMTPPort: &port, SMTPSecurity: &security,
	}); err != nil {
		t.Fatalf("CreateMailbox = %v", err)
	}

	// The form's address, normalised; twice: one mail.
	v.send(map[string]any{"type": "transcript"})
	if got := v.expect("", func(m map[string]any) bool { return m["type"] == "transcript" || m["type"] == "error" }); got["status"] != "queued" || got["to"] != "wang.wei@example.cn" {
		t.Errorf("transcript frame = %v, want queued to the form's address", got)
	}
	waitFor(t, "the transcript at the SMTP server", func() bool { msgs, _ := sink.received(); return len(msgs) >= 1 })
	v.send(map[string]any{"type": "transcript", "email": "wang.wei@example.cn"})
	if got := v.expect("", func(m map[string]any) bool { return m["type"] == "transcript" || m["type"] == "error" }); got["status"] != "queued" {
		t.Errorf("second transcript to the same address = %v, want queued (and sent once)", got)
	}
	time.Sleep(time.Second) // a second mail would have been sent by now
	msgs, rcpts := sink.received()
	if len(msgs) != 1 {
		t.Fatalf("SMTP server received %d messages, want 1", len(msgs))
	}
	if strings.Join(rcpts[0], ",") != "wang.wei@example.cn" {
		t.Errorf("RCPT = %v, want the visitor", rcpts[0])
	}
	mr, err := mail.CreateReader(bytes.NewReader(msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := mr.Header.AddressList("From")
	if len(from) != 1 || from[0].Address != "service@huadong.example" {
		t.Errorf("From = %v, want the site's mailbox", from)
	}
	var text string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if ct, _, _ := p.Header.(*mail.InlineHeader).ContentType(); strings.HasPrefix(ct, "text/plain") {
			b, _ := io.ReadAll(p.Body)
			text = string(b)
		}
	}
	for _, want := range []string{"hello", "您好 Wang Wei, your car is ready."} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript text lacks %q:\n%s", want, text)
		}
	}

	// A visitor who gave no address is asked for one; a bad one is refused.
	v2, _ := f.hello(t, map[string]any{"name": "Li Ming"})
	v2.send(map[string]any{"type": "message", "client_id": "m1", "body": "hi"})
	v2.expect("ack", nil)
	v2.send(map[string]any{"type": "transcript"})
	if e := v2.expect("error", nil); e["code"] != "email_required" || e["field"] != "transcript_email" {
		t.Errorf("transcript without an address = %v, want email_required", e)
	}
	v2.send(map[string]any{"type": "transcript", "email": "not an address"})
	if e := v2.expect("error", nil); e["code"] != "invalid" || e["field"] != "transcript_email" {
		t.Errorf("transcript to a bad address = %v, want invalid", e)
	}
	// Those were two of the visitor's five in ten minutes; three more
	// (one address: one mail), then refused.
	for i := range 3 {
		v2.send(map[string]any{"type": "transcript", "email": "li.ming@example.cn"})
		if got := v2.expect("", func(m map[string]any) bool { return m["type"] == "transcript" || m["type"] == "error" }); got["to"] != "li.ming@example.cn" {
			t.Errorf("transcript %d = %v, want queued", i+3, got)
		}
	}
	v2.send(map[string]any{"type": "transcript", "email": "someone.else@example.cn"})
	if e := v2.expect("error", nil); e["code"] != "rate_limited" {
		t.Errorf("sixth transcript in ten minutes = %v, want rate_limited", e)
	}
	waitFor(t, "the second visitor's transcript", func() bool { msgs, _ := sink.received(); return len(msgs) == 2 })
	time.Sleep(time.Second)
	if msgs, rcpts := sink.received(); len(msgs) != 2 || strings.Join(rcpts[1], ",") != "li.ming@example.cn" {
		t.Errorf("SMTP server received %d messages (%v), want 2: one per address", len(msgs), rcpts)
	}
	if strings.Contains(f.a.logs.String(), "li.ming@example.cn") || strings.Contains(f.a.logs.String(), "wang.wei@example.cn") {
		t.Error("a visitor's e-mail address is in the server's log")
	}
}
