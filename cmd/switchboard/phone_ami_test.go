package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone/ami/amitest"
	"github.com/switchboard-cc/switchboard/org"
)

// TestAsteriskCallEndToEnd follows one call from a (test) Asterisk over
// AMI through the hotline: the caller's channel appears, the call is
// offered in the console, the accept makes Switchboard Redirect the
// caller to the agent's extension, the agent's leg answers and the caller
// hangs up: the wrap-up starts. The events are those of the connector's
// own queue_answered transcript (Asterisk 20 field sets), minus the PBX's
// queue, which Switchboard replaces in control mode.
func TestAsteriskCallEndToEnd(t *testing.T) {
	srv := amitest.Start(t, "switchboard", "ami-secret-0123456789")
	a := startApp(t, map[string]string{"SWITCHBOARD_ASTERISK_RELOAD": "200ms"})
	rig := newPhoneRig(t, a)
	ctx := context.Background()
	sealer, _ := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials")
	orgs := org.NewStore(rig.pool, org.WithSealer(sealer))
	var tenant, enquiries, lina, admin uuid.UUID
	if err := rig.pool.QueryRow(ctx, `SELECT c.tenant_id, n.queue_id, ap.agent_id,
			(SELECT id FROM users WHERE tenant_id = c.tenant_id AND role = 'admin' LIMIT 1)
		FROM phone_connectors c JOIN phone_numbers n ON n.connector_id = c.id JOIN agent_phones ap ON ap.connector_id = c.id
		WHERE c.id = $1`, rig.connector).Scan(&tenant, &enquiries, &lina, &admin); err != nil {
		t.Fatal(err)
	}
	pc, _, err := orgs.CreatePhoneConnector(ctx, tenant, admin, org.PhoneConnectorSettings{Name: "Asterisk",
		Kind: "asterisk", Mode: "control", Secret: "ami-secret-0123456789", Address: srv.Addr, Username: "switchboard", Context: "agents"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.SetPhoneNumber(ctx, tenant, admin, org.PhoneNumber{ConnectorID: pc.ID, Number: "*",
		QueueID: enquiries, Language: "zh-CN"}); err != nil {
		t.Fatal(err)
	}
	if err := orgs.SetAgentPhone(ctx, tenant, admin, org.AgentPhone{AgentID: lina,
		ConnectorID: pc.ID, Extension: "1001"}); err != nil {
		t.Fatal(err)
	}
	agent := a.availableAgent(t, "lina@huadong.example")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := srv.WaitResyncs(wctx, 1); err != nil {
		t.Fatalf("the app never connected to the AMI server: %v", err)
	}
	tr, err := amitest.Load("../../channels/phone/ami/testdata/queue_answered.ami")
	if err != nil {
		t.Fatal(err)
	}
	events := map[string][]amitest.Message{}
	for _, s := range tr.Steps {
		if s.Event != nil {
			events[s.Event.Get("Event")] = append(events[s.Event.Get("Event")], s.Event)
		}
	}
	send := func(name string, i int) {
		t.Helper()
		if err := srv.Send(events[name][i]); err != nil {
			t.Fatalf("send %s: %v", name, err)
		}
	}
	send("Newchannel", 0) // the caller
	offer := agent.expect("offer", nil)
	if path(offer, "contact", "channel") != "voice" {
		t.Fatalf("offer = %v, want the call", offer)
	}
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	contactID := path(agent.expect("assigned", nil), "contact", "id").(string)

	deadline := time.Now().Add(15 * time.Second)
	for len(srv.Actions("Redirect")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no Redirect reached the AMI server after the accept")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := srv.Actions("Redirect")[0]
	if r.Get("Channel") != events["Newchannel"][0].Get("Channel") || r.Get("Exten") != "1001" || r.Get("Context") != "agents" {
		t.Errorf("Redirect = %v, want the caller's channel to 1001 in agents", r)
	}
	send("Newchannel", 1) // the agent's leg
	send("DialBegin", 0)
	send("DialEnd", 0)
	send("BridgeEnter", 0)
	send("BridgeEnter", 1)
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "talking" })
	for _, name := range []string{"BridgeLeave", "Hangup"} {
		for i := range events[name] {
			send(name, i)
		}
	}
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contactID })
	if closed["ended_by"] != "call" {
		t.Errorf("contact_closed = %v, want ended by the call", closed)
	}
}
