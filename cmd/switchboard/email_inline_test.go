package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dovecottest"
)

// inlinePNG is a 1×1 PNG (synthetic, made for this test).
var inlinePNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")

// TestEmailInlineImageOverHTTP: an HTML mail whose signature image is a
// related part (cid:), delivered to a real Dovecot and offered to an
// agent, is served in the thread with the image pointed at the contact's
// attachment route, which gives the agent the image; a cid: naming no part
// of the mail is blanked.
func TestEmailInlineImageOverHTTP(t *testing.T) {
	dove := dovecottest.New(t, dovecottest.Options{})
	a := startApp(t, map[string]string{"SWITCHBOARD_EMAIL_RELOAD_INTERVAL": "200ms"})
	mailboxOnDovecot(t, a, dove)
	lina := a.availableAgent(t, "lina@huadong.example")
	linaHTTP, linaCSRF := a.login(t, "lina@huadong.example")

	dove.Deliver(t, "INBOX", []byte("From: Wang Wei <wang.wei.inline@example.cn>\r\nTo: service@huadong.example\r\n"+
		"Subject: Photo of the scratch\r\nMessage-ID: <inline-1@example.cn>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n"+
		"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"+
		"<p>See the photo:</p><img src=\"cid:photo.1@example.cn\" alt=\"photo\"><img src=\"cid:missing@example.cn\">\r\n"+
		"--rel\r\nContent-Type: image/png\r\nContent-ID: <photo.1@example.cn>\r\nContent-Disposition: inline; filename=\"photo.png\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n"+base64.StdEncoding.EncodeToString(inlinePNG)+"\r\n--rel--\r\n"))
	offer := lina.expect("offer", nil)
	lina.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	contact := path(lina.expect("assigned", nil), "contact", "id").(string)

	var thread struct {
		Emails []struct {
			HTML string `json:"html"`
		} `json:"emails"`
	}
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "GET", "/api/contacts/"+contact+"/email", nil, &thread); st != http.StatusOK || len(thread.Emails) != 1 {
		t.Fatalf("GET thread = %d with %d e-mails", st, len(thread.Emails))
	}
	html := thread.Emails[0].HTML
	m := regexp.MustCompile(`src="(/api/contacts/` + contact + `/email/attachments/[0-9a-f-]{36})"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("the inline image does not point at the attachment route: %s", html)
	}
	if !bytes.Contains([]byte(html), []byte(`src="about:blank"`)) || bytes.Contains([]byte(html), []byte("cid:")) {
		t.Errorf("a cid: naming no part is not blanked, or a cid: is left: %s", html)
	}
	resp, err := linaHTTP.Get(a.url + m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, inlinePNG) {
		t.Errorf("GET %s = %d %s (%d bytes), want the PNG", m[1], resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	anon, err := http.Get(a.url + m[1])
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.StatusCode == http.StatusOK {
		t.Errorf("GET %s without a session = 200, want refused", m[1])
	}
}

// TestEmailReopenDuringWrapUp: the agent closes an e-mail thread and wraps
// it up (a queue with ten minutes of wrap-up); a reply then is refused
// with 409 in_wrap_up; the customer writes again: the console gets
// wrap_up_ended (reason reopened) and the thread is offered to the same
// agent at once, not after the wrap-up.
func TestEmailReopenDuringWrapUp(t *testing.T) {
	dove := dovecottest.New(t, dovecottest.Options{})
	a := startApp(t, map[string]string{"SWITCHBOARD_EMAIL_RELOAD_INTERVAL": "200ms"})
	m := mailboxOnDovecot(t, a, dove)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `UPDATE queues SET wrap_up_seconds = 600 WHERE id = $1`, m.QueueID); err != nil {
		t.Fatal(err)
	}
	lina := a.availableAgent(t, "lina@huadong.example")
	linaHTTP, linaCSRF := a.login(t, "lina@huadong.example")

	dove.Deliver(t, "INBOX", []byte("From: Wang Wei <wang.wei.wrap@example.cn>\r\nTo: service@huadong.example\r\n"+
		"Subject: Brake noise\r\nMessage-ID: <wrap-1@example.cn>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n\r\nThe brakes squeak.\r\n"))
	offer := lina.expect("offer", nil)
	lina.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	contact := path(lina.expect("assigned", nil), "contact", "id").(string)
	lina.send(map[string]any{"type": "close", "id": "c1", "contact_id": contact})
	if closed := lina.expect("contact_closed", nil); closed["wrap_up_until"] == nil {
		t.Fatalf("contact_closed = %v, want a wrap-up", closed)
	}

	var refusal map[string]string
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/contacts/"+contact+"/email/reply",
		map[string]any{"client_id": "r1", "text": "One more thing."}, &refusal); st != http.StatusConflict || refusal["error"] != "in_wrap_up" {
		t.Errorf("reply during the wrap-up = %d %v, want 409 in_wrap_up", st, refusal)
	}

	start := time.Now()
	dove.Deliver(t, "INBOX", []byte("From: Wang Wei <wang.wei.wrap@example.cn>\r\nTo: service@huadong.example\r\n"+
		"Subject: Re: Brake noise\r\nMessage-ID: <wrap-2@example.cn>\r\nIn-Reply-To: <wrap-1@example.cn>\r\n"+
		"Date: Mon, 2 Mar 2026 10:05:00 +0800\r\n\r\nAnd now it rattles too.\r\n"))
	// The console hears that the wrap-up ended (reason reopened): its card
	// closes; and the thread comes back as an offer. The two travel by
	// different paths (the receiver after its commit; routing after the
	// NOTIFY), so either may come first.
	var ended, again map[string]any
	for ended == nil || again == nil {
		f := lina.expect("", func(f map[string]any) bool { return f["type"] == "wrap_up_ended" || f["type"] == "offer" })
		if f["type"] == "offer" {
			again = f
		} else {
			ended = f
		}
	}
	if ended["contact_id"] != contact || ended["reason"] != "reopened" {
		t.Errorf("wrap_up_ended = %v, want contact %s, reason reopened", ended, contact)
	}
	if got := path(again, "contact", "id"); got != contact {
		t.Errorf("offer after the customer wrote again is for %v, want the reopened thread %s", got, contact)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the reopened thread was offered after %v; the wrap-up (10 min) must not hold it", d)
	}
}
