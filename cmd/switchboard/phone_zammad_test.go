package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestZammadObservedCallEndToEnd: a PBX that routes its own calls and
// speaks Zammad's CTI format. The ring at Li Na's extension pops the
// caller on her console (nothing to accept), her answer opens the contact,
// the hang-up starts her wrap-up, and the call is on record. A wrong URL
// token is refused.
func TestZammadObservedCallEndToEnd(t *testing.T) {
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	ctx := context.Background()
	sealer, _ := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials")
	orgs := org.NewStore(rig.pool, org.WithSealer(sealer))
	var tenant, admin, enquiries, lina uuid.UUID
	if err := rig.pool.QueryRow(ctx, `SELECT c.tenant_id, (SELECT id FROM users WHERE tenant_id = c.tenant_id AND role = 'admin' LIMIT 1),
			(SELECT id FROM queues WHERE tenant_id = c.tenant_id AND name = 'Enquiries'), ap.agent_id
		FROM phone_connectors c JOIN agent_phones ap ON ap.connector_id = c.id WHERE c.id = $1`, rig.connector).Scan(
		&tenant, &admin, &enquiries, &lina); err != nil {
		t.Fatal(err)
	}
	pc, token, err := orgs.CreatePhoneConnector(ctx, tenant, admin, org.PhoneConnectorSettings{Name: "Office PBX", Kind: "zammad", Mode: "observe"})
	if err != nil || token == "" {
		t.Fatalf("create zammad connector: %v (token %q)", err, token)
	}
	if _, err := orgs.SetPhoneNumber(ctx, tenant, admin, org.PhoneNumber{ConnectorID: pc.ID, Number: "*", QueueID: enquiries}); err != nil {
		t.Fatal(err)
	}
	if err := orgs.SetAgentPhone(ctx, tenant, admin, org.AgentPhone{AgentID: lina, ConnectorID: pc.ID, Extension: "201"}); err != nil {
		t.Fatal(err)
	}
	agent := a.availableAgent(t, "lina@huadong.example")
	post := func(tok string, form url.Values) int {
		t.Helper()
		resp, err := http.Post(a.url+"/phone/zammad/"+tok, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post("not-the-token", url.Values{"event": {"newCall"}, "callId": {"z1"}}); status != http.StatusForbidden {
		t.Errorf("a wrong token answered %d, want 403", status)
	}
	if status := post(token, url.Values{"event": {"newCall"}, "direction": {"in"}, "from": {"8613800138000"}, "to": {"862160001000"},
		"callId": {"z1"}, "user[]": {"201"}}); status != http.StatusOK {
		t.Fatalf("newCall answered %d", status)
	}
	ring := agent.expect("call_ringing", nil)
	if path(ring, "screen_pop", "customer", "name") != "王伟 Wang Wei" {
		t.Errorf("ringing pop = %v, want the caller's screen-pop", ring)
	}
	contactID := ring["contact_id"]
	if status := post(token, url.Values{"event": {"answer"}, "direction": {"in"}, "callId": {"z1"}, "answeringNumber": {"201"},
		"from": {"8613800138000"}, "to": {"862160001000"}}); status != http.StatusOK {
		t.Fatalf("answer answered %d", status)
	}
	agent.expect("assigned", func(f map[string]any) bool { return path(f, "contact", "id") == contactID })

	// On the phone (voice capacity 1), she is offered no other call, though
	// routing never offered her this one.
	if status, route := rig.post(t, map[string]any{"event": "new_call", "call_id": "queued-behind", "from": "+8613955556666", "to": "+862160009000"}); status != http.StatusOK {
		t.Fatalf("new_call: %d %v", status, route)
	}
	rig.post(t, map[string]any{"event": "digits", "call_id": "queued-behind", "digits": "1"})
	quiet := time.After(2 * time.Second)
wait:
	for {
		select {
		case f := <-agent.in:
			if f["type"] == "offer" {
				t.Fatalf("offered a call while on an observed one: %v", f)
			}
		case <-quiet:
			break wait
		}
	}
	if status := post(token, url.Values{"event": {"hangup"}, "direction": {"in"}, "callId": {"z1"}, "cause": {"normalClearing"},
		"answeringNumber": {"201"}, "from": {"8613800138000"}, "to": {"862160001000"}}); status != http.StatusOK {
		t.Fatalf("hangup answered %d", status)
	}
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contactID })
	if closed["ended_by"] != "call" {
		t.Errorf("contact_closed = %v", closed)
	}
	// Done with the wrap-up, her slot is free: the waiting call is hers.
	agent.send(map[string]any{"type": "done", "id": "d1", "contact_id": contactID})
	agent.expect("offer", nil)
	var state, cause string
	if err := rig.pool.QueryRow(ctx, `SELECT state, cause FROM calls WHERE connector_id = $1 AND call_id = 'z1'`, pc.ID).Scan(&state, &cause); err != nil {
		t.Fatal(err)
	}
	if state != "ended" || cause != "normal" {
		t.Errorf("call record %s/%s, want ended/normal", state, cause)
	}
}
