package main

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone/twilio"
	"github.com/switchboard-cc/switchboard/org"
)

// TestTwilioCallEndToEnd: a caller rings a Twilio number: Switchboard
// answers with its menu, the caller presses 2 and waits in <Enqueue>; the
// agent accepts in the console, Switchboard updates the live call over
// Twilio's REST API (a local stand-in) with <Dial><Client> to the agent,
// the agent leg's status callbacks say it answered, the caller's completed
// callback ends the call and starts the wrap-up. Every webhook is signed
// as Twilio signs them; a forged one is refused.
func TestTwilioCallEndToEnd(t *testing.T) {
	const token = "twilio-auth-token-0123456789"
	var mu sync.Mutex
	var updates []url.Values
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if user != "ACtest" || pass != token || !strings.HasSuffix(r.URL.Path, "/Calls/CAcaller.json") {
			http.Error(w, `{"code":20003,"message":"Authenticate"}`, http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		mu.Lock()
		updates = append(updates, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"sid":"CAcaller","status":"in-progress"}`)
	}))
	defer api.Close()

	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	ctx := context.Background()
	sealer, _ := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials")
	orgs := org.NewStore(rig.pool, org.WithSealer(sealer))
	var tenant, admin, enquiries, sales, lina uuid.UUID
	if err := rig.pool.QueryRow(ctx, `SELECT c.tenant_id, (SELECT id FROM users WHERE tenant_id = c.tenant_id AND role = 'admin' LIMIT 1),
			(SELECT id FROM queues WHERE tenant_id = c.tenant_id AND name = 'Enquiries'),
			(SELECT id FROM queues WHERE tenant_id = c.tenant_id AND name = 'Sales'), ap.agent_id
		FROM phone_connectors c JOIN agent_phones ap ON ap.connector_id = c.id WHERE c.id = $1`, rig.connector).Scan(
		&tenant, &admin, &enquiries, &sales, &lina); err != nil {
		t.Fatal(err)
	}
	pc, _, err := orgs.CreatePhoneConnector(ctx, tenant, admin, org.PhoneConnectorSettings{Name: "Twilio", Kind: "twilio",
		Mode: "control", Secret: token, AccountSID: "ACtest", APIBase: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.SetPhoneNumber(ctx, tenant, admin, org.PhoneNumber{ConnectorID: pc.ID, Number: "+862160007000",
		QueueID: enquiries, Language: "en", Menu: []org.PhoneMenuOption{
			{Digit: "1", Department: "enquiries", QueueID: enquiries}, {Digit: "2", Department: "sales", QueueID: sales}}}); err != nil {
		t.Fatal(err)
	}
	if err := orgs.SetAgentPhone(ctx, tenant, admin, org.AgentPhone{AgentID: lina, ConnectorID: pc.ID, Extension: "lina"}); err != nil {
		t.Fatal(err)
	}
	// Li Na takes sales calls too for this test.
	if _, err := rig.pool.Exec(ctx, `INSERT INTO agent_skills (tenant_id, agent_id, skill, level) VALUES ($1, $2, 'sales', 3)
		ON CONFLICT DO NOTHING`, tenant, lina); err != nil {
		t.Fatal(err)
	}
	agent := a.availableAgent(t, "lina@huadong.example")

	base := "/phone/twilio/" + pc.ID.String() + "/"
	post := func(endpoint string, form url.Values, forge bool) (int, string) {
		t.Helper()
		u := a.url + base + endpoint
		sig := twilio.Signature(token, u, form)
		if forge {
			sig = twilio.Signature("another-token-0123456789", u, form)
		}
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	call := url.Values{"CallSid": {"CAcaller"}, "AccountSid": {"ACtest"}, "From": {"+8613911112222"}, "To": {"+862160007000"},
		"Direction": {"inbound"}, "CallStatus": {"ringing"}}
	if status, _ := post("voice", call, true); status != http.StatusForbidden {
		t.Fatalf("forged signature answered %d, want 403", status)
	}
	status, twiml := post("voice", call, false)
	if status != http.StatusOK || !strings.Contains(twiml, "<Gather") || !strings.Contains(twiml, "For sales, press 2") {
		t.Fatalf("voice answered %d %s, want the menu", status, twiml)
	}
	choice := url.Values{"CallSid": {"CAcaller"}, "AccountSid": {"ACtest"}, "Digits": {"2"}}
	if status, twiml = post("gather", choice, false); status != http.StatusOK || !strings.Contains(twiml, "<Enqueue") {
		t.Fatalf("gather answered %d %s, want <Enqueue>", status, twiml)
	}
	offer := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	contactID := path(agent.expect("assigned", nil), "contact", "id").(string)

	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(updates)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Switchboard never updated the call over the REST API")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var dial struct {
		Dial struct {
			Client string `xml:"Client"`
		} `xml:"Dial"`
	}
	if err := xml.Unmarshal([]byte(updates[0].Get("Twiml")), &dial); err != nil || strings.TrimSpace(dial.Dial.Client) != "lina" {
		t.Fatalf("update TwiML %q (%v), want <Dial><Client>lina", updates[0].Get("Twiml"), err)
	}
	leg := url.Values{"CallSid": {"CAagentleg"}, "ParentCallSid": {"CAcaller"}, "AccountSid": {"ACtest"}, "CallStatus": {"in-progress"}}
	if status, body := post("status?leg=agent&ext=lina", leg, false); status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("agent leg status answered %d %s", status, body)
	}
	agent.expect("call", func(f map[string]any) bool { return path(f, "call", "state") == "talking" })
	done := url.Values{"CallSid": {"CAcaller"}, "AccountSid": {"ACtest"}, "CallStatus": {"completed"}, "CallDuration": {"95"}}
	if status, body := post("status", done, false); status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("completed status answered %d %s", status, body)
	}
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contactID })
	if closed["ended_by"] != "call" {
		t.Errorf("contact_closed = %v", closed)
	}
}
