package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// wallFixture reaches the demo tenant's rows and makes contacts arrive
// through the real intake (commit, then the routing doorbell), as a
// connector would.
type wallFixture struct {
	pool   *pgxpool.Pool
	site   org.Site
	intake *channels.Intake
	people *crm.Store
	bus    *bus.Bus
}

func newWallFixture(t testing.TB, a *app) *wallFixture {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	site, err := org.NewStore(pool).SiteByChatKey(ctx, "demo-pudong")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	people := crm.NewStore(pool)
	b := bus.New(rdb, a.prefix, log)
	return &wallFixture{pool: pool, site: site, people: people, bus: b,
		intake: channels.NewIntake(people, dispatch.NewEnqueuer(pool), b, log)}
}

// arrive opens n new chats in the site's chat queue (Enquiries) and
// returns their contact ids. Synthetic customers: tag-based e-mail
// addresses under example.com.
func (f *wallFixture) arrive(t testing.TB, tag string, n int) []uuid.UUID {
	t.Helper()
	out := make([]uuid.UUID, 0, n)
	for i := range n {
		visitor := uuid.New()
		rc, err := f.intake.Receive(context.Background(), channels.Inbound{
			TenantID: f.site.TenantID, SiteID: f.site.ID, QueueID: f.site.ChatQueueID, Channel: org.Chat,
			Identities: []crm.Identity{{Kind: "chat", Value: visitor.String()}, {Kind: "email", Value: fmt.Sprintf("%s%d@example.com", tag, i)}},
			Name:       "Wall Test", Body: "hello", IdempotencyKey: "chat:" + visitor.String() + ":1",
		})
		if err != nil {
			t.Fatalf("arrival %d: %v", i, err)
		}
		out = append(out, rc.ContactID)
	}
	return out
}

// abandon has a waiting contact's customer leave, and tells routing, as the
// chat connector does.
func (f *wallFixture) abandon(t testing.TB, contact uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	if err := f.people.Abandon(ctx, f.site.TenantID, contact, "visitor_left"); err != nil {
		t.Fatalf("abandon %s: %v", contact, err)
	}
	if err := f.bus.Publish(ctx, dispatch.CommandTopic(f.site.TenantID), dispatch.EncodeCommand(dispatch.Command{Kind: dispatch.CmdCancel, ContactID: contact})); err != nil {
		t.Fatal(err)
	}
}

