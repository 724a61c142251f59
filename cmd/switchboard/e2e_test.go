package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// syncBuffer collects the server's logs for the personal-data check.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// app is a Switchboard running in-process on a random port against its own
// database and Redis prefix.
type app struct {
	url    string
	logs   *syncBuffer
	dsn    string
	prefix string
	stop   func() // shuts the server down and waits for it
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startApp(t testing.TB, extraEnv map[string]string) *app {
	t.Helper()
	// A second node joins the first one's database and Redis prefix.
	dsn, prefix := extraEnv["DATABASE_URL"], extraEnv["SWITCHBOARD_REDIS_PREFIX"]
	if dsn == "" {
		_, dsn = pgtest.New(t)
		_, prefix = redistest.New(t)
	}
	port := freePort(t)
	a := &app{url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncBuffer{}, dsn: dsn, prefix: prefix}
	env := map[string]string{
		"DATABASE_URL":               dsn,
		"REDIS_URL":                  redistest.URL(),
		"SWITCHBOARD_REDIS_PREFIX":   prefix,
		"SWITCHBOARD_SECRET":         "test-secret-0123456789",
		"SWITCHBOARD_ADDR":           fmt.Sprintf("127.0.0.1:%d", port),
		"SWITCHBOARD_PUBLIC_URL":     a.url,
		"SWITCHBOARD_SWEEP_INTERVAL": "500ms",
		"SWITCHBOARD_LEASE_TTL":      "4s",
		"SWITCHBOARD_LOG_LEVEL":      "debug",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"switchboard", "serve", "--demo"}, func(k string) string { return env[k] }, io.Discard, a.logs)
	}()
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("server did not shut down within 30s")
			}
		})
	}
	t.Cleanup(a.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(a.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server exited before it was ready: %v\n%s", err, a.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 60s\n%s", a.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// login returns an HTTP client holding the user's session cookie and the
// page's CSRF token.
func (a *app) login(t testing.TB, email string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	req, _ := http.NewRequest("POST", a.url+"/login", strings.NewReader(url.Values{"email": {email}, "password": {"switchboard-demo"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.url)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: status %d", email, resp.StatusCode)
	}
	const marker = `name="csrf-token" content="`
	i := bytes.Index(body, []byte(marker))
	if i < 0 {
		t.Fatalf("no CSRF token on the page after login:\n%s", body)
	}
	rest := body[i+len(marker):]
	return c, string(rest[:bytes.IndexByte(rest, '"')])
}

type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	in   chan map[string]any
}

func (a *app) dial(t testing.TB, path string, jar http.CookieJar, origin string) (*wsClient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Jar: jar, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(strings.Replace(a.url, "http", "ws", 1)+path, http.Header{"Origin": {origin}})
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: t, conn: conn, in: make(chan map[string]any, 256)}
	go func() {
		defer close(c.in)
		for {
			_, p, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			if err := json.Unmarshal(p, &f); err != nil {
				t.Errorf("server sent non-JSON frame %q", p)
				return
			}
			c.in <- f
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c, resp, nil
}

func (c *wsClient) send(f map[string]any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(f); err != nil {
		c.t.Fatalf("send %v: %v", f["type"], err)
	}
}

// availableAgent logs email in, opens a console, reads its snapshot and
// goes Available.
func (a *app) availableAgent(t testing.TB, email string) *wsClient {
	t.Helper()
	c, _ := a.login(t, email)
	ws, _, err := a.dial(t, "/ws/agent", c.Jar, a.url)
	if err != nil {
		t.Fatalf("console of %s: %v", email, err)
	}
	ws.expect("snapshot", nil)
	ws.send(map[string]any{"type": "presence", "id": "available", "state": "available"})
	ws.expect("ack", func(f map[string]any) bool { return f["ref"] == "available" })
	return ws
}

// visitor opens the demo site's widget socket and says hello.
func (a *app) visitor(t testing.TB, name, email string) *wsClient {
	t.Helper()
	v, _, err := a.dial(t, "/chat/ws?site=demo-pudong", nil, a.url)
	if err != nil {
		t.Fatalf("visitor socket: %v", err)
	}
	v.send(map[string]any{"type": "hello", "name": name, "email": email})
	v.expect("welcome", nil)
	return v
}

// expect waits for the first frame of type typ (skipping others) whose
// fields match where (if given).
func (c *wsClient) expect(typ string, where func(map[string]any) bool) map[string]any {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.in:
			if !ok {
				c.t.Fatalf("socket closed while waiting for %q", typ)
			}
			if (typ == "" || f["type"] == typ) && (where == nil || where(f)) {
				return f
			}
		case <-timeout:
			c.t.Fatalf("no %q frame within 10s", typ)
		}
	}
}

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestChatReachesAgentEndToEnd walks the skeleton's whole path: a visitor
// chats, the known customer is recognised, the offer carries the
// screen-pop, the agent accepts and replies, the visitor gets it, the agent
// wraps up and the contact is in the customer's timeline. No personal data
// reaches the logs.
func TestChatReachesAgentEndToEnd(t *testing.T) {
	a := startApp(t, nil)
	agentHTTP, _ := a.login(t, "lina@huadong.example")
	agent, _, err := a.dial(t, "/ws/agent", agentHTTP.Jar, a.url)
	if err != nil {
		t.Fatalf("agent socket: %v", err)
	}
	snap := agent.expect("snapshot", nil)
	if got := path(snap, "agent", "name"); got != "李娜 Li Na" {
		t.Errorf("snapshot agent name = %v, want 李娜 Li Na", got)
	}
	agent.send(map[string]any{"type": "presence", "id": "p1", "state": "available"})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "p1" })

	visitor, _, err := a.dial(t, "/chat/ws?site=demo-pudong", nil, a.url)
	if err != nil {
		t.Fatalf("visitor socket: %v", err)
	}
	visitor.send(map[string]any{"type": "hello", "token": "", "name": "Wang Wei", "email": "Wang.Wei@Example.cn", "last_seq": 0})
	visitor.expect("welcome", nil)
	visitor.send(map[string]any{"type": "message", "client_id": "m-1", "body": "Is my car ready?"})
	ack := visitor.expect("ack", nil)
	if ack["seq"] != float64(1) {
		t.Errorf("first message acked with seq %v, want 1", ack["seq"])
	}

	offer := agent.expect("offer", nil)
	// The screen-pop follows the offer in a frame of its own.
	sp := agent.expect("screen_pop", func(f map[string]any) bool { return f["offer_id"] == offer["offer_id"] })
	if got := path(sp, "screen_pop", "customer", "name"); got != "王伟 Wang Wei" {
		t.Errorf("screen-pop customer = %v, want 王伟 Wang Wei (recognised by e-mail)", got)
	}
	if got := path(sp, "contact", "queue_name"); got != "Enquiries" {
		t.Errorf("offer queue = %v, want Enquiries", got)
	}
	pop, _ := json.Marshal(sp["screen_pop"])
	// People see numbers masked (crm.MaskPhone); full views go through
	// the audited reveal (TestPrivacyEndToEnd).
	for _, want := range []string{"沪A12345", "SO-2026-0001", "in_progress", "+86 138****8000"} {
		if !bytes.Contains(pop, []byte(want)) {
			t.Errorf("screen-pop lacks %q: %s", want, pop)
		}
	}
	if bytes.Contains(pop, []byte("13800138000")) {
		t.Errorf("screen-pop shows the full number: %s", pop)
	}
	agent.send(map[string]any{"type": "accept", "id": "a1", "offer_id": offer["offer_id"]})
	assigned := agent.expect("assigned", nil)
	contactID := path(assigned, "contact", "id").(string)
	if msgs, _ := assigned["messages"].([]any); len(msgs) != 1 || path(msgs[0], "body") != "Is my car ready?" {
		t.Errorf("assigned frame messages = %v, want the visitor's first line", assigned["messages"])
	}
	if st := visitor.expect("state", func(f map[string]any) bool { return f["state"] == "active" }); st["agent_name"] != "李娜 Li Na" {
		t.Errorf("visitor sees agent %v, want 李娜 Li Na", st["agent_name"])
	}

	agent.send(map[string]any{"type": "send", "id": "s1", "contact_id": contactID, "client_id": "a-1", "body": "Yes, it is ready at 5 pm."})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "s1" && f["seq"] == float64(2) })
	line := visitor.expect("message", func(f map[string]any) bool { return f["author_kind"] == "agent" })
	if line["body"] != "Yes, it is ready at 5 pm." || line["seq"] != float64(2) {
		t.Errorf("visitor got %v, want the agent's reply with seq 2", line)
	}
	visitor.send(map[string]any{"type": "message", "client_id": "m-2", "body": "Thanks!"})
	got := agent.expect("message", func(f map[string]any) bool { return path(f, "message", "body") == "Thanks!" })
	if path(got, "message", "seq") != float64(3) {
		t.Errorf("agent got the visitor's second line with seq %v, want 3", path(got, "message", "seq"))
	}

	agent.send(map[string]any{"type": "close", "id": "c1", "contact_id": contactID, "wrap_up": "Car ready, customer collects at 5"})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "c1" })
	closed := agent.expect("contact_closed", nil)
	visitor.expect("state", func(f map[string]any) bool { return f["state"] == "closed" })

	customer := closed["customer_id"].(string)
	resp, err := agentHTTP.Get(a.url + "/api/customers/" + customer + "/timeline")
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	json.NewDecoder(resp.Body).Decode(&items)
	resp.Body.Close()
	if len(items) == 0 || items[0]["contact_id"] != contactID || items[0]["wrap_up"] != "Car ready, customer collects at 5" {
		t.Fatalf("timeline = %v, want the closed chat first with its wrap-up", items)
	}
	if msgs, _ := items[0]["messages"].([]any); len(msgs) != 3 {
		t.Errorf("timeline chat has %d messages, want 3", len(msgs))
	}

	// Every customer's phones, e-mails and names, and the lines sent: in
	// neither the logs nor the metric labels (privacy_test.go).
	a.assertNoPersonalData(t, "Is my car ready", "Thanks!")
}

