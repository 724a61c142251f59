package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// queueID reads a demo queue's id.
func queueID(t *testing.T, pool *pgxpool.Pool, name string) string {
	t.Helper()
	var id string
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = $1`, name).Scan(&id); err != nil {
		t.Fatalf("queue %s: %v", name, err)
	}
	return id
}

// quiet fails if the console gets an offer within d.
func (c *wsClient) quiet(d time.Duration, what string) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.in:
			if !ok {
				return
			}
			if f["type"] == "offer" {
				c.t.Fatalf("%s: got an offer %v", what, f)
			}
		case <-deadline:
			return
		}
	}
}

// TestTheKnownCustomersAdvisorGetsTheChatFirst: Wang Wei has an open
// service order with Li Na as advisor. Zhao Min has been idle longer and
// would win by the queue's strategy, but Li Na is offered the chat first,
// told why.
func TestTheKnownCustomersAdvisorGetsTheChatFirst(t *testing.T) {
	a := startApp(t, nil)
	zhao := a.availableAgent(t, "zhaomin@huadong.example")
	time.Sleep(20 * time.Millisecond) // Li Na becomes idle later
	lina := a.availableAgent(t, "lina@huadong.example")
	v := a.visitor(t, "Wang Wei", "wang.wei@example.cn")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "Is my car ready?"})
	v.expect("ack", nil)
	o := lina.expect("offer", nil)
	if o["reason"] != "you advise on their open service order" {
		t.Errorf("Li Na's offer says %q, want the advisor reason", o["reason"])
	}
	zhao.quiet(500*time.Millisecond, "Zhao Min while the advisor is offered the chat")

	// A stranger's chat follows the queue's strategy: Zhao Min, idle longest.
	v2 := a.visitor(t, "Stranger", "stranger@example.com")
	v2.send(map[string]any{"type": "message", "client_id": "1", "body": "hello"})
	v2.expect("ack", nil)
	if o := zhao.expect("offer", nil); o["reason"] != "longest idle agent in Enquiries" {
		t.Errorf("the stranger's offer to Zhao Min says %q", o["reason"])
	}
}

// TestTransferToAColleague: the agent hands a chat to a named colleague,
// who is offered it alone (another free agent, idle longer, is not), with
// its original age.
func TestTransferToAColleague(t *testing.T) {
	a := startApp(t, nil)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	first := a.availableAgent(t, "zhaomin@huadong.example")
	v := a.visitor(t, "Buyer", "buyer@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "I have a question"})
	v.expect("ack", nil)
	offer := first.expect("offer", nil)
	arrived := path(offer, "contact", "arrived_at")
	first.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
	contact := path(first.expect("assigned", nil), "contact", "id")

	other := a.availableAgent(t, "chenjing@huadong.example") // idle longer than Emma
	time.Sleep(20 * time.Millisecond)
	emma := a.availableAgent(t, "emma@huadong.example")
	var emmaID string
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM users WHERE email = 'emma@huadong.example'`).Scan(&emmaID); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]any{
		{"type": "transfer", "id": "bad1", "contact_id": contact, "agent_id": "not-a-uuid"},
		{"type": "transfer", "id": "bad2", "contact_id": contact, "agent_id": "0193a000-0000-7000-8000-000000000000"},
	} {
		first.send(bad)
		if f := first.expect("error", func(f map[string]any) bool { return f["ref"] == bad["id"] }); f["code"] == "" {
			t.Errorf("transfer %v refused without a code: %v", bad, f)
		}
	}
	first.send(map[string]any{"type": "transfer", "id": "t", "contact_id": contact, "agent_id": emmaID})
	first.expect("ack", func(f map[string]any) bool { return f["ref"] == "t" })
	if f := first.expect("contact_closed", nil); f["transferred_to_agent"] != emmaID {
		t.Errorf("first agent told %v, want transferred_to_agent Emma", f)
	}
	o := emma.expect("offer", func(f map[string]any) bool { return path(f, "contact", "id") == contact })
	if o["reason"] != "transferred to you" || path(o, "contact", "arrived_at") != arrived {
		t.Errorf("Emma's offer: reason %q, arrived %v; want the transfer reason and the original arrival %v",
			o["reason"], path(o, "contact", "arrived_at"), arrived)
	}
	other.quiet(300*time.Millisecond, "Chen Jing while the chat waits for Emma")
	emma.send(map[string]any{"type": "accept", "id": "a2", "offer_id": o["offer_id"]})
	emma.expect("assigned", nil)
}

