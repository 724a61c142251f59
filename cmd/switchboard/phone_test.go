package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels/phone/cti"
	"github.com/switchboard-cc/switchboard/org"
)

// fakePBX stands in for the telephony of a generic control-mode connector:
// it checks each command's signature and records it.
type fakePBX struct {
	secret string
	srv    *httptest.Server
	mu     sync.Mutex
	got    []cti.Command
	cmds   chan cti.Command
}

func newFakePBX(t testing.TB, secret string) *fakePBX {
	p := &fakePBX{secret: secret, cmds: make(chan cti.Command, 16)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := cti.Verify(secret, r.Header.Get(cti.HeaderSignature), r.Header.Get(cti.HeaderTimestamp), body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var c cti.Command
		if err := json.Unmarshal(body, &c); err != nil || c.IdempotencyKey != r.Header.Get(cti.HeaderIdempotency) {
			http.Error(w, "bad command", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.got = append(p.got, c)
		p.mu.Unlock()
		p.cmds <- c
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakePBX) next(t testing.TB, command string) cti.Command {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case c := <-p.cmds:
			if c.Command == command {
				return c
			}
		case <-timeout:
			t.Fatalf("the PBX got no %s command; got %+v", command, p.got)
		}
	}
}

// phoneRig is the demo tenant with a generic connector in control mode
// pointed at a fake PBX, the demo hotline number, and Li Na's extension.
type phoneRig struct {
	a         *app
	pbx       *fakePBX
	connector uuid.UUID
	secret    string
	pool      *pgxpool.Pool
}

func newPhoneRig(t testing.TB, a *app) *phoneRig {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sealer, err := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials") // startApp's secret
	if err != nil {
		t.Fatal(err)
	}
	orgs := org.NewStore(pool, org.WithSealer(sealer))
	var tenant, site, admin, enquiries, sales, lina uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT t.id, s.id,
			(SELECT id FROM users WHERE tenant_id = t.id AND role = 'admin' LIMIT 1),
			(SELECT id FROM queues WHERE tenant_id = t.id AND name = 'Enquiries'),
			(SELECT id FROM queues WHERE tenant_id = t.id AND name = 'Sales'),
			(SELECT id FROM users WHERE email = 'lina@huadong.example')
		FROM tenants t JOIN sites s ON s.tenant_id = t.id AND s.area_code = '21' LIMIT 1`).Scan(
		&tenant, &site, &admin, &enquiries, &sales, &lina); err != nil {
		t.Fatal(err)
	}
	r := &phoneRig{a: a, secret: "pbx-secret-0123456789", pool: pool}
	r.pbx = newFakePBX(t, r.secret)
	pc, _, err := orgs.CreatePhoneConnector(ctx, tenant, admin, org.PhoneConnectorSettings{Name: "Test PBX", Kind: "generic",
		Mode: "control", Secret: r.secret, CallbackURL: r.pbx.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r.connector = pc.ID
	// Service keeps workshop hours in the demo; the test's service line
	// goes to Enquiries, which is always open, so the test runs at any hour.
	if _, err := orgs.SetPhoneNumber(ctx, tenant, admin, org.PhoneNumber{ConnectorID: pc.ID, Number: "+862160009000", SiteID: site,
		QueueID: enquiries, Language: "en", Menu: []org.PhoneMenuOption{
			{Digit: "1", Department: "enquiries", QueueID: enquiries},
			{Digit: "2", Department: "sales", QueueID: sales},
			{Digit: "3", Department: "service", QueueID: enquiries}}}); err != nil {
		t.Fatal(err)
	}
	if err := orgs.SetAgentPhone(ctx, tenant, admin, org.AgentPhone{AgentID: lina, ConnectorID: pc.ID, Extension: "8001"}); err != nil {
		t.Fatal(err)
	}
	return r
}

// post sends one signed event to the generic webhook and returns the
// status and decoded answer.
func (r *phoneRig) post(t testing.TB, ev map[string]any) (int, map[string]any) {
	t.Helper()
	return r.postAs(t, r.connector.String(), r.secret, ev)
}

func (r *phoneRig) postAs(t testing.TB, connector, secret string, ev map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(ev)
	req, _ := http.NewRequest(http.MethodPost, r.a.url+"/phone/cti/"+connector, bytes.NewReader(body))
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(cti.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(cti.HeaderSignature, cti.Sign(secret, now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestCallThroughTheHotlineEndToEnd(t *testing.T) {
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	agent := a.availableAgent(t, "lina@huadong.example")

	// 王伟 Wang Wei calls from his mobile in national form; his open
	// service order takes him past the menu to the service line, with his
	// advisor, Li Na, preferred.
	status, route := rig.post(t, map[string]any{"event": "new_call", "call_id": "call-1", "from": "138 0013 8000", "to": "02160009000", "direction": "inbound"})
	if status != http.StatusOK || route["action"] != "queue" || route["queue"] == nil && route["queue_name"] == nil {
		t.Fatalf("new_call answered %d %v, want 200 and a queue", status, route)
	}
	offer := agent.expect("offer", nil)
	if path(offer, "contact", "channel") != "voice" || !strings.Contains(fmt.Sprint(offer["reason"]), "advise") {
		t.Errorf("offer = %v, want a voice contact routed to the advisor", offer)
	}
	sp := agent.expect("screen_pop", func(f map[string]any) bool { return f["offer_id"] == offer["offer_id"] })
	if got := path(sp, "screen_pop", "customer", "name"); got != "王伟 Wang Wei" {
		t.Errorf("screen-pop customer = %v, want 王伟 Wang Wei recognised by caller id", got)
	}
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	assigned := agent.expect("assigned", nil)
	contactID := path(assigned, "contact", "id").(string)
	if st := path(assigned, "call", "state"); st != "queued" && st != "connecting" {
		t.Errorf("assigned call state = %v, want the call waiting to be connected", st)
	}

	// Switchboard tells the PBX to ring Li Na's extension, once.
	connect := rig.pbx.next(t, "connect")
	if connect.CallID != "call-1" || connect.Extension != "8001" || connect.IdempotencyKey != offer["offer_id"] {
		t.Errorf("connect = %+v, want call-1 to 8001 keyed by the offer", connect)
	}
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "connecting" })

	// Closing a live call from the console is refused: the phone decides.
	agent.send(map[string]any{"type": "close", "id": "c0", "contact_id": contactID})
	agent.expect("error", func(f map[string]any) bool { return f["ref"] == "c0" && f["code"] == "call_live" })

	for _, ev := range []map[string]any{
		{"event": "ringing", "call_id": "call-1", "extension": "8001"},
		{"event": "answer", "call_id": "call-1", "extension": "8001"},
		{"event": "answer", "call_id": "call-1", "extension": "8001"}, // repeated: harmless
	} {
		if status, out := rig.post(t, ev); status != http.StatusOK {
			t.Fatalf("%v answered %d %v", ev, status, out)
		}
	}
	talking := agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "talking" })
	if path(talking, "call", "answered_at") == nil {
		t.Errorf("talking call has no answered_at: %v", talking)
	}

	// Hold from the console goes to the PBX; its held event comes back.
	agent.send(map[string]any{"type": "call_control", "id": "h1", "contact_id": contactID, "state": "held"})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "h1" })
	if hold := rig.pbx.next(t, "hold"); hold.CallID != "call-1" {
		t.Errorf("hold = %+v", hold)
	}
	rig.post(t, map[string]any{"event": "hold", "call_id": "call-1"})
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "held" })
	rig.post(t, map[string]any{"event": "unhold", "call_id": "call-1"})
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "talking" })

	// The caller hangs up: the wrap-up starts by itself.
	rig.post(t, map[string]any{"event": "hangup", "call_id": "call-1", "cause": "normal"})
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contactID })
	if closed["ended_by"] != "call" || closed["wrap_up_until"] == nil {
		t.Errorf("contact_closed = %v, want ended by the call with a wrap-up", closed)
	}
	agent.send(map[string]any{"type": "done", "id": "d1", "contact_id": contactID, "wrap_up": "Brake job status given"})
	agent.expect("wrap_up_ended", func(f map[string]any) bool { return f["contact_id"] == contactID })

	var state, cause string
	var answered bool
	if err := rig.pool.QueryRow(context.Background(), `SELECT k.state, k.cause, k.answered_at IS NOT NULL FROM calls k WHERE k.call_id = 'call-1'`).Scan(&state, &cause, &answered); err != nil {
		t.Fatal(err)
	}
	if state != "ended" || cause != "normal" || !answered {
		t.Errorf("call record = %s/%s answered=%v, want ended/normal, answered", state, cause, answered)
	}
	if strings.Contains(a.logs.String(), "13800138000") || strings.Contains(a.logs.String(), "0013 8000") {
		t.Error("the caller's number is in the logs")
	}

	// The customer's timeline shows the call's record.
	customer := path(sp, "screen_pop", "customer", "id")
	web, _ := a.login(t, "lina@huadong.example")
	resp, err := web.Get(fmt.Sprintf("%s/api/customers/%v/timeline", a.url, customer))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var timeline []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&timeline); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("timeline: %d %v", resp.StatusCode, err)
	}
	var record map[string]any
	for _, it := range timeline {
		if it["contact_id"] == contactID {
			record, _ = it["call"].(map[string]any)
		}
	}
	if record == nil || record["cause"] != "normal" || record["answered_at"] == nil || record["ended_at"] == nil ||
		record["wrap_up_seconds"].(float64) <= 0 {
		t.Errorf("timeline call record = %v, want the answered call with its end, cause and wrap-up", record)
	}
}

func TestUnansweredAgentPhoneSendsTheCallBack(t *testing.T) {
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	agent := a.availableAgent(t, "lina@huadong.example")

	// A new caller: the menu, then 1 (enquiries).
	status, route := rig.post(t, map[string]any{"event": "new_call", "call_id": "call-2", "from": "+8613912345678", "to": "+862160009000"})
	if status != http.StatusOK || route["action"] != "menu" {
		t.Fatalf("new_call answered %d %v, want the menu", status, route)
	}
	if status, route = rig.post(t, map[string]any{"event": "digits", "call_id": "call-2", "digits": "1"}); status != http.StatusOK || route["action"] != "queue" {
		t.Fatalf("digits answered %d %v, want the queue", status, route)
	}
	offer := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	contactID := path(agent.expect("assigned", nil), "contact", "id").(string)
	rig.pbx.next(t, "connect")
	// Li Na's phone rings out.
	rig.post(t, map[string]any{"event": "hangup", "call_id": "call-2", "extension": "8001", "cause": "no_answer"})
	w := agent.expect("contact_withdrawn", func(f map[string]any) bool { return f["contact_id"] == contactID })
	if w["reason"] != "phone_not_answered" {
		t.Errorf("withdrawn = %v", w)
	}
	// The call waits again, and is offered again (to her, the only agent,
	// once the engine lets her have it again).
	again := agent.expect("offer", func(f map[string]any) bool { return path(f, "contact", "id") == contactID })
	agent.send(map[string]any{"type": "reject", "id": "r1", "offer_id": again["offer_id"], "reason": "busy"})
	// The caller gives up: the missed call is owed a callback.
	rig.post(t, map[string]any{"event": "hangup", "call_id": "call-2", "cause": "normal"})
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := rig.pool.QueryRow(context.Background(), `SELECT count(*) FROM callbacks WHERE origin_contact_id = $1 AND phone = '+8613912345678'`, contactID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no callback for the missed call")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPhoneWebhookRefusesBadRequests(t *testing.T) {
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	if status, _ := rig.postAs(t, rig.connector.String(), "not-the-secret-0123", map[string]any{"event": "new_call", "call_id": "x", "to": "+862160009000"}); status != http.StatusForbidden && status != http.StatusUnauthorized {
		t.Errorf("forged signature: %d, want 401/403", status)
	}
	if status, _ := rig.postAs(t, uuid.NewString(), rig.secret, map[string]any{"event": "new_call", "call_id": "x"}); status != http.StatusNotFound {
		t.Errorf("unknown connector: %d, want 404", status)
	}
	if status, out := rig.post(t, map[string]any{"event": "new_call", "call_id": "x", "to": "+862160009000", "colour": "red"}); status != http.StatusBadRequest {
		t.Errorf("unknown field: %d %v, want 400", status, out)
	}
	if status, _ := rig.post(t, map[string]any{"event": "answer", "call_id": "never-started", "extension": "8001"}); status != http.StatusNotFound {
		t.Errorf("unknown call: %d, want 404", status)
	}
}

// TestWaitingCallerHearsTheirPlace: with nobody free, callers wait; the
// PBX asks where the second stands and is told "second in line", from
// routing's own order, whichever node answers.
func TestWaitingCallerHearsTheirPlace(t *testing.T) {
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	for i, from := range []string{"+8613911110001", "+8613911110002"} {
		if status, route := rig.post(t, map[string]any{"event": "new_call", "call_id": fmt.Sprint("wait-", i), "from": from, "to": "+862160009000"}); status != http.StatusOK {
			t.Fatalf("new_call: %d %v", status, route)
		}
		if status, route := rig.post(t, map[string]any{"event": "digits", "call_id": fmt.Sprint("wait-", i), "digits": "1"}); status != http.StatusOK || route["action"] != "queue" {
			t.Fatalf("digits: %d %v", status, route)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, route := rig.post(t, map[string]any{"event": "waiting", "call_id": "wait-1"})
		if status != http.StatusOK {
			t.Fatalf("waiting: %d %v", status, route)
		}
		if route["position"] == float64(2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second caller was never told their place: %v", route)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCallbackClickToCall: a caller gives up waiting; their missed call's
// callback is routed to an agent, who presses "Call now": the PBX is told
// to dial the agent's extension and then the caller's number, the call
// shows in the call panel, and its end starts the wrap-up.
func TestCallbackClickToCall(t *testing.T) {
	a := startApp(t, map[string]string{"SWITCHBOARD_CALLBACK_INTERVAL": "100ms"})
	rig := newPhoneRig(t, a)
	if status, route := rig.post(t, map[string]any{"event": "new_call", "call_id": "missed", "from": "+8613922223333", "to": "+862160009000"}); status != http.StatusOK {
		t.Fatalf("new_call: %d %v", status, route)
	}
	rig.post(t, map[string]any{"event": "digits", "call_id": "missed", "digits": "1"})
	rig.post(t, map[string]any{"event": "hangup", "call_id": "missed", "cause": "normal"})

	agent := a.availableAgent(t, "lina@huadong.example")
	offer := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	assigned := agent.expect("assigned", nil)
	contactID := path(assigned, "contact", "id").(string)
	if path(assigned, "callback", "phone") != "+8613922223333" {
		t.Fatalf("assigned = %v, want the missed caller's callback", assigned)
	}
	web, csrf := a.login(t, "lina@huadong.example")
	dial := func(id string) int {
		req, _ := http.NewRequest(http.MethodPost, a.url+"/api/contacts/"+id+"/dial", nil)
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Origin", a.url)
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := dial(uuid.NewString()); status != http.StatusNotFound {
		t.Errorf("dial on an unknown contact: %d, want 404", status)
	}
	if status := dial(contactID); status != http.StatusAccepted {
		t.Fatalf("dial: %d, want 202", status)
	}
	cmd := rig.pbx.next(t, "dial")
	if cmd.Extension != "8001" || cmd.To != "+8613922223333" || cmd.CallID != "sb-"+contactID {
		t.Errorf("dial command = %+v, want 8001 then +8613922223333 as sb-<contact>", cmd)
	}
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "connecting" })
	rig.post(t, map[string]any{"event": "answer", "call_id": cmd.CallID, "extension": "8001"})
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "talking" })
	rig.post(t, map[string]any{"event": "hangup", "call_id": cmd.CallID, "cause": "normal"})
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contactID })
	if closed["ended_by"] != "call" {
		t.Errorf("contact_closed = %v", closed)
	}
}
