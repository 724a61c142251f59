package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// closeChatQueue gives the demo site's chat queue a calendar that is closed
// today and tomorrow and opens the day after at 09:00 Shanghai time, and
// returns that opening.
func closeChatQueue(t *testing.T, f *chatFixture) time.Time {
	t.Helper()
	ctx := context.Background()
	tenant, queue, admin := chatQueue(t, f)
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	day := func(d int) string {
		return time.Date(now.Year(), now.Month(), now.Day()+d, 12, 0, 0, 0, loc).Format(time.DateOnly)
	}
	cal := org.Calendar{Zone: "Asia/Shanghai", Exceptions: []org.Exception{{Date: day(0)}, {Date: day(1)}, {Date: day(2), Spans: []org.Span{{Start: 9 * 60, End: 18 * 60}}}}}
	if _, err := org.NewStore(f.pool).UpdateQueue(ctx, tenant, queue, admin, org.QueueSettings{Calendar: &cal}, nil); err != nil {
		t.Fatal(err)
	}
	return time.Date(now.Year(), now.Month(), now.Day()+2, 9, 0, 0, 0, loc)
}

// chatQueue returns the demo site's tenant and chat queue, and its admin.
func chatQueue(t *testing.T, f *chatFixture) (tenant, queue, admin uuid.UUID) {
	t.Helper()
	if err := f.pool.QueryRow(context.Background(), `
		SELECT s.tenant_id, s.chat_queue_id, u.id FROM sites s JOIN users u ON u.tenant_id = s.tenant_id AND u.email = 'admin@huadong.example'
		WHERE s.id = $1`, f.site).Scan(&tenant, &queue, &admin); err != nil {
		t.Fatal(err)
	}
	return tenant, queue, admin
}

func sameInstant(t *testing.T, what string, got any, want time.Time) {
	t.Helper()
	s, _ := got.(string)
	at, err := time.Parse(time.RFC3339, s)
	if err != nil || !at.Equal(want) {
		t.Errorf("%s = %v, want %s", what, got, want.UTC().Format(time.RFC3339))
	}
}

// TestChatOfflineEmail: the chat queue is closed by its calendar; the
// settings route and the welcome say offline with the next opening; a chat
// line is refused (offline); the offline form needs an e-mail address; the
// message becomes one queued e-mail-channel contact in the chat queue with
// the visitor's details as identities, however often it is resent.
func TestChatOfflineEmail(t *testing.T) {
	f := newChatFixture(t, nil)
	next := closeChatQueue(t, f)

	resp, err := http.Get(f.a.url + "/chat/settings?site=demo-pudong")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if s["offline"] != true {
		t.Errorf("GET /chat/settings offline = %v, want true", s["offline"])
	}
	sameInstant(t, "settings next_open", s["next_open"], next)

	// No form on hello: offline, the form comes with the message.
	v, w := f.hello(t, map[string]any{})
	if w["type"] != "welcome" || w["offline"] != true {
		t.Fatalf("hello answered %v, want a welcome with offline true", w)
	}
	sameInstant(t, "welcome next_open", w["next_open"], next)
	v.send(map[string]any{"type": "message", "client_id": "m1", "body": "anyone there?"})
	if e := v.expect("error", nil); e["code"] != "offline" {
		t.Errorf("a chat line while offline got %v, want code offline", e)
	}
	v.send(map[string]any{"type": "offline_message", "client_id": "o1", "name": "Zhou Min", "body": "Please call me about the ID.4"})
	if e := v.expect("error", nil); e["code"] != "invalid" || e["field"] != "email" {
		t.Errorf("an offline message without e-mail got %v, want invalid, field email", e)
	}
	msg := map[string]any{"type": "offline_message", "client_id": "o2", "name": "Zhou Min", "email": "Zhou.Min@Example.CN", "body": "Is the ID.4 in stock?"}
	v.send(msg)
	if a := v.expect("ack", nil); a["client_id"] != "o2" || a["offline"] != "email" {
		t.Errorf("offline message ack = %v, want client_id o2, offline email", a)
	}
	v.send(msg) // a resend after a lost ack
	if a := v.expect("ack", nil); a["offline"] != "email" {
		t.Errorf("resent offline message ack = %v", a)
	}

	var n int
	var channel, state, body, subject string
	var inChatQueue, hasEmail bool
	if err := f.pool.QueryRow(context.Background(), `
		SELECT count(*) OVER (), c.channel, c.state, c.subject, m.body, c.queue_id = s.chat_queue_id,
		       EXISTS (SELECT 1 FROM customer_identities i WHERE i.customer_id = c.customer_id AND i.kind = 'email' AND i.value = 'zhou.min@example.cn')
		FROM contacts c JOIN sites s ON s.id = c.site_id JOIN messages m ON m.contact_id = c.id
		WHERE c.channel <> 'chat' OR m.body LIKE '%ID.4%'`).Scan(&n, &channel, &state, &subject, &body, &inChatQueue, &hasEmail); err != nil {
		t.Fatal(err)
	}
	if n != 1 || channel != "email" || state != "queued" || body != "Is the ID.4 in stock?" || !inChatQueue || !hasEmail || subject == "" {
		t.Errorf("stored %d contacts: channel %s, state %s, subject %q, body %q, in the chat queue %v, customer has the e-mail %v; "+
			"want one queued e-mail contact in the chat queue with the message and the customer's e-mail", n, channel, state, subject, body, inChatQueue, hasEmail)
	}
}