// TestClosedQueueTellsTheVisitorAndWaitsForTheOpening: an admin closes
// Sales for today with a message. (A chat that starts while its own queue
// is closed never starts: the widget goes offline and takes a message; see
// channels/chat/offline.go.) A chat transferred into the closed queue gets
// the message once, waits unoffered, and is offered the moment Sales opens.
func TestClosedQueueTellsTheVisitorAndWaitsForTheOpening(t *testing.T) {
	a := startApp(t, nil)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	admin, csrf := a.login(t, "admin@huadong.example")
	sales := queueID(t, pool, "Sales")
	today := time.Now().UTC().Format(time.DateOnly)
	allDay := `["00:00-24:00"]`
	cal := fmt.Sprintf(`{"zone":"UTC","weekly":{"mon":%[1]s,"tue":%[1]s,"wed":%[1]s,"thu":%[1]s,"fri":%[1]s,"sat":%[1]s,"sun":%[1]s},"exceptions":[{"date":"%[2]s","hours":[]}]}`, allDay, today)
	const closedText = "Sales is closed today; we answer tomorrow from 00:00 UTC."
	if code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+sales, csrf,
		`{"calendar":`+cal+`,"closed_action":"message","closed_message":"`+closedText+`"}`); code != 200 {
		t.Fatalf("close Sales: %d %s", code, body)
	}
	first := a.availableAgent(t, "zhaomin@huadong.example") // enquiries only
	v := a.visitor(t, "Night owl", "owl@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "I want to buy a car"})
	v.expect("ack", nil)
	offer := first.expect("offer", nil)
	first.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
	contact := path(first.expect("assigned", nil), "contact", "id")
	seller := a.availableAgent(t, "sunhao@huadong.example") // sales 5
	first.send(map[string]any{"type": "transfer", "id": "t", "contact_id": contact, "queue_id": sales})
	first.expect("ack", func(f map[string]any) bool { return f["ref"] == "t" })

	m := v.expect("message", func(f map[string]any) bool { return f["author_kind"] == "system" })
	if m["body"] != closedText {
		t.Errorf("the visitor was told %q, want %q", m["body"], closedText)
	}
	seller.quiet(1500*time.Millisecond, "the Sales agent while Sales is closed")
	var state string
	var notices int
	if err := pool.QueryRow(context.Background(), `
		SELECT c.state, (SELECT count(*) FROM messages m WHERE m.contact_id = c.id AND m.author_kind = 'system')
		FROM contacts c WHERE c.id = $1`, contact).Scan(&state, &notices); err != nil {
		t.Fatal(err)
	}
	if state != "queued" || notices != 1 {
		t.Errorf("contact %s with %d notices, want queued with exactly 1 (sweeps must not repeat it)", state, notices)
	}
	// Sales opens: the waiting chat is offered at once.
	if code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+sales, csrf, `{"calendar":null}`); code != 200 {
		t.Fatalf("open Sales: %d %s", code, body)
	}
	if o := seller.expect("offer", nil); path(o, "contact", "id") != contact {
		t.Errorf("offered %v, want the transferred chat %v", path(o, "contact", "id"), contact)
	}
}

// TestOverflowAfterTheMaximumWait: nobody serves Enquiries; after its
// maximum wait the chat moves to Sales (the database says so, with both
// queues' events) and a Sales agent is offered it with its original age.
func TestOverflowAfterTheMaximumWait(t *testing.T) {
	a := startApp(t, nil)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	admin, csrf := a.login(t, "admin@huadong.example")
	enquiries, sales := queueID(t, pool, "Enquiries"), queueID(t, pool, "Sales")
	if code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+enquiries, csrf,
		`{"max_wait_seconds":5,"overflow_queue_id":"`+sales+`"}`); code != 200 {
		t.Fatalf("set overflow: %d %s", code, body)
	}
	v := a.visitor(t, "Buyer", "buyer@example.com")
	start := time.Now()
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "is anyone there?"})
	v.expect("ack", nil)
	var contact, queue string
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := pool.QueryRow(context.Background(), `SELECT id::text, queue_id::text FROM contacts`).Scan(&contact, &queue); err != nil {
			t.Fatal(err)
		}
		if queue == sales {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the contact is still in queue %s after 15 s, want Sales", queue)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if waited := time.Since(start); waited < 5*time.Second {
		t.Errorf("overflowed after %v, before the 5 s maximum wait", waited)
	}
	var events int
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*) FROM contact_events WHERE contact_id = $1
		AND ((kind = 'transferred_out' AND queue_id = $2 AND data->>'by' = 'overflow') OR (kind = 'transferred_in' AND queue_id = $3))`,
		contact, enquiries, sales).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 2 {
		t.Errorf("%d overflow events, want transferred_out of Enquiries and transferred_in to Sales", events)
	}
	seller := a.availableAgent(t, "sunhao@huadong.example")
	o := seller.expect("offer", nil)
	if path(o, "contact", "id") != contact {
		t.Errorf("Sales agent offered %v, want the overflowed chat %s", path(o, "contact", "id"), contact)
	}
}
