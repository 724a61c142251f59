package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels/chat"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// chatFixture is the demo site and its admin, for the chat feature tests.
type chatFixture struct {
	a         *app
	pool      *pgxpool.Pool
	site      string // the demo site's id
	admin     *http.Client
	adminCSRF string
}

func newChatFixture(t *testing.T, env map[string]string) *chatFixture {
	t.Helper()
	a := startApp(t, env)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := &chatFixture{a: a, pool: pool}
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM sites WHERE chat_key = 'demo-pudong'`).Scan(&f.site); err != nil {
		t.Fatal(err)
	}
	f.admin, f.adminCSRF = a.login(t, "admin@huadong.example")
	return f
}

// settings PUTs the demo site's chat settings over the admin API.
func (f *chatFixture) settings(t *testing.T, body string) {
	t.Helper()
	if code, out := call(t, f.admin, "PUT", f.a.url+"/api/sites/"+f.site+"/chat-settings", f.adminCSRF, body); code != 200 {
		t.Fatalf("PUT chat settings: %d %s", code, out)
	}
}

const defaultChatSettings = `{"name_field":"optional","email_field":"optional","phone_field":"off","topics":[],"language":"browser",
	"show_wait":false,"abandon_after_seconds":120,"offline_mode":"email","attachments":true,"max_attachment_bytes":5242880,"customer_system":""}`

// hello opens a visitor socket and sends hello with the given fields; it
// returns the socket and the first answer (welcome or error).
func (f *chatFixture) hello(t *testing.T, fields map[string]any) (*wsClient, map[string]any) {
	t.Helper()
	v, _, err := f.a.dial(t, "/chat/ws?site=demo-pudong", nil, f.a.url)
	if err != nil {
		t.Fatalf("visitor socket: %v", err)
	}
	hello := map[string]any{"type": "hello"}
	for k, x := range fields {
		hello[k] = x
	}
	v.send(hello)
	return v, v.expect("", func(m map[string]any) bool { return m["type"] == "welcome" || m["type"] == "error" })
}

// chatting starts a chat as a visitor, has agent accept it, and returns the
// visitor's token and the contact id.
func chatting(t *testing.T, a *app, agent, v *wsClient) (token, contact string) {
	t.Helper()
	v.send(map[string]any{"type": "message", "client_id": "m1", "body": "hello"})
	w := v.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })
	v.expect("ack", nil)
	offer := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "offer_id": offer["offer_id"]})
	contact, _ = path(agent.expect("assigned", nil), "contact", "id").(string)
	v.expect("state", func(m map[string]any) bool { return m["state"] == "active" })
	return w["token"].(string), contact
}

// noFrame fails when a frame of typ arrives within d.
func (c *wsClient) noFrame(typ string, d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.in:
			if !ok {
				return
			}
			if f["type"] == typ {
				c.t.Errorf("unexpected %q frame: %v", typ, f)
			}
		case <-deadline:
			return
		}
	}
}

// TestChatTypingAndReadReceipts: typing passes both ways and is never
// replayed; read receipts are stored, passed both ways, and come back on a
// resume in the welcome (agent's) and the snapshot (visitor's); lines are
// replayed. Typing is rate limited like lines.
func TestChatTypingAndReadReceipts(t *testing.T) {
	f := newChatFixture(t, nil)
	agent := f.a.availableAgent(t, "lina@huadong.example")
	v, _ := f.hello(t, map[string]any{"name": "Typist", "email": "typist@example.com"})
	token, contact := chatting(t, f.a, agent, v)

	agent.send(map[string]any{"type": "typing", "contact_id": contact})
	if got := v.expect("typing", nil); got["author_kind"] != "agent" || got["name"] != "李娜 Li Na" {
		t.Errorf("visitor's typing frame = %v, want the agent's name", got)
	}
	v.send(map[string]any{"type": "typing"})
	if got := agent.expect("typing", nil); got["contact_id"] != contact {
		t.Errorf("console's typing frame = %v, want contact %s", got, contact)
	}
	agent.send(map[string]any{"type": "send", "id": "s", "contact_id": contact, "client_id": "a1", "body": "How can I help?"})
	agent.expect("ack", func(m map[string]any) bool { return m["ref"] == "s" })
	v.expect("message", func(m map[string]any) bool { return m["seq"] == float64(2) })

	// The agent has read the visitor's line (seq 1); the visitor both (2).
	agent.send(map[string]any{"type": "read", "id": "r", "contact_id": contact, "seq": 1})
	if ack := agent.expect("ack", func(m map[string]any) bool { return m["ref"] == "r" }); ack["seq"] != float64(1) {
		t.Errorf("read ack = %v, want seq 1", ack)
	}
	if got := v.expect("read", nil); got["seq"] != float64(1) {
		t.Errorf("visitor's read frame = %v, want seq 1", got)
	}
	v.send(map[string]any{"type": "read", "seq": 99}) // beyond the last line: held to it
	if got := agent.expect("read", func(m map[string]any) bool { return m["side"] == "customer" }); got["seq"] != float64(2) {
		t.Errorf("console's read frame = %v, want the customer at seq 2 (the last line)", got)
	}
	agent.send(map[string]any{"type": "read", "id": "r0", "contact_id": contact, "seq": 0}) // never backwards
	if ack := agent.expect("ack", func(m map[string]any) bool { return m["ref"] == "r0" }); ack["seq"] != float64(1) {
		t.Errorf("read ack after seq 0 = %v, want 1 still", ack)
	}

	// Resume from seq 0: both lines replayed, in order, no typing or read
	// frames (never stored), the agent's read seq in the welcome.
	v.conn.Close()
	v2, w := f.hello(t, map[string]any{"token": token, "last_seq": 0})
	if w["type"] != "welcome" || w["agent_read_seq"] != float64(1) || w["state"] != "active" {
		t.Fatalf("resume welcome = %v, want active with agent_read_seq 1", w)
	}
	if m := v2.expect("message", nil); m["seq"] != float64(1) || m["client_id"] != "m1" {
		t.Errorf("first replayed line = %v, want seq 1 m1", m)
	}
	if m := v2.expect("message", nil); m["seq"] != float64(2) || m["author_name"] != "李娜 Li Na" {
		t.Errorf("second replayed line = %v, want seq 2 by 李娜 Li Na", m)
	}
	v2.noFrame("typing", 300*time.Millisecond)

	// The console's snapshot carries the visitor's read seq.
	agentHTTP, _ := f.a.login(t, "lina@huadong.example")
	tab, _, err := f.a.dial(t, "/ws/agent", agentHTTP.Jar, f.a.url)
	if err != nil {
		t.Fatal(err)
	}
	snap := tab.expect("snapshot", nil)
	items, _ := snap["contacts"].([]any)
	if len(items) != 1 || path(items[0], "contact", "customer_read_seq") != float64(2) || path(items[0], "contact", "agent_read_seq") != float64(1) {
		t.Errorf("snapshot contacts = %v, want one with customer_read_seq 2 and agent_read_seq 1", items)
	}

	// Typing frames count against the visitor's limit.
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		v2.send(map[string]any{"type": "typing"})
	}
	deadline := time.After(5 * time.Second)
	for !limited {
		select {
		case m := <-v2.in:
			limited = m["type"] == "error" && m["code"] == "rate_limited"
		case <-deadline:
			t.Fatal("12 typing frames at once were all accepted; want rate_limited (2 a second, bursts of 4)")
		}
	}
}

// TestPrechatFormIsCheckedOnTheServer: required fields, normalised e-mail
// and phone (the site's area code), topics to their queues.
func TestPrechatFormIsCheckedOnTheServer(t *testing.T) {
	f := newChatFixture(t, nil)
	var sales string
	f.pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = 'Sales'`).Scan(&sales)
	f.settings(t, `{"name_field":"required","email_field":"optional","phone_field":"required","topics":[{"topic":"sales","queue_id":"`+sales+`"}],
		"language":"zh-CN","show_wait":true,"abandon_after_seconds":120,"offline_mode":"callback","attachments":true,"max_attachment_bytes":1000000,"customer_system":""}`)

	for _, tc := range []struct {
		name   string
		fields map[string]any
		field  string
	}{
		{"no name", map[string]any{"phone": "12345678", "topic": "sales"}, "name"},
		{"no phone", map[string]any{"name": "Wang", "topic": "sales"}, "phone"},
		{"bad phone", map[string]any{"name": "Wang", "phone": "12", "topic": "sales"}, "phone"},
		{"bad e-mail", map[string]any{"name": "Wang", "phone": "12345678", "email": "not-mail", "topic": "sales"}, "email"},
		{"topic the site does not offer", map[string]any{"name": "Wang", "phone": "12345678", "topic": "service"}, "topic"},
		{"no topic", map[string]any{"name": "Wang", "phone": "12345678"}, "topic"},
	} {
		_, got := f.hello(t, tc.fields)
		if got["type"] != "error" || got["code"] != "invalid" || got["field"] != tc.field {
			t.Errorf("%s: answer %v, want an invalid error naming %q", tc.name, got, tc.field)
		}
	}

	v, w := f.hello(t, map[string]any{"name": "Wang", "phone": "12345678", "email": " Wang.Form@Example.COM ", "topic": "sales"})
	if w["type"] != "welcome" || path(w, "settings", "language") != "zh-CN" || path(w, "settings", "fields", "phone") != "required" {
		t.Fatalf("welcome = %v, want the site's settings", w)
	}
	v.send(map[string]any{"type": "message", "client_id": "m1", "body": "a quote please"})
	contact := v.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["contact_id"].(string)
	var queue string
	var values []string
	f.pool.QueryRow(context.Background(), `SELECT queue_id::text FROM contacts WHERE id = $1`, contact).Scan(&queue)
	rows, _ := f.pool.Query(context.Background(), `SELECT kind || ':' || value FROM customer_identities i
		JOIN contacts c ON c.customer_id = i.customer_id WHERE c.id = $1 AND i.kind <> 'chat' ORDER BY 1`, contact)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		values = append(values, s)
	}
	if queue != sales {
		t.Errorf("the chat waits in queue %s, want Sales %s (its topic)", queue, sales)
	}
	if want := "email:wang.form@example.com,phone:+862112345678"; strings.Join(values, ",") != want {
		t.Errorf("customer identities = %v, want %s (normalised; the Pudong site's area code)", values, want)
	}
	// GET /chat/settings serves the same, without secrets or queue ids.
	resp, err := http.Get(f.a.url + "/chat/settings?site=demo-pudong")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"topics":["sales"]`) || strings.Contains(string(body), sales) {
		t.Errorf("GET /chat/settings = %d %s, want topics without queue ids", resp.StatusCode, body)
	}
}

// TestCustomerTokens: a token signed with the site's secret identifies the
// visitor as that customer (external identity); expired, forged, another
// site's and longer than 24 h tokens are refused with a clear error.
func TestCustomerTokens(t *testing.T) {
	f := newChatFixture(t, nil)
	code, body := call(t, f.admin, "POST", f.a.url+"/api/sites/"+f.site+"/chat-secret", f.adminCSRF, "")
	var rotated struct{ Secret string }
	if json.Unmarshal([]byte(body), &rotated); code != 200 || rotated.Secret == "" {
		t.Fatalf("rotate secret: %d %s", code, body)
	}
	secret, _ := base64.RawURLEncoding.DecodeString(rotated.Secret)
	now := time.Now()
	for _, tc := range []struct {
		name, token, want string
	}{
		{"expired", chat.SignCustomerToken(secret, "demo-pudong", "C-1", now.Add(-time.Minute)), "expired"},
		{"forged", chat.SignCustomerToken([]byte("not the site's secret"), "demo-pudong", "C-1", now.Add(time.Hour)), "signature"},
		{"another site", chat.SignCustomerToken(secret, "another-site", "C-1", now.Add(time.Hour)), "another site"},
		{"longer than 24 h", chat.SignCustomerToken(secret, "demo-pudong", "C-1", now.Add(25*time.Hour)), "24 hours"},
		{"malformed", "abc", "malformed"},
	} {
		_, got := f.hello(t, map[string]any{"customer_token": tc.token})
		if got["type"] != "error" || got["code"] != "bad_customer_token" || !strings.Contains(got["message"].(string), tc.want) {
			t.Errorf("%s: answer %v, want bad_customer_token mentioning %q", tc.name, got, tc.want)
		}
	}

	v, w := f.hello(t, map[string]any{"customer_token": chat.SignCustomerToken(secret, "demo-pudong", "DMS-4711", now.Add(time.Hour))})
	if w["type"] != "welcome" || w["identified"] != true {
		t.Fatalf("valid token: %v, want a welcome, identified", w)
	}
	v.send(map[string]any{"type": "message", "client_id": "m1", "body": "hi, it's me"})
	contact := v.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["contact_id"].(string)
	var system, value string
	if err := f.pool.QueryRow(context.Background(), `SELECT i.system, i.value FROM customer_identities i
		JOIN contacts c ON c.customer_id = i.customer_id WHERE c.id = $1 AND i.kind = 'external'`, contact).Scan(&system, &value); err != nil {
		t.Fatalf("external identity of the chat's customer: %v", err)
	}
	if system != "demo-pudong" || value != "DMS-4711" {
		t.Errorf("external identity = %s/%s, want demo-pudong/DMS-4711", system, value)
	}

	// After a rotation the old secret's tokens are refused.
	call(t, f.admin, "POST", f.a.url+"/api/sites/"+f.site+"/chat-secret", f.adminCSRF, "")
	if _, got := f.hello(t, map[string]any{"customer_token": chat.SignCustomerToken(secret, "demo-pudong", "DMS-4711", now.Add(time.Hour))}); got["code"] != "bad_customer_token" {
		t.Errorf("token signed with the rotated-out secret: %v, want bad_customer_token", got)
	}
}

// upload posts a file to the visitor upload route as the widget does.
func upload(t *testing.T, a *app, origin, token, name string, data []byte) (int, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("token", token)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", a.url+"/chat/attachments?site=demo-pudong", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A 1×1 PNG and a minimal PDF (synthetic, written for this test).
var (
	tinyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	tinyPDF = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
)

// TestChatAttachments: type by content (HTML named .png refused), the
// site's size limit, a line carrying the file to the agent, and who may
// read it back: the chat's visitor and the tenant's agents; another
// visitor's token and another tenant's agent get 404.
func TestChatAttachments(t *testing.T) {
	f := newChatFixture(t, nil)
	agent := f.a.availableAgent(t, "lina@huadong.example")
	v, _ := f.hello(t, map[string]any{"name": "Sender", "email": "sender@example.com"})
	token, contact := chatting(t, f.a, agent, v)

	if code, body := upload(t, f.a, f.a.url, token, "evil.png", []byte("<html><script>alert(1)</script></html>")); code != http.StatusUnsupportedMediaType {
		t.Errorf("HTML named .png: %d %s, want 415", code, body)
	}
	if code, _ := upload(t, f.a, "http://evil.example", token, "a.png", tinyPNG); code != http.StatusForbidden {
		t.Errorf("upload from another origin: %d, want 403", code)
	}
	if code, _ := upload(t, f.a, f.a.url, "v1.forged.token", "a.png", tinyPNG); code != http.StatusUnauthorized {
		t.Errorf("upload with a forged token: %d, want 401", code)
	}
	code, body := upload(t, f.a, f.a.url, token, `../../photo "1".png`, tinyPNG)
	var up struct {
		ID          string
		ContentType string `json:"content_type"`
	}
	if json.Unmarshal([]byte(body), &up); code != http.StatusCreated || up.ContentType != "image/png" {
		t.Fatalf("PNG upload: %d %s, want 201 image/png", code, body)
	}
	_, pdfBody := upload(t, f.a, f.a.url, token, "invoice.pdf", tinyPDF)
	var pdf struct{ ID string }
	json.Unmarshal([]byte(pdfBody), &pdf)

	v.send(map[string]any{"type": "message", "client_id": "img", "body": "", "attachment_id": up.ID})
	ack := v.expect("ack", func(m map[string]any) bool { return m["client_id"] == "img" })
	line := agent.expect("message", func(m map[string]any) bool { return path(m, "message", "client_id") == "img" })
	if path(line, "message", "attachment", "id") != up.ID || path(line, "message", "attachment", "name") != "photo 1.png" {
		t.Errorf("agent's line = %v, want the attachment named %q", line, "photo 1.png")
	}
	// Resending the same line is harmless; the attachment cannot be moved to another line.
	v.send(map[string]any{"type": "message", "client_id": "img", "body": "", "attachment_id": up.ID})
	if again := v.expect("ack", func(m map[string]any) bool { return m["client_id"] == "img" }); again["seq"] != ack["seq"] {
		t.Errorf("resent attachment line acked with seq %v, want %v", again["seq"], ack["seq"])
	}
	v.send(map[string]any{"type": "message", "client_id": "img2", "body": "", "attachment_id": up.ID})
	if e := v.expect("error", nil); e["code"] != "not_found" {
		t.Errorf("the same attachment on another line: %v, want not_found", e)
	}

	resp, data := get(t, http.DefaultClient, f.a.url+"/chat/attachments/"+up.ID+"?site=demo-pudong&token="+token)
	if resp.StatusCode != 200 || data != string(tinyPNG) || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("visitor reads the PNG: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header)
	}
	other, _ := f.hello(t, map[string]any{"name": "Other", "email": "other@example.com"})
	other.send(map[string]any{"type": "message", "client_id": "o1", "body": "me too"})
	otherToken := other.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["token"].(string)
	if resp, _ := get(t, http.DefaultClient, f.a.url+"/chat/attachments/"+up.ID+"?site=demo-pudong&token="+otherToken); resp.StatusCode != 404 {
		t.Errorf("another visitor's token: %d, want 404", resp.StatusCode)
	}

	agentHTTP, _ := f.a.login(t, "emma@huadong.example") // any agent of the tenant
	resp, _ = get(t, agentHTTP, f.a.url+"/api/contacts/"+contact+"/attachments/"+pdf.ID)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("agent reads the PDF: %d, headers %v; want application/pdf as an attachment, nosniff", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, agentHTTP, f.a.url+"/api/contacts/"+uuid.NewString()+"/attachments/"+pdf.ID); resp.StatusCode != 404 {
		t.Errorf("the PDF under another contact id: %d, want 404", resp.StatusCode)
	}
	them := otherTenantAgent(t, f.a)
	if resp, _ := get(t, them, f.a.url+"/api/contacts/"+contact+"/attachments/"+pdf.ID); resp.StatusCode != 404 {
		t.Errorf("another tenant's agent: %d, want 404", resp.StatusCode)
	}
	// Another tenant's admin cannot read or change the site's settings.
	themAdmin, themCSRF := otherTenantAdmin(t, f.a)
	for _, m := range []string{"GET", "PUT"} {
		if code, _ := call(t, themAdmin, m, f.a.url+"/api/sites/"+f.site+"/chat-settings", themCSRF, defaultChatSettings); code != 404 {
			t.Errorf("%s another tenant's site settings: %d, want 404", m, code)
		}
	}
	if code, _ := call(t, themAdmin, "POST", f.a.url+"/api/sites/"+f.site+"/chat-secret", themCSRF, ""); code != 404 {
		t.Errorf("rotating another tenant's site secret: %d, want 404", code)
	}

	// The site's limit.
	f.settings(t, strings.Replace(defaultChatSettings, "5242880", "100", 1))
	if code, body := upload(t, f.a, f.a.url, token, "big.pdf", append(tinyPDF, bytes.Repeat([]byte(" "), 200)...)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("201-byte PDF over a 100-byte limit: %d %s, want 413", code, body)
	}
}

// otherTenantUser makes a tenant of its own with a user of role who logs
// in with the demo password, and returns their logged-in client.
func otherTenantUser(t *testing.T, a *app, email string, role org.Role) (*http.Client, string) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	orgs := org.NewStore(pool)
	tn, err := orgs.CreateTenant(ctx, "Elsewhere "+email, "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := orgs.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: email, DisplayName: "Them", Password: "switchboard-demo", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	if err := orgs.CreateAgent(ctx, tn.ID, u.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	return a.login(t, email)
}

func otherTenantAgent(t *testing.T, a *app) *http.Client {
	c, _ := otherTenantUser(t, a, "agent@elsewhere.example", org.RoleAgent)
	return c
}

func otherTenantAdmin(t *testing.T, a *app) (*http.Client, string) {
	return otherTenantUser(t, a, "admin@elsewhere.example", org.RoleAdmin)
}

// TestQueuedChatIsAbandonedWhenTheVisitorLeaves: with a 2 s setting, a
// waiting chat whose visitor closed their socket is abandoned (reason
// visitor_left) and leaves routing; one whose visitor stays is not.
func TestQueuedChatIsAbandonedWhenTheVisitorLeaves(t *testing.T) {
	f := newChatFixture(t, nil)
	f.settings(t, strings.Replace(defaultChatSettings, `"abandon_after_seconds":120`, `"abandon_after_seconds":2`, 1))
	leaver, _ := f.hello(t, map[string]any{"name": "Leaver", "email": "leaver@example.com"})
	leaver.send(map[string]any{"type": "message", "client_id": "m1", "body": "anyone?"})
	gone := leaver.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["contact_id"].(string)
	stayer, _ := f.hello(t, map[string]any{"name": "Stayer", "email": "stayer@example.com"})
	stayer.send(map[string]any{"type": "message", "client_id": "m1", "body": "I'll wait"})
	stays := stayer.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["contact_id"].(string)

	leaver.conn.Close()
	left := time.Now()
	state := func(id string) (s string) {
		f.pool.QueryRow(context.Background(), `SELECT state FROM contacts WHERE id = $1`, id).Scan(&s)
		return s
	}
	for state(gone) != crm.StateAbandoned {
		if time.Since(left) > 10*time.Second {
			t.Fatalf("the left chat is %q 10 s after its visitor left, want abandoned after 2 s", state(gone))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(left); took < 2*time.Second {
		t.Errorf("abandoned %v after the visitor left, before the site's 2 s", took)
	}
	var reason string
	f.pool.QueryRow(context.Background(), `SELECT data->>'reason' FROM contact_events WHERE contact_id = $1 AND kind = 'abandoned'`, gone).Scan(&reason)
	if reason != "visitor_left" {
		t.Errorf("abandon reason %q, want visitor_left", reason)
	}
	time.Sleep(1500 * time.Millisecond)
	if s := state(stays); s != crm.StateQueued {
		t.Errorf("the chat whose visitor stayed is %q, want queued", s)
	}
	// Routing forgot the abandoned chat: the agent who comes is offered the other.
	agent := f.a.availableAgent(t, "lina@huadong.example")
	if o := agent.expect("offer", nil); path(o, "contact", "id") != stays {
		t.Errorf("offered %v, want the waiting chat %s", path(o, "contact", "id"), stays)
	}
	agent.noFrame("offer", 700*time.Millisecond)
}

// TestVisitorEndsTheChat: the agent is told (contact_closed, ended by the
// customer) and wraps up; the visitor's later lines are refused.
func TestVisitorEndsTheChat(t *testing.T) {
	f := newChatFixture(t, nil)
	agent := f.a.availableAgent(t, "lina@huadong.example")
	v, _ := f.hello(t, map[string]any{"name": "Ender", "email": "ender@example.com"})
	_, contact := chatting(t, f.a, agent, v)
	v.send(map[string]any{"type": "end"})
	if st := v.expect("state", func(m map[string]any) bool { return m["state"] == "closed" }); st["ended_by"] != "customer" {
		t.Errorf("visitor's state frame = %v, want ended_by customer", st)
	}
	closed := agent.expect("contact_closed", nil)
	if closed["contact_id"] != contact || closed["ended_by"] != "customer" || closed["wrap_up_until"] == nil {
		t.Errorf("console's contact_closed = %v, want ended by the customer with a wrap-up deadline", closed)
	}
	v.send(map[string]any{"type": "message", "client_id": "late", "body": "one more thing"})
	if e := v.expect("error", nil); e["code"] != "closed" {
		t.Errorf("a line after the end: %v, want closed", e)
	}
	var reason string
	f.pool.QueryRow(context.Background(), `SELECT data->>'end_reason' FROM contact_events WHERE contact_id = $1 AND kind = 'closed'`, contact).Scan(&reason)
	if reason != "customer_ended" {
		t.Errorf("close event end_reason %q, want customer_ended", reason)
	}
	agent.send(map[string]any{"type": "done", "id": "d", "contact_id": contact})
	agent.expect("wrap_up_ended", nil)
}

// TestWaitingVisitorSeesTheQueuePosition: with show_wait, the second of two
// waiting visitors is told place 2, then place 1 when the first ends their
// chat; without show_wait nothing is told.
func TestWaitingVisitorSeesTheQueuePosition(t *testing.T) {
	f := newChatFixture(t, nil)
	f.settings(t, strings.Replace(defaultChatSettings, `"show_wait":false`, `"show_wait":true`, 1))
	first, _ := f.hello(t, map[string]any{"name": "First", "email": "first@example.com"})
	first.send(map[string]any{"type": "message", "client_id": "m1", "body": "1"})
	first.expect("ack", nil)
	first.expect("wait", func(m map[string]any) bool { return m["position"] == float64(1) })
	second, _ := f.hello(t, map[string]any{"name": "Second", "email": "second@example.com"})
	second.send(map[string]any{"type": "message", "client_id": "m1", "body": "2"})
	second.expect("ack", nil)
	second.expect("wait", func(m map[string]any) bool { return m["position"] == float64(2) })
	first.send(map[string]any{"type": "end"})
	first.expect("state", func(m map[string]any) bool { return m["state"] == "closed" })
	second.expect("wait", func(m map[string]any) bool { return m["position"] == float64(1) })

	f.settings(t, defaultChatSettings) // show_wait off: a new socket is told nothing
	third, _ := f.hello(t, map[string]any{"name": "Third", "email": "third@example.com"})
	third.send(map[string]any{"type": "message", "client_id": "m1", "body": "3"})
	third.expect("ack", nil)
	third.noFrame("wait", 3*time.Second)
}

// TestAgentResumesTwoChatsWithinGraceAndLosesThemAfter: an agent holding
// two chats whose socket is killed gets both back when the console returns
// within the grace period, lines sent meanwhile included; killed again and
// gone past it, both are re-offered ahead of a newer chat, nothing lost.
func TestAgentResumesTwoChatsWithinGraceAndLosesThemAfter(t *testing.T) {
	f := newChatFixture(t, map[string]string{"SWITCHBOARD_DISCONNECT_GRACE": "3s", "SWITCHBOARD_SWEEP_INTERVAL": "300ms"})
	a := f.a
	lina := a.availableAgent(t, "lina@huadong.example")
	v1, _ := f.hello(t, map[string]any{"name": "One", "email": "one@example.com"})
	_, c1 := chatting(t, a, lina, v1)
	v2, _ := f.hello(t, map[string]any{"name": "Two", "email": "two@example.com"})
	_, c2 := chatting(t, a, lina, v2)

	lina.conn.Close() // killed
	v1.send(map[string]any{"type": "message", "client_id": "during", "body": "are you there?"})
	v1.expect("ack", nil)
	time.Sleep(time.Second)
	linaHTTP, _ := a.login(t, "lina@huadong.example")
	back, _, err := a.dial(t, "/ws/agent", linaHTTP.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	snap := back.expect("snapshot", nil)
	held := map[any][]any{}
	for _, it := range snap["contacts"].([]any) {
		msgs, _ := path(it, "messages").([]any)
		held[path(it, "contact", "id")] = msgs
	}
	if len(held) != 2 || len(held[c1]) != 2 || len(held[c2]) != 1 {
		t.Fatalf("resumed console holds %v, want both chats, c1 with the line sent while away", held)
	}
	back.send(map[string]any{"type": "send", "id": "s", "contact_id": c2, "client_id": "b1", "body": "still here"})
	back.expect("ack", nil)
	v2.expect("message", func(m map[string]any) bool { return m["body"] == "still here" })

	// Killed again, and gone past the grace period: a newer chat arrives
	// meanwhile, and the two old ones are offered before it.
	back.conn.Close()
	v3, _ := f.hello(t, map[string]any{"name": "Three", "email": "three@example.com"})
	v3.send(map[string]any{"type": "message", "client_id": "m1", "body": "newer"})
	c3 := v3.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["contact_id"].(string)
	time.Sleep(4 * time.Second)
	emma := a.availableAgent(t, "emma@huadong.example")
	// Emma has room for three chats: the three offers come at once, in
	// routing order; each is accepted and arrives with all its lines.
	var order []any
	var offerIDs []any
	for len(order) < 3 {
		o := emma.expect("offer", nil)
		order, offerIDs = append(order, path(o, "contact", "id")), append(offerIDs, o["offer_id"])
	}
	for i, id := range offerIDs {
		emma.send(map[string]any{"type": "accept", "offer_id": id})
		got := emma.expect("assigned", func(m map[string]any) bool { return m["offer_id"] == id })
		msgs, _ := got["messages"].([]any)
		if want := map[any]int{c1: 2, c2: 2, c3: 1}[order[i]]; len(msgs) != want {
			t.Errorf("contact %v reassigned with %d lines, want %d", order[i], len(msgs), want)
		}
	}
	if order[2] != c3 {
		t.Errorf("offers in order %v, want both old chats before the newer %s", order, c3)
	}
}
