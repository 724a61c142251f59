package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// post sends a JSON body as the browser page would: same origin, CSRF header.
func post(t *testing.T, c *http.Client, url, csrf, body string) (int, string) {
	t.Helper()
	return call(t, c, "POST", url, csrf, body)
}

func call(t *testing.T, c *http.Client, method, url, csrf, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", url[:strings.Index(url[8:], "/")+8])
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSupervisorActions: a supervisor forces an agent's state and moves a
// waiting contact to another queue; agents may not; bad bodies, missing
// CSRF tokens and another tenant's ids get clear refusals.
func TestSupervisorActions(t *testing.T) {
	a := startApp(t, nil)
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	agentHTTP, agentCSRF := a.login(t, "lina@huadong.example")
	console, _, err := a.dial(t, "/ws/agent", agentHTTP.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	console.expect("snapshot", nil)
	pool, _ := pgxpool.New(context.Background(), a.dsn)
	defer pool.Close()
	var lina, sales string
	pool.QueryRow(context.Background(), `SELECT id::text FROM users WHERE email = 'lina@huadong.example'`).Scan(&lina)
	pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = 'Sales'`).Scan(&sales)

	// Force an agent's state; their console hears of it.
	if code, body := post(t, sup, a.url+"/api/agents/"+lina+"/presence", supCSRF, `{"state":"away","reason":"coaching"}`); code != 200 {
		t.Fatalf("force presence: %d %s", code, body)
	}
	if f := console.expect("presence", nil); f["state"] != "away" || f["reason"] != "coaching" {
		t.Errorf("agent's console got %v, want away/coaching", f)
	}

	otherAgent, otherContact := otherTenantIDs(t, a.dsn)
	for _, tc := range []struct {
		name   string
		client *http.Client
		csrf   string
		url    string
		body   string
		want   int
	}{
		{"agent may not force states", agentHTTP, agentCSRF, "/api/agents/" + lina + "/presence", `{"state":"available"}`, 403},
		{"no CSRF token", sup, "", "/api/agents/" + lina + "/presence", `{"state":"available"}`, 403},
		{"unknown field", sup, supCSRF, "/api/agents/" + lina + "/presence", `{"state":"available","mood":"happy"}`, 400},
		{"malformed JSON", sup, supCSRF, "/api/agents/" + lina + "/presence", `{"state":`, 400},
		{"unknown state", sup, supCSRF, "/api/agents/" + lina + "/presence", `{"state":"sleeping"}`, 400},
		{"malformed id", sup, supCSRF, "/api/agents/nope/presence", `{"state":"away"}`, 400},
		{"another tenant's agent", sup, supCSRF, "/api/agents/" + otherAgent.String() + "/presence", `{"state":"away"}`, 404},
		{"another tenant's contact", sup, supCSRF, "/api/contacts/" + otherContact.String() + "/queue", `{"queue_id":"` + sales + `"}`, 404},
		{"move without a queue", sup, supCSRF, "/api/contacts/" + otherContact.String() + "/queue", `{}`, 400},
		{"oversized body", sup, supCSRF, "/api/agents/" + lina + "/presence", `{"state":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
	} {
		if code, body := post(t, tc.client, a.url+tc.url, tc.csrf, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	var state string
	pool.QueryRow(context.Background(), `SELECT state FROM agent_presence WHERE agent_id = $1`, lina).Scan(&state)
	if state != "away" {
		t.Errorf("after the refused attempts lina is %q, want still away", state)
	}

	// Move a waiting chat from Enquiries to Sales; a salesperson gets it
	// with its original arrival time.
	v := a.visitor(t, "Mover", "mover@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "prices?"})
	v.expect("ack", nil)
	var contact, arrived string
	pool.QueryRow(context.Background(), `SELECT id::text, arrived_at::text FROM contacts WHERE state = 'queued'`).Scan(&contact, &arrived)
	if code, body := post(t, sup, a.url+"/api/contacts/"+contact+"/queue", supCSRF, `{"queue_id":"`+sales+`"}`); code != 200 || !strings.Contains(body, `"queue_name":"Sales"`) {
		t.Fatalf("move: %d %s", code, body)
	}
	seller, _ := a.login(t, "sunhao@huadong.example")
	sc, _, err := a.dial(t, "/ws/agent", seller.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	sc.expect("snapshot", nil)
	sc.send(map[string]any{"type": "presence", "id": "p", "state": "available"})
	o := sc.expect("offer", nil)
	sp := sc.expect("screen_pop", func(f map[string]any) bool { return f["offer_id"] == o["offer_id"] })
	if path(o, "contact", "id") != contact || path(sp, "contact", "queue_name") != "Sales" {
		t.Errorf("offer %v, want the moved contact in Sales", path(sp, "contact"))
	}
	var after string
	pool.QueryRow(context.Background(), `SELECT arrived_at::text FROM contacts WHERE id = $1`, contact).Scan(&after)
	if after != arrived {
		t.Errorf("arrival changed from %s to %s by the move", arrived, after)
	}
	sc.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
	sc.expect("assigned", nil)
	if code, _ := post(t, sup, a.url+"/api/contacts/"+contact+"/queue", supCSRF, `{"queue_id":"`+sales+`"}`); code != http.StatusConflict {
		t.Errorf("moving a contact an agent holds: %d, want 409", code)
	}
}

func otherTenantIDs(t *testing.T, dsn string) (agent, contact uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	orgs, people := org.NewStore(pool), crm.NewStore(pool)
	tn, err := orgs.CreateTenant(ctx, "Elsewhere", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	q, err := orgs.CreateQueue(ctx, org.Queue{TenantID: tn.ID, Name: "Theirs"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := orgs.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: "them@elsewhere.example", DisplayName: "Them", Password: "long enough", Role: org.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	if err := orgs.CreateAgent(ctx, tn.ID, u.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	in, err := people.RecordInbound(ctx, crm.Inbound{TenantID: tn.ID, QueueID: q.ID, Channel: org.Chat,
		Identities: []crm.Identity{{Kind: "email", Value: "x@elsewhere.example"}}, Body: "hi", IdempotencyKey: "other"})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, in.ContactID
}

// TestAdminEditsAQueueAndItAppliesLive: an admin switches Enquiries to round
// robin and the next offer says so; agents and supervisors may not edit;
// bad values and another tenant's queue are refused.
func TestAdminEditsAQueueAndItAppliesLive(t *testing.T) {
	a := startApp(t, nil)
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	pool, _ := pgxpool.New(context.Background(), a.dsn)
	defer pool.Close()
	var enquiries string
	pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = 'Enquiries'`).Scan(&enquiries)
	otherQueue := func() string {
		var id string
		otherTenantIDs(t, a.dsn)
		pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = 'Theirs'`).Scan(&id)
		return id
	}()
	patch := func(c *http.Client, csrf, id, body string) (int, string) {
		return call(t, c, "PATCH", a.url+"/api/queues/"+id, csrf, body)
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		csrf   string
		id     string
		body   string
		want   int
	}{
		{"supervisor may not edit", sup, supCSRF, enquiries, `{"strategy":"round_robin"}`, 403},
		{"unknown strategy", admin, adminCSRF, enquiries, `{"strategy":"coin_flip"}`, 400},
		{"offer timeout too short", admin, adminCSRF, enquiries, `{"offer_timeout_seconds":1}`, 400},
		{"skill level out of range", admin, adminCSRF, enquiries, `{"skills":{"enquiries":11}}`, 400},
		{"unknown field", admin, adminCSRF, enquiries, `{"colour":"red"}`, 400},
		{"another tenant's queue", admin, adminCSRF, otherQueue, `{"priority":1}`, 404},
	} {
		if code, body := patch(tc.client, tc.csrf, tc.id, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	code, body := patch(admin, adminCSRF, enquiries, `{"strategy":"round_robin","sla_seconds":30}`)
	if code != 200 || !strings.Contains(body, `"strategy":"round_robin"`) || !strings.Contains(body, `"sla_seconds":30`) {
		t.Fatalf("admin edit: %d %s", code, body)
	}
	c, _ := a.login(t, "lina@huadong.example")
	agent, _, err := a.dial(t, "/ws/agent", c.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	agent.expect("snapshot", nil)
	agent.send(map[string]any{"type": "presence", "id": "p", "state": "available"})
	v := a.visitor(t, "RR", "rr@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "hi"})
	if o := agent.expect("offer", nil); o["reason"] != "next in turn in Enquiries" {
		t.Errorf("offer reason %q, want the round-robin one: the edit did not apply", o["reason"])
	}
}