// TestContactCommittedButNotAnnouncedIsOfferedBySweep loses the
// announcement of a committed contact: intake's NOTIFY, sent inside its
// transaction, goes where nobody listens (as when the routing node's LISTEN
// connection is down at that commit), and an Enqueue after the commit would
// fail too. The contact must still be offered, found by the periodic sweep.
func TestContactCommittedButNotAnnouncedIsOfferedBySweep(t *testing.T) {
	lost := &losingEnqueuer{}
	faults.wrapEnqueuer = func(channels.Enqueuer) channels.Enqueuer { return lost }
	t.Cleanup(func() { faults.wrapEnqueuer = nil })
	a := startApp(t, map[string]string{"SWITCHBOARD_SWEEP_INTERVAL": "1s"})
	agent := a.availableAgent(t, "emma@huadong.example")
	visitor := a.visitor(t, "New Visitor", "first.time@example.com")
	sent := time.Now()
	visitor.send(map[string]any{"type": "message", "client_id": "x", "body": "Hello?"})
	visitor.expect("ack", nil)
	if lost.announced.Load() == 0 {
		t.Fatalf("intake did not ask for its NOTIFY before acknowledging; was the loss injected at all?")
	}
	agent.expect("offer", nil)
	if waited := time.Since(sent); waited > 3*time.Second {
		t.Errorf("offered after %v, want within one sweep (1s) plus slack", waited)
	}
	if got := path(agent.expect("screen_pop", nil), "screen_pop", "customer", "name"); got != "New Visitor" {
		t.Errorf("new customer's name = %v, want New Visitor", got)
	}
}

