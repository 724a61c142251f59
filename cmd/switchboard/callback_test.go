package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// demoPhone is the demo customer 王伟 Wang Wei's mobile (synthetic, from
// the demo data); it must never reach a log.
const demoPhone = "+8613800138000"

// callbackFixture is an abandoned call of the demo customer in Enquiries.
type callbackFixture struct {
	pool                         *pgxpool.Pool
	customer, queue, origin      uuid.UUID
	customerStr, queueStr, orStr string
}

func abandonedCall(t *testing.T, a *app, key string) callbackFixture {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := callbackFixture{pool: pool}
	var tenant uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT q.tenant_id, q.id, ci.customer_id FROM queues q
		JOIN customer_identities ci ON ci.tenant_id = q.tenant_id AND ci.kind = 'phone' AND ci.value = $1
		WHERE q.name = 'Enquiries'`, demoPhone).Scan(&tenant, &f.queue, &f.customer); err != nil {
		t.Fatal(err)
	}
	people := crm.NewStore(pool)
	in, err := people.RecordInbound(ctx, crm.Inbound{TenantID: tenant, QueueID: f.queue, Channel: org.Voice,
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: demoPhone}}, Body: "(call)", IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := people.Abandon(ctx, tenant, in.ContactID, "hung_up"); err != nil {
		t.Fatal(err)
	}
	f.origin = in.ContactID
	f.customerStr, f.queueStr, f.orStr = f.customer.String(), f.queue.String(), f.origin.String()
	return f
}

func (f callbackFixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// countingEnqueuer stands in for routing on the test's own scheduler.
type countingEnqueuer struct {
	mu    sync.Mutex
	tasks []routing.Task
}

func (e *countingEnqueuer) Enqueue(_ context.Context, _ uuid.UUID, t routing.Task) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tasks = append(e.tasks, t)
	return nil
}

// TestCallbackIsRoutedAndRescheduled: a callback scheduled through the API
// for an abandoned call is started when due, offered to an available agent
// with voice capacity, accepted with the number to dial in the console,
// and after "no answer" scheduled again with one attempt used and a later
// due time. The origin stays abandoned. A second scheduler on the same
// database (another node) runs all along and never starts a second contact
// for the callback. No phone number reaches the logs.
func TestCallbackIsRoutedAndRescheduled(t *testing.T) {
	a := startApp(t, map[string]string{"SWITCHBOARD_CALLBACK_INTERVAL": "100ms"})
	f := abandonedCall(t, a, "cb-call-1")

	// Another node's scheduler, polling faster than the app's.
	other := &countingEnqueuer{}
	sctx, stopOther := context.WithCancel(context.Background())
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		channels.NewCallbackScheduler(crm.NewStore(f.pool), other, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(sctx)
	}()
	defer func() { stopOther(); <-otherDone }()

	c, csrf := a.login(t, "lina@huadong.example")
	due := time.Now().UTC()
	code, body := post(t, c, a.url+"/api/callbacks", csrf, fmt.Sprintf(
		`{"customer_id":%q,"queue_id":%q,"origin_contact_id":%q,"due_at":%q,"deadline":%q}`,
		f.customerStr, f.queueStr, f.orStr, due.Format(time.RFC3339Nano), due.Add(time.Hour).Format(time.RFC3339Nano)))
	if code != http.StatusCreated {
		t.Fatalf("schedule callback: %d %s", code, body)
	}
	var cb crm.Callback
	if err := json.Unmarshal([]byte(body), &cb); err != nil {
		t.Fatal(err)
	}
	if cb.Phone != crm.MaskPhone(demoPhone) || cb.State != crm.CallbackScheduled || cb.Attempts != 0 {
		t.Errorf("scheduled = phone %q state %s attempts %d, want the customer's phone masked, scheduled, 0", cb.Phone, cb.State, cb.Attempts)
	}

	// Lina becomes available; the started attempt is offered to her.
	ws, _, err := a.dial(t, "/ws/agent", c.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	ws.expect("snapshot", nil)
	ws.send(map[string]any{"type": "presence", "id": "p", "state": "available"})
	ws.expect("ack", func(m map[string]any) bool { return m["ref"] == "p" })
	offer := ws.expect("offer", func(m map[string]any) bool { return path(m, "contact", "channel") == "voice" })
	ws.send(map[string]any{"type": "accept", "id": "acc", "offer_id": offer["offer_id"]})
	assigned := ws.expect("assigned", nil)
	contact, _ := path(assigned, "contact", "id").(string)
	if got := path(assigned, "callback", "phone"); got != demoPhone {
		t.Errorf("assigned frame callback phone = %v, want the number to dial", got)
	}
	// Showing the number to dial is a full view, audited for the agent.
	if n := f.count(t, `SELECT count(*) FROM audit_log WHERE action = 'customer.reveal' AND target_id = $1
		AND data->>'reason' = 'callback' AND data->>'contact_id' = $2`, f.customer, contact); n != 1 {
		t.Errorf("callback dial audit rows = %d, want 1", n)
	}
	if got := path(assigned, "callback", "attempts"); got != float64(1) {
		t.Errorf("assigned frame callback attempts = %v, want 1", got)
	}
	if got := path(assigned, "contact", "queue_name"); got != "Enquiries" {
		t.Errorf("callback contact queue = %v, want Enquiries", got)
	}

	// Refusals on the outcome endpoint, before the real one.
	_, otherContact := otherTenantIDs(t, a.dsn)
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	for _, tc := range []struct {
		name   string
		client *http.Client
		csrf   string
		id     string
		body   string
		want   int
	}{
		{"another tenant's contact", c, csrf, otherContact.String(), `{"outcome":"no_answer"}`, http.StatusNotFound},
		{"a contact the caller does not hold", sup, supCSRF, contact, `{"outcome":"no_answer"}`, http.StatusConflict},
		{"the origin, which nobody holds", c, csrf, f.orStr, `{"outcome":"no_answer"}`, http.StatusConflict},
		{"malformed id", c, csrf, "not-a-uuid", `{"outcome":"no_answer"}`, http.StatusBadRequest},
		{"unknown field", c, csrf, contact, `{"outcome":"no_answer","colour":"red"}`, http.StatusBadRequest},
		{"unknown outcome", c, csrf, contact, `{"outcome":"voicemail"}`, http.StatusBadRequest},
		{"retry too soon", c, csrf, contact, `{"outcome":"busy","retry_after_seconds":5}`, http.StatusBadRequest},
		{"no CSRF token", c, "", contact, `{"outcome":"no_answer"}`, http.StatusForbidden},
	} {
		if code, body := post(t, tc.client, a.url+"/api/contacts/"+tc.id+"/callback-outcome", tc.csrf, tc.body); code != tc.want {
			t.Errorf("outcome, %s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}

	code, body = post(t, c, a.url+"/api/contacts/"+contact+"/callback-outcome", csrf, `{"outcome":"no_answer","retry_after_seconds":600}`)
	if code != http.StatusOK {
		t.Fatalf("outcome no_answer: %d %s", code, body)
	}
	var after crm.Callback
	if err := json.Unmarshal([]byte(body), &after); err != nil {
		t.Fatal(err)
	}
	if after.State != crm.CallbackScheduled || after.Attempts != 1 || after.LastOutcome != crm.OutcomeNoAnswer ||
		after.DueAt.Sub(cb.DueAt) < 9*time.Minute {
		t.Errorf("after no answer = %s attempts %d outcome %s due %s, want scheduled, 1, no_answer, about 10 minutes after %s",
			after.State, after.Attempts, after.LastOutcome, after.DueAt, cb.DueAt)
	}
	ws.expect("contact_closed", func(m map[string]any) bool { return m["contact_id"] == contact })

	// Give both schedulers several more ticks: the rescheduled callback is
	// not due, and the first attempt is never started twice.
	time.Sleep(500 * time.Millisecond)
	if n := f.count(t, `SELECT count(*) FROM contacts WHERE callback_id = $1`, cb.ID); n != 1 {
		t.Errorf("contacts for the callback = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND state = 'abandoned'`, f.origin); n != 1 {
		t.Error("the origin is no longer abandoned")
	}
	if n := f.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'callback_outcome'`, contact); n != 1 {
		t.Errorf("callback_outcome events = %d, want 1", n)
	}

	// The supervisor lists it; agents may not.
	code, body = call(t, sup, "GET", a.url+"/api/callbacks?state=scheduled", "", "")
	if code != http.StatusOK || !strings.Contains(body, cb.ID.String()) {
		t.Errorf("supervisor's list: %d %s, want the callback", code, body)
	}
	if code, _ := call(t, c, "GET", a.url+"/api/callbacks", "", ""); code != http.StatusForbidden {
		t.Errorf("agent listing callbacks: %d, want 403", code)
	}
	if code, _ := call(t, sup, "GET", a.url+"/api/callbacks?state=sleeping", "", ""); code != http.StatusBadRequest {
		t.Errorf("unknown state: %d, want 400", code)
	}

	// Bad schedules.
	otherCustomer := otherTenantCustomer(t, a.dsn)
	var otherQueue string
	f.pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = 'Theirs'`).Scan(&otherQueue)
	dueS, deadS := time.Now().Add(time.Hour).Format(time.RFC3339), time.Now().Add(2*time.Hour).Format(time.RFC3339)
	sched := func(customer, queue, extra string) string {
		return fmt.Sprintf(`{"customer_id":%q,"queue_id":%q,"due_at":%q,"deadline":%q%s}`, customer, queue, dueS, deadS, extra)
	}
	for _, tc := range []struct {
		name, csrf, body string
		want             int
	}{
		{"unknown field", csrf, sched(f.customerStr, f.queueStr, `,"colour":"red"`), 400},
		{"missing customer", csrf, fmt.Sprintf(`{"queue_id":%q,"due_at":%q}`, f.queueStr, dueS), 400},
		{"missing due time", csrf, fmt.Sprintf(`{"customer_id":%q,"queue_id":%q}`, f.customerStr, f.queueStr), 400},
		{"deadline before due", csrf, fmt.Sprintf(`{"customer_id":%q,"queue_id":%q,"due_at":%q,"deadline":%q}`, f.customerStr, f.queueStr, deadS, dueS), 400},
		{"national number", csrf, sched(f.customerStr, f.queueStr, `,"phone":"13800138000"`), 400},
		{"unknown customer", csrf, sched(uuid.NewString(), f.queueStr, ""), 404},
		{"another tenant's customer", csrf, sched(otherCustomer.String(), f.queueStr, ""), 404},
		{"another tenant's queue", csrf, sched(f.customerStr, otherQueue, ""), 404},
		{"another tenant's origin", csrf, sched(f.customerStr, f.queueStr, `,"origin_contact_id":"`+otherContact.String()+`"`), 404},
		{"no CSRF token", "", sched(f.customerStr, f.queueStr, ""), 403},
	} {
		if code, body := post(t, c, a.url+"/api/callbacks", tc.csrf, tc.body); code != tc.want {
			t.Errorf("schedule, %s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if strings.Contains(a.logs.String(), demoPhone) || strings.Contains(a.logs.String(), "13800138000") {
		t.Error("the logs contain the customer's phone number")
	}
}

// TestCallbackSurvivesRestart: a callback scheduled while one server runs,
// not yet due when it stops, is started and offered by a fresh server on
// the same database.
func TestCallbackSurvivesRestart(t *testing.T) {
	first := startApp(t, map[string]string{"SWITCHBOARD_CALLBACK_INTERVAL": "100ms"})
	f := abandonedCall(t, first, "cb-restart")
	c, csrf := first.login(t, "lina@huadong.example")
	due := time.Now().Add(2 * time.Second).UTC()
	code, body := post(t, c, first.url+"/api/callbacks", csrf, fmt.Sprintf(`{"customer_id":%q,"queue_id":%q,"origin_contact_id":%q,"due_at":%q}`,
		f.customerStr, f.queueStr, f.orStr, due.Format(time.RFC3339Nano)))
	if code != http.StatusCreated {
		t.Fatalf("schedule: %d %s", code, body)
	}
	var cb crm.Callback
	json.Unmarshal([]byte(body), &cb)
	first.stop()
	if n := f.count(t, `SELECT count(*) FROM callbacks WHERE id = $1 AND state = 'scheduled'`, cb.ID); n != 1 {
		t.Fatal("the callback is not scheduled after the first server stopped")
	}

	second := startApp(t, map[string]string{"DATABASE_URL": first.dsn, "SWITCHBOARD_REDIS_PREFIX": first.prefix, "SWITCHBOARD_CALLBACK_INTERVAL": "100ms"})
	ws := second.availableAgent(t, "lina@huadong.example")
	offer := ws.expect("offer", func(m map[string]any) bool { return path(m, "contact", "channel") == "voice" })
	if time.Now().Before(due) {
		t.Errorf("offered at %s, before the due time %s", time.Now(), due)
	}
	var contact string
	f.pool.QueryRow(context.Background(), `SELECT contact_id::text FROM callbacks WHERE id = $1`, cb.ID).Scan(&contact)
	if got := path(offer, "contact", "id"); got != contact {
		t.Errorf("offered contact %v, want the callback's %s", got, contact)
	}
	if n := f.count(t, `SELECT count(*) FROM callbacks WHERE id = $1 AND state = 'queued' AND attempts = 1`, cb.ID); n != 1 {
		t.Error("the callback is not queued with one attempt after the restart")
	}
}