// TestChatOfflineCallback: with offline_mode callback the form needs a
// phone; the message's contact is abandoned and a callback to the phone
// (parsed with the site's area code) is due at the queue's next opening.
// With offline_when no_agents an open queue is offline while no console is
// connected, and online once one is.
func TestChatOfflineCallback(t *testing.T) {
	f := newChatFixture(t, nil)
	f.settings(t, `{"name_field":"optional","email_field":"optional","phone_field":"off","topics":[],"language":"browser",
		"show_wait":false,"abandon_after_seconds":120,"offline_mode":"callback","attachments":true,"max_attachment_bytes":5242880,"customer_system":""}`)
	next := closeChatQueue(t, f)

	v, w := f.hello(t, map[string]any{})
	if w["offline"] != true {
		t.Fatalf("welcome = %v, want offline", w)
	}
	v.send(map[string]any{"type": "offline_message", "client_id": "o1", "name": "Sun Li", "email": "sun.li@example.cn", "body": "Call me"})
	if e := v.expect("error", nil); e["field"] != "phone" {
		t.Errorf("a callback request without a phone got %v, want field phone", e)
	}
	v.send(map[string]any{"type": "offline_message", "client_id": "o2", "name": "Sun Li", "phone": "13900139001", "body": "Please call me about my service"})
	a := v.expect("ack", nil)
	if a["offline"] != "callback" {
		t.Fatalf("ack = %v, want offline callback", a)
	}
	sameInstant(t, "ack due_at", a["due_at"], next)

	var phone, originState, state string
	var due time.Time
	if err := f.pool.QueryRow(context.Background(), `
		SELECT cb.phone, cb.due_at, cb.state, c.state FROM callbacks cb JOIN contacts c ON c.id = cb.origin_contact_id`).Scan(&phone, &due, &state, &originState); err != nil {
		t.Fatal(err)
	}
	if phone != "+8613900139001" || !due.Equal(next) || state != "scheduled" || originState != "abandoned" {
		t.Errorf("callback to %s due %s (%s), origin %s; want +8613900139001 due %s, scheduled, origin abandoned", phone, due, state, originState, next)
	}

	// Open all hours, but nobody there.
	f.settings(t, `{"name_field":"optional","email_field":"optional","phone_field":"off","topics":[],"language":"browser",
		"show_wait":false,"abandon_after_seconds":120,"offline_mode":"callback","offline_when":"no_agents","attachments":true,"max_attachment_bytes":5242880,"customer_system":""}`)
	tenant, queue, admin := chatQueue(t, f)
	if _, err := org.NewStore(f.pool).UpdateQueue(context.Background(), tenant, queue, admin, org.QueueSettings{Calendar: &org.Calendar{}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, w := f.hello(t, map[string]any{}); w["offline"] != true || w["next_open"] != nil {
		t.Errorf("no agent connected: welcome = %v, want offline without next_open", w)
	}
	f.a.availableAgent(t, "lina@huadong.example")
	if _, w := f.hello(t, map[string]any{}); w["type"] != "welcome" || w["offline"] != false {
		t.Errorf("an agent connected: welcome = %v, want online", w)
	}
}