// Intake sends the NOTIFY in its transaction only with an Announcer; so must
// this test's stand-in, or it would test the slower fallback.
var (
	_ channels.Announcer = (*dispatch.Enqueuer)(nil)
	_ channels.Announcer = (*losingEnqueuer)(nil)
)

// losingEnqueuer loses every announcement of a queued contact.
type losingEnqueuer struct{ announced atomic.Int32 }

// Notification names a channel nobody listens on: the NOTIFY commits with
// the contact and reaches no routing node.
func (e *losingEnqueuer) Notification(tenant uuid.UUID, t routing.Task) (string, string) {
	e.announced.Add(1)
	return "switchboard_nobody_listens", dispatch.NotificationPayload(tenant, t)
}

func (*losingEnqueuer) Enqueue(context.Context, uuid.UUID, routing.Task) error {
	return errors.New("injected crash before enqueue")
}

// TestWallboardShowsWaitingContactsLive: with nobody available, a visitor's
// chat waits; the supervisor's wallboard shows it in Enquiries within a
// push, then shows it gone and an agent busy once an agent takes it.
func TestWallboardShowsWaitingContactsLive(t *testing.T) {
	a := startApp(t, nil)
	sup, _ := a.login(t, "supervisor@huadong.example")
	wall, _, err := a.dial(t, "/ws/wallboard", sup.Jar, a.url)
	if err != nil {
		t.Fatalf("wallboard socket: %v", err)
	}
	wall.expect("snapshot", nil)
	queue := func(f map[string]any, name string) map[string]any {
		qs, _ := path(f, "gauges", "queues").([]any)
		for _, q := range qs {
			if path(q, "name") == name {
				return q.(map[string]any)
			}
		}
		return nil
	}

	visitor := a.visitor(t, "Queue Test", "queue.test@example.com")
	visitor.send(map[string]any{"type": "message", "client_id": "q1", "body": "Anyone there?"})
	visitor.expect("ack", nil)
	f := wall.expect("gauges", func(f map[string]any) bool {
		q := queue(f, "Enquiries")
		return q != nil && q["waiting"] == float64(1)
	})
	if q := queue(f, "Sales"); q == nil || q["waiting"] != float64(0) {
		t.Errorf("Sales gauge = %v, want 0 waiting", q)
	}
	if got := path(f, "gauges", "agents", "offline"); got != float64(12) {
		t.Errorf("offline agents = %v, want all 12", got)
	}

	c, _ := a.login(t, "zhaomin@huadong.example")
	agent, _, err := a.dial(t, "/ws/agent", c.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	agent.expect("snapshot", nil)
	agent.send(map[string]any{"type": "presence", "id": "p", "state": "available"})
	offer := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
	agent.expect("assigned", nil)
	wall.expect("gauges", func(f map[string]any) bool {
		q := queue(f, "Enquiries")
		return q != nil && q["waiting"] == float64(0) && path(f, "gauges", "agents", "busy") == float64(1)
	})
	// Today's figures follow the contact events: one offered, one answered
	// well within the 20 s threshold.
	f = wall.expect("gauges", func(f map[string]any) bool {
		return path(queue(f, "Enquiries"), "today", "answered") == float64(1)
	})
	today := queue(f, "Enquiries")["today"].(map[string]any)
	if today["offered"] != float64(1) || today["service_level"] != float64(1) || today["sl_seconds"] != float64(20) ||
		today["sl_definition"] != "answered within / (answered + abandoned)" {
		t.Errorf("Enquiries today = %v, want 1 offered, service level 1 against 20 s, with its definition", today)
	}
	if asa, ok := today["asa_seconds"].(float64); !ok || asa < 0 || asa > 10 {
		t.Errorf("ASA = %v, want the few seconds the chat waited", today["asa_seconds"])
	}
}

// TestSecondNodeTakesOverRouting runs two nodes on one database and Redis.
// Sockets may be on either node; one engine routes. When the node holding
// the routing lease shuts down, it hands the lease over and the other node
// routes the next chat.
func TestSecondNodeTakesOverRouting(t *testing.T) {
	first := startApp(t, map[string]string{"SWITCHBOARD_NODE_ID": "node-1"})
	second := startApp(t, map[string]string{"SWITCHBOARD_NODE_ID": "node-2", "DATABASE_URL": first.dsn, "SWITCHBOARD_REDIS_PREFIX": first.prefix})

	agent := second.availableAgent(t, "grace@huadong.example")

	chat := func(email string) string {
		v, _, err := second.dial(t, "/chat/ws?site=demo-pudong", nil, second.url)
		if err != nil {
			t.Fatal(err)
		}
		v.send(map[string]any{"type": "hello", "name": "Two Nodes", "email": email})
		v.expect("welcome", nil)
		v.send(map[string]any{"type": "message", "client_id": "1", "body": "hello"})
		v.expect("ack", nil)
		o := agent.expect("offer", nil)
		agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
		return path(agent.expect("assigned", nil), "contact", "id").(string)
	}
	before := chat("before@example.com")
	first.stop()
	after := chat("after@example.com")
	if before == after {
		t.Fatalf("both chats are contact %s", before)
	}
	holder := ""
	pool, err := pgxpool.New(context.Background(), first.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var epoch int64
	if err := pool.QueryRow(context.Background(), `SELECT holder, epoch FROM routing_lease`).Scan(&holder, &epoch); err != nil {
		t.Fatal(err)
	}
	if holder != "node-2" || epoch < 2 {
		t.Errorf("routing lease held by %q at epoch %d, want node-2 after a takeover", holder, epoch)
	}
	var open int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM assignments WHERE ended_at IS NULL`).Scan(&open)
	if open != 2 {
		t.Errorf("%d open assignments, want 2 (one per chat, none doubled)", open)
	}
}

// TestVisitorResumesWithoutLossOrDuplicates: a visitor's resent line (same
// client_id, as after a lost ack) is stored once; lines written while the
// visitor was away arrive after it reconnects with its token and last seq,
// exactly once and in order.
func TestVisitorResumesWithoutLossOrDuplicates(t *testing.T) {
	a := startApp(t, nil)
	agent := a.availableAgent(t, "chenjing@huadong.example")

	v1 := a.visitor(t, "Resume", "resume@example.com")
	v1.send(map[string]any{"type": "message", "client_id": "m1", "body": "first"})
	token := v1.expect("welcome", func(f map[string]any) bool { return f["contact_id"] != "" })["token"]
	v1.expect("ack", func(f map[string]any) bool { return f["seq"] == float64(1) })
	// The same line again, as a widget does when the ack was lost.
	v1.send(map[string]any{"type": "message", "client_id": "m1", "body": "first"})
	if ack := v1.expect("ack", nil); ack["seq"] != float64(1) {
		t.Errorf("resent line acked with seq %v, want the first seq 1", ack["seq"])
	}
	offer := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
	contactID := path(agent.expect("assigned", nil), "contact", "id")
	v1.conn.Close() // the visitor's network drops

	for i, body := range []string{"are you there?", "I'll wait"} {
		agent.send(map[string]any{"type": "send", "id": fmt.Sprint("s", i), "contact_id": contactID, "client_id": fmt.Sprint("a", i), "body": body})
		agent.expect("ack", func(f map[string]any) bool { return f["ref"] == fmt.Sprint("s", i) })
	}

	v2, _, err := a.dial(t, "/chat/ws?site=demo-pudong", nil, a.url)
	if err != nil {
		t.Fatal(err)
	}
	v2.send(map[string]any{"type": "hello", "token": token, "last_seq": 1})
	if w := v2.expect("welcome", nil); w["contact_id"] != contactID || w["state"] != "active" {
		t.Errorf("resume welcome = %v, want contact %v, active", w, contactID)
	}
	var got []string
	for len(got) < 2 {
		f := v2.expect("message", nil)
		got = append(got, fmt.Sprint(f["seq"], " ", f["body"]))
	}
	if want := []string{"2 are you there?", "3 I'll wait"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after resume the visitor got %q, want %q", got, want)
	}
	select {
	case f := <-v2.in:
		if f["type"] == "message" {
			t.Errorf("extra line after resume: %v", f)
		}
	case <-time.After(300 * time.Millisecond):
	}
	pool, _ := pgxpool.New(context.Background(), a.dsn)
	defer pool.Close()
	var n int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE contact_id = $1`, contactID).Scan(&n)
	if n != 3 {
		t.Errorf("%d messages stored, want 3 (the resent line once)", n)
	}
}

// TestTransferToAnotherQueue: an agent in Enquiries transfers a chat to
// Sales; a salesperson gets the offer with the chat's original arrival time
// and its history, the first agent's slot is free again, and the visitor's
// next line reaches the new agent.
func TestTransferToAnotherQueue(t *testing.T) {
	a := startApp(t, nil)
	first := a.availableAgent(t, "zhaomin@huadong.example") // enquiries only
	v := a.visitor(t, "Buyer", "buyer@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "I want to buy a car"})
	v.expect("ack", nil)
	offer := first.expect("offer", nil)
	arrived := path(offer, "contact", "arrived_at")
	first.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
	contact := path(first.expect("assigned", nil), "contact", "id")

	seller := a.availableAgent(t, "sunhao@huadong.example") // sales 5
	var sales string
	pool, _ := pgxpool.New(context.Background(), a.dsn)
	defer pool.Close()
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM queues WHERE name = 'Sales'`).Scan(&sales); err != nil {
		t.Fatal(err)
	}
	first.send(map[string]any{"type": "transfer", "id": "t", "contact_id": contact, "queue_id": sales})
	first.expect("ack", func(f map[string]any) bool { return f["ref"] == "t" })
	if f := first.expect("contact_closed", nil); f["transferred_to"] != "Sales" {
		t.Errorf("first agent told %v, want transferred_to Sales", f)
	}
	o2 := seller.expect("offer", func(f map[string]any) bool { return path(f, "contact", "id") == contact })
	sp2 := seller.expect("screen_pop", func(f map[string]any) bool { return f["offer_id"] == o2["offer_id"] })
	if path(sp2, "contact", "queue_name") != "Sales" || path(o2, "contact", "arrived_at") != arrived {
		t.Errorf("transferred offer: queue %v, arrived %v; want Sales with the original arrival %v",
			path(sp2, "contact", "queue_name"), path(o2, "contact", "arrived_at"), arrived)
	}
	seller.send(map[string]any{"type": "accept", "id": "a2", "offer_id": o2["offer_id"]})
	got := seller.expect("assigned", nil)
	if msgs, _ := got["messages"].([]any); len(msgs) != 1 {
		t.Errorf("the new agent sees %d lines of history, want 1", len(msgs))
	}
	v.send(map[string]any{"type": "message", "client_id": "2", "body": "which models?"})
	seller.expect("message", func(f map[string]any) bool { return path(f, "message", "body") == "which models?" })
	// The first agent's slot is free: with the seller away, a new chat goes
	// to them.
	seller.send(map[string]any{"type": "presence", "id": "away", "state": "away", "reason": "lunch"})
	seller.expect("ack", func(f map[string]any) bool { return f["ref"] == "away" })
	v2 := a.visitor(t, "Next", "next@example.com")
	v2.send(map[string]any{"type": "message", "client_id": "1", "body": "hello"})
	first.expect("offer", nil)
}

// TestChatsOfADisconnectedAgentReturnToTheQueue: an agent's console drops
// while they hold a chat. Within the grace period the chat waits for them;
// after it, it goes back to the queue with its original arrival time and is
// offered to another agent, and the visitor is told.
func TestChatsOfADisconnectedAgentReturnToTheQueue(t *testing.T) {
	a := startApp(t, map[string]string{"SWITCHBOARD_DISCONNECT_GRACE": "1500ms", "SWITCHBOARD_SWEEP_INTERVAL": "300ms"})
	lost := a.availableAgent(t, "lina@huadong.example")
	v := a.visitor(t, "Waiting", "waiting@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "hello?"})
	v.expect("ack", nil)
	offer := lost.expect("offer", nil)
	lost.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
	contact := path(lost.expect("assigned", nil), "contact", "id")
	v.expect("state", func(f map[string]any) bool { return f["state"] == "active" })

	lost.conn.Close() // the agent's network drops
	dropped := time.Now()
	other := a.availableAgent(t, "emma@huadong.example")
	o := other.expect("offer", func(f map[string]any) bool { return path(f, "contact", "id") == contact })
	if waited := time.Since(dropped); waited < time.Second {
		t.Errorf("re-offered %v after the drop, before the 1.5 s grace period", waited)
	}
	if path(o, "contact", "arrived_at") != path(offer, "contact", "arrived_at") {
		t.Errorf("re-offered with arrival %v, want the original %v", path(o, "contact", "arrived_at"), path(offer, "contact", "arrived_at"))
	}
	v.expect("state", func(f map[string]any) bool { return f["state"] == "queued" })
	other.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
	got := other.expect("assigned", nil)
	if msgs, _ := got["messages"].([]any); len(msgs) != 1 {
		t.Errorf("the new agent sees %d lines, want the visitor's one", len(msgs))
	}
	if st := v.expect("state", func(f map[string]any) bool { return f["state"] == "active" }); st["agent_name"] != "Emma Zhang" {
		t.Errorf("visitor now chats with %v, want Emma Zhang", st["agent_name"])
	}
}
