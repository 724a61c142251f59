package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/crm/webhook"
	"github.com/switchboard-cc/switchboard/org"
)

// postFile posts body as the admin page would (same origin, CSRF header when
// given). A body that is not a *strings.Reader goes without a
// Content-Length (chunked), as a streamed file does.
func postFile(t *testing.T, c *http.Client, a *app, target, csrf, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", a.url+target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", a.url)
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

// importCSV is a small synthetic customer file: two new customers (one
// with a notes field long enough to put the file over the global body
// limit the test sets), a bad phone, and H-1 repeated.
var importCSV = "external_system,external_id,kind,name,language,phone,email,notes\n" + // line 1
	"dms,H-1,person,Importa Uno,zh-CN,13912340001,importa.uno@example.cn,\n" + // 2
	"dms,H-2,company,Importa Due Co,zh-CN,021-6234 5600,,synthetic padding " + strings.Repeat("x", 5000) + "\n" + // 3
	"dms,H-3,person,Importa Tre,zh-CN,999,,\n" + // 4: rejected
	"dms,H-1,person,Importa Again,,,,\n" // 5: conflict with line 2

// TestImportOverHTTP: an admin imports a CSV file, then a JSON Lines file,
// over HTTP and gets the summary (created, updated, unchanged, conflicts,
// rejected with line numbers and reasons) while the customers are stored;
// agents, supervisors, a missing CSRF token, a bad format, a refused file
// and a body over SWITCHBOARD_IMPORT_MAX_BODY are refused and write
// nothing. The import's limit is its own: the file is over
// SWITCHBOARD_MAX_BODY, which still holds every other route.
func TestImportOverHTTP(t *testing.T) {
	a := startApp(t, map[string]string{"SWITCHBOARD_MAX_BODY": "4096", "SWITCHBOARD_IMPORT_MAX_BODY": "16384"})
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	imported := func() int {
		return count(`SELECT count(*) FROM customer_identities WHERE kind = 'external' AND system = 'dms' AND value LIKE 'H-%'`)
	}
	if len(importCSV) <= 4096 || len(importCSV) >= 16384 {
		t.Fatalf("the CSV has %d bytes; it must lie between the two limits", len(importCSV))
	}

	// Refusals first: none of them may write anything.
	for _, tc := range []struct {
		name        string
		client      *http.Client
		csrf, query string
		body        string
		want        int
		contains    string
	}{
		{"agent", agent, agentCSRF, "?format=csv", importCSV, 403, `"forbidden"`},
		{"supervisor", sup, supCSRF, "?format=csv", importCSV, 403, `"forbidden"`},
		{"no CSRF token", admin, "", "?format=csv", importCSV, 403, `"csrf"`},
		{"bad format", admin, adminCSRF, "?format=xml", importCSV, 400, "format must be csv or jsonl"},
		{"no format", admin, adminCSRF, "", importCSV, 400, "format must be csv or jsonl"},
		{"bad trust_e164", admin, adminCSRF, "?format=csv&trust_e164=maybe", importCSV, 400, "trust_e164"},
		{"unknown column", admin, adminCSRF, "?format=csv", "external_system,external_id,colour\ndms,H-9,red\n", 400, `unknown column \"colour\"`},
	} {
		code, body := postFile(t, tc.client, a, "/api/import"+tc.query, tc.csrf, "text/csv", strings.NewReader(tc.body))
		want(t, tc.name, code, body, tc.want, tc.contains)
	}
	anon := &http.Client{}
	code, body := postFile(t, anon, a, "/api/import?format=csv", "", "text/csv", strings.NewReader(importCSV))
	want(t, "anonymous", code, body, 401, "")
	if n := imported(); n != 0 {
		t.Fatalf("%d customers imported by refused requests, want 0", n)
	}

	// The admin's CSV: over the global limit, under the import's.
	code, body = postFile(t, admin, a, "/api/import?format=csv", adminCSRF, "text/csv", strings.NewReader(importCSV))
	if code != 200 {
		t.Fatalf("import CSV = %d %s", code, body)
	}
	var sum crm.ImportSummary
	if err := json.Unmarshal([]byte(body), &sum); err != nil {
		t.Fatalf("summary: %v: %s", err, body)
	}
	got := fmt.Sprint(sum.Lines, sum.Created, sum.Updated, sum.Unchanged, sum.Conflicts, sum.Rejected)
	if want := fmt.Sprint(4, 2, 0, 0, 1, 1); got != want {
		t.Errorf("CSV summary lines/created/updated/unchanged/conflicts/rejected = %s, want %s", got, want)
	}
	wantProblems := []crm.ImportProblem{
		{Line: 4, Outcome: "rejected", Field: "phone", Reason: "is not a valid phone number"},
		{Line: 5, Outcome: "conflict", Field: "external_id", Reason: "the same external id is on line 2"},
	}
	if g, w := fmt.Sprintf("%+v", sum.Problems), fmt.Sprintf("%+v", wantProblems); g != w {
		t.Errorf("CSV problems = %s, want %s", g, w)
	}
	if sum.JobID == uuid.Nil {
		t.Errorf("summary has no job id: %s", body)
	}
	if n := count(`SELECT count(*) FROM customers c JOIN customer_identities i ON i.tenant_id = c.tenant_id AND i.customer_id = c.id
		WHERE i.kind = 'external' AND i.system = 'dms' AND (i.value, c.name) IN (('H-1', 'Importa Uno'), ('H-2', 'Importa Due Co'))`); n != 2 {
		t.Errorf("%d of H-1 and H-2 stored with their names, want 2", n)
	}
	if n := count(`SELECT count(*) FROM customer_identities WHERE kind = 'phone' AND value = '+8613912340001'`); n != 1 {
		t.Errorf("H-1's phone stored %d times in E.164, want once", n)
	}
	if n := imported(); n != 2 {
		t.Errorf("%d imported customers, want 2 (H-3 rejected, the second H-1 a conflict)", n)
	}
	if n := count(`SELECT count(*) FROM import_jobs j JOIN users u ON u.id = j.actor_id
		WHERE j.id = $1 AND j.source = 'api' AND j.status = 'done' AND u.email = 'admin@huadong.example'`, sum.JobID); n != 1 {
		t.Errorf("job %s not recorded as the admin's finished API import", sum.JobID)
	}

	// JSON Lines: H-1 again as it is (unchanged), H-2 renamed (updated), H-4 new.
	jsonl := `{"external_system":"dms","external_id":"H-1","kind":"person","name":"Importa Uno","language":"zh-CN","phone":"13912340001","email":"importa.uno@example.cn"}
{"external_system":"dms","external_id":"H-2","name":"Importa Due Ltd"}
{"external_system":"dms","external_id":"H-4","name":"Importa Quattro","email":"importa.quattro@example.cn"}
`
	code, body = postFile(t, admin, a, "/api/import?format=jsonl", adminCSRF, "application/x-ndjson", strings.NewReader(jsonl))
	if code != 200 {
		t.Fatalf("import JSONL = %d %s", code, body)
	}
	sum = crm.ImportSummary{}
	json.Unmarshal([]byte(body), &sum)
	got = fmt.Sprint(sum.Lines, sum.Created, sum.Updated, sum.Unchanged, sum.Conflicts, sum.Rejected)
	if want := fmt.Sprint(3, 1, 1, 1, 0, 0); got != want {
		t.Errorf("JSONL summary lines/created/updated/unchanged/conflicts/rejected = %s, want %s (%s)", got, want, body)
	}
	if !strings.Contains(body, `"problems":[]`) {
		t.Errorf("JSONL summary without problems should list none, not null: %s", body)
	}
	if n := count(`SELECT count(*) FROM customers WHERE name IN ('Importa Due Ltd', 'Importa Quattro')`); n != 2 {
		t.Errorf("%d of the renamed H-2 and the new H-4 stored, want 2", n)
	}

	// Over the import's limit: declared (refused before reading), and
	// streamed without a length (cut off while importing, rolled back).
	big := "external_system,external_id,name\n"
	for i := 0; len(big) <= 40000; i++ {
		big += fmt.Sprintf("dms,B-%d,Synthetic Big %d\n", i, i)
	}
	failedJobs := `SELECT count(*) FROM import_jobs WHERE source = 'api' AND status = 'failed'`
	failedBefore := count(failedJobs) // the file with an unknown column
	code, body = postFile(t, admin, a, "/api/import?format=csv", adminCSRF, "text/csv", strings.NewReader(big))
	want(t, "declared body over the import limit", code, body, 413, `"too_large"`)
	code, body = postFile(t, admin, a, "/api/import?format=csv", adminCSRF, "text/csv", io.MultiReader(strings.NewReader(big)))
	want(t, "streamed body over the import limit", code, body, 413, `"too_large"`)
	if n := count(`SELECT count(*) FROM customer_identities WHERE kind = 'external' AND value LIKE 'B-%'`); n != 0 {
		t.Errorf("%d customers of the oversized file were written, want none", n)
	}
	if n := count(failedJobs) - failedBefore; n != 1 {
		t.Errorf("%d more failed API import jobs, want 1 (the streamed one; the declared one never started)", n)
	}

	// Every other route keeps SWITCHBOARD_MAX_BODY.
	code, body = post(t, admin, a.url+"/api/webhooks", adminCSRF, `{"url":"https://erp.example.com/`+strings.Repeat("a", 5000)+`"}`)
	want(t, "another route over the global limit", code, body, 413, `"too_large"`)

	a.assertNoPersonalData(t)
}

