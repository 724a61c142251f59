package report

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// fixture is one tenant in Europe/Berlin with a site in Asia/Shanghai: a
// queue of the site (SLA 20 s) and a group-wide queue (SLA 30 s, counted
// in the tenant's zone), and two agents.
type fixture struct {
	pool              *pgxpool.Pool
	orgs              *org.Store
	tenant, site      uuid.UUID
	qSite, qGroup     uuid.UUID
	agentA, agentB    uuid.UUID
	shanghai, berlin  *time.Location
	other, otherQueue uuid.UUID // another tenant, with a queue
	quiet             *slog.Logger
	builders          []*Builder
}

type orgSource struct{ *org.Store }

func (o orgSource) Tenants(ctx context.Context) ([]uuid.UUID, error) {
	ts, err := o.Store.Tenants(ctx)
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids, err
}

func setup(t *testing.T) *fixture {
	t.Helper()
	pool, _ := pgtest.New(t)
	f := &fixture{pool: pool, orgs: org.NewStore(pool), tenant: uuid.New(), site: uuid.New(), qSite: uuid.New(), qGroup: uuid.New(),
		agentA: uuid.New(), agentB: uuid.New(), other: uuid.New(), otherQueue: uuid.New(),
		quiet: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.shanghai, _ = time.LoadLocation("Asia/Shanghai")
	f.berlin, _ = time.LoadLocation("Europe/Berlin")
	f.exec(t, `INSERT INTO tenants (id, name, default_zone) VALUES ($1, 'Group', 'Europe/Berlin'), ($2, 'Other', 'Asia/Shanghai')`, f.tenant, f.other)
	f.exec(t, `INSERT INTO sites (id, tenant_id, name, zone, chat_key) VALUES ($1, $2, 'Pudong', 'Asia/Shanghai', $3)`, f.site, f.tenant, "key-"+f.site.String())
	f.exec(t, `INSERT INTO queues (id, tenant_id, site_id, name, sla_seconds) VALUES ($1, $2, $3, 'Service', 20), ($4, $2, NULL, 'Sales', 30)`,
		f.qSite, f.tenant, f.site, f.qGroup)
	f.exec(t, `INSERT INTO queues (id, tenant_id, name) VALUES ($1, $2, 'Theirs')`, f.otherQueue, f.other)
	for i, a := range []uuid.UUID{f.agentA, f.agentB} {
		f.exec(t, `INSERT INTO users (id, tenant_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, 'x', 'agent')`,
			a, f.tenant, a.String()+"@example.com", []string{"Agent A", "Agent B"}[i])
		f.exec(t, `INSERT INTO agents (id, tenant_id) VALUES ($1, $2)`, a, f.tenant)
	}
	return f
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) builder(batch int) *Builder {
	b := NewBuilder(f.pool, orgSource{f.orgs}, Config{Batch: batch}, f.quiet)
	f.builders = append(f.builders, b)
	return b
}

// ev is one scripted event; contact is created on its first use.
type ev struct {
	contact string
	kind    string
	queue   uuid.UUID
	agent   uuid.UUID
	at      time.Time
	channel org.Channel // on the contact's first event
	data    map[string]any
}

type script struct {
	f        *fixture
	contacts map[string]uuid.UUID
}

func (f *fixture) script() *script { return &script{f: f, contacts: map[string]uuid.UUID{}} }

// run writes each event in a transaction of its own, as the application does.
func (s *script) run(t *testing.T, evs ...ev) {
	t.Helper()
	for _, e := range evs {
		id, ok := s.contacts[e.contact]
		if !ok {
			id = uuid.New()
			s.contacts[e.contact] = id
			s.f.exec(t, `INSERT INTO contacts (id, tenant_id, channel, queue_id, state, arrived_at) VALUES ($1, $2, $3, $4, 'queued', $5)`,
				id, s.f.tenant, e.channel, e.queue, e.at)
		}
		data := e.data
		if data == nil {
			data = map[string]any{}
		}
		agent := &e.agent
		if e.agent == uuid.Nil {
			agent = nil
		}
		s.f.exec(t, `INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			s.f.tenant, id, e.kind, e.queue, agent, data, e.at)
	}
}

// day is the scripted day, 2026-03-10 in Shanghai, hand-computed in
// TestReportAgreesWithWallboard.
func (f *fixture) day() []ev {
	at := func(h, m, s int) time.Time { return time.Date(2026, 3, 10, h, m, s, 0, f.shanghai) }
	A, B, qs, qg := f.agentA, f.agentB, f.qSite, f.qGroup
	return []ev{
		// c1: chat answered in 10 s, talk 300 s, wrap-up 30 s.
		{contact: "c1", kind: "created", queue: qs, at: at(9, 0, 0), channel: org.Chat},
		{contact: "c1", kind: "assigned", queue: qs, agent: A, at: at(9, 0, 10)},
		{contact: "c1", kind: "closed", queue: qs, agent: A, at: at(9, 5, 10)},
		{contact: "c1", kind: "wrap_up_ended", queue: qs, agent: A, at: at(9, 5, 40)},
		// c2: chat answered late (40 s), transferred after 120 s to the
		// group-wide queue, answered there in 20 s, talk 420 s.
		{contact: "c2", kind: "created", queue: qs, at: at(9, 10, 0), channel: org.Chat},
		{contact: "c2", kind: "assigned", queue: qs, agent: B, at: at(9, 10, 40)},
		{contact: "c2", kind: "transferred_out", queue: qs, agent: B, at: at(9, 12, 40)},
		{contact: "c2", kind: "transferred_in", queue: qg, at: at(9, 12, 40)},
		{contact: "c2", kind: "assigned", queue: qg, agent: A, at: at(9, 13, 0)},
		{contact: "c2", kind: "closed", queue: qg, agent: A, at: at(9, 20, 0)},
		{contact: "c2", kind: "wrap_up_ended", queue: qg, agent: A, at: at(9, 20, 0)},
		// c3: a call accepted at 5 s, answered by the phone at 12 s, talk
		// 240 s, wrap-up 60 s.
		{contact: "c3", kind: "created", queue: qs, at: at(10, 0, 0), channel: org.Voice, data: map[string]any{"channel": "voice", "call": true}},
		{contact: "c3", kind: "assigned", queue: qs, agent: A, at: at(10, 0, 5)},
		{contact: "c3", kind: "call_answered", queue: qs, agent: A, at: at(10, 0, 12)},
		{contact: "c3", kind: "closed", queue: qs, agent: A, at: at(10, 4, 12)},
		{contact: "c3", kind: "wrap_up_ended", queue: qs, agent: A, at: at(10, 5, 12)},
		// c4: hung up after 3 s (short); c5 after 50 s; c6, a chat, after 15 s.
		{contact: "c4", kind: "created", queue: qs, at: at(10, 30, 0), channel: org.Voice, data: map[string]any{"call": true}},
		{contact: "c4", kind: "abandoned", queue: qs, at: at(10, 30, 3)},
		{contact: "c5", kind: "created", queue: qs, at: at(10, 40, 0), channel: org.Voice, data: map[string]any{"call": true}},
		{contact: "c5", kind: "abandoned", queue: qs, at: at(10, 40, 50)},
		{contact: "c6", kind: "created", queue: qs, at: at(11, 0, 0), channel: org.Chat},
		{contact: "c6", kind: "abandoned", queue: qs, at: at(11, 0, 15)},
		// c7: a callback attempt agent B makes (outbound: no 'created').
		{contact: "c7", kind: "callback_due", queue: qs, at: at(12, 0, 0), channel: org.Voice},
		{contact: "c7", kind: "assigned", queue: qs, agent: B, at: at(12, 0, 30)},
		{contact: "c7", kind: "callback_outcome", queue: qs, agent: B, at: at(12, 3, 0), data: map[string]any{"outcome": "reached"}},
		{contact: "c7", kind: "closed", queue: qs, agent: B, at: at(12, 3, 0)},
		{contact: "c7", kind: "wrap_up_ended", queue: qs, agent: B, at: at(12, 3, 30)},
		// c5's callback passes its deadline unmade.
		{contact: "c5", kind: "callback_failed", queue: qs, at: at(18, 0, 0), data: map[string]any{"reason": "expired"}},
	}
}

// settle folds until every committed event of the tenant is folded. Other
// transactions on the server hold pg_snapshot_xmin back for a while, so it
// retries rather than assume one pass reaches the end.
func (f *fixture) settle(t *testing.T, b *Builder) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := b.CatchUp(ctx); err != nil {
			t.Fatalf("CatchUp: %v", err)
		}
		var behind bool
		err := f.pool.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM contact_events e LEFT JOIN report_cursor r ON r.tenant_id = e.tenant_id
			               WHERE e.tenant_id = $1 AND (r.xact_id IS NULL OR e.xact_id > r.xact_id OR (e.xact_id = r.xact_id AND e.id > r.event_id)))`,
			f.tenant).Scan(&behind)
		if err != nil {
			t.Fatal(err)
		}
		if !behind {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the builder did not catch up in 90 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *fixture) report(t *testing.T, q Query) map[string]Line {
	t.Helper()
	lines, err := NewStore(f.pool).Report(context.Background(), f.tenant, q)
	if err != nil {
		t.Fatalf("Report(%+v): %v", q, err)
	}
	out := map[string]Line{}
	for _, l := range lines {
		k := l.Key + " " + l.Start.Format(time.RFC3339)
		if _, dup := out[k]; dup {
			t.Fatalf("two lines %s", k)
		}
		out[k] = l
	}
	return out
}

func dayQuery(by string) Query {
	d := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	return Query{From: d, To: d, Interval: Day, By: by}
}

// handSite and handGroup are the scripted day's figures worked out by hand.
var (
	handSite = Figures{Counts: stats.Counts{Offered: 6, Answered: 3, AnsweredWithin: 2, Abandoned: 2, AbandonedWithin: 1,
		ShortAbandons: 1, WaitAnswered: 62 * time.Second, Handled: 3, TalkTime: 660 * time.Second, WrapUpTime: 90 * time.Second,
		HandleTime: 750 * time.Second, TransferredOut: 1}, CallbacksMade: 1, CallbacksMissed: 1}
	handGroup = Figures{Counts: stats.Counts{TransferredIn: 1, Answered: 1, AnsweredWithin: 1, WaitAnswered: 20 * time.Second,
		Handled: 1, TalkTime: 420 * time.Second, HandleTime: 420 * time.Second}}
)

// wallboard computes what the wallboard shows for the day: routing's way
// (routing/dispatch), a stats.Tally per queue zone fed crm.EventsSince's
// events from the zone's midnight, with the same thresholds.
func (f *fixture) wallboard(t *testing.T) map[uuid.UUID]stats.Counts {
	t.Helper()
	sla := map[uuid.UUID]time.Duration{f.qSite: 20 * time.Second, f.qGroup: 30 * time.Second}
	policy := func(q uuid.UUID) stats.Policy { return stats.Policy{SLA: sla[q], ShortAbandon: ShortAbandon} }
	zones := map[uuid.UUID]*time.Location{f.qSite: f.shanghai, f.qGroup: f.berlin}
	out := map[uuid.UUID]stats.Counts{}
	for q, loc := range zones {
		start := time.Date(2026, 3, 10, 0, 0, 0, 0, loc)
		es, _, err := crm.NewStore(f.pool).EventsSince(context.Background(), f.tenant, "", start)
		if err != nil {
			t.Fatal(err)
		}
		tally := stats.NewTally(policy)
		for _, e := range es {
			if e.At.Before(start.AddDate(0, 0, 1)) {
				tally.Add(stats.Event{Kind: e.Kind, ContactID: e.ContactID, QueueID: e.QueueID, AgentID: e.AgentID, Channel: e.Channel, At: e.At, Call: e.Call})
			}
		}
		out[q] = tally.Queue(q)
	}
	return out
}

// TestReportAgreesWithWallboard: after a scripted day the report's figures
// for the day equal the wallboard's (the same stats functions over the
// same events) and the hand-computed ones, by queue, site, channel and
// agent; the service level, ASA and AHT derived from them too.
func TestReportAgreesWithWallboard(t *testing.T) {
	f := setup(t)
	f.script().run(t, f.day()...)
	f.settle(t, f.builder(0))

	byQueue := f.report(t, dayQuery(ByQueue))
	site := byQueue[f.qSite.String()+" 2026-03-10T00:00:00+08:00"]
	group := byQueue[f.qGroup.String()+" 2026-03-10T00:00:00+01:00"]
	if len(byQueue) != 2 {
		t.Fatalf("by queue: %d lines, want 2: %v", len(byQueue), byQueue)
	}
	wall := f.wallboard(t)
	for _, c := range []struct {
		name string
		got  Figures
		wall stats.Counts
		hand Figures
	}{
		{"site queue", site.Figures, wall[f.qSite], handSite},
		{"group queue", group.Figures, wall[f.qGroup], handGroup},
	} {
		if d := cmp.Diff(c.wall, c.got.Counts); d != "" {
			t.Errorf("%s: report vs wallboard (-wall +report):\n%s", c.name, d)
		}
		if d := cmp.Diff(c.hand, c.got); d != "" {
			t.Errorf("%s: report vs hand (-hand +report):\n%s", c.name, d)
		}
	}
	if sl, _ := site.ServiceLevel(stats.OfOffered); sl != 0.4 {
		t.Errorf("site SL answered within / (answered + abandoned) = %v, want 0.4", sl)
	}
	if asa, aht := site.ASA(), site.AHT(); asa != 62*time.Second/3 || aht != 250*time.Second {
		t.Errorf("site ASA, AHT = %v, %v; want 20.666s, 250s", asa, aht)
	}

	// By site: the Shanghai site's day in its zone, the group-wide queue's
	// in the tenant's.
	bySite := f.report(t, dayQuery(BySite))
	if got := bySite[f.site.String()+" 2026-03-10T00:00:00+08:00"].Figures; got != handSite {
		t.Errorf("by site, Pudong = %+v, want %+v", got, handSite)
	}
	if got := bySite[" 2026-03-10T00:00:00+01:00"].Figures; got != handGroup {
		t.Errorf("by site, group-wide = %+v, want %+v", got, handGroup)
	}
	// By channel and agent: the tenant's day (Berlin), which holds the
	// whole Shanghai morning too.
	byChannel := f.report(t, dayQuery(ByChannel))
	chat, voice := byChannel["chat 2026-03-10T00:00:00+01:00"], byChannel["voice 2026-03-10T00:00:00+01:00"]
	if chat.Offered != 3 || chat.Answered != 3 || chat.TransferredIn != 1 || chat.TransferredOut != 1 || chat.Abandoned != 1 {
		t.Errorf("by channel, chat = %+v", chat)
	}
	if voice.Offered != 3 || voice.Answered != 1 || voice.ShortAbandons != 1 || voice.Abandoned != 1 || voice.CallbacksMade != 1 || voice.CallbacksMissed != 1 {
		t.Errorf("by channel, voice = %+v", voice)
	}
	byAgent := f.report(t, dayQuery(ByAgent))
	a, b := byAgent[f.agentA.String()+" 2026-03-10T00:00:00+01:00"], byAgent[f.agentB.String()+" 2026-03-10T00:00:00+01:00"]
	// A: c1, c3 and c2 in the group queue; B: c2 in the site queue, the callback.
	if a.Answered != 3 || a.Handled != 3 || a.HandleTime != (330+300+420)*time.Second || a.CallbacksMade != 0 {
		t.Errorf("by agent, A = %+v", a)
	}
	if b.Answered != 1 || b.TransferredOut != 1 || b.Handled != 1 || b.HandleTime != 120*time.Second || b.CallbacksMade != 1 {
		t.Errorf("by agent, B = %+v", b)
	}
	none := byAgent[uuid.Nil.String()+" 2026-03-10T00:00:00+01:00"]
	if none.Offered != 6 || none.TransferredIn != 1 || none.CallbacksMissed != 1 {
		t.Errorf("by agent, no agent = %+v", none)
	}
	// Another tenant sees nothing of it.
	lines, err := NewStore(f.pool).Report(context.Background(), f.other, dayQuery(ByQueue))
	if err != nil || len(lines) != 0 {
		t.Errorf("another tenant's report = %v, %v; want nothing", lines, err)
	}
}

// TestZoneBoundaries: a contact arriving at 23:59:59 local counts for that
// day, one at 00:00:00 for the next, in the Shanghai site's zone and in the
// tenant's (Berlin) for the group-wide queue; hours and quarters follow.
func TestZoneBoundaries(t *testing.T) {
	f := setup(t)
	var evs []ev
	for _, z := range []struct {
		q   uuid.UUID
		loc *time.Location
	}{{f.qSite, f.shanghai}, {f.qGroup, f.berlin}} {
		last := time.Date(2026, 3, 10, 23, 59, 59, 0, z.loc)
		first := time.Date(2026, 3, 11, 0, 0, 0, 0, z.loc)
		evs = append(evs,
			ev{contact: z.loc.String() + "-late", kind: "created", queue: z.q, at: last, channel: org.Chat},
			ev{contact: z.loc.String() + "-early", kind: "created", queue: z.q, at: first, channel: org.Chat},
			// answered after midnight: still the day it arrived
			ev{contact: z.loc.String() + "-late", kind: "assigned", queue: z.q, agent: f.agentA, at: first.Add(9 * time.Second)})
	}
	f.script().run(t, evs...)
	f.settle(t, f.builder(0))
	d10, d11 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	days := f.report(t, Query{From: d10, To: d11, Interval: Day, By: ByQueue})
	for k, want := range map[string][2]int{ // offered, answered
		f.qSite.String() + " 2026-03-10T00:00:00+08:00":  {1, 1},
		f.qSite.String() + " 2026-03-11T00:00:00+08:00":  {1, 0},
		f.qGroup.String() + " 2026-03-10T00:00:00+01:00": {1, 1},
		f.qGroup.String() + " 2026-03-11T00:00:00+01:00": {1, 0},
	} {
		if got := days[k]; got.Offered != want[0] || got.Answered != want[1] {
			t.Errorf("day %s: offered %d answered %d, want %v", k, got.Offered, got.Answered, want)
		}
	}
	if len(days) != 4 {
		t.Errorf("%d day lines, want 4: %v", len(days), days)
	}
	// Only the 10th, in each queue's zone: one each.
	only := f.report(t, Query{From: d10, To: d10, Interval: Day, By: ByQueue})
	if len(only) != 2 {
		t.Errorf("the 10th alone: %d lines, want 2: %v", len(only), only)
	}
	hours := f.report(t, Query{From: d10, To: d11, Interval: Hour, By: ByQueue})
	if got := hours[f.qSite.String()+" 2026-03-10T23:00:00+08:00"]; got.Offered != 1 {
		t.Errorf("Shanghai 23:00 hour = %+v, want 1 offered", got)
	}
	quarters := f.report(t, Query{From: d10, To: d11, Interval: Quarter, By: ByQueue})
	if got := quarters[f.qGroup.String()+" 2026-03-10T23:45:00+01:00"]; got.Offered != 1 || got.Answered != 1 {
		t.Errorf("Berlin 23:45 quarter = %+v, want 1 offered and answered", got)
	}
	if got := quarters[f.qGroup.String()+" 2026-03-11T00:00:00+01:00"]; got.Offered != 1 {
		t.Errorf("Berlin 00:00 quarter = %+v, want 1 offered", got)
	}
}

// TestRestartMidWay: builders folding three events a page, each replaced by
// a fresh one after every page (a restart), one of whose commits fails
// after writing everything (a crash before COMMIT), end with exactly the
// figures of one uninterrupted pass: nothing counted twice or lost.
func TestRestartMidWay(t *testing.T) {
	f := setup(t)
	f.script().run(t, f.day()...)
	ctx := context.Background()
	failed := false
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("no end after 100 pages")
		}
		b := f.builder(3)
		if pages == 4 {
			b.beforeCommit = func(uuid.UUID) error { failed = true; return errors.New("crash before commit") }
			if err := b.CatchUp(ctx); err == nil {
				t.Fatal("CatchUp with a failing commit = nil")
			}
			continue
		}
		n, _, err := b.step(ctx, f.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			var behind bool
			f.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contact_events e JOIN report_cursor r ON r.tenant_id = e.tenant_id
				WHERE e.tenant_id = $1 AND (e.xact_id > r.xact_id OR (e.xact_id = r.xact_id AND e.id > r.event_id)))`, f.tenant).Scan(&behind)
			if !behind {
				break
			}
			time.Sleep(100 * time.Millisecond) // xmin held back by someone else's transaction
		}
	}
	if !failed {
		t.Fatal("the failing commit never ran")
	}
	byQueue := f.report(t, dayQuery(ByQueue))
	if got := byQueue[f.qSite.String()+" 2026-03-10T00:00:00+08:00"].Figures; got != handSite {
		t.Errorf("site queue after restarts = %+v\nwant %+v", got, handSite)
	}
	if got := byQueue[f.qGroup.String()+" 2026-03-10T00:00:00+01:00"].Figures; got != handGroup {
		t.Errorf("group queue after restarts = %+v\nwant %+v", got, handGroup)
	}
	var open int
	f.pool.QueryRow(ctx, `SELECT count(*) FROM report_open WHERE tenant_id = $1`, f.tenant).Scan(&open)
	if open != 0 {
		t.Errorf("%d contacts still open after the day ended, want 0", open)
	}
}

// TestLateCommitNotSkipped: an event whose transaction began before and
// commits after another's is folded once it commits, not skipped because a
// later transaction's event was folded first.
func TestLateCommitNotSkipped(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, f.shanghai)
	slow, fast := uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{slow, fast} {
		f.exec(t, `INSERT INTO contacts (id, tenant_id, channel, queue_id, state, arrived_at) VALUES ($1, $2, 'chat', $3, 'queued', $4)`, id, f.tenant, f.qSite, at)
	}
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, at) VALUES ($1, $2, 'created', $3, $4)`, f.tenant, slow, f.qSite, at); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, at) VALUES ($1, $2, 'created', $3, $4)`, f.tenant, fast, f.qSite, at.Add(time.Second))
	b := f.builder(0)
	if err := b.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.report(t, dayQuery(ByQueue))[f.qSite.String()+" 2026-03-10T00:00:00+08:00"]; got.Offered != 0 {
		t.Errorf("while the first transaction is open: offered %d, want 0 (its xid holds the cursor back)", got.Offered)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	f.settle(t, b)
	if got := f.report(t, dayQuery(ByQueue))[f.qSite.String()+" 2026-03-10T00:00:00+08:00"]; got.Offered != 2 {
		t.Errorf("after it commits: offered %d, want 2", got.Offered)
	}
}

// TestOneBuilderLeads: two builders running at once; one takes the lock,
// and the figures are counted once.
func TestOneBuilderLeads(t *testing.T) {
	f := setup(t)
	f.script().run(t, f.day()...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		b := NewBuilder(f.pool, orgSource{f.orgs}, Config{Every: 50 * time.Millisecond, Batch: 4}, f.quiet)
		go func() { done <- b.Run(ctx) }()
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := f.report(t, dayQuery(ByQueue))[f.qSite.String()+" 2026-03-10T00:00:00+08:00"].Figures
		if got == handSite {
			break
		}
		if got.Offered > handSite.Offered || time.Now().After(deadline) {
			t.Fatalf("site queue = %+v, want %+v", got, handSite)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second leader would double something by now
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
	if got := f.report(t, dayQuery(ByQueue))[f.qSite.String()+" 2026-03-10T00:00:00+08:00"].Figures; got != handSite {
		t.Errorf("site queue after two builders = %+v, want %+v", got, handSite)
	}
}

// syncBuffer is a log sink safe for the builder's goroutine.
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

// TestBackfillLogsProgress: a first run over existing events folds them
// page by page and says so (ids and counts only), then that it caught up.
func TestBackfillLogsProgress(t *testing.T) {
	f := setup(t)
	f.script().run(t, f.day()...)
	var logs syncBuffer
	b := NewBuilder(f.pool, orgSource{f.orgs}, Config{Batch: 5}, slog.New(slog.NewTextHandler(&logs, nil)))
	f.settle(t, b)
	out := logs.String()
	for _, want := range []string{`msg="reports: backfill" tenant_id=` + f.tenant.String() + ` events=5 up_to=2026-03-10T01:10:00.000Z`, `msg="reports: caught up"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if got := f.report(t, dayQuery(ByQueue))[f.qSite.String()+" 2026-03-10T00:00:00+08:00"].Figures; got != handSite {
		t.Errorf("site queue after a paged backfill = %+v, want %+v", got, handSite)
	}
}
