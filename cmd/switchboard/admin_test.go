package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestAdminAPIEditsQueuesAndAgentsWithAnAuditTrail: an admin sets a
// queue's calendar, overflow queue and maximum length and an agent's
// capacity over the API and reads them back; agents, requests without a
// CSRF token, unknown fields, bad JSON, oversized bodies and another
// tenant's ids are refused without changing anything; the audit log shows
// exactly the accepted changes, newest first, with the admin as actor.
func TestAdminAPIEditsQueuesAndAgentsWithAnAuditTrail(t *testing.T) {
	a := startApp(t, nil)
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var sales, service, lina, adminID string
	pool.QueryRow(ctx, `SELECT id::text FROM queues WHERE name = 'Sales'`).Scan(&sales)
	pool.QueryRow(ctx, `SELECT id::text FROM queues WHERE name = 'Service'`).Scan(&service)
	pool.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'lina@huadong.example'`).Scan(&lina)
	pool.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'admin@huadong.example'`).Scan(&adminID)
	otherAgent, _ := otherTenantIDs(t, a.dsn)
	var otherQueue string
	pool.QueryRow(ctx, `SELECT id::text FROM queues WHERE name = 'Theirs'`).Scan(&otherQueue)

	const calendar = `{"zone":"Asia/Shanghai","weekly":{"mon":["09:00-12:00","13:00-18:00"],"sat":["09:00-12:00"]},` +
		`"exceptions":[{"date":"2026-10-01","hours":[]},{"date":"2026-09-27","hours":["09:00-17:00"]}]}`
	code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+sales, adminCSRF,
		`{"calendar":`+calendar+`,"overflow_queue_id":"`+service+`","max_length":12,"closed_action":"message","closed_message":"We are closed."}`)
	if code != 200 {
		t.Fatalf("PATCH queue: %d %s", code, body)
	}
	var q struct {
		Calendar        json.RawMessage `json:"calendar"`
		OverflowQueueID *string         `json:"overflow_queue_id"`
		MaxLength       int             `json:"max_length"`
		ClosedAction    string          `json:"closed_action"`
	}
	readQueue := func() {
		t.Helper()
		code, body := call(t, sup, "GET", a.url+"/api/queues", "", "")
		var qs []map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &qs); code != 200 || err != nil {
			t.Fatalf("GET /api/queues: %d %s", code, body)
		}
		for _, x := range qs {
			if string(x["id"]) == `"`+sales+`"` {
				b, _ := json.Marshal(x)
				q.OverflowQueueID = nil
				json.Unmarshal(b, &q)
				return
			}
		}
		t.Fatalf("Sales is not in GET /api/queues: %s", body)
	}
	readQueue()
	if !jsonEqual(t, q.Calendar, calendar) || q.OverflowQueueID == nil || *q.OverflowQueueID != service || q.MaxLength != 12 || q.ClosedAction != "message" {
		t.Errorf("Sales read back: calendar %s, overflow %v, max length %d, closed action %q; want what was patched",
			q.Calendar, q.OverflowQueueID, q.MaxLength, q.ClosedAction)
	}

	code, body = call(t, admin, "PATCH", a.url+"/api/agents/"+lina, adminCSRF, `{"capacity":{"chat":5},"voice_blocks_chat":true}`)
	if code != 200 {
		t.Fatalf("PATCH agent: %d %s", code, body)
	}
	readAgent := func() map[string]any {
		t.Helper()
		code, body := call(t, sup, "GET", a.url+"/api/agents", "", "")
		var as []map[string]any
		if err := json.Unmarshal([]byte(body), &as); code != 200 || err != nil {
			t.Fatalf("GET /api/agents: %d %s", code, body)
		}
		for _, x := range as {
			if x["id"] == lina {
				return x
			}
		}
		t.Fatalf("lina is not in GET /api/agents: %s", body)
		return nil
	}
	if got := readAgent(); path(got, "capacity", "chat") != float64(5) || path(got, "capacity", "voice") != float64(1) || got["voice_blocks_chat"] != true {
		t.Errorf("lina read back = %v, want chat capacity 5, voice 1 unchanged, voice blocks chat", got)
	}

	for _, tc := range []struct {
		name         string
		client       *http.Client
		csrf, method string
		url, body    string
		want         int
	}{
		{"agent may not edit a queue", agent, agentCSRF, "PATCH", "/api/queues/" + sales, `{"max_length":1}`, 403},
		{"agent may not edit an agent", agent, agentCSRF, "PATCH", "/api/agents/" + lina, `{"capacity":{"chat":9}}`, 403},
		{"supervisor may not edit an agent", sup, supCSRF, "PATCH", "/api/agents/" + lina, `{"capacity":{"chat":9}}`, 403},
		{"agent may not list agents", agent, agentCSRF, "GET", "/api/agents", "", 403},
		{"supervisor may not read the audit log", sup, supCSRF, "GET", "/api/audit", "", 403},
		{"queue edit without CSRF", admin, "", "PATCH", "/api/queues/" + sales, `{"max_length":1}`, 403},
		{"agent edit without CSRF", admin, "", "PATCH", "/api/agents/" + lina, `{"capacity":{"chat":9}}`, 403},
		{"unknown queue field", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"max_length":1,"colour":"red"}`, 400},
		{"unknown calendar field", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"calendar":{"zone":"Asia/Shanghai","holidays":[]}}`, 400},
		{"malformed hours", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"calendar":{"zone":"Asia/Shanghai","weekly":{"mon":["9-17"]}}}`, 400},
		{"zone that does not load", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"calendar":{"zone":"Asia/Atlantis","weekly":{"mon":["09:00-17:00"]}}}`, 400},
		{"unknown agent field", admin, adminCSRF, "PATCH", "/api/agents/" + lina, `{"capacity":{"chat":9},"mood":"happy"}`, 400},
		{"unknown channel", admin, adminCSRF, "PATCH", "/api/agents/" + lina, `{"capacity":{"fax":1}}`, 400},
		{"bad JSON", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"max_length":`, 400},
		{"wrong type", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"max_length":"twelve"}`, 400},
		{"negative max length", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"max_length":-1}`, 400},
		{"overflow into itself", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"overflow_queue_id":"` + sales + `"}`, 400},
		{"oversized body", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"closed_message":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		{"another tenant's queue", admin, adminCSRF, "PATCH", "/api/queues/" + otherQueue, `{"max_length":1}`, 404},
		{"another tenant's overflow queue", admin, adminCSRF, "PATCH", "/api/queues/" + sales, `{"overflow_queue_id":"` + otherQueue + `"}`, 404},
		{"another tenant's agent", admin, adminCSRF, "PATCH", "/api/agents/" + otherAgent.String(), `{"capacity":{"chat":1}}`, 404},
		{"malformed agent id", admin, adminCSRF, "PATCH", "/api/agents/nope", `{}`, 400},
		{"audit limit out of range", admin, adminCSRF, "GET", "/api/audit?limit=1000", "", 400},
		{"audit cursor not a number", admin, adminCSRF, "GET", "/api/audit?before=yesterday", "", 400},
	} {
		if code, body := call(t, tc.client, tc.method, a.url+tc.url, tc.csrf, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	readQueue()
	if q.MaxLength != 12 || q.OverflowQueueID == nil || *q.OverflowQueueID != service {
		t.Errorf("after the refused requests Sales has max length %d, overflow %v; want 12 and Service", q.MaxLength, q.OverflowQueueID)
	}
	if got := readAgent(); path(got, "capacity", "chat") != float64(5) {
		t.Errorf("after the refused requests lina's chat capacity is %v, want 5", path(got, "capacity", "chat"))
	}

	// A supervisor's forced presence is audited too, without its reason.
	if code, body := post(t, sup, a.url+"/api/agents/"+lina+"/presence", supCSRF, `{"state":"away","reason":"coaching"}`); code != 200 {
		t.Fatalf("force presence: %d %s", code, body)
	}
	var supID string
	pool.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'supervisor@huadong.example'`).Scan(&supID)

	// null clears: always open again, no overflow.
	if code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+sales, adminCSRF, `{"calendar":null,"overflow_queue_id":null}`); code != 200 ||
		!strings.Contains(body, `"calendar":null`) || !strings.Contains(body, `"overflow_queue_id":null`) {
		t.Errorf("clearing calendar and overflow: %d %s", code, body)
	}

	// The audit log: the accepted changes, newest first, one a page.
	type entry struct {
		ID         int64          `json:"id"`
		ActorID    string         `json:"actor_id"`
		Action     string         `json:"action"`
		TargetKind string         `json:"target_kind"`
		TargetID   string         `json:"target_id"`
		Data       map[string]any `json:"data"`
	}
	var entries []entry
	cursor := ""
	// The newest four: the demo's own set-up (its phone hotline) is audited
	// too, before them.
	for page := 0; page < 4; page++ {
		code, body := call(t, admin, "GET", a.url+"/api/audit?limit=1"+cursor, "", "")
		var p struct {
			Entries    []entry `json:"entries"`
			NextBefore *int64  `json:"next_before"`
		}
		if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil {
			t.Fatalf("GET /api/audit: %d %s", code, body)
		}
		entries = append(entries, p.Entries...)
		if p.NextBefore == nil {
			break
		}
		cursor = "&before=" + jsonNumber(*p.NextBefore)
	}
	if len(entries) != 4 {
		t.Fatalf("audit log has %d entries %+v, want the 4 accepted changes", len(entries), entries)
	}
	for i, want := range []struct{ action, kind, target, actor string }{
		{"queue.update", "queue", sales, adminID}, {"presence.force", "agent", lina, supID},
		{"agent.update", "agent", lina, adminID}, {"queue.update", "queue", sales, adminID},
	} {
		e := entries[i]
		if e.Action != want.action || e.TargetKind != want.kind || e.TargetID != want.target || e.ActorID != want.actor {
			t.Errorf("audit entry %d = %+v, want %s of %s %s by %s", i, e, want.action, want.kind, want.target, want.actor)
		}
	}
	if entries[1].Data["state"] != "away" || entries[1].Data["reason"] != nil {
		t.Errorf("forced presence recorded as %v, want the state and no free-text reason", entries[1].Data)
	}
	if entries[3].Data["max_length"] != float64(12) || entries[3].Data["overflow_queue_id"] != service || entries[3].Data["calendar"] == nil {
		t.Errorf("first queue change recorded as %v, want its calendar, overflow queue and max length", entries[3].Data)
	}
	if path(entries[2].Data, "capacity", "chat") != float64(5) || entries[2].Data["voice_blocks_chat"] != true {
		t.Errorf("agent change recorded as %v, want chat capacity 5 and voice blocks chat", entries[2].Data)
	}
	if strings.Contains(a.logs.String(), "We are closed.") {
		t.Error("the closed message text reached the logs")
	}
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