// hookReceiver is a webhook receiver: it keeps every delivery and answers
// 204.
type hookReceiver struct {
	srv *httptest.Server
	got chan hookDelivery
}

type hookDelivery struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{got: make(chan hookDelivery, 64)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.got <- hookDelivery{r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// otherTenantWebhook makes a second tenant with a webhook endpoint of its
// own and returns the endpoint's id.
func otherTenantWebhook(t *testing.T, dsn string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tn, err := org.NewStore(pool).CreateTenant(ctx, "Webhook other group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := org.NewStore(pool).CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: "admin@webhook-other.example",
		DisplayName: "Other admin", Password: "long enough", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e, err := crm.NewStore(pool).CreateWebhookEndpoint(ctx, tn.ID, u.ID, crm.NewWebhookEndpoint{URL: "https://erp.other.example/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// TestWebhooksOverHTTP: an admin registers a receiver (the secret comes
// once, never in the listing); a visitor's chat makes a contact, and the
// receiver gets its contact.created delivery, signed so that
// webhook.Verify accepts it; the admin sees the delivery's state and
// attempts but not its payload. Agents and supervisors are refused (403),
// as is a missing CSRF token; bad input is 400; another tenant's endpoint
// is 404 to DELETE and to the deliveries' filter, and stays.
func TestWebhooksOverHTTP(t *testing.T) {
	a := startApp(t, map[string]string{"SWITCHBOARD_WEBHOOK_INTERVAL": "200ms",
		"SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE": "true"})
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	api := a.url + "/api"
	recv := newHookReceiver(t)
	other := otherTenantWebhook(t, a.dsn)
	reg := `{"url":"` + recv.srv.URL + `/hooks?token=t0","events":["contact.created"]}`

	code, body := post(t, agent, api+"/webhooks", agentCSRF, reg)
	want(t, "agent registers a webhook", code, body, 403, `"forbidden"`)
	code, body = post(t, sup, api+"/webhooks", supCSRF, reg)
	want(t, "supervisor registers a webhook", code, body, 403, `"forbidden"`)
	code, body = call(t, agent, "GET", api+"/webhooks", "", "")
	want(t, "agent lists webhooks", code, body, 403, `"forbidden"`)
	code, body = call(t, agent, "GET", api+"/webhooks/deliveries", "", "")
	want(t, "agent lists deliveries", code, body, 403, `"forbidden"`)
	code, body = post(t, admin, api+"/webhooks", "", reg)
	want(t, "webhook without CSRF", code, body, 403, `"csrf"`)
	code, body = post(t, admin, api+"/webhooks", adminCSRF, `{"url":"ftp://erp.example.com/x"}`)
	want(t, "webhook with a bad url", code, body, 400, "absolute http(s) URL")
	code, body = post(t, admin, api+"/webhooks", adminCSRF, `{"url":"https://erp.example.com/x","events":["contact.exploded"]}`)
	want(t, "webhook with an unknown event", code, body, 400, "unknown event")
	code, body = post(t, admin, api+"/webhooks", adminCSRF, `{"url":"https://erp.example.com/x","secret":"mine-mine-mine-mine"}`)
	want(t, "webhook with an unknown field", code, body, 400, "bad_json")

	code, body = post(t, admin, api+"/webhooks", adminCSRF, reg)
	want(t, "admin registers a webhook", code, body, 201, `"secret":"whsec_`)
	id, secret := field(t, body, "id").(string), field(t, body, "secret").(string)
	code, body = call(t, admin, "GET", api+"/webhooks", "", "")
	want(t, "admin lists webhooks", code, body, 200, id)
	if strings.Contains(body, "secret") || strings.Contains(body, secret) {
		t.Errorf("the listing shows the secret: %s", body)
	}
	code, body = call(t, agent, "DELETE", api+"/webhooks/"+id, agentCSRF, "")
	want(t, "agent deletes a webhook", code, body, 403, `"forbidden"`)

	// A visitor's chat makes a contact: the receiver hears contact.created.
	v := a.visitor(t, "Hook Visitor", "hook.visitor@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "hello hooks"})
	v.expect("ack", nil)
	var d hookDelivery
	select {
	case d = <-recv.got:
	case <-time.After(15 * time.Second):
		t.Fatalf("no delivery within 15s")
	}
	if err := webhook.Verify(secret, d.header.Get(webhook.HeaderTimestamp), d.header.Get(webhook.HeaderSignature), d.body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("delivery signature: %v (headers %v)", err, d.header)
	}
	if err := webhook.Verify("whsec_not-the-secret", d.header.Get(webhook.HeaderTimestamp), d.header.Get(webhook.HeaderSignature), d.body, time.Now(), 5*time.Minute); err == nil {
		t.Errorf("the signature verifies with another secret too")
	}
	var got webhook.Body
	if err := json.Unmarshal(d.body, &got); err != nil {
		t.Fatalf("delivery body: %v: %s", err, d.body)
	}
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var contact, tenant uuid.UUID
	if err := pool.QueryRow(context.Background(), `SELECT id, tenant_id FROM contacts ORDER BY arrived_at DESC LIMIT 1`).Scan(&contact, &tenant); err != nil {
		t.Fatal(err)
	}
	var data struct {
		ContactID uuid.UUID `json:"contact_id"`
	}
	json.Unmarshal(got.Data, &data)
	if got.Event != crm.EventContactCreated || d.header.Get(webhook.HeaderEvent) != crm.EventContactCreated ||
		got.TenantID != tenant || data.ContactID != contact || d.header.Get(webhook.HeaderDelivery) != got.ID.String() {
		t.Errorf("delivery %s %s, want contact.created of contact %s in tenant %s with the delivery id in the header", d.header, d.body, contact, tenant)
	}

	// The admin sees it delivered: state, attempts and times, no payload.
	var ds []map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, body = call(t, admin, "GET", api+"/webhooks/deliveries?limit=10&endpoint_id="+id, "", "")
		if code != 200 {
			t.Fatalf("deliveries = %d %s", code, body)
		}
		ds = nil
		json.Unmarshal([]byte(body), &ds)
		if len(ds) == 1 && ds[0]["delivered_at"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(ds) != 1 || ds[0]["id"] != got.ID.String() || ds[0]["event"] != crm.EventContactCreated ||
		ds[0]["attempts"] != float64(1) || ds[0]["last_status"] != float64(204) || ds[0]["delivered_at"] == nil {
		t.Errorf("deliveries = %s, want the one delivery, delivered at the first attempt with 204", body)
	}
	select {
	case extra := <-recv.got:
		t.Errorf("a second delivery %s %s; the endpoint subscribes to contact.created only", extra.header.Get(webhook.HeaderEvent), extra.body)
	default:
	}
	for _, leak := range []string{"data", "payload", contact.String(), "hook.visitor", "Hook Visitor"} {
		if strings.Contains(body, leak) {
			t.Errorf("deliveries show %q: %s", leak, body)
		}
	}
	for _, tc := range []struct {
		name, query, contains string
		want                  int
	}{
		{"limit 0", "?limit=0", "limit must be", 400},
		{"limit not a number", "?limit=ten", "limit must be", 400},
		{"malformed endpoint_id", "?endpoint_id=nope", "bad_id", 400},
		{"another tenant's endpoint_id", "?endpoint_id=" + other.String(), "not_found", 404},
		{"all endpoints", "?limit=500", got.ID.String(), 200},
	} {
		code, body = call(t, admin, "GET", api+"/webhooks/deliveries"+tc.query, "", "")
		want(t, "deliveries, "+tc.name, code, body, tc.want, tc.contains)
	}

	// Deleting: another tenant's id is 404 and stays; the admin's own goes.
	code, body = call(t, admin, "DELETE", api+"/webhooks/"+other.String(), adminCSRF, "")
	want(t, "delete another tenant's webhook", code, body, 404, "not_found")
	var n int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_endpoints WHERE id = $1`, other).Scan(&n)
	if n != 1 {
		t.Errorf("another tenant's webhook is gone after a refused DELETE")
	}
	code, body = call(t, admin, "DELETE", api+"/webhooks/nope", adminCSRF, "")
	want(t, "delete a malformed id", code, body, 400, "bad_id")
	code, body = call(t, admin, "DELETE", api+"/webhooks/"+id, "", "")
	want(t, "delete without CSRF", code, body, 403, `"csrf"`)
	code, body = call(t, admin, "DELETE", api+"/webhooks/"+id, adminCSRF, "")
	want(t, "admin deletes the webhook", code, body, 204, "")
	code, body = call(t, admin, "DELETE", api+"/webhooks/"+id, adminCSRF, "")
	want(t, "delete it again", code, body, 404, "not_found")
	code, body = call(t, admin, "GET", api+"/webhooks", "", "")
	want(t, "list after delete", code, body, 200, "[]")

	a.assertNoPersonalData(t, "hello hooks")
}