func (f *wallFixture) id(t testing.TB, query string, args ...any) string {
	t.Helper()
	var s string
	if err := f.pool.QueryRow(context.Background(), query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func gaugeQueue(f map[string]any, name string) map[string]any {
	qs, _ := path(f, "gauges", "queues").([]any)
	for _, q := range qs {
		if path(q, "name") == name {
			return q.(map[string]any)
		}
	}
	return nil
}

// TestWallboardAPI: the wallboard's context (sites, teams, agents' sites,
// thresholds, history); a supervisor sets a queue's colour thresholds
// (audited, announced to open wallboards, carried by the next push); lists a
// queue's waiting contacts without personal data; and sends one to a named
// agent: the offer another agent had is withdrawn and the named one gets it.
// Agents, bad bodies and another tenant's ids are refused.
func TestWallboardAPI(t *testing.T) {
	a := startApp(t, nil)
	fx := newWallFixture(t, a)
	ctx := context.Background()
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	agentHTTP, agentCSRF := a.login(t, "lina@huadong.example")
	tenant := fx.site.TenantID
	lina := fx.id(t, `SELECT id::text FROM users WHERE email = 'lina@huadong.example'`)
	supID := fx.id(t, `SELECT id::text FROM users WHERE email = 'supervisor@huadong.example'`)
	enquiries := fx.id(t, `SELECT id::text FROM queues WHERE name = 'Enquiries' AND tenant_id = $1`, tenant)
	sales := fx.id(t, `SELECT id::text FROM queues WHERE name = 'Sales' AND tenant_id = $1`, tenant)
	orgs := org.NewStore(fx.pool)
	team, err := orgs.CreateTeam(ctx, tenant, uuid.MustParse(supID), org.TeamSettings{Name: ptr("Morning shift")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.AddTeamMember(ctx, tenant, team.ID, uuid.MustParse(lina), uuid.MustParse(supID)); err != nil {
		t.Fatal(err)
	}
	wall, _, err := a.dial(t, "/ws/wallboard", sup.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	wall.expect("snapshot", nil)

	type thresholds struct {
		SLGoal    float64 `json:"sl_goal"`
		SLRed     float64 `json:"sl_red"`
		WaitAmber int     `json:"wait_amber_seconds"`
		WaitRed   int     `json:"wait_red_seconds"`
	}
	var wctx struct {
		Sites      []struct{ ID, Name string }
		Teams      []org.Team            `json:"teams"`
		AgentSites map[string]string     `json:"agent_sites"`
		Thresholds map[string]thresholds `json:"thresholds"`
		Default    thresholds            `json:"default_thresholds"`
		History    []json.RawMessage     `json:"history"`
	}
	getContext := func() {
		t.Helper()
		code, body := call(t, sup, "GET", a.url+"/api/wallboard", "", "")
		if code != 200 {
			t.Fatalf("GET /api/wallboard: %d %s", code, body)
		}
		wctx.Thresholds = nil
		if err := json.Unmarshal([]byte(body), &wctx); err != nil {
			t.Fatalf("GET /api/wallboard: %v in %s", err, body)
		}
	}
	getContext()
	if len(wctx.Sites) != 2 || len(wctx.Teams) != 1 || wctx.Teams[0].Name != "Morning shift" || len(wctx.Teams[0].Members) != 1 ||
		wctx.Teams[0].Members[0].String() != lina || wctx.AgentSites[lina] != fx.site.ID.String() {
		t.Errorf("context: %d sites, teams %+v, lina's site %q; want 2 sites, the morning team with lina, lina at %s",
			len(wctx.Sites), wctx.Teams, wctx.AgentSites[lina], fx.site.ID)
	}
	if (wctx.Default != thresholds{0.8, 0.6, 30, 60}) || len(wctx.Thresholds) != 0 {
		t.Errorf("thresholds %v, defaults %+v; want none set and 80%%/60%%, 30 s/60 s", wctx.Thresholds, wctx.Default)
	}

	// Set Sales' colours: audited, announced, then listed.
	code, body := call(t, sup, "PUT", a.url+"/api/queues/"+sales+"/thresholds", supCSRF,
		`{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45}`)
	if code != 200 {
		t.Fatalf("PUT thresholds: %d %s", code, body)
	}
	if f := wall.expect("thresholds", nil); f["queue_id"] != sales || path(f, "thresholds", "sl_goal") != 0.9 || path(f, "thresholds", "wait_red_seconds") != 45.0 {
		t.Errorf("open wallboard heard %v, want Sales' new thresholds", f)
	}
	var audited int
	fx.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'queue.thresholds' AND target_id = $1 AND actor_id = $2`, sales, supID).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audit entries for the thresholds, want 1", audited)
	}
	getContext()
	if got := wctx.Thresholds[sales]; (got != thresholds{0.9, 0.7, 15, 45}) {
		t.Errorf("context thresholds of Sales = %+v", got)
	}

	otherAgent, otherContact := otherTenantIDs(t, a.dsn)
	otherQueue := fx.id(t, `SELECT id::text FROM queues WHERE name = 'Theirs'`)
	for _, tc := range []struct {
		name         string
		client       *http.Client
		csrf, method string
		url, body    string
		want         int
	}{
		{"agent may not set thresholds", agentHTTP, agentCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45}`, 403},
		{"agent may not read the context", agentHTTP, agentCSRF, "GET", "/api/wallboard", "", 403},
		{"agent may not list waiting contacts", agentHTTP, agentCSRF, "GET", "/api/queues/" + enquiries + "/waiting", "", 403},
		{"agent may not move contacts", agentHTTP, agentCSRF, "POST", "/api/contacts/" + otherContact.String() + "/agent", `{"agent_id":"` + lina + `"}`, 403},
		{"no CSRF token", sup, "", "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45}`, 403},
		{"a field missing", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":15}`, 400},
		{"unknown field", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45,"colour":"red"}`, 400},
		{"goal of 100%", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":1,"sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45}`, 400},
		{"red above the goal", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.7,"sl_red":0.9,"wait_amber_seconds":15,"wait_red_seconds":45}`, 400},
		{"red wait before amber", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":60,"wait_red_seconds":45}`, 400},
		{"negative wait", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":-1,"wait_red_seconds":45}`, 400},
		{"a fraction of a second", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":1.5,"wait_red_seconds":45}`, 400},
		{"a share as text", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":"90%","sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45}`, 400},
		{"malformed JSON", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":`, 400},
		{"malformed queue id", sup, supCSRF, "PUT", "/api/queues/nope/thresholds", `{}`, 400},
		{"oversized body", sup, supCSRF, "PUT", "/api/queues/" + sales + "/thresholds", `{"sl_goal":0.9,"x":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		{"another tenant's queue's thresholds", sup, supCSRF, "PUT", "/api/queues/" + otherQueue + "/thresholds", `{"sl_goal":0.9,"sl_red":0.7,"wait_amber_seconds":15,"wait_red_seconds":45}`, 404},
		{"another tenant's queue's waiting", sup, supCSRF, "GET", "/api/queues/" + otherQueue + "/waiting", "", 404},
		{"another tenant's contact", sup, supCSRF, "POST", "/api/contacts/" + otherContact.String() + "/agent", `{"agent_id":"` + lina + `"}`, 404},
		{"move to nobody", sup, supCSRF, "POST", "/api/contacts/" + otherContact.String() + "/agent", `{}`, 400},
		{"malformed agent id", sup, supCSRF, "POST", "/api/contacts/" + otherContact.String() + "/agent", `{"agent_id":"lina"}`, 400},
	} {
		if code, body := call(t, tc.client, tc.method, a.url+tc.url, tc.csrf, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if n := 0; fx.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'queue.thresholds'`).Scan(&n) == nil && n != 1 {
		t.Errorf("%d thresholds audited after the refusals, want still 1", n)
	}

	// A chat waits in Enquiries: nobody is available.
	v := a.visitor(t, "Mover Wall", "mover.wall@example.com")
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "any news?"})
	v.expect("ack", nil)
	f := wall.expect("gauges", func(f map[string]any) bool { return path(gaugeQueue(f, "Enquiries"), "waiting") == 1.0 })
	if got := path(gaugeQueue(f, "Sales"), "thresholds", "sl_goal"); got != 0.9 {
		t.Errorf("the push carries Sales' goal %v, want 0.9", got)
	}
	if got := path(gaugeQueue(f, "Sales"), "erlang", "goal"); got != 0.9 {
		t.Errorf("Sales' Erlang goal %v, want the supervisors' 0.9", got)
	}
	contact := fx.id(t, `SELECT id::text FROM contacts WHERE state = 'queued' AND tenant_id = $1`, tenant)
	code, body = call(t, sup, "GET", a.url+"/api/queues/"+enquiries+"/waiting", "", "")
	if code != 200 || !strings.Contains(body, `"id":"`+contact+`"`) || !strings.Contains(body, `"channel":"chat"`) || !strings.Contains(body, `"total":1`) {
		t.Fatalf("waiting in Enquiries: %d %s, want the chat", code, body)
	}
	for _, personal := range []string{"Mover", "mover.wall@example.com", "any news"} {
		if strings.Contains(body, personal) {
			t.Errorf("the waiting list shows %q: %s", personal, body)
		}
	}
	if code, body := call(t, sup, "POST", a.url+"/api/contacts/"+contact+"/agent", supCSRF, `{"agent_id":"`+otherAgent.String()+`"}`); code != 404 {
		t.Errorf("send to another tenant's agent: %d %s, want 404", code, body)
	}

	// Zhao Min, who takes Enquiries, goes available and is offered the
	// chat; Li Na goes available too. The supervisor sends it to Li Na:
	// Zhao Min's offer is withdrawn and she is offered it instead.
	zhao := a.availableAgent(t, "zhaomin@huadong.example")
	if o := zhao.expect("offer", nil); path(o, "contact", "id") != contact {
		t.Fatalf("Zhao Min was offered %v, want %s", path(o, "contact", "id"), contact)
	}
	linaWS := a.availableAgent(t, "lina@huadong.example")
	if code, body := call(t, sup, "POST", a.url+"/api/contacts/"+contact+"/agent", supCSRF, `{"agent_id":"`+lina+`"}`); code != 200 {
		t.Fatalf("send to Li Na: %d %s", code, body)
	}
	if r := zhao.expect("offer_rescinded", nil); r["contact_id"] != contact {
		t.Errorf("Zhao Min's withdrawal names %v, want %s", r["contact_id"], contact)
	}
	o := linaWS.expect("offer", nil)
	if path(o, "contact", "id") != contact {
		t.Errorf("Li Na was offered %v, want %s", path(o, "contact", "id"), contact)
	}
	var movedAudit int
	fx.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'contact.move' AND target_id = $1 AND data->>'to_agent' = $2`, contact, lina).Scan(&movedAudit)
	if movedAudit != 1 {
		t.Errorf("%d contact.move audit entries naming Li Na, want 1", movedAudit)
	}
	code, body = call(t, sup, "GET", a.url+"/api/queues/"+enquiries+"/waiting", "", "")
	if code != 200 || !strings.Contains(body, `"preferred_agents":["`+lina+`"]`) {
		t.Errorf("after the move the waiting list says %s, want Li Na preferred", body)
	}
	linaWS.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
	linaWS.expect("assigned", nil)
	if code, _ := call(t, sup, "POST", a.url+"/api/contacts/"+contact+"/agent", supCSRF, `{"agent_id":"`+lina+`"}`); code != http.StatusConflict {
		t.Errorf("sending a contact an agent holds: %d, want 409", code)
	}
}

func ptr[T any](v T) *T { return &v }

// TestWallboardCoalescesPushes: 50 contacts arrive in a burst; the
// wallboard socket gets at most one gauges push per second of it (the
// dispatcher's 1 s gauge interval), not one per arrival, and the last push
// shows all 50 waiting. The minute's sample for the sparklines follows.
func TestWallboardCoalescesPushes(t *testing.T) {
	a := startApp(t, nil)
	fx := newWallFixture(t, a)
	sup, _ := a.login(t, "supervisor@huadong.example")
	wall, _, err := a.dial(t, "/ws/wallboard", sup.Jar, a.url)
	if err != nil {
		t.Fatal(err)
	}
	wall.expect("snapshot", nil)
	// Let the start-up pushes pass: nothing changes while nobody acts.
	drain := time.After(2500 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-wall.in:
		case <-drain:
			done = true
		}
	}

	start := time.Now()
	fx.arrive(t, "burst", 50)
	burst := time.Since(start)
	var pushes []time.Time
	deadline := time.After(60 * time.Second)
	for {
		var f map[string]any
		select {
		case f = <-wall.in:
		case <-deadline:
			t.Fatalf("no push showed 50 waiting within 60 s (%d pushes)", len(pushes))
		}
		if f["type"] != "gauges" {
			continue
		}
		pushes = append(pushes, time.Now())
		if path(gaugeQueue(f, "Enquiries"), "waiting") == 50.0 {
			break
		}
	}
	span := pushes[len(pushes)-1].Sub(start)
	// One push per tick of 1 s over the span, plus one for a tick's
	// delivery delayed past the next (a loaded machine).
	if limit := int(span/time.Second) + 2; len(pushes) > limit {
		t.Errorf("%d pushes in %v for 50 arrivals (burst took %v), want at most %d: one a second", len(pushes), span, burst, limit)
	}
	t.Logf("50 arrivals in %v; %d pushes over %v", burst, len(pushes), span)

	code, body := call(t, sup, "GET", a.url+"/api/wallboard", "", "")
	var wctx struct {
		History []struct {
			At int64                  `json:"at"`
			Q  map[string][2]*float64 `json:"q"`
		} `json:"history"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &wctx) != nil || len(wctx.History) == 0 {
		t.Fatalf("GET /api/wallboard: %d %s, want the last hour's samples", code, body)
	}
	last := wctx.History[len(wctx.History)-1]
	if w := last.Q[fx.site.ChatQueueID.String()][0]; w == nil || *w != 50 || time.Since(time.Unix(last.At, 0)) > 2*time.Minute {
		t.Errorf("last sample %+v, want this minute's with 50 waiting in Enquiries", last)
	}
}
