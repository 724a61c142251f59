package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
)

// personalData lists what must never reach logs or metric labels: every
// customer identity in the app's database (phones as stored, without the
// +, and as national digits; e-mails in any case), every customer name and
// its Chinese and Latin parts, the same of every user (agents' e-mails and
// display names are personal data too), and extra (message text the test
// sent).
// Reading them from the database makes the check cover whatever a test
// created, not only the demo's fixed customer.
func (a *app) personalData(t testing.TB, extra ...string) []string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `
		SELECT kind, value FROM customer_identities WHERE kind IN ('phone', 'email')
		UNION ALL SELECT 'name', name FROM customers WHERE name <> ''
		UNION ALL SELECT 'email', email FROM users
		UNION ALL SELECT 'user_name', display_name FROM users WHERE display_name <> ''`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := append([]string(nil), extra...)
	for rows.Next() {
		var kind, v string
		if err := rows.Scan(&kind, &v); err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "phone":
			out = append(out, v, strings.TrimPrefix(v, "+"))
			if strings.HasPrefix(v, "+86") && len(v) > 10 {
				out = append(out, v[3:]) // national digits, as people type them
			}
		case "email":
			out = append(out, strings.ToLower(v))
		case "name":
			out = append(out, v)
			out = append(out, nameParts(v)...)
		case "user_name":
			// A one-word display name ("Admin") is a role's label, and
			// would match ordinary text: only names with parts count.
			if parts := nameParts(v); len(parts) > 0 {
				out = append(out, v)
				out = append(out, parts...)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// nameParts splits "王伟 Wang Wei" into "王伟" and "Wang Wei": runs of Han
// characters (two or more) and the Latin rest when it has two words.
// Single Latin words ("Wang") would match ordinary text and are left out.
func nameParts(name string) []string {
	var han, latin []string
	for _, f := range strings.Fields(name) {
		if strings.IndexFunc(f, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
			if len([]rune(f)) >= 2 {
				han = append(han, f)
			}
		} else {
			latin = append(latin, f)
		}
	}
	if len(latin) >= 2 {
		han = append(han, strings.Join(latin, " "))
	}
	return han
}

// assertNoPersonalData fails t when the app's logs so far, or the label
// values of its /metrics, contain any of the personal data of
// personalData (case-insensitively). Any end-to-end test can end with it.
func (a *app) assertNoPersonalData(t testing.TB, extra ...string) {
	t.Helper()
	pii := a.personalData(t, extra...)
	logs := strings.ToLower(a.logs.String())
	resp, err := http.Get(a.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var labels []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	series := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series++
		if i, j := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}'); i >= 0 && j > i {
			labels = append(labels, strings.ToLower(line[i+1:j]))
		}
	}
	if series == 0 {
		t.Fatalf("/metrics returned no series: the label check would prove nothing")
	}
	for _, p := range pii {
		lp := strings.ToLower(p)
		if strings.Contains(logs, lp) {
			t.Errorf("logs contain personal data %q", p)
		}
		for _, l := range labels {
			if strings.Contains(l, lp) {
				t.Errorf("metric labels {%s} contain personal data %q", l, p)
				break
			}
		}
	}
}

// privacyFixture is what TestPrivacyEndToEnd adds to the demo (synthetic):
// a customer of the Hangzhou site, and another tenant's customer.
type privacyFixture struct {
	pool        *pgxpool.Pool
	tenant      uuid.UUID
	xihu        uuid.UUID // site
	xihuCust    uuid.UUID
	otherTenant uuid.UUID // a customer of another tenant
}

const (
	xihuEmail = "xihu.synthetic@example.cn"
	xihuPhone = "+8657187654321"
	xihuName  = "测试 Xihu Synthetic"
)

func newPrivacyFixture(t *testing.T, a *app) privacyFixture {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := privacyFixture{pool: pool}
	if err := pool.QueryRow(ctx, `SELECT tenant_id, id FROM sites WHERE chat_key <> $1 ORDER BY created_at LIMIT 1`, "demo-pudong").
		Scan(&f.tenant, &f.xihu); err != nil {
		t.Fatal(err)
	}
	f.xihuCust, err = crm.NewStore(pool).CreateCustomer(ctx, f.tenant, crm.NewCustomer{Name: xihuName, SiteID: f.xihu,
		Identities: []crm.Identity{{Kind: crm.KindEmail, Value: xihuEmail}, {Kind: crm.KindPhone, Value: xihuPhone}}})
	if err != nil {
		t.Fatal(err)
	}
	f.otherTenant = otherTenantCustomer(t, a.dsn)
	return f
}

