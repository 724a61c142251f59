package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestDispositionCodes: an admin gives the Enquiries queue disposition
// codes over the API (a duplicate list is refused); the agent's assigned
// frame carries them; a close or Done with a code not in the list, and a
// Done with none, are refused as invalid; Done with a listed code is
// accepted, stored on the contact and recorded in the wrap_up_ended event.
func TestDispositionCodes(t *testing.T) {
	a := startApp(t, nil)
	pool := wrapUpSetup(t, a, 60*time.Second)
	ctx := context.Background()
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	var enquiries string
	if err := pool.QueryRow(ctx, `SELECT id::text FROM queues WHERE name = 'Enquiries'`).Scan(&enquiries); err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+enquiries, adminCSRF, `{"dispositions":["Booked service","Booked service"]}`); code != 400 {
		t.Errorf("PATCH duplicate codes = %d %s, want 400", code, body)
	}
	code, body := call(t, admin, "PATCH", a.url+"/api/queues/"+enquiries, adminCSRF, `{"dispositions":["Booked service","Quote sent","No action"]}`)
	var q struct {
		Dispositions []string `json:"dispositions"`
	}
	if err := json.Unmarshal([]byte(body), &q); code != 200 || err != nil || len(q.Dispositions) != 3 {
		t.Fatalf("PATCH dispositions = %d %s, want 200 with the three codes", code, body)
	}
	var audited int
	pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'queue.update' AND data ? 'dispositions'`).Scan(&audited)
	if audited != 1 {
		t.Errorf("audited disposition changes = %d, want 1", audited)
	}

	agent := a.availableAgent(t, "lina@huadong.example")
	chatTo(t, a, "dispo@example.com")
	o := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
	assigned := agent.expect("assigned", nil)
	contact := path(assigned, "contact", "id").(string)
	if codes, _ := path(assigned, "contact", "dispositions").([]any); len(codes) != 3 || codes[1] != "Quote sent" {
		t.Errorf("assigned contact dispositions = %v, want the queue's three codes", path(assigned, "contact", "dispositions"))
	}
	refused := func(ref string) {
		t.Helper()
		f := agent.expect("error", func(f map[string]any) bool { return f["ref"] == ref })
		if f["code"] != "invalid" {
			t.Errorf("frame %s refused with %v, want invalid", ref, f)
		}
	}
	agent.send(map[string]any{"type": "close", "id": "c0", "contact_id": contact, "disposition": "Sold a car"})
	refused("c0")
	agent.send(map[string]any{"type": "close", "id": "c1", "contact_id": contact})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "c1" })
	agent.send(map[string]any{"type": "done", "id": "d0", "contact_id": contact, "wrap_up": "will call back"})
	refused("d0")
	agent.send(map[string]any{"type": "done", "id": "d1", "contact_id": contact, "disposition": "quote sent"})
	refused("d1")
	agent.send(map[string]any{"type": "done", "id": "d2", "contact_id": contact, "wrap_up": "will call back", "disposition": "Quote sent"})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "d2" })
	agent.expect("wrap_up_ended", func(f map[string]any) bool { return f["contact_id"] == contact })

	var stored, note, event string
	if err := pool.QueryRow(ctx, `
		SELECT c.disposition, c.wrap_up,
		       (SELECT e.data->>'disposition' FROM contact_events e WHERE e.contact_id = c.id AND e.kind = 'wrap_up_ended')
		FROM contacts c WHERE c.id = $1`, contact).Scan(&stored, &note, &event); err != nil {
		t.Fatal(err)
	}
	if stored != "Quote sent" || event != "Quote sent" || note != "will call back" {
		t.Errorf("contact disposition %q, note %q, wrap_up_ended disposition %q; want Quote sent, the note, Quote sent", stored, note, event)
	}
}
