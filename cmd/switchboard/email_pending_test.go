package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dovecottest"
)

// TestEmailPendingLoop walks "waiting for the customer" on a real Dovecot
// and the running app: an agent who may hold one e-mail at a time answers
// a thread with "send and set pending"; the console hears contact_pending
// before any offer, and the slot it frees brings the next waiting thread
// (a second customer's, queued meanwhile). The pending thread is held by
// nobody (assignment ended 'pending') but still owned: the customer's
// answer reopens it and offers it to the same agent, with the whole thread
// (their mail, the agent's formatted reply, their answer).
func TestEmailPendingLoop(t *testing.T) {
	dove := dovecottest.New(t, dovecottest.Options{})
	a := startApp(t, map[string]string{"SWITCHBOARD_EMAIL_RELOAD_INTERVAL": "200ms"})
	m := mailboxOnDovecot(t, a, dove)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `UPDATE agents SET capacity_email = 1 WHERE id = (SELECT id FROM users WHERE email = 'lina@huadong.example')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE queues SET wrap_up_seconds = 0 WHERE id = $1`, m.QueueID); err != nil {
		t.Fatal(err)
	}
	lina := a.availableAgent(t, "lina@huadong.example")
	linaHTTP, linaCSRF := a.login(t, "lina@huadong.example")

	dove.Deliver(t, "INBOX", []byte("From: Wang Wei <wang.wei.pending@example.cn>\r\nTo: service@huadong.example\r\n"+
		"Subject: Tyre quote\r\nMessage-ID: <pending-1@example.cn>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n\r\nHow much are four winter tyres?\r\n"))
	offer := lina.expect("offer", nil)
	lina.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	first := path(lina.expect("assigned", nil), "contact", "id").(string)

	// A second customer's thread waits: Lina's one e-mail slot is taken.
	dove.Deliver(t, "INBOX", []byte("From: Zhao Min <zhao.min.pending@example.cn>\r\nTo: service@huadong.example\r\n"+
		"Subject: Test drive\r\nMessage-ID: <pending-2@example.cn>\r\nDate: Mon, 2 Mar 2026 10:01:00 +0800\r\n\r\nCan I test drive the EV on Saturday?\r\n"))
	waitFor(t, "the second thread queued", func() bool {
		return countRows(t, pool, `SELECT count(*) FROM contacts c JOIN email_messages e ON e.contact_id = c.id
			WHERE e.message_id = 'pending-2@example.cn' AND c.state = 'queued'`) == 1
	})

	var q struct {
		Pending bool `json:"pending"`
	}
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/contacts/"+first+"/email/reply", map[string]any{
		"client_id": "p1", "pending": true,
		"html": `<p>Four tyres: <b>2,400 CNY</b> fitted.</p><ul><li>Michelin</li></ul><script>alert(1)</script>`,
	}, &q); st != http.StatusAccepted || !q.Pending {
		t.Fatalf("send and set pending = %d %+v, want 202 pending", st, q)
	}
	// contact_pending first, then the offer the freed slot brings.
	f := lina.expect("", func(f map[string]any) bool { return f["type"] == "contact_pending" || f["type"] == "offer" })
	if f["type"] != "contact_pending" || f["contact_id"] != first {
		t.Fatalf("after send and set pending: %v, want contact_pending for %s before any offer", f, first)
	}
	next := lina.expect("offer", nil)
	second, _ := path(next, "contact", "id").(string)
	if second == first || second == "" {
		t.Fatalf("offer after pending = %v, want the second customer's thread", next)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM contacts WHERE id = $1 AND state = 'pending'`, first); n != 1 {
		t.Errorf("the first thread is not pending")
	}
	if n := countRows(t, pool, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NOT NULL AND end_reason = 'pending'`, first); n != 1 {
		t.Errorf("the first thread's assignment did not end 'pending'")
	}
	// Setting it pending again answers the same; the second thread is
	// Lina's to take and finish.
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "POST", "/api/contacts/"+first+"/email/pending", nil, nil); st != http.StatusOK {
		t.Errorf("set pending again = %d, want 200", st)
	}
	lina.send(map[string]any{"type": "accept", "id": "a2", "offer_id": next["offer_id"]})
	lina.expect("assigned", nil)
	lina.send(map[string]any{"type": "close", "id": "c2", "contact_id": second})
	lina.expect("contact_closed", nil)

	// The customer answers the pending thread: it comes back to Lina.
	dove.Deliver(t, "INBOX", []byte("From: Wang Wei <wang.wei.pending@example.cn>\r\nTo: service@huadong.example\r\n"+
		"Subject: Re: Tyre quote\r\nMessage-ID: <pending-3@example.cn>\r\nIn-Reply-To: <pending-1@example.cn>\r\n"+
		"Date: Mon, 2 Mar 2026 11:00:00 +0800\r\n\r\nFine, please book them.\r\n"))
	back := lina.expect("offer", nil)
	if got := path(back, "contact", "id"); got != first {
		t.Fatalf("offer after the customer answered = %v, want the pending thread %s", got, first)
	}
	lina.send(map[string]any{"type": "accept", "id": "a3", "offer_id": back["offer_id"]})
	lina.expect("assigned", nil)
	var thread struct {
		Emails []struct {
			Direction, HTML, Text string
		} `json:"emails"`
	}
	if st := apiJSON(t, linaHTTP, a.url, linaCSRF, "GET", "/api/contacts/"+first+"/email", nil, &thread); st != http.StatusOK || len(thread.Emails) != 3 {
		t.Fatalf("GET thread = %d, %d e-mails; want 3", st, len(thread.Emails))
	}
	out := thread.Emails[1]
	if out.Direction != "out" || out.HTML != "<p>Four tyres: <b>2,400 CNY</b> fitted.</p><ul><li>Michelin</li></ul>" ||
		out.Text != "Four tyres: 2,400 CNY fitted.\n\n- Michelin\n" {
		t.Errorf("the reply in the thread = %+v, want the sanitised HTML and its text", out)
	}
	if thread.Emails[2].Direction != "in" {
		t.Errorf("third e-mail = %+v, want the customer's answer", thread.Emails[2])
	}
	a.assertNoPersonalData(t, "Four tyres", "winter tyres")
}
