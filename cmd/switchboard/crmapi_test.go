package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// keyCall makes a request as a system would: an API key, no cookies, no
// Origin, no CSRF token.
func keyCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// want fails the test unless the answer has status code and, when given,
// its body contains the text.
func want(t *testing.T, what string, code int, body string, wantCode int, contains string) {
	t.Helper()
	if code != wantCode || !strings.Contains(body, contains) {
		t.Errorf("%s = %d %s; want %d containing %q", what, code, strings.TrimSpace(body), wantCode, contains)
	}
}

func field(t *testing.T, body string, keys ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return path(v, keys...)
}

// otherTenantRecords makes a second tenant with one of each CRM record and
// returns their ids (synthetic data).
func otherTenantRecords(t *testing.T, dsn string) map[string]string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	orgs, people := org.NewStore(pool), crm.NewStore(pool)
	tn, err := orgs.CreateTenant(ctx, "Other group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := orgs.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: "admin@other.example", DisplayName: "Other admin", Password: "long enough", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := orgs.CreateAgent(ctx, tn.ID, u.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	name := "Other customer"
	c, err := people.NewCustomerRecord(ctx, tn.ID, uuid.Nil, crm.CustomerFields{Name: &name},
		[]crm.IdentityInput{{Kind: "email", Value: "other@other.example"}, {Kind: "external", System: "dms", Value: "C-1"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := people.CreateVehicle(ctx, tn.ID, c.ID, "", crm.VehicleFields{})
	if err != nil {
		t.Fatal(err)
	}
	num := "OTHER-1"
	o, err := people.CreateOrder(ctx, tn.ID, c.ID, crm.OrderFields{Number: &num})
	if err != nil {
		t.Fatal(err)
	}
	d, err := people.CreateDeal(ctx, tn.ID, c.ID, crm.DealFields{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := people.CreateFollowUp(ctx, tn.ID, c.ID, u.ID, crm.NewFollowUp{AssignedTo: u.ID, Kind: "reminder", DueAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := orgs.CreateAPIKey(ctx, tn.ID, u.ID, "their DMS", org.KeyWrite)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"customer": c.ID.String(), "identity": c.Identities[0].ID.String(), "vehicle": v.ID.String(),
		"order": o.ID.String(), "deal": d.ID.String(), "follow-up": f.ID.String(), "key": k.ID.String(), "agent": u.ID.String()}
}

// TestCRMAPI: an admin issues API keys; a system upserts a customer,
// vehicle, order and deal by its own ids (created, then unchanged, then
// updated; a conflict names the other customer); people read and change
// the records with their session (identities masked, CSRF required), a
// read key only reads, a revoked key is 401, an agent may not manage keys
// or upsert (403); bad input gets 400 with a reason, an oversized body
// 413, and another tenant's ids 404 on every route that takes one.
func TestCRMAPI(t *testing.T) {
	a := startApp(t, nil)
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	api := a.url + "/api"
	var lina string
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pool.QueryRow(context.Background(), `SELECT id::text FROM users WHERE email = 'lina@huadong.example'`).Scan(&lina)

	// Keys: admins only; the token is shown once.
	code, body := post(t, agent, api+"/api-keys", agentCSRF, `{"name":"DMS","role":"write"}`)
	want(t, "agent creates a key", code, body, 403, "forbidden")
	code, body = post(t, admin, api+"/api-keys", "", `{"name":"DMS","role":"write"}`)
	want(t, "key without CSRF", code, body, 403, "csrf")
	code, body = post(t, admin, api+"/api-keys", adminCSRF, `{"name":"DMS","role":"owner"}`)
	want(t, "key with a bad role", code, body, 400, "role must be read or write")
	code, body = post(t, admin, api+"/api-keys", adminCSRF, `{"name":"DMS","role":"write"}`)
	want(t, "create write key", code, body, 201, `"token":"sbk_`)
	writeKey, writeKeyID := field(t, body, "token").(string), field(t, body, "id").(string)
	code, body = post(t, admin, api+"/api-keys", adminCSRF, `{"name":"Reports","role":"read"}`)
	want(t, "create read key", code, body, 201, `"token":"sbk_`)
	readKey := field(t, body, "token").(string)
	code, body = call(t, admin, "GET", api+"/api-keys", "", "")
	want(t, "list keys", code, body, 200, `"name":"DMS"`)
	if strings.Contains(body, writeKey) || strings.Contains(body, "token") {
		t.Errorf("the key list shows a token: %s", body)
	}

	// A system upserts a customer: created, unchanged, updated.
	cust := `{"name":"王伟","language":"zh-CN","identities":[{"kind":"phone","value":"139 1234 5678","consent_source":"dms"},{"kind":"email","value":"Wang.Wei.API@Example.cn"}]}`
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/C-9001", writeKey, cust)
	want(t, "upsert new customer", code, body, 201, `"result":"created"`)
	customer := field(t, body, "record", "id").(string)
	if !strings.Contains(body, "+8613912345678") {
		t.Errorf("a system gets its own data back in full: %s", body)
	}
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/C-9001", writeKey, cust)
	want(t, "same customer again", code, body, 200, `"result":"unchanged"`)
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/C-9001", writeKey, strings.Replace(cust, `"zh-CN"`, `"en"`, 1))
	want(t, "changed customer", code, body, 200, `"result":"updated"`)
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/C-9002", writeKey, `{"name":"Someone","identities":[{"kind":"phone","value":"13912345678"}]}`)
	want(t, "phone of another customer", code, body, 409, `"other_id":"`+customer+`"`)

	code, body = keyCall(t, "PUT", api+"/ext/dms/vehicles/V-1", writeKey, `{"vin":"1M8GDM9AXKP042788","plate":"沪a 12345","customers":[{"customer_external_id":"C-9001","role":"owner"}]}`)
	want(t, "upsert vehicle", code, body, 201, `"plate":"沪A12345"`)
	vehicle := field(t, body, "record", "id").(string)
	code, body = keyCall(t, "PUT", api+"/ext/dms/orders/O-1", writeKey, `{"number":"API-SO-1","amount":860,"advisor_id":"`+lina+`","customer_external_id":"C-9001","vehicle_external_id":"V-1"}`)
	want(t, "upsert order", code, body, 201, `"amount":"860.00"`)
	order := field(t, body, "record", "id").(string)
	code, body = keyCall(t, "PUT", api+"/ext/dms/orders/O-1", writeKey, `{"number":"API-SO-1","amount":"860.00","advisor_id":"`+lina+`","customer_external_id":"C-9001","vehicle_external_id":"V-1"}`)
	want(t, "same order again", code, body, 200, `"result":"unchanged"`)
	code, body = keyCall(t, "PUT", api+"/ext/dms/deals/D-1", writeKey, `{"stage":"offer","value":"189000","customer_external_id":"C-9001","contract_ref":"HT-1"}`)
	want(t, "upsert deal", code, body, 201, `"stage":"offer"`)
	deal := field(t, body, "record", "id").(string)

	// Reads with the key, and a read key that may not write.
	code, body = keyCall(t, "GET", api+"/customers/"+customer, readKey, "")
	want(t, "read key reads", code, body, 200, `"+8613912345678"`)
	code, body = keyCall(t, "PATCH", api+"/customers/"+customer, readKey, `{"notes":"x"}`)
	want(t, "read key writes", code, body, 403, "may only read")
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/C-9003", readKey, `{}`)
	want(t, "read key upserts", code, body, 403, "may only read")
	code, body = keyCall(t, "GET", api+"/customers/"+customer, "sbk_000000000000_nope", "")
	want(t, "unknown key", code, body, 401, "bad_api_key")
	code, body = keyCall(t, "GET", api+"/customers/"+customer, "", "")
	want(t, "no credentials", code, body, 401, "unauthenticated")

	// People with a session: identities masked, CSRF on writes.
	code, body = call(t, agent, "GET", api+"/customers/"+customer, "", "")
	want(t, "agent reads", code, body, 200, `"name":"王伟"`)
	if strings.Contains(body, "+8613912345678") {
		t.Errorf("a person sees a full number without /reveal: %s", body)
	}
	code, body = call(t, agent, "PATCH", api+"/customers/"+customer, "", `{"notes":"x"}`)
	want(t, "agent PATCH without CSRF", code, body, 403, "csrf")
	code, body = call(t, agent, "PATCH", api+"/customers/"+customer, agentCSRF, `{"notes":"prefers mornings","site_id":null}`)
	want(t, "agent PATCH", code, body, 200, `"notes":"prefers mornings"`)
	code, body = post(t, agent, api+"/customers", agentCSRF, `{"name":"Li Na","identities":[{"kind":"email","value":"li.na.api@example.cn"}]}`)
	want(t, "agent creates a customer", code, body, 201, `"name":"Li Na"`)
	code, body = post(t, agent, api+"/customers/"+customer+"/identities", agentCSRF, `{"kind":"wechat","value":"wx-synthetic-9"}`)
	want(t, "add identity", code, body, 201, `"kind":"wechat"`)
	identity := field(t, body, "id").(string)
	code, body = call(t, agent, "DELETE", api+"/customers/"+customer+"/identities/"+identity, agentCSRF, "")
	want(t, "remove identity", code, body, 204, "")
	code, body = post(t, agent, api+"/customers/"+customer+"/vehicles", agentCSRF, `{"vin":"LSVAU2182N2183290","plate":"京AD12345","role":"driver"}`)
	want(t, "agent adds a vehicle", code, body, 201, `"role":"driver"`)
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/vehicles", "", "")
	want(t, "list vehicles", code, body, 200, `"1M8GDM9AXKP042788"`)
	code, body = call(t, agent, "PATCH", api+"/vehicles/"+vehicle, agentCSRF, `{"mileage_km":41000}`)
	want(t, "patch vehicle", code, body, 200, `"mileage_km":41000`)
	code, body = post(t, agent, api+"/customers/"+customer+"/orders", agentCSRF, `{"number":"API-SO-2","kind":"warranty","warranty_claim":"CLM-1","promised_at":"2026-05-01T17:00:00+08:00"}`)
	want(t, "create order", code, body, 201, `"warranty_claim":"CLM-1"`)
	code, body = call(t, agent, "PATCH", api+"/orders/"+order, agentCSRF, `{"status":"ready"}`)
	want(t, "patch order", code, body, 200, `"status":"ready"`)
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/orders", "", "")
	want(t, "list orders", code, body, 200, `"API-SO-2"`)
	code, body = post(t, agent, api+"/customers/"+customer+"/deals", agentCSRF, `{"vehicle_desc":"white SUV","salesperson_id":"`+lina+`"}`)
	want(t, "create deal", code, body, 201, `"stage":"lead"`)
	code, body = call(t, agent, "PATCH", api+"/deals/"+deal, agentCSRF, `{"stage":"won","expected_close":null}`)
	want(t, "patch deal", code, body, 200, `"stage":"won"`)
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/deals", "", "")
	want(t, "list deals", code, body, 200, `"HT-1"`)
	code, body = post(t, agent, api+"/customers/"+customer+"/follow-ups", agentCSRF, `{"assigned_to":"`+lina+`","kind":"callback","due_at":"2026-05-02T09:00:00+08:00","note":"call about the claim"}`)
	want(t, "create follow-up", code, body, 201, `"kind":"callback"`)
	followUp := field(t, body, "id").(string)
	code, body = call(t, agent, "PATCH", api+"/follow-ups/"+followUp, agentCSRF, `{"done":true}`)
	want(t, "complete follow-up", code, body, 200, `"done_at":"`)
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/follow-ups?open=true", "", "")
	want(t, "open follow-ups", code, body, 200, "[]")

	// Roles: an agent may not upsert for systems (admin or a write key).
	code, body = call(t, agent, "PUT", api+"/ext/dms/customers/C-9001", agentCSRF, cust)
	want(t, "agent upserts", code, body, 403, "forbidden")
	code, body = call(t, admin, "PUT", api+"/ext/dms/customers/C-9001", adminCSRF, cust)
	want(t, "admin upserts with a session", code, body, 200, `"result":"updated"`) // language back to zh-CN
	if !strings.Contains(body, `"notes":"prefers mornings"`) {
		t.Errorf("an upsert without notes dropped the agent's notes: %s", body)
	}

	// Bad input: clear 400s, 413 for an oversized body.
	for _, c := range []struct{ what, method, url, body, msg string }{
		{"unknown field", "PATCH", "/customers/" + customer, `{"nickname":"x"}`, "unknown field"},
		{"bad JSON", "PATCH", "/customers/" + customer, `{"notes":`, "request body"},
		{"wrong type", "PATCH", "/customers/" + customer, `{"notes":5}`, "request body"},
		{"invalid phone", "POST", "/customers/" + customer + "/identities", `{"kind":"phone","value":"12"}`, "not a valid phone number"},
		{"invalid e-mail", "POST", "/customers/" + customer + "/identities", `{"kind":"email","value":"wang@@example"}`, "not a valid e-mail address"},
		{"invalid VIN", "POST", "/customers/" + customer + "/vehicles", `{"vin":"1M8GDM9A0KP042788"}`, "vin check digit"},
		{"VIN with O", "PATCH", "/vehicles/" + vehicle, `{"vin":"1M8GDM9AXKPO42788"}`, "vin cannot contain I, O or Q"},
		{"invalid plate", "PATCH", "/vehicles/" + vehicle, `{"plate":"ABC"}`, "plate must look like"},
		{"bad status", "PATCH", "/orders/" + order, `{"status":"lost"}`, "status must be"},
		{"advisor not an agent of the tenant", "PATCH", "/orders/" + order, `{"advisor_id":"` + uuid.NewString() + `"}`, "advisor_id is not an agent"},
		{"bad amount", "PATCH", "/orders/" + order, `{"amount":"1,000"}`, "amount must be a decimal"},
		{"bad id", "GET", "/customers/not-a-uuid", "", "malformed id"},
	} {
		code, body := keyCall(t, c.method, api+c.url, writeKey, c.body)
		want(t, c.what, code, body, 400, c.msg)
	}
	code, body = keyCall(t, "PATCH", api+"/customers/"+customer, writeKey, `{"notes":"`+strings.Repeat("x", 2<<20)+`"}`)
	want(t, "oversized body", code, body, 413, "too large")

	// Another tenant's ids: 404 with a session and with a key, on every route.
	other := otherTenantRecords(t, a.dsn)
	for _, c := range []struct{ method, url, body string }{
		{"GET", "/customers/" + other["customer"], ""},
		{"PATCH", "/customers/" + other["customer"], `{"notes":"x"}`},
		{"POST", "/customers/" + other["customer"] + "/identities", `{"kind":"wechat","value":"wx"}`},
		{"DELETE", "/customers/" + other["customer"] + "/identities/" + other["identity"], ""},
		{"DELETE", "/customers/" + customer + "/identities/" + other["identity"], ""},
		{"GET", "/customers/" + other["customer"] + "/vehicles", ""},
		{"POST", "/customers/" + other["customer"] + "/vehicles", `{"make":"x"}`},
		{"POST", "/customers/" + customer + "/vehicles", `{"vehicle_id":"` + other["vehicle"] + `"}`},
		{"GET", "/vehicles/" + other["vehicle"], ""},
		{"PATCH", "/vehicles/" + other["vehicle"], `{"make":"x"}`},
		{"GET", "/customers/" + other["customer"] + "/orders", ""},
		{"POST", "/customers/" + other["customer"] + "/orders", `{"number":"X-1"}`},
		{"GET", "/orders/" + other["order"], ""},
		{"PATCH", "/orders/" + other["order"], `{"status":"ready"}`},
		{"GET", "/customers/" + other["customer"] + "/deals", ""},
		{"POST", "/customers/" + other["customer"] + "/deals", `{}`},
		{"GET", "/deals/" + other["deal"], ""},
		{"PATCH", "/deals/" + other["deal"], `{"stage":"won"}`},
		{"GET", "/customers/" + other["customer"] + "/follow-ups", ""},
		{"POST", "/customers/" + other["customer"] + "/follow-ups", `{"assigned_to":"` + lina + `","kind":"reminder","due_at":"2026-05-02T09:00:00Z"}`},
		{"PATCH", "/follow-ups/" + other["follow-up"], `{"done":true}`},
	} {
		code, body := keyCall(t, c.method, api+c.url, writeKey, c.body)
		want(t, "key: "+c.method+" "+c.url, code, body, 404, "not_found")
		code, body = call(t, agent, c.method, api+c.url, agentCSRF, c.body)
		want(t, "session: "+c.method+" "+c.url, code, body, 404, "not_found")
	}
	code, body = call(t, admin, "DELETE", api+"/api-keys/"+other["key"], adminCSRF, "")
	want(t, "revoke another tenant's key", code, body, 404, "not_found")
	// Ids of the other tenant inside a body are refused too, and its
	// external ids are not ours: C-1 is unknown here.
	code, body = keyCall(t, "PATCH", api+"/orders/"+order, writeKey, `{"advisor_id":"`+other["agent"]+`"}`)
	want(t, "another tenant's advisor", code, body, 400, "advisor_id is not an agent")
	code, body = keyCall(t, "PUT", api+"/ext/dms/orders/O-9", writeKey, `{"number":"X-9","customer_external_id":"C-1"}`)
	want(t, "another tenant's external customer", code, body, 400, "names no customer")
	code, body = keyCall(t, "PUT", api+"/ext/dms/deals/D-9", writeKey, `{"customer_id":"`+other["customer"]+`"}`)
	want(t, "another tenant's customer in a deal", code, body, 400, "customer_id is not a customer")
	code, body = keyCall(t, "PUT", api+"/ext/dms/vehicles/V-9", writeKey, `{"customers":[{"customer_id":"`+other["customer"]+`"}]}`)
	want(t, "another tenant's customer on a vehicle", code, body, 400, "customer_id is not a customer")
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/C-1", writeKey, `{"name":"ours"}`)
	want(t, "same external id as another tenant's", code, body, 201, `"result":"created"`)

	// Revoked: the next request is 401.
	code, body = call(t, admin, "DELETE", api+"/api-keys/"+writeKeyID, adminCSRF, "")
	want(t, "revoke key", code, body, 200, `"revoked_at":"`)
	code, body = keyCall(t, "GET", api+"/customers/"+customer, writeKey, "")
	want(t, "revoked key", code, body, 401, "bad_api_key")

	// The OpenAPI document is served.
	code, body = keyCall(t, "GET", api+"/openapi.json", "", "")
	want(t, "openapi.json", code, body, 200, `"openapi": "3.1.0"`)
}

// TestCRMAPIGaps covers issue 4's closed gaps over HTTP (synthetic data):
//   - null clears a field in PATCH and upserts, a field left out stays, null
//     on a field that cannot be empty is a 400 naming it;
//   - an API key reads a customer's timeline only with the timeline scope
//     (a read key without it is 403), never another tenant's customer
//     (404), and people still read it with their session;
//   - vehicles (supervisor or write key; 409 while an order names one) and
//     follow-ups can be deleted, another tenant's are 404;
//   - an agent dismisses a duplicate pair with a reason and it leaves the
//     customer's duplicates; another tenant's ids are 404;
//   - a webhook receiver on a loopback or private address is refused
//     (400) while SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE is off (the default).
func TestCRMAPIGaps(t *testing.T) {
	a := startApp(t, nil)
	ctx := context.Background()
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	api := a.url + "/api"
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var lina, tenant, queue, site string
	if err := pool.QueryRow(ctx, `SELECT u.id::text, u.tenant_id::text,
		       (SELECT q.id::text FROM queues q WHERE q.tenant_id = u.tenant_id ORDER BY q.name LIMIT 1),
		       (SELECT s.id::text FROM sites s WHERE s.tenant_id = u.tenant_id ORDER BY s.name LIMIT 1)
		FROM users u WHERE u.email = 'lina@huadong.example'`).Scan(&lina, &tenant, &queue, &site); err != nil {
		t.Fatal(err)
	}
	code, body := post(t, admin, api+"/api-keys", adminCSRF, `{"name":"DMS","role":"write"}`)
	want(t, "create write key", code, body, 201, `"scopes":[]`)
	writeKey := field(t, body, "token").(string)

	// 1. null clears, absent keeps.
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/N-1", writeKey,
		`{"name":"Synthetic Zhou","language":"zh-CN","notes":"likes tea","identities":[{"kind":"email","value":"zhou.null@example.cn"}]}`)
	want(t, "upsert customer", code, body, 201, `"notes":"likes tea"`)
	customer := field(t, body, "record", "id").(string)
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/N-1", writeKey, `{"notes":null}`)
	want(t, "upsert with notes null", code, body, 200, `"result":"updated"`)
	if field(t, body, "record", "notes") != "" || field(t, body, "record", "language") != "zh-CN" || field(t, body, "record", "name") != "Synthetic Zhou" {
		t.Errorf("notes null: %s; want notes cleared, language and name kept", body)
	}
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/N-1", writeKey, `{"notes":null}`)
	want(t, "the same null again", code, body, 200, `"result":"unchanged"`)
	code, body = call(t, agent, "PATCH", api+"/customers/"+customer, agentCSRF, `{"language":null}`)
	want(t, "PATCH language null", code, body, 200, `"language":""`)
	want(t, "PATCH keeps the name", code, body, 200, `"name":"Synthetic Zhou"`)
	for _, c := range []struct{ url, body, field string }{
		{"/ext/dms/customers/N-1", `{"kind":null}`, "kind"},
		{"/ext/dms/customers/N-1", `{"tier":null}`, "tier"},
		{"/ext/dms/orders/NO-1", `{"number":null,"customer_external_id":"N-1"}`, "number"},
		{"/ext/dms/orders/NO-1", `{"number":"N-SO-1","amount":null,"customer_external_id":"N-1"}`, "amount"},
		{"/ext/dms/deals/ND-1", `{"stage":null,"customer_external_id":"N-1"}`, "stage"},
		{"/ext/dms/deals/ND-1", `{"value":null,"customer_external_id":"N-1"}`, "value"},
	} {
		code, body := keyCall(t, "PUT", api+c.url, writeKey, c.body)
		want(t, "upsert "+c.body, code, body, 400, c.field+" cannot be cleared")
	}
	code, body = keyCall(t, "PUT", api+"/ext/dms/vehicles/NV-1", writeKey,
		`{"vin":"1HGCM82633A004352","plate":"沪B54321","make":"Honda","model":"Accord","year":2020,"customers":[{"customer_external_id":"N-1"}]}`)
	want(t, "upsert vehicle", code, body, 201, `"plate":"沪B54321"`)
	vehicle := field(t, body, "record", "id").(string)
	code, body = keyCall(t, "PUT", api+"/ext/dms/vehicles/NV-1", writeKey, `{"plate":null,"year":null}`)
	want(t, "vehicle plate and year null", code, body, 200, `"result":"updated"`)
	if field(t, body, "record", "plate") != "" || field(t, body, "record", "year") != nil || field(t, body, "record", "model") != "Accord" {
		t.Errorf("vehicle after nulls: %s; want plate and year cleared, model kept", body)
	}
	code, body = call(t, agent, "PATCH", api+"/vehicles/"+vehicle, agentCSRF, `{"model":null}`)
	want(t, "PATCH vehicle model null", code, body, 200, `"model":""`)
	code, body = keyCall(t, "PUT", api+"/ext/dms/orders/NO-1", writeKey,
		`{"number":"N-SO-1","description":"brakes","warranty_claim":"","customer_external_id":"N-1","vehicle_external_id":"NV-1"}`)
	want(t, "upsert order", code, body, 201, `"description":"brakes"`)
	code, body = keyCall(t, "PUT", api+"/ext/dms/orders/NO-1", writeKey, `{"description":null,"vehicle_id":null}`)
	want(t, "order description and vehicle null", code, body, 200, `"result":"updated"`)
	if field(t, body, "record", "description") != "" || field(t, body, "record", "vehicle_id") != nil || field(t, body, "record", "number") != "N-SO-1" {
		t.Errorf("order after nulls: %s", body)
	}
	code, body = keyCall(t, "PUT", api+"/ext/dms/deals/ND-1", writeKey, `{"vehicle_desc":"red SUV","contract_ref":"HT-9","customer_external_id":"N-1"}`)
	want(t, "upsert deal", code, body, 201, `"contract_ref":"HT-9"`)
	code, body = keyCall(t, "PUT", api+"/ext/dms/deals/ND-1", writeKey, `{"contract_ref":null}`)
	want(t, "deal contract_ref null", code, body, 200, `"contract_ref":""`)
	want(t, "deal keeps vehicle_desc", code, body, 200, `"vehicle_desc":"red SUV"`)

	// 2. Timelines: a contact of the customer, read by people and by keys
	// with the scope only.
	store := crm.NewStore(pool)
	res, err := store.RecordInbound(ctx, crm.Inbound{TenantID: uuid.MustParse(tenant), SiteID: uuid.MustParse(site), QueueID: uuid.MustParse(queue),
		Channel: org.Email, Identities: []crm.Identity{{Kind: crm.KindEmail, Value: "zhou.null@example.cn"}},
		Subject: "Brakes squeal", Body: "Synthetic: the brakes squeal again", IdempotencyKey: "gaps-timeline-1"})
	if err != nil || res.CustomerID.String() != customer {
		t.Fatalf("RecordInbound = %+v, %v; want a contact of %s", res, err, customer)
	}
	code, body = post(t, admin, api+"/api-keys", adminCSRF, `{"name":"Reports","role":"read"}`)
	want(t, "create read key", code, body, 201, `"role":"read"`)
	plainRead := field(t, body, "token").(string)
	code, body = post(t, admin, api+"/api-keys", adminCSRF, `{"name":"CTI history","role":"read","scopes":["timeline"]}`)
	want(t, "create timeline key", code, body, 201, `"scopes":["timeline"]`)
	timelineKey := field(t, body, "token").(string)
	code, body = post(t, admin, api+"/api-keys", adminCSRF, `{"name":"x","role":"read","scopes":["everything"]}`)
	want(t, "unknown scope", code, body, 400, "scopes may only hold")
	code, body = keyCall(t, "GET", api+"/customers/"+customer+"/timeline", plainRead, "")
	want(t, "read key without the scope", code, body, 403, "timeline")
	code, body = keyCall(t, "GET", api+"/customers/"+customer+"/timeline", writeKey, "")
	want(t, "write key without the scope", code, body, 403, "timeline")
	code, body = keyCall(t, "GET", api+"/customers/"+customer+"/timeline?limit=5", timelineKey, "")
	want(t, "timeline key", code, body, 200, `"contact_id":"`+res.ContactID.String()+`"`)
	want(t, "timeline key gets the messages", code, body, 200, "the brakes squeal again")
	code, body = keyCall(t, "GET", api+"/customers/"+customer+"/timeline?limit=500", timelineKey, "")
	want(t, "timeline bad limit", code, body, 400, "limit must be")
	code, body = keyCall(t, "GET", api+"/customers/"+customer+"/timeline?before=yesterday", timelineKey, "")
	want(t, "timeline bad before", code, body, 400, "before must be")
	code, body = keyCall(t, "POST", api+"/customers/"+customer+"/timeline", timelineKey, "")
	if code != 405 && code != 403 {
		t.Errorf("POST timeline with a read key = %d %s; want 403 or 405", code, body)
	}
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/timeline", "", "")
	want(t, "agent reads the timeline", code, body, 200, `"contact_id":"`+res.ContactID.String()+`"`)

	other := otherTenantRecords(t, a.dsn)
	code, body = keyCall(t, "GET", api+"/customers/"+other["customer"]+"/timeline", timelineKey, "")
	want(t, "timeline key, another tenant's customer", code, body, 404, "not_found")
	code, body = call(t, agent, "GET", api+"/customers/"+other["customer"]+"/timeline", "", "")
	want(t, "session, another tenant's customer's timeline", code, body, 404, "not_found")
	// The other tenant's own timeline key cannot read ours either.
	otherPool := pool
	var otherAdmin uuid.UUID
	if err := otherPool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'admin@other.example'`).Scan(&otherAdmin); err != nil {
		t.Fatal(err)
	}
	otherTenant := uuid.Nil
	if err := otherPool.QueryRow(ctx, `SELECT tenant_id FROM users WHERE id = $1`, otherAdmin).Scan(&otherTenant); err != nil {
		t.Fatal(err)
	}
	_, otherToken, err := org.NewStore(pool).CreateAPIKey(ctx, otherTenant, otherAdmin, "their CTI", org.KeyRead, org.ScopeTimeline)
	if err != nil {
		t.Fatal(err)
	}
	code, body = keyCall(t, "GET", api+"/customers/"+customer+"/timeline", otherToken, "")
	want(t, "another tenant's timeline key on our customer", code, body, 404, "not_found")
	code, body = keyCall(t, "GET", api+"/customers/"+other["customer"]+"/timeline", otherToken, "")
	want(t, "their key on their customer", code, body, 200, "[]")

	// 3. Deletes.
	code, body = keyCall(t, "DELETE", api+"/vehicles/"+vehicle, plainRead, "")
	want(t, "read key deletes a vehicle", code, body, 403, "may only read")
	code, body = call(t, agent, "DELETE", api+"/vehicles/"+vehicle, agentCSRF, "")
	want(t, "agent deletes a vehicle", code, body, 403, "supervisor")
	code, body = call(t, sup, "DELETE", api+"/vehicles/"+vehicle, supCSRF, "")
	want(t, "supervisor deletes a vehicle an order names... (it no longer does)", code, body, 204, "")
	code, body = keyCall(t, "PUT", api+"/ext/dms/vehicles/NV-2", writeKey, `{"vin":"LSVAU2182N2183290","customers":[{"customer_external_id":"N-1"}]}`)
	want(t, "upsert second vehicle", code, body, 201, `"result":"created"`)
	vehicle2 := field(t, body, "record", "id").(string)
	code, body = keyCall(t, "PUT", api+"/ext/dms/orders/NO-1", writeKey, `{"vehicle_external_id":"NV-2"}`)
	want(t, "order names the second vehicle", code, body, 200, `"result":"updated"`)
	code, body = keyCall(t, "DELETE", api+"/vehicles/"+vehicle2, writeKey, "")
	want(t, "delete a vehicle an order names", code, body, 409, "service orders")
	code, body = post(t, agent, api+"/customers/"+customer+"/follow-ups", agentCSRF, `{"assigned_to":"`+lina+`","kind":"reminder","due_at":"2026-05-02T09:00:00+08:00","note":"synthetic"}`)
	want(t, "create follow-up", code, body, 201, `"kind":"reminder"`)
	followUp := field(t, body, "id").(string)
	code, body = call(t, agent, "PATCH", api+"/follow-ups/"+followUp, agentCSRF, `{"note":null,"due_at":"2026-05-03T09:00:00+08:00"}`)
	want(t, "PATCH follow-up note null", code, body, 200, `"note":""`)
	want(t, "PATCH follow-up due_at", code, body, 200, `"due_at":"2026-05-03T01:00:00Z"`)
	code, body = call(t, agent, "PATCH", api+"/follow-ups/"+followUp, agentCSRF, `{"due_at":null}`)
	want(t, "PATCH follow-up due_at null", code, body, 400, "due_at cannot be cleared")
	code, body = call(t, agent, "DELETE", api+"/follow-ups/"+followUp, agentCSRF, "")
	want(t, "delete follow-up", code, body, 204, "")
	code, body = call(t, agent, "DELETE", api+"/follow-ups/"+followUp, agentCSRF, "")
	want(t, "delete follow-up again", code, body, 404, "not_found")
	for _, c := range []struct{ url string }{{"/vehicles/" + other["vehicle"]}, {"/follow-ups/" + other["follow-up"]}} {
		code, body := keyCall(t, "DELETE", api+c.url, writeKey, "")
		want(t, "key: DELETE "+c.url, code, body, 404, "not_found")
		code, body = call(t, sup, "DELETE", api+c.url, supCSRF, "")
		want(t, "session: DELETE "+c.url, code, body, 404, "not_found")
	}

	// 4. Dismissing a duplicate suggestion.
	code, body = keyCall(t, "PUT", api+"/ext/dms/customers/N-2", writeKey, `{"name":"Synthetic Zhou Jr","identities":[{"kind":"phone","value":"021 6666 0001"}]}`)
	want(t, "second customer", code, body, 201, `"result":"created"`)
	second := field(t, body, "record", "id").(string)
	// An agent may give a second customer a number another has (an upsert
	// may not: that is a conflict).
	code, body = post(t, agent, api+"/customers/"+customer+"/identities", agentCSRF, `{"kind":"phone","value":"021 6666 0001"}`)
	want(t, "shared landline", code, body, 201, `"kind":"phone"`)
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/duplicates", "", "")
	want(t, "suggested", code, body, 200, second)
	dismiss := api + "/customers/" + customer + "/duplicates/dismiss"
	code, body = post(t, agent, dismiss, agentCSRF, `{"other_id":"`+second+`"}`)
	want(t, "dismiss without a reason", code, body, 400, "reason is required")
	code, body = post(t, agent, dismiss, "", `{"other_id":"`+second+`","reason":"father and son"}`)
	want(t, "dismiss without CSRF", code, body, 403, "csrf")
	code, body = keyCall(t, "POST", dismiss, writeKey, `{"other_id":"`+second+`","reason":"father and son"}`)
	if code != 401 && code != 403 {
		t.Errorf("dismiss with an API key = %d %s; want 401 or 403 (sessions only)", code, body)
	}
	code, body = post(t, agent, dismiss, agentCSRF, `{"other_id":"`+other["customer"]+`","reason":"x"}`)
	want(t, "dismiss with another tenant's customer", code, body, 404, "not_found")
	code, body = post(t, agent, api+"/customers/"+other["customer"]+"/duplicates/dismiss", agentCSRF, `{"other_id":"`+customer+`","reason":"x"}`)
	want(t, "dismiss on another tenant's customer", code, body, 404, "not_found")
	code, body = post(t, agent, dismiss, agentCSRF, `{"other_id":"`+second+`","reason":"father and son"}`)
	want(t, "dismiss", code, body, 204, "")
	code, body = call(t, agent, "GET", api+"/customers/"+customer+"/duplicates", "", "")
	if code != 200 || strings.Contains(body, second) {
		t.Errorf("duplicates after dismissing = %d %s; want the pair gone", code, body)
	}

	// 5. Webhook receivers inside the network are refused by default.
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest"} {
		code, body = post(t, admin, api+"/webhooks", adminCSRF, `{"url":"`+u+`"}`)
		want(t, "webhook at "+u, code, body, 400, "url must reach a public address")
	}
	a.assertNoPersonalData(t)
}
