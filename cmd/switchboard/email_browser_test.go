package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/dovecottest"
	"github.com/switchboard-cc/switchboard/org"
)

// browserCustomerMail is the customer's mail of the browser test: HTML with
// a remote tracking image and a script, and a text alternative (synthetic,
// written for this test).
const browserCustomerMail = "From: Wang Wei <wang.wei@example.cn>\r\n" +
	"To: service@huadong.example\r\n" +
	"Subject: Service booking\r\n" +
	"Message-ID: <browser-1@example.cn>\r\n" +
	"Date: Mon, 2 Mar 2026 10:00:00 +0800\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIs my Lavida ready for Friday?\r\n" +
	"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<html><body><p>Is my <b>Lavida</b> ready for Friday?</p>" +
	"<img id=\"pixel\" src=\"https://tracker.example/open.gif?u=42\" width=\"1\" height=\"1\">" +
	"<script>parent.document.title = 'pwned'</script></body></html>\r\n" +
	"--b1--\r\n"

// TestBrowserEmailPanel drives the console's e-mail panel in headless
// Chromium: a mail arrives through a real Dovecot and the running app's
// IMAP ingester; the agent accepts the offer and sees the thread's
// sanitised HTML (the remote image blocked to about:blank, no script in
// the frame, the page untouched); picks a canned response whose
// placeholder is filled for this customer (the same text the API renders);
// sends it; the SMTP server receives it with In-Reply-To, References and
// "Re:" subject naming the customer's mail; the panel shows it sent.
func TestBrowserEmailPanel(t *testing.T) {
	root := browser(t)
	dove := dovecottest.New(t, dovecottest.Options{})
	a := startApp(t, map[string]string{
		"SWITCHBOARD_EMAIL_RELOAD_INTERVAL": "200ms",
		"SWITCHBOARD_EMAIL_OUTBOX_INTERVAL": "100ms",
		"SWITCHBOARD_SMTP_TIMEOUT":          "5s",
	})
	sink := &mailSink{t: t}
	sink.start()
	t.Cleanup(sink.stop)
	mailboxWithSMTP(t, a, dove, sink.port)

	adminHTTP, adminCSRF := a.login(t, "admin@huadong.example")
	var canned crm.CannedResponse
	if st := apiJSON(t, adminHTTP, a.url, adminCSRF, "POST", "/api/canned-responses",
		map[string]any{"title": "Car ready", "body": "Dear {{customer.name}},\n\nyour car is ready on Friday."}, &canned); st != http.StatusCreated {
		t.Fatalf("POST /api/canned-responses = %d", st)
	}

	agent, cancelAgent := chromedp.NewContext(root)
	defer cancelAgent()
	var logMu sync.Mutex
	var browserLog []string
	msgs := chromedp.Console(agent)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			logMu.Lock()
			browserLog = append(browserLog, m.String())
			logMu.Unlock()
		}
	}()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(agent, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			screenshot(t, agent, "email-panel-failed")
			ectx, ecancel := context.WithTimeout(agent, 5*time.Second)
			body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
			ecancel()
			logMu.Lock()
			bl := strings.Join(browserLog, "\n")
			logMu.Unlock()
			t.Fatalf("%s: %v\npage text:\n%s\nbrowser console:\n%s\nserver log tail:\n%s", what, err, body, bl, tail(a.logs.String(), 3000))
		}
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	eval := func(expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(agent, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	step("log in and go available",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)),
		poll("connected", `document.querySelector('[data-testid=conn]')?.textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		poll("presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	waitFor(t, "Lina available", func() bool {
		return countRows(t, pool, `SELECT count(*) FROM agent_presence p JOIN users u ON u.id = p.agent_id WHERE u.email = 'lina@huadong.example' AND p.state = 'available'`) == 1
	})

	dove.Deliver(t, "INBOX", []byte(browserCustomerMail))
	step("accept the e-mail's offer",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=offer]`)),
		chromedp.Click(chromedp.CSS(`button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=email-html]`)),
		poll("the message in its frame", `document.querySelector('[data-testid=email-html]')?.contentDocument?.body?.textContent.includes('Lavida') === true`),
	)
	frame := `document.querySelector('[data-testid=email-html]').contentDocument`
	if got := eval(frame + `.querySelector('img')?.getAttribute('src') ?? 'no image'`); got != "about:blank" {
		t.Errorf("the remote image's src in the panel = %q, want about:blank (blocked)", got)
	}
	if got := eval(`String(` + frame + `.querySelectorAll('script').length)`); got != "0" {
		t.Errorf("scripts in the message frame = %s, want 0", got)
	}
	if got := eval(`String(` + frame + `.documentElement.outerHTML.includes('tracker.example'))`); got != "false" {
		t.Errorf("the frame still names the tracker")
	}
	if got := eval(`document.title`); got == "pwned" {
		t.Errorf("the message's script ran in the console")
	}
	if got := eval(`document.querySelector('[data-testid=email-html]').getAttribute('sandbox')`); strings.Contains(got, "allow-scripts") {
		t.Errorf("the frame's sandbox %q allows scripts", got)
	}
	var contactID string
	if err := pool.QueryRow(context.Background(), `SELECT contact_id FROM email_messages WHERE message_id = 'browser-1@example.cn'`).Scan(&contactID); err != nil {
		t.Fatal(err)
	}

	// The canned response as the server renders it for this contact.
	linaHTTP, _ := a.login(t, "lina@huadong.example")
	var rendered []crm.CannedResponse
	if st := apiJSON(t, linaHTTP, a.url, "", "GET", "/api/canned-responses?contact="+contactID, nil, &rendered); st != http.StatusOK {
		t.Fatalf("GET canned = %d", st)
	}
	var want string
	for _, c := range rendered {
		if c.ID == canned.ID && c.Rendered != nil {
			want = *c.Rendered
		}
	}
	var name string
	if err := pool.QueryRow(context.Background(), `SELECT cu.name FROM contacts c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1`, contactID).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name == "" || !strings.Contains(want, "Dear "+name+",") || strings.Contains(want, "{{") {
		t.Fatalf("rendered canned response %q, want the customer's name %q filled in", want, name)
	}

	step("pick the canned response and send",
		poll("the canned responses", `[...document.querySelectorAll('[data-testid=email-canned] option')].some(o => o.textContent === 'Car ready')`),
		poll("choose it", `(() => { const s = document.querySelector('[data-testid=email-canned]');
			s.value = [...s.options].find(o => o.textContent === 'Car ready').value;
			return s.dispatchEvent(new Event('change', {bubbles: true})); })()`),
	)
	if got := eval(`document.querySelector('[data-testid=email-text]').innerText.trim()`); got != strings.TrimSpace(want) {
		t.Errorf("the composer holds %q, want the rendered canned response %q", got, want)
	}
	step("send", chromedp.Click(chromedp.CSS(`[data-testid=email-send]`)))
	waitFor(t, "the SMTP server to receive the reply", func() bool { m, _ := sink.received(); return len(m) == 1 })
	got, rcpts := sink.received()
	r, err := mail.CreateReader(bytes.NewReader(got[0]))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := r.Header.Subject()
	irt, _ := r.Header.MsgIDList("In-Reply-To")
	refs, _ := r.Header.MsgIDList("References")
	if subject != "Re: Service booking" || len(irt) != 1 || irt[0] != "browser-1@example.cn" ||
		len(refs) != 1 || refs[0] != "browser-1@example.cn" {
		t.Errorf("reply: Subject %q In-Reply-To %v References %v; want Re: Service booking and the customer's Message-ID", subject, irt, refs)
	}
	if len(rcpts) != 1 || len(rcpts[0]) != 1 || rcpts[0][0] != "wang.wei@example.cn" {
		t.Errorf("recipients = %v, want the customer", rcpts)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(p.Body)
	if !strings.Contains(strings.ReplaceAll(body.String(), "\r\n", "\n"), "Dear "+name+",") {
		t.Errorf("the reply's text %q lacks the filled placeholder", body.String())
	}
	step("the panel shows the reply sent",
		poll("state sent", `[...document.querySelectorAll('[data-testid=email-state]')].some(e => e.dataset.state === 'sent')`))
	if got := eval(`[...document.querySelectorAll('[data-testid=email-msg]')].length.toString()`); got != "2" {
		t.Errorf("the thread shows %s messages, want 2 (the customer's and the reply)", got)
	}
	if got := eval(`String(getComputedStyle(document.querySelector('.composer')).display)`); got != "none" {
		t.Errorf("the chat composer shows (display %s) beside the e-mail panel's", got)
	}
	screenshot(t, agent, "email-panel")
}

