package agentdesk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/org"
)

// sessionAccounts answers sessions by token; the desk's other account
// calls are not made by the routes under test (the embedded nil
// interface would panic if they were).
type sessionAccounts struct {
	Accounts
	sessions map[string]org.Session
}

func (a sessionAccounts) SessionByToken(_ context.Context, token string) (org.Session, error) {
	if s, ok := a.sessions[token]; ok {
		return s, nil
	}
	return org.Session{}, org.ErrNoSession
}

// fakePhoneAdmin keeps connectors in memory, scoped by tenant like
// org.Store, and remembers what it was given.
type fakePhoneAdmin struct {
	connectors map[uuid.UUID]org.PhoneConnector
	agents     map[uuid.UUID]uuid.UUID // agent → tenant
	secrets    []string                // secrets the store was handed
	numbers    []org.PhoneNumber
	deleted    []string
	phones     map[[2]uuid.UUID]org.AgentPhone
}

func newFakePhoneAdmin() *fakePhoneAdmin {
	return &fakePhoneAdmin{connectors: map[uuid.UUID]org.PhoneConnector{}, agents: map[uuid.UUID]uuid.UUID{},
		phones: map[[2]uuid.UUID]org.AgentPhone{}}
}

func (f *fakePhoneAdmin) PhoneConnectors(_ context.Context, tenant uuid.UUID) ([]org.PhoneConnector, error) {
	var out []org.PhoneConnector
	for _, c := range f.connectors {
		if c.TenantID == tenant {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakePhoneAdmin) TenantPhoneConnector(_ context.Context, tenant, id uuid.UUID) (org.PhoneConnector, error) {
	c, ok := f.connectors[id]
	if !ok || c.TenantID != tenant {
		return org.PhoneConnector{}, org.ErrNotFound
	}
	return c, nil
}

func (f *fakePhoneAdmin) CreatePhoneConnector(_ context.Context, tenant, _ uuid.UUID, in org.PhoneConnectorSettings) (org.PhoneConnector, string, error) {
	if in.Name == "" {
		return org.PhoneConnector{}, "", fmt.Errorf("%w: a connector needs a name", org.ErrInvalid)
	}
	f.secrets = append(f.secrets, in.Secret)
	c := org.PhoneConnector{ID: uuid.New(), TenantID: tenant, Name: in.Name, Kind: in.Kind, Mode: in.Mode, CallbackURL: in.CallbackURL,
		AccountSID: in.AccountSID, Address: in.Address, Username: in.Username, Context: in.Context, Active: true, CreatedAt: time.Now()}
	f.connectors[c.ID] = c
	token := ""
	if in.Kind == "zammad" {
		token = "tok-" + uuid.NewString()
	}
	return c, token, nil
}

func (f *fakePhoneAdmin) UpdatePhoneConnector(ctx context.Context, tenant, id, _ uuid.UUID, in org.PhoneConnectorUpdate) (org.PhoneConnector, error) {
	c, err := f.TenantPhoneConnector(ctx, tenant, id)
	if err != nil {
		return c, err
	}
	if in.Secret != nil {
		f.secrets = append(f.secrets, *in.Secret)
	}
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
	f.connectors[id] = c
	return c, nil
}

func (f *fakePhoneAdmin) DeactivatePhoneConnector(ctx context.Context, tenant, id, actor uuid.UUID) error {
	_, err := f.UpdatePhoneConnector(ctx, tenant, id, actor, org.PhoneConnectorUpdate{Active: new(bool)})
	return err
}

func (f *fakePhoneAdmin) RotatePhoneConnectorToken(ctx context.Context, tenant, id, _ uuid.UUID) (string, error) {
	c, err := f.TenantPhoneConnector(ctx, tenant, id)
	if err != nil {
		return "", err
	}
	if c.Kind != "zammad" {
		return "", fmt.Errorf("%w: only a Zammad-format connector has a URL token", org.ErrInvalid)
	}
	return "tok-" + uuid.NewString(), nil
}

func (f *fakePhoneAdmin) PhoneNumbers(ctx context.Context, tenant, connector uuid.UUID) ([]org.PhoneNumber, error) {
	if _, err := f.TenantPhoneConnector(ctx, tenant, connector); err != nil {
		return nil, err
	}
	return f.numbers, nil
}

func (f *fakePhoneAdmin) SetPhoneNumber(_ context.Context, tenant, _ uuid.UUID, n org.PhoneNumber) (org.PhoneNumber, error) {
	n.ID, n.TenantID = uuid.New(), tenant
	f.numbers = append(f.numbers, n)
	return n, nil
}

func (f *fakePhoneAdmin) DeletePhoneNumber(ctx context.Context, tenant, connector, _ uuid.UUID, number string) error {
	if _, err := f.TenantPhoneConnector(ctx, tenant, connector); err != nil {
		return err
	}
	f.deleted = append(f.deleted, number)
	return nil
}

func (f *fakePhoneAdmin) AgentPhones(ctx context.Context, tenant, connector uuid.UUID) ([]org.AgentPhone, error) {
	if _, err := f.TenantPhoneConnector(ctx, tenant, connector); err != nil {
		return nil, err
	}
	var out []org.AgentPhone
	for k, p := range f.phones {
		if k[0] == connector {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakePhoneAdmin) AgentPhoneOn(_ context.Context, _, connector, agent uuid.UUID) (org.AgentPhone, error) {
	p, ok := f.phones[[2]uuid.UUID{connector, agent}]
	if !ok {
		return org.AgentPhone{}, org.ErrNotFound
	}
	return p, nil
}

func (f *fakePhoneAdmin) SetAgentPhone(_ context.Context, tenant, _ uuid.UUID, p org.AgentPhone) error {
	if p.Dial == "" {
		p.Dial = "client"
	}
	p.TenantID = tenant
	f.phones[[2]uuid.UUID{p.ConnectorID, p.AgentID}] = p
	return nil
}

func (f *fakePhoneAdmin) DeleteAgentPhone(_ context.Context, _, connector, agent, _ uuid.UUID) error {
	k := [2]uuid.UUID{connector, agent}
	if _, ok := f.phones[k]; !ok {
		return org.ErrNotFound
	}
	delete(f.phones, k)
	return nil
}

func (f *fakePhoneAdmin) Agent(_ context.Context, tenant, id uuid.UUID) (org.Agent, error) {
	if f.agents[id] != tenant {
		return org.Agent{}, org.ErrNotFound
	}
	return org.Agent{ID: id}, nil
}

// phoneAdminHarness serves the desk's routes with an admin's and an
// agent's session over a fake PhoneAdmin.
type phoneAdminHarness struct {
	t      testing.TB
	h      http.Handler
	admin  *fakePhoneAdmin
	tenant uuid.UUID
}

const (
	testAdminToken, testAgentToken = "admin-token", "agent-token"
	testCSRF                       = "csrf-token"
)

func newPhoneAdminHarness(t testing.TB, pa PhoneAdmin) *phoneAdminHarness {
	t.Helper()
	rdb, prefix := redistest.New(t)
	tenant := uuid.New()
	accounts := sessionAccounts{sessions: map[string]org.Session{
		testAdminToken: {User: org.User{ID: uuid.New(), TenantID: tenant, Role: org.RoleAdmin, Active: true}, CSRF: testCSRF},
		testAgentToken: {User: org.User{ID: uuid.New(), TenantID: tenant, Role: org.RoleAgent, Active: true}, CSRF: testCSRF},
	}}
	d := Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Chat: http.NotFoundHandler(), Limiter: ratelimit.New(rdb, prefix),
		Accounts: accounts}
	fake, _ := pa.(*fakePhoneAdmin)
	if fake != nil {
		d.PhoneAdmin = fake // a nil *fakePhoneAdmin must stay a nil interface
	}
	s, err := NewServer(Config{PublicURL: "https://cc.example.cn"}, d)
	if err != nil {
		t.Fatal(err)
	}
	return &phoneAdminHarness{t: t, h: s.Handler(prometheus.NewRegistry()), admin: fake, tenant: tenant}
}

// do sends one request as token's user (with the CSRF token unless csrf
// is false) and returns the status and body.
func (h *phoneAdminHarness) do(token, method, path, body string) (int, string) {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://cc.example.cn")
	req.Header.Set("X-CSRF-Token", testCSRF)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func decodeObject(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %s", body)
	}
	return m
}

// TestPhoneConnectorAnswersSayWhatToConfigure: each kind's answer names
// the URLs to set at its telephony under the public URL; a Zammad token
// comes in the create and rotate answers only; a secret never comes back.
func TestPhoneConnectorAnswersSayWhatToConfigure(t *testing.T) {
	h := newPhoneAdminHarness(t, newFakePhoneAdmin())
	const secret = "a-secret-of-some-length"
	type want struct{ webhook, voice, status, command string }
	for _, tc := range []struct {
		body string
		want func(id string) want
	}{
		{`{"name":"PBX","kind":"generic","mode":"control","secret":"` + secret + `","callback_url":"https://pbx.example.cn/cmd"}`,
			func(id string) want {
				return want{webhook: "https://cc.example.cn/phone/cti/" + id, command: "https://pbx.example.cn/cmd"}
			}},
		{`{"name":"PBX","kind":"generic","mode":"observe","secret":"` + secret + `"}`,
			func(id string) want { return want{webhook: "https://cc.example.cn/phone/cti/" + id} }},
		{`{"name":"Twilio","kind":"twilio","mode":"control","secret":"` + secret + `","account_sid":"AC0123"}`,
			func(id string) want {
				return want{voice: "https://cc.example.cn/phone/twilio/" + id + "/voice", status: "https://cc.example.cn/phone/twilio/" + id + "/status"}
			}},
		{`{"name":"Asterisk","kind":"asterisk","mode":"control","secret":"` + secret + `","address":"10.0.0.2:5038","username":"switchboard","context":"agents"}`,
			func(string) want { return want{} }},
	} {
		code, body := h.do(testAdminToken, "POST", "/api/phone/connectors", tc.body)
		if code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s, want 201", tc.body, code, body)
		}
		if strings.Contains(body, secret) || strings.Contains(body, `"url_token"`) {
			t.Errorf("the created connector shows its secret or a token: %s", body)
		}
		m := decodeObject(t, body)
		id, _ := m["id"].(string)
		tel, _ := m["telephony"].(map[string]any)
		got := want{}
		got.webhook, _ = tel["webhook_url"].(string)
		got.voice, _ = tel["voice_url"].(string)
		got.status, _ = tel["status_callback_url"].(string)
		got.command, _ = tel["command_url"].(string)
		if w := tc.want(id); got != w {
			t.Errorf("POST %s: telephony = %+v, want %+v", tc.body, got, w)
		}
		if s, _ := tel["instructions"].(string); s == "" {
			t.Errorf("POST %s: no instructions", tc.body)
		}
		code, body = h.do(testAdminToken, "GET", "/api/phone/connectors/"+id, "")
		if code != http.StatusOK || strings.Contains(body, secret) {
			t.Errorf("GET = %d %s, want 200 without the secret", code, body)
		}
	}
	if got := h.admin.secrets; len(got) != 4 || got[0] != secret {
		t.Errorf("the store was handed secrets %q, want the body's secret each time", got)
	}

	// Zammad: the token and the URL with it, once; GET shows neither.
	code, body := h.do(testAdminToken, "POST", "/api/phone/connectors", `{"name":"Office","kind":"zammad","mode":"observe"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST zammad = %d %s", code, body)
	}
	m := decodeObject(t, body)
	id, token := m["id"].(string), m["url_token"].(string)
	if hook := jsonPath(m, "telephony", "webhook_url"); token == "" || hook != "https://cc.example.cn/phone/zammad/"+token {
		t.Errorf("zammad create: url_token %q, webhook_url %v; want the token and the URL with it", token, hook)
	}
	code, body = h.do(testAdminToken, "GET", "/api/phone/connectors/"+id, "")
	if code != http.StatusOK || strings.Contains(body, token) || strings.Contains(body, "webhook_url") {
		t.Errorf("GET zammad = %d %s, want neither token nor webhook URL", code, body)
	}
	code, body = h.do(testAdminToken, "GET", "/api/phone/connectors", "")
	if code != http.StatusOK || strings.Contains(body, token) || strings.Contains(body, secret) {
		t.Errorf("GET list = %d %s, want no token and no secret", code, body)
	}
	code, body = h.do(testAdminToken, "POST", "/api/phone/connectors/"+id+"/rotate-token", "")
	m = decodeObject(t, body)
	fresh, _ := m["url_token"].(string)
	if code != http.StatusOK || fresh == "" || fresh == token || jsonPath(m, "telephony", "webhook_url") != "https://cc.example.cn/phone/zammad/"+fresh {
		t.Errorf("rotate = %d %s, want a new token and its URL", code, body)
	}

	// Deactivating answers with the connector, inactive, and says so.
	code, body = h.do(testAdminToken, "DELETE", "/api/phone/connectors/"+id, "")
	m = decodeObject(t, body)
	if code != http.StatusOK || m["active"] != false || !strings.HasPrefix(fmt.Sprint(jsonPath(m, "telephony", "instructions")), "Inactive") {
		t.Errorf("DELETE = %d %s, want 200 with active false and why nothing works", code, body)
	}
}

// TestPhoneAdminRefusals: bad bodies, ids and callers get clear answers,
// and nothing reaches the store.
func TestPhoneAdminRefusals(t *testing.T) {
	h := newPhoneAdminHarness(t, newFakePhoneAdmin())
	code, body := h.do(testAdminToken, "POST", "/api/phone/connectors", `{"name":"PBX","kind":"generic","mode":"observe","secret":"0123456789abcdef"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, body)
	}
	id := decodeObject(t, body)["id"].(string)
	foreign := uuid.New()
	h.admin.connectors[foreign] = org.PhoneConnector{ID: foreign, TenantID: uuid.New(), Kind: "zammad", Mode: "observe"}
	agent, otherAgent := uuid.New(), uuid.New()
	h.admin.agents[agent], h.admin.agents[otherAgent] = h.tenant, uuid.New()
	queue := uuid.NewString()
	list, c := "/api/phone/connectors", "/api/phone/connectors/"

	for _, tc := range []struct {
		name, token, method, path, body string
		code                            int
		contains                        string
	}{
		{"an agent lists", testAgentToken, "GET", list, "", 403, "forbidden"},
		{"an agent creates", testAgentToken, "POST", list, `{"name":"x","kind":"generic","mode":"observe","secret":"0123456789abcdef"}`, 403, "forbidden"},
		{"an agent sets a number", testAgentToken, "PUT", c + id + "/numbers/+862160001000", `{"queue_id":"` + queue + `"}`, 403, "forbidden"},
		{"no session", "nobody", "GET", list, "", 401, "unauthenticated"},
		{"an unknown field", testAdminToken, "POST", list, `{"name":"x","kind":"generic","mode":"observe","colour":"red"}`, 400, "bad_json"},
		{"trailing data", testAdminToken, "POST", list, `{"name":"x"} {}`, 400, "bad_json"},
		{"a Zammad secret", testAdminToken, "POST", list, `{"name":"x","kind":"zammad","mode":"observe","secret":"0123456789abcdef"}`, 400, "no secret"},
		{"active on create", testAdminToken, "POST", list, `{"name":"x","kind":"generic","mode":"observe","active":false}`, 400, "invalid"},
		{"the store refuses", testAdminToken, "POST", list, `{"kind":"generic"}`, 400, "needs a name"},
		{"a malformed id", testAdminToken, "GET", c + "not-an-id", "", 400, "bad_id"},
		{"a changed kind", testAdminToken, "PATCH", c + id, `{"kind":"twilio"}`, 400, "cannot change"},
		{"an unknown PATCH field", testAdminToken, "PATCH", c + id, `{"url_token":"x"}`, 400, "bad_json"},
		{"rotate a generic token", testAdminToken, "POST", c + id + "/rotate-token", "", 400, "Zammad"},
		{"a number without queue", testAdminToken, "PUT", c + id + "/numbers/+862160001000", `{"language":"en"}`, 400, "queue_id"},
		{"a menu option's unknown field", testAdminToken, "PUT", c + id + "/numbers/*", `{"queue_id":"` + queue + `","menu":[{"digit":"1","key":"x"}]}`, 400, "bad_json"},
		{"another tenant's agent", testAdminToken, "PUT", c + id + "/agents/" + otherAgent.String(), `{"extension":"8001"}`, 404, "not_found"},
		{"a malformed agent id", testAdminToken, "PUT", c + id + "/agents/8001", `{"extension":"8001"}`, 400, "bad_id"},
		{"an agent phone's unknown field", testAdminToken, "PUT", c + id + "/agents/" + agent.String(), `{"extension":"8001","ring":true}`, 400, "bad_json"},
		{"a phone never set", testAdminToken, "DELETE", c + id + "/agents/" + agent.String(), "", 404, "not_found"},
	} {
		code, body := h.do(tc.token, tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: %s %s = %d %s, want %d containing %q", tc.name, tc.method, tc.path, code, strings.TrimSpace(body), tc.code, tc.contains)
		}
	}
	// Another tenant's connector is not found on every route.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "", ""}, {"PATCH", "", `{"name":"mine now"}`}, {"DELETE", "", ""}, {"POST", "/rotate-token", ""},
		{"GET", "/numbers", ""}, {"PUT", "/numbers/*", `{"queue_id":"` + queue + `"}`}, {"DELETE", "/numbers/*", ""},
		{"GET", "/agents", ""}, {"PUT", "/agents/" + agent.String(), `{"extension":"8001"}`}, {"DELETE", "/agents/" + agent.String(), ""},
	} {
		if code, body := h.do(testAdminToken, r.method, c+foreign.String()+r.path, r.body); code != http.StatusNotFound {
			t.Errorf("%s another tenant's connector%s = %d %s, want 404", r.method, r.path, code, body)
		}
	}
	if len(h.admin.numbers) != 0 || len(h.admin.deleted) != 0 || len(h.admin.phones) != 0 || h.admin.connectors[foreign].Name != "" {
		t.Errorf("refused requests reached the store: numbers %v, deleted %v, phones %v", h.admin.numbers, h.admin.deleted, h.admin.phones)
	}

	// A number's + may come escaped; the store gets the number itself.
	code, body = h.do(testAdminToken, "PUT", c+id+"/numbers/%2B862160001000", `{"queue_id":"`+queue+`","menu":[{"digit":"1","department":"sales","queue_id":"`+queue+`"}]}`)
	if code != http.StatusOK || len(h.admin.numbers) != 1 || h.admin.numbers[0].Number != "+862160001000" || len(h.admin.numbers[0].Menu) != 1 {
		t.Errorf("PUT %%2B number = %d %s; store got %+v", code, body, h.admin.numbers)
	}
	if code, _ := h.do(testAdminToken, "DELETE", c+id+"/numbers/%2B862160001000", ""); code != http.StatusNoContent || fmt.Sprint(h.admin.deleted) != "[+862160001000]" {
		t.Errorf("DELETE %%2B number = %d; store got %v", code, h.admin.deleted)
	}
	code, body = h.do(testAdminToken, "PUT", c+id+"/agents/"+agent.String(), `{"extension":"8001"}`)
	if code != http.StatusOK || !strings.Contains(body, `"dial":"client"`) {
		t.Errorf("PUT agent phone = %d %s, want 200 with the default dial", code, body)
	}
}

// TestPhoneAdminUnavailable: a server without the phone settings answers
// 503, not a crash.
func TestPhoneAdminUnavailable(t *testing.T) {
	h := newPhoneAdminHarness(t, (*fakePhoneAdmin)(nil))
	if code, body := h.do(testAdminToken, "GET", "/api/phone/connectors", ""); code != http.StatusServiceUnavailable {
		t.Errorf("GET without PhoneAdmin = %d %s, want 503", code, body)
	}
}

// jsonPath is v[keys[0]][keys[1]]…, nil where a level is missing.
func jsonPath(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// FuzzPhoneAdminRequests: whatever the body and the number or agent in
// the path, the admin routes answer with a status below 500 and a JSON
// error or record, never a panic.
func FuzzPhoneAdminRequests(f *testing.F) {
	for _, seed := range []struct{ segment, body string }{
		{"+862160001000", `{"queue_id":"0193b2c4-0000-7000-8000-000000000000","menu":[{"digit":"1","department":"sales","queue_id":"0193b2c4-0000-7000-8000-000000000000"}]}`},
		{"%2B86", `{"name":"x","kind":"generic","mode":"observe","secret":"0123456789abcdef"}`},
		{"*", `{"extension":"8001","dial":"number","number":"+8613800138000"}`},
		{"%zz", `{"name":null,"kind":1}`},
		{"0193b2c4-0000-7000-8000-000000000000", `[]`},
		{"", `{"site_id":"not-a-uuid"}`},
		{"a/b", "\x00{"},
	} {
		f.Add(seed.segment, seed.body)
	}
	h := newPhoneAdminHarness(f, newFakePhoneAdmin())
	code, body := h.do(testAdminToken, "POST", "/api/phone/connectors", `{"name":"PBX","kind":"zammad","mode":"observe"}`)
	if code != http.StatusCreated {
		f.Fatalf("POST = %d %s", code, body)
	}
	var created struct{ ID string }
	json.Unmarshal([]byte(body), &created)
	base := "/api/phone/connectors/" + created.ID
	f.Fuzz(func(t *testing.T, segment, body string) {
		if strings.IndexFunc(segment, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' }) >= 0 {
			return // not a path a client could send
		}
		h.t = t
		for _, r := range []struct{ method, path string }{
			{"POST", "/api/phone/connectors"}, {"PATCH", base}, {"PUT", base + "/numbers/" + segment},
			{"DELETE", base + "/numbers/" + segment}, {"PUT", base + "/agents/" + segment},
		} {
			if _, err := url.ParseRequestURI(r.path); err != nil {
				continue
			}
			code, out := h.do(testAdminToken, r.method, r.path, body)
			if code >= 500 || !json.Valid([]byte(out)) && code != http.StatusNoContent && code != http.StatusNotFound {
				t.Errorf("%s %s with %q = %d %s", r.method, r.path, body, code, out)
			}
		}
	})
}