func (f privacyFixture) userID(t *testing.T, email string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := f.pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f privacyFixture) audit(t *testing.T, action string, customer uuid.UUID) []string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `
		SELECT actor_id::text || ' ' || data::text FROM audit_log
		WHERE action = $1 AND target_kind = 'customer' AND target_id = $2 ORDER BY id`, action, customer)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestPrivacyEndToEnd: an agent's offer shows masked numbers; an agent's
// reveal is refused (the default reveal role is supervisor) and a
// supervisor's is audited without the values; ownership follows the role
// rules; under site visibility another site's customer is 404 over the API
// and "restricted" in the screen-pop, until shared; another tenant's
// customer is 404 on every route; no personal data in logs or metric
// labels.
func TestPrivacyEndToEnd(t *testing.T) {
	a := startApp(t, nil)
	f := newPrivacyFixture(t, a)
	ctx := context.Background()
	const (
		lina  = "lina@huadong.example"       // agent, Pudong
		lei   = "wanglei@huadong.example"    // agent, Hangzhou
		sup   = "supervisor@huadong.example" // supervisor, Pudong
		admin = "admin@huadong.example"      // admin
	)
	linaHTTP, linaCSRF := a.login(t, lina)
	leiHTTP, leiCSRF := a.login(t, lei)
	supHTTP, supCSRF := a.login(t, sup)
	adminHTTP, adminCSRF := a.login(t, admin)
	agent, _, err := a.dial(t, "/ws/agent", linaHTTP.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	agent.expect("snapshot", nil)
	agent.send(map[string]any{"type": "presence", "id": "p1", "state": "available"})
	agent.expect("ack", func(m map[string]any) bool { return m["ref"] == "p1" })

	// The demo's known customer chats: the offer's screen-pop is masked.
	v := a.visitor(t, "Wang Wei", "wang.wei@example.cn")
	v.send(map[string]any{"type": "message", "client_id": "m-1", "body": "Is my car ready?"})
	offer := agent.expect("offer", nil)
	sp := agent.expect("screen_pop", func(m map[string]any) bool { return m["offer_id"] == offer["offer_id"] })
	pop, _ := json.Marshal(sp)
	for _, want := range []string{"+86 138****8000", "w***@example.cn", "王伟 Wang Wei"} {
		if !strings.Contains(string(pop), want) {
			t.Errorf("offer's screen-pop lacks %q: %s", want, pop)
		}
	}
	for _, full := range []string{"13800138000", "wang.wei@example.cn"} {
		if strings.Contains(string(pop), full) {
			t.Errorf("offer's screen-pop shows %q in full: %s", full, pop)
		}
	}
	wangWei := uuid.MustParse(path(sp, "screen_pop", "customer", "id").(string))
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	assigned := agent.expect("assigned", nil)
	if b, _ := json.Marshal(assigned["screen_pop"]); strings.Contains(string(b), "13800138000") || !strings.Contains(string(b), "+86 138****8000") {
		t.Errorf("assigned frame's screen-pop is not masked: %s", b)
	}
	contactID := path(assigned, "contact", "id").(string)
	agent.send(map[string]any{"type": "close", "id": "c1", "contact_id": contactID, "wrap_up": "done"})
	agent.expect("ack", func(m map[string]any) bool { return m["ref"] == "c1" })

	// Reveal: the agent is refused, and the refusal audited; the supervisor
	// gets the full identities and one audit row without the values.
	reveal := func(c *http.Client, csrf string, customer uuid.UUID) (int, string) {
		return post(t, c, a.url+"/api/customers/"+customer.String()+"/reveal", csrf, "")
	}
	if code, body := reveal(linaHTTP, linaCSRF, wangWei); code != http.StatusForbidden {
		t.Errorf("agent's reveal = %d %s, want 403", code, body)
	}
	if got := f.audit(t, crm.AuditReveal, wangWei); len(got) != 0 {
		t.Errorf("refused reveal audited as a reveal: %v", got)
	}
	if got := f.audit(t, crm.AuditRevealRefused, wangWei); len(got) != 1 || !strings.HasPrefix(got[0], f.userID(t, lina).String()) || strings.Contains(got[0], "138") {
		t.Errorf("audit of the refused reveal = %v, want one row by the agent without the number", got)
	}
	code, body := reveal(supHTTP, supCSRF, wangWei)
	if code != http.StatusOK || !strings.Contains(body, `"value":"+8613800138000"`) || !strings.Contains(body, `"value":"wang.wei@example.cn"`) {
		t.Errorf("supervisor's reveal = %d %s, want 200 with the full phone and e-mail", code, body)
	}
	got := f.audit(t, crm.AuditReveal, wangWei)
	if len(got) != 1 || !strings.HasPrefix(got[0], f.userID(t, sup).String()) || strings.Contains(got[0], "138") {
		t.Errorf("audit of the supervisor's reveal = %v, want one row by the supervisor without the number", got)
	}
	if code, body := post(t, supHTTP, a.url+"/api/customers/"+wangWei.String()+"/reveal", supCSRF, `{"why":"x"}`); code != http.StatusBadRequest {
		t.Errorf("reveal with an unknown field = %d %s, want 400", code, body)
	}

	// Ownership: Li Na claims Wang Wei; Wang Lei cannot take him over; the
	// supervisor can. Two audited changes.
	owner := func(c *http.Client, csrf string, customer uuid.UUID, body string) (int, string) {
		return post(t, c, a.url+"/api/customers/"+customer.String()+"/owner", csrf, body)
	}
	linaID, leiID := f.userID(t, lina), f.userID(t, lei)
	if code, body := owner(linaHTTP, linaCSRF, wangWei, fmt.Sprintf(`{"owner_id":%q}`, linaID)); code != http.StatusOK {
		t.Errorf("agent claiming an unowned customer = %d %s, want 200", code, body)
	}
	if code, body := owner(leiHTTP, leiCSRF, wangWei, fmt.Sprintf(`{"owner_id":%q}`, leiID)); code != http.StatusForbidden {
		t.Errorf("another agent taking over = %d %s, want 403", code, body)
	}
	if code, body := owner(supHTTP, supCSRF, wangWei, fmt.Sprintf(`{"owner_id":%q}`, leiID)); code != http.StatusOK {
		t.Errorf("supervisor moving the customer = %d %s, want 200", code, body)
	}
	if code, _ := owner(supHTTP, supCSRF, wangWei, `{}`); code != http.StatusBadRequest {
		t.Errorf("owner without owner_id = %d, want 400", code)
	}
	if got := f.audit(t, crm.AuditOwner, wangWei); len(got) != 2 {
		t.Errorf("owner audit rows = %v, want 2", got)
	}

	// Site visibility: the Hangzhou customer is 404 to Li Na (Pudong) on
	// every route, visible to the admin.
	if _, err := f.pool.Exec(ctx, `UPDATE tenants SET customer_visibility = 'site' WHERE id = $1`, f.tenant); err != nil {
		t.Fatal(err)
	}
	timeline := func(c *http.Client, customer uuid.UUID) int {
		resp, err := c.Get(a.url + "/api/customers/" + customer.String() + "/timeline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := timeline(linaHTTP, f.xihuCust); code != http.StatusNotFound {
		t.Errorf("agent of Pudong reading a Hangzhou customer's timeline = %d, want 404", code)
	}
	if code, _ := reveal(supHTTP, supCSRF, f.xihuCust); code != http.StatusNotFound {
		t.Errorf("supervisor of Pudong revealing a Hangzhou customer = %d, want 404", code)
	}
	if code, _ := owner(linaHTTP, linaCSRF, f.xihuCust, fmt.Sprintf(`{"owner_id":%q}`, linaID)); code != http.StatusNotFound {
		t.Errorf("agent of Pudong claiming a Hangzhou customer = %d, want 404", code)
	}
	if code := timeline(adminHTTP, f.xihuCust); code != http.StatusOK {
		t.Errorf("admin reading the Hangzhou customer = %d, want 200", code)
	}

	// The Hangzhou customer chats on the Pudong widget: the offer reaches
	// Li Na (routing does not know visibility) with a restricted screen-pop.
	v2 := a.visitor(t, "Xihu", xihuEmail)
	v2.send(map[string]any{"type": "message", "client_id": "m-1", "body": "Synthetic question"})
	offer = agent.expect("offer", nil)
	sp = agent.expect("screen_pop", func(m map[string]any) bool { return m["offer_id"] == offer["offer_id"] })
	if path(sp, "screen_pop", "customer", "restricted") != true || path(sp, "screen_pop", "customer", "id") != f.xihuCust.String() {
		t.Errorf("screen-pop of another site's customer = %v, want restricted", sp["screen_pop"])
	}
	pop, _ = json.Marshal(sp)
	for _, p := range []string{"Xihu Synthetic", "测试", "xihu.synthetic", "87654321"} {
		if strings.Contains(string(pop), p) {
			t.Errorf("restricted screen-pop shows %q: %s", p, pop)
		}
	}
	agent.send(map[string]any{"type": "accept", "id": "a2", "offer_id": offer["offer_id"]})
	assigned = agent.expect("assigned", nil)
	if b, _ := json.Marshal(assigned); strings.Contains(string(b), "Xihu Synthetic") || path(assigned, "screen_pop", "customer", "restricted") != true {
		t.Errorf("assigned frame of a restricted customer: %s", b)
	}
	// Their next line reaches the agent without their name.
	v2.send(map[string]any{"type": "message", "client_id": "m-2", "body": "Second synthetic line"})
	line := agent.expect("message", func(m map[string]any) bool { return path(m, "message", "body") == "Second synthetic line" })
	if n := path(line, "message", "author_name"); n != "" {
		t.Errorf("restricted customer's live line names them: author_name %v", n)
	}

	// Shared with Pudong by the admin: now Li Na sees the customer.
	share := func(c *http.Client, csrf string, customer uuid.UUID, body string) (int, string) {
		return post(t, c, a.url+"/api/customers/"+customer.String()+"/shares", csrf, body)
	}
	var pudong uuid.UUID
	if err := f.pool.QueryRow(ctx, `SELECT id FROM sites WHERE chat_key = 'demo-pudong'`).Scan(&pudong); err != nil {
		t.Fatal(err)
	}
	if code, body := share(linaHTTP, linaCSRF, f.xihuCust, fmt.Sprintf(`{"site_id":%q}`, pudong)); code != http.StatusNotFound {
		t.Errorf("agent sharing a customer she cannot see = %d %s, want 404", code, body)
	}
	if code, body := share(adminHTTP, adminCSRF, f.xihuCust, fmt.Sprintf(`{"site_id":%q}`, pudong)); code != http.StatusOK {
		t.Errorf("admin sharing with Pudong = %d %s, want 200", code, body)
	}
	if code := timeline(linaHTTP, f.xihuCust); code != http.StatusOK {
		t.Errorf("agent of Pudong after the share = %d, want 200", code)
	}

	// Another tenant's customer: 404 on every route, whoever asks.
	for _, c := range []struct {
		who  string
		c    *http.Client
		csrf string
	}{{"agent", linaHTTP, linaCSRF}, {"supervisor", supHTTP, supCSRF}, {"admin", adminHTTP, adminCSRF}} {
		other := f.otherTenant.String()
		for _, r := range []struct{ path, body string }{
			{"/reveal", ""},
			{"/owner", fmt.Sprintf(`{"owner_id":%q}`, linaID)},
			{"/shares", fmt.Sprintf(`{"site_id":%q}`, pudong)},
		} {
			if code, body := post(t, c.c, a.url+"/api/customers/"+other+r.path, c.csrf, r.body); code != http.StatusNotFound {
				t.Errorf("%s POST %s of another tenant's customer = %d %s, want 404", c.who, r.path, code, body)
			}
		}
		if code := timeline(c.c, f.otherTenant); code != http.StatusNotFound {
			t.Errorf("%s reading another tenant's customer = %d, want 404", c.who, code)
		}
	}
	a.assertNoPersonalData(t, "Is my car ready", "Synthetic question", "Second synthetic line")
}