// mailboxWithSMTP is the demo tenant's service mailbox reading the
// Dovecot user's INBOX and sending through smtpPort on loopback.
func mailboxWithSMTP(t *testing.T, a *app, dove *dovecottest.Server, smtpPort int) org.Mailbox {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	sealer, err := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials") // startApp's secret
	if err != nil {
		t.Fatal(err)
	}
	orgs := org.NewStore(pool, org.WithSealer(sealer))
	site, err := orgs.SiteByChatKey(ctx, "demo-pudong")
	if err != nil {
		t.Fatal(err)
	}
	var admin uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'admin@huadong.example'`).Scan(&admin); err != nil {
		t.Fatal(err)
	}
	host, portStr, _ := net.SplitHostPort(dove.Addr)
	port, _ := strconv.Atoi(portStr)
	str := func(s string) *string { return &s }
	queue, loop := site.ChatQueueID, "127.0.0.1"
	m, err := orgs.CreateMailbox(ctx, site.TenantID, admin, org.MailboxSettings{
		Address: str("service@huadong.example"), DisplayName: str("华东汽车 Service"), QueueID: &queue,
		IMAPHost: &host, IMAPPort: &port, IMAPSecurity: str(org.SecurityNone), IMAPUsername: &dove.User,
		IMAPPassword: &dove.Password, Folder: str("INBOX"),
		SMTPHost: &loop, SMTPPort: &smtpPort, SMTPSecurity: str(org.SecurityNone),
	})
	if err != nil {
		t.Fatalf("CreateMailbox = %v", err)
	}
	return m
}
