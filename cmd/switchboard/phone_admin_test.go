package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/org"
)

// otherTenantPhone makes a second tenant with a queue, a site, an agent,
// and a generic connector with a number and the agent's extension, and
// returns their ids.
func otherTenantPhone(t *testing.T, pool *pgxpool.Pool) (connector, number, queue, site, agent uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	sealer, err := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials") // startApp's secret
	if err != nil {
		t.Fatal(err)
	}
	s := org.NewStore(pool, org.WithSealer(sealer))
	tn, err := s.CreateTenant(ctx, "Phone other group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: "agent@phone-other.example", DisplayName: "Other agent",
		Password: "long enough", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAgent(ctx, tn.ID, u.ID, map[org.Channel]int{org.Chat: 1}, nil); err != nil {
		t.Fatal(err)
	}
	q, err := s.CreateQueue(ctx, org.Queue{TenantID: tn.ID, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.CreateSite(ctx, org.Site{TenantID: tn.ID, Name: "Other site", Zone: "Asia/Shanghai", Country: "CN", AreaCode: "10"})
	if err != nil {
		t.Fatal(err)
	}
	pc, _, err := s.CreatePhoneConnector(ctx, tn.ID, u.ID, org.PhoneConnectorSettings{Name: "Other PBX", Kind: "generic", Mode: "observe",
		Secret: "other-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.SetPhoneNumber(ctx, tn.ID, u.ID, org.PhoneNumber{ConnectorID: pc.ID, Number: "*", QueueID: q.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetAgentPhone(ctx, tn.ID, u.ID, org.AgentPhone{AgentID: u.ID, ConnectorID: pc.ID, Extension: "8001"}); err != nil {
		t.Fatal(err)
	}
	return pc.ID, n.ID, q.ID, st.ID, u.ID
}

// TestPhoneAdminOverHTTP: an admin sets up a generic connector, a hotline
// number with a menu and an agent's extension over the API, and a signed
// call through the webhook the answer named is then routed by that
// configuration: the menu configured, the queue of the digit pressed, the
// connect command to the configured extension at the configured callback
// URL. Agents and supervisors are refused; another tenant's connector,
// agent, queue, site and number are 404 or refused and stay as they were;
// a new secret replaces the old at once; a deactivated connector's
// webhook is refused. A Zammad connector's token is shown once, works,
// and after rotation the old one is refused. No secret or token is in any
// answer but its own, nor in the server's log.
func TestPhoneAdminOverHTTP(t *testing.T) {
	a := startApp(t, nil)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agentHTTP, agentCSRF := a.login(t, "lina@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	api := a.url + "/api/phone/connectors"
	otherConnector, otherNumber, otherQueue, otherSite, otherAgent := otherTenantPhone(t, pool)

	var site, enquiries, sales, lina uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT s.id,
			(SELECT id FROM queues WHERE tenant_id = t.id AND name = 'Enquiries'),
			(SELECT id FROM queues WHERE tenant_id = t.id AND name = 'Sales'),
			(SELECT id FROM users WHERE email = 'lina@huadong.example')
		FROM tenants t JOIN sites s ON s.tenant_id = t.id AND s.area_code = '21'
		WHERE t.id = (SELECT tenant_id FROM users WHERE email = 'admin@huadong.example') LIMIT 1`).Scan(
		&site, &enquiries, &sales, &lina); err != nil {
		t.Fatal(err)
	}

	// Every answer is kept, to look for secrets in them at the end.
	var answers []string
	do := func(c *http.Client, method, u, csrf, body string) (int, string) {
		t.Helper()
		code, b := call(t, c, method, u, csrf, body)
		answers = append(answers, b)
		return code, b
	}

	const pbxSecret = "pbx-admin-secret-0123456789"
	pbx := newFakePBX(t, pbxSecret)
	create := fmt.Sprintf(`{"name":"Pudong PBX","kind":"generic","mode":"control","secret":%q,"callback_url":%q}`, pbxSecret, pbx.srv.URL)

	code, body := do(agentHTTP, "POST", api, agentCSRF, create)
	want(t, "agent creates a connector", code, body, 403, `"forbidden"`)
	code, body = do(sup, "POST", api, supCSRF, create)
	want(t, "supervisor creates a connector", code, body, 403, `"forbidden"`)
	code, body = do(sup, "GET", api, "", "")
	want(t, "supervisor lists connectors", code, body, 403, `"forbidden"`)
	code, body = do(admin, "POST", api, "", create)
	want(t, "connector without CSRF", code, body, 403, `"csrf"`)
	code, body = do(admin, "POST", api, adminCSRF, create[:len(create)-1]+`,"token":"x"}`)
	want(t, "an unknown field", code, body, 400, "bad_json")
	code, body = do(admin, "POST", api, adminCSRF, `{"name":"PBX","kind":"generic","mode":"control","secret":"short","callback_url":"https://pbx.example.cn"}`)
	want(t, "a short secret", code, body, 400, "16 characters")

	code, body = do(admin, "POST", api, adminCSRF, create)
	want(t, "admin creates a connector", code, body, 201, `"kind":"generic"`)
	id, _ := field(t, body, "id").(string)
	if got := field(t, body, "telephony", "webhook_url"); got != a.url+"/phone/cti/"+id {
		t.Errorf("webhook_url = %v, want %s/phone/cti/%s", got, a.url, id)
	}
	if got := field(t, body, "telephony", "command_url"); got != pbx.srv.URL {
		t.Errorf("command_url = %v, want the callback URL %s", got, pbx.srv.URL)
	}
	connector := a.url + "/api/phone/connectors/" + id

	// The hotline number with its menu, and Li Na's extension.
	number := fmt.Sprintf(`{"site_id":%q,"queue_id":%q,"language":"en","menu":[
		{"digit":"1","department":"enquiries","queue_id":%q},{"digit":"2","department":"sales","queue_id":%q}]}`,
		site, enquiries, enquiries, sales)
	code, body = do(agentHTTP, "PUT", connector+"/numbers/+862160009000", agentCSRF, number)
	want(t, "agent sets a number", code, body, 403, `"forbidden"`)
	code, body = do(admin, "PUT", connector+"/numbers/+862160009000", adminCSRF, strings.Replace(number, enquiries.String(), otherQueue.String(), 1))
	want(t, "another tenant's queue", code, body, 400, "invalid")
	code, body = do(admin, "PUT", connector+"/numbers/+862160009000", adminCSRF, strings.Replace(number, site.String(), otherSite.String(), 1))
	want(t, "another tenant's site", code, body, 400, "invalid")
	code, body = do(admin, "PUT", connector+"/numbers/+862160009000", adminCSRF, number)
	want(t, "admin sets the number", code, body, 200, `"number":"+862160009000"`)
	numberID, _ := field(t, body, "id").(string)
	code, body = do(admin, "PUT", connector+"/agents/"+lina.String(), adminCSRF, `{"extension":"8001"}`)
	want(t, "admin sets Li Na's extension", code, body, 200, `"extension":"8001"`)
	code, body = do(admin, "PUT", connector+"/agents/"+otherAgent.String(), adminCSRF, `{"extension":"8002"}`)
	want(t, "another tenant's agent", code, body, 404, "not_found")
	code, body = do(admin, "GET", connector+"/numbers", "", "")
	want(t, "admin lists the numbers", code, body, 200, numberID)
	code, body = do(admin, "GET", connector+"/agents", "", "")
	want(t, "admin lists the agents' phones", code, body, 200, lina.String())

	// Another tenant's connector: 404 everywhere, and it stays as it was.
	oc := a.url + "/api/phone/connectors/" + otherConnector.String()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "", ""}, {"PATCH", "", `{"name":"mine now","active":false}`}, {"DELETE", "", ""},
		{"POST", "/rotate-token", ""}, {"GET", "/numbers", ""},
		{"PUT", "/numbers/*", fmt.Sprintf(`{"queue_id":%q}`, enquiries)}, {"DELETE", "/numbers/*", ""},
		{"DELETE", "/numbers/" + otherNumber.String(), ""}, {"GET", "/agents", ""},
		{"PUT", "/agents/" + lina.String(), `{"extension":"9999"}`}, {"DELETE", "/agents/" + otherAgent.String(), ""},
	} {
		code, body := do(admin, r.method, oc+r.path, adminCSRF, r.body)
		want(t, r.method+" another tenant's connector"+r.path, code, body, 404, "not_found")
	}
	code, body = do(admin, "DELETE", connector+"/numbers/"+otherNumber.String(), adminCSRF, "")
	want(t, "another tenant's number on our connector", code, body, 404, "not_found")
	var unchanged bool
	if err := pool.QueryRow(ctx, `SELECT c.name = 'Other PBX' AND c.active
			AND (SELECT count(*) FROM phone_numbers WHERE connector_id = c.id) = 1
			AND (SELECT count(*) FROM agent_phones WHERE connector_id = c.id AND extension = '8001') = 1
		FROM phone_connectors c WHERE c.id = $1`, otherConnector).Scan(&unchanged); err != nil || !unchanged {
		t.Errorf("another tenant's connector changed after refused calls (%v)", err)
	}

	// The configuration at work: a new caller hears the configured menu,
	// presses 1, waits in Enquiries, Li Na accepts, and the PBX is told
	// at the configured callback URL to ring her configured extension.
	rig := &phoneRig{a: a, pbx: pbx, connector: uuid.MustParse(id), secret: pbxSecret, pool: pool}
	agent := a.availableAgent(t, "lina@huadong.example")
	status, route := rig.post(t, map[string]any{"event": "new_call", "call_id": "admin-1", "from": "+8613912345678", "to": "+862160009000"})
	if status != http.StatusOK || route["action"] != "menu" || route["language"] != "en" {
		t.Fatalf("new_call answered %d %v, want the English menu", status, route)
	}
	var digits []string
	for _, o := range route["menu"].([]any) {
		digits = append(digits, fmt.Sprint(o.(map[string]any)["digit"]))
	}
	if strings.Join(digits, ",") != "1,2" {
		t.Errorf("menu digits = %v, want the configured 1,2 (menu %v)", digits, route["menu"])
	}
	status, route = rig.post(t, map[string]any{"event": "digits", "call_id": "admin-1", "digits": "1"})
	if status != http.StatusOK || route["action"] != "queue" || route["queue"] != "Enquiries" {
		t.Fatalf("digits 1 answered %d %v, want the Enquiries queue", status, route)
	}
	offer := agent.expect("offer", nil)
	if path(offer, "contact", "channel") != "voice" {
		t.Errorf("offer = %v, want the voice call", offer)
	}
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	agent.expect("assigned", nil)
	if c := pbx.next(t, "connect"); c.CallID != "admin-1" || c.Extension != "8001" {
		t.Errorf("connect = %+v, want admin-1 to the configured extension 8001", c)
	}

	// A new secret replaces the old one, within the webhooks' 5 s cache.
	const newSecret = "pbx-admin-secret-rotated-0123"
	code, body = do(admin, "PATCH", connector, adminCSRF, fmt.Sprintf(`{"secret":%q,"name":"Pudong PBX 2"}`, newSecret))
	want(t, "admin changes the secret", code, body, 200, `"name":"Pudong PBX 2"`)
	ev := map[string]any{"event": "new_call", "call_id": "admin-2", "from": "+8613912345679", "to": "+862160009000"}
	probe := map[string]any{"event": "answer", "call_id": "no-such-call", "extension": "8001"}
	if !eventually(10*time.Second, func() bool { status, _ := rig.postAs(t, id, pbxSecret, probe); return status == http.StatusForbidden }) {
		t.Error("the old secret still works 10 s after a new one")
	}
	if status, route := rig.postAs(t, id, newSecret, ev); status != http.StatusOK || route["action"] != "menu" {
		t.Errorf("the new secret: %d %v, want 200 and the menu", status, route)
	}
	code, body = do(admin, "PATCH", connector, adminCSRF, `{"kind":"twilio"}`)
	want(t, "changing the kind", code, body, 400, "cannot change")

	// Deactivated: the telephony is refused; the record stays.
	code, body = do(admin, "DELETE", connector, adminCSRF, "")
	want(t, "admin deactivates the connector", code, body, 200, `"active":false`)
	ev["call_id"] = "admin-3"
	if !eventually(10*time.Second, func() bool { status, _ := rig.postAs(t, id, newSecret, ev); return status == http.StatusNotFound }) {
		t.Error("a deactivated connector's webhook still answers 10 s later")
	}
	code, body = do(admin, "GET", connector, "", "")
	want(t, "the deactivated connector is still there", code, body, 200, `"active":false`)

	// Zammad: the token is shown once and works; rotated, the old one is
	// refused.
	code, body = do(admin, "POST", api, adminCSRF, `{"name":"Office PBX","kind":"zammad","mode":"observe"}`)
	want(t, "admin creates a Zammad connector", code, body, 201, `"url_token"`)
	zid, _ := field(t, body, "id").(string)
	token, _ := field(t, body, "url_token").(string)
	hook, _ := field(t, body, "telephony", "webhook_url").(string)
	if token == "" || hook != a.url+"/phone/zammad/"+token {
		t.Fatalf("Zammad webhook_url = %q, want %s/phone/zammad/<url_token>", hook, a.url)
	}
	zc := a.url + "/api/phone/connectors/" + zid
	code, body = do(admin, "PUT", zc+"/numbers/*", adminCSRF, fmt.Sprintf(`{"queue_id":%q}`, enquiries))
	want(t, "the Zammad connector's catch-all", code, body, 200, `"number":"*"`)
	code, body = do(admin, "PUT", zc+"/agents/"+lina.String(), adminCSRF, `{"extension":"201"}`)
	want(t, "Li Na's Zammad extension", code, body, 200, `"extension":"201"`)
	code, body = do(admin, "GET", zc, "", "")
	if code != 200 || strings.Contains(body, token) {
		t.Errorf("GET of the Zammad connector = %d %s, want 200 without its token", code, body)
	}
	zammad := func(u, callID string) int {
		t.Helper()
		resp, err := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader(url.Values{"event": {"newCall"},
			"direction": {"in"}, "from": {"8613912345670"}, "to": {"862160001000"}, "callId": {callID}, "user[]": {"201"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := zammad(hook, "z-admin-1"); status != http.StatusOK {
		t.Errorf("newCall at the shown URL answered %d, want 200", status)
	}
	code, body = do(admin, "POST", zc+"/rotate-token", adminCSRF, "")
	want(t, "admin rotates the token", code, body, 200, `"url_token"`)
	fresh, _ := field(t, body, "url_token").(string)
	if status := zammad(hook, "z-admin-2"); status != http.StatusForbidden {
		t.Errorf("the old token after rotation answered %d, want 403", status)
	}
	if status := zammad(a.url+"/phone/zammad/"+fresh, "z-admin-3"); status != http.StatusOK {
		t.Errorf("the new token answered %d, want 200", status)
	}
	code, body = do(admin, "POST", connector+"/rotate-token", adminCSRF, "")
	want(t, "rotating a generic connector's token", code, body, 400, "Zammad")

	// Removing the extension and the number.
	code, body = do(admin, "DELETE", zc+"/agents/"+lina.String(), adminCSRF, "")
	want(t, "admin removes Li Na's Zammad extension", code, body, 204, "")
	code, body = do(admin, "DELETE", zc+"/numbers/*", adminCSRF, "")
	want(t, "admin removes the catch-all", code, body, 204, "")

	// Secrets: only the answers that make a token carry it; no answer
	// carries a connector secret; the log carries neither.
	time.Sleep(300 * time.Millisecond)
	logs := a.logs.String()
	for _, secret := range []string{pbxSecret, newSecret, token, fresh} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log carries a secret or token (%.6s…)", secret)
		}
	}
	for _, b := range answers {
		if strings.Contains(b, pbxSecret) || strings.Contains(b, newSecret) || strings.Contains(b, "secret_enc") {
			t.Errorf("an answer carries a connector secret: %s", b)
		}
		if n := strings.Count(b, token) + strings.Count(b, fresh); n > 0 && !strings.Contains(b, `"url_token"`) {
			t.Errorf("an answer other than create or rotate carries a token: %s", b)
		}
	}
	var audited int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action LIKE 'phone_%' OR action LIKE 'agent_phone.%'`).Scan(&audited); err != nil || audited < 10 {
		t.Errorf("audit entries of the phone settings = %d (%v), want every change", audited, err)
	}
	var leaked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE data::text LIKE '%' || $1 || '%' OR data::text LIKE '%' || $2 || '%'`,
		pbxSecret, token).Scan(&leaked); err != nil || leaked != 0 {
		t.Errorf("audit entries carrying a secret or token: %d (%v)", leaked, err)
	}
}

// eventually polls ok until it holds or d has passed: connector changes reach
// the webhooks within their cache's time (docs/phone.md).
func eventually(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
