package agentdesk

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
	"github.com/switchboard-cc/switchboard/stats"
)

// TestWallboardGaugesJSON: the figures the wallboard page reads, by name,
// from routing's gauges and today's counts: agents available for each
// queue, Erlang C's agents needed with the inputs it was computed from
// (the 100 calls in 30 min, AHT 180 s, 80% in 20 s → 14), the
// thresholds (set, or the defaults), and agents' contacts in hand and
// presence since.
func TestWallboardGaugesJSON(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 30, 0, time.UTC)
	sales, parts, idle, night := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	ann, bo := uuid.New(), uuid.New()
	since := at.Add(-95 * time.Second)
	g := routing.Gauges{At: at,
		Queues: []routing.QueueGauge{
			{QueueID: parts, Name: "Parts", Waiting: 2, Offered: 1, OldestArrival: at.Add(-40 * time.Second), Available: 3},
			{QueueID: sales, Name: "Sales", Waiting: 0, Available: 12},
			{QueueID: idle, Name: "Service"},
			{QueueID: night, Name: "Zz night line"},
		},
		Agents: []routing.AgentGauge{
			{AgentID: ann, Name: "Ann", Presence: org.Available, Connected: true, Load: map[org.Channel]int{org.Chat: 2, org.Voice: 1}, PresenceSince: since},
			{AgentID: bo, Name: "Bo", Presence: org.Away, Connected: true, Load: map[org.Channel]int{}},
		}}
	// Sales: 100 arrivals in 30 minutes; 50 handled at 180 s each.
	salesCounts := stats.Counts{Offered: 100, Answered: 50, AnsweredWithin: 40, Handled: 50, HandleTime: 50 * 180 * time.Second}
	// Parts: arrivals but nothing handled yet: no AHT, no figure.
	today := dispatch.Today{
		Queues: map[uuid.UUID]stats.Counts{sales: salesCounts, parts: {Offered: 3}},
		SLA:    map[uuid.UUID]time.Duration{sales: 20 * time.Second, parts: 30 * time.Second, idle: 20 * time.Second},
		Arrivals: map[uuid.UUID]stats.Rate{
			sales: {N: 100, Over: 30 * time.Minute},
			parts: {N: 3, Over: 10 * time.Minute},
			night: {N: 2, Over: 30 * time.Second}, // just after midnight
		},
		Agents: map[uuid.UUID]stats.AgentCounts{ann: {Handled: 7}},
	}
	th := map[uuid.UUID]org.QueueThresholds{parts: {SLGoal: 0.9, SLRed: 0.75, WaitAmber: 10 * time.Second, WaitRed: 20 * time.Second}}
	b, err := json.Marshal(wallboardGauges(g, today, th))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Queues []struct {
			Name        string         `json:"name"`
			Waiting     int            `json:"waiting"`
			LongestWait int            `json:"longest_wait_seconds"`
			Available   int            `json:"available"`
			Erlang      map[string]any `json:"erlang"`
			Thresholds  map[string]any `json:"thresholds"`
		} `json:"queues"`
		AgentList []struct {
			Name          string  `json:"name"`
			Presence      string  `json:"presence"`
			Contacts      int     `json:"contacts"`
			Handled       int     `json:"handled_today"`
			PresenceSince *string `json:"presence_since"`
		} `json:"agent_list"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Queues) != 4 {
		t.Fatalf("queues = %s", b)
	}
	p, s, v := got.Queues[0], got.Queues[1], got.Queues[2]
	if p.Waiting != 2 || p.LongestWait != 40 || p.Available != 3 || s.Available != 12 {
		t.Errorf("Parts waiting %d longest %d available %d, Sales available %d; want 2, 40, 3, 12", p.Waiting, p.LongestWait, p.Available, s.Available)
	}
	wantSales := map[string]any{"arrivals": 100.0, "window_seconds": 1800.0, "arrivals_per_hour": 200.0, "aht_seconds": 180.0,
		"target_seconds": 20.0, "goal": 0.8, "agents_needed": 14.0}
	if diff := cmp.Diff(wantSales, s.Erlang, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Errorf("Sales erlang (-want +got):\n%s", diff)
	}
	if p.Erlang["agents_needed"] != nil || p.Erlang["aht_seconds"] != nil || p.Erlang["goal"] != 0.9 || p.Erlang["arrivals"] != 3.0 {
		t.Errorf("Parts erlang = %v, want no AHT and no figure yet, against its own goal 0.9", p.Erlang)
	}
	if v.Erlang["agents_needed"] != 0.0 {
		t.Errorf("Service (no arrivals) agents_needed = %v, want 0", v.Erlang["agents_needed"])
	}
	if n := got.Queues[3].Erlang; n["window_seconds"] != 300.0 || n["arrivals_per_hour"] != 24.0 {
		t.Errorf("two arrivals 30 s after midnight: %v, want them over the 5 minutes' floor (24 an hour)", n)
	}
	if want := map[string]any{"sl_goal": 0.9, "sl_red": 0.75, "wait_amber_seconds": 10.0, "wait_red_seconds": 20.0}; !cmp.Equal(p.Thresholds, want) {
		t.Errorf("Parts thresholds = %v, want %v", p.Thresholds, want)
	}
	if want := map[string]any{"sl_goal": 0.8, "sl_red": 0.6, "wait_amber_seconds": 30.0, "wait_red_seconds": 60.0}; !cmp.Equal(s.Thresholds, want) {
		t.Errorf("Sales thresholds = %v, want the defaults %v", s.Thresholds, want)
	}
	a, o := got.AgentList[0], got.AgentList[1]
	if a.Presence != "busy" || a.Contacts != 3 || a.Handled != 7 || a.PresenceSince == nil || *a.PresenceSince != since.Format(time.RFC3339) {
		t.Errorf("Ann = %+v, want busy with 3 contacts, 7 handled, presence since %s", a, since.Format(time.RFC3339))
	}
	if o.Presence != "away" || o.Contacts != 0 || o.PresenceSince != nil {
		t.Errorf("Bo = %+v, want away, no contacts, presence since unknown", o)
	}
}

// The minute's sample: waiting and service level per queue, keyed by the
// minute's slot in the 60-slot ring.
func TestWallboardMinuteSample(t *testing.T) {
	q := uuid.New()
	sl := 0.75
	g := gaugesJSON{At: time.Date(2026, 11, 23, 10, 7, 42, 0, time.UTC), Queues: []queueGauge{{ID: q, Waiting: 4, Today: todayJSON{ServiceLevel: &sl}}}}
	slot, b, err := sampleOf(g)
	if err != nil || slot != "7" {
		t.Fatalf("sampleOf slot = %q, %v; want 7 (minute 607 of the day mod 60)", slot, err)
	}
	want := `{"at":` + "1795428420" + `,"q":{"` + q.String() + `":[4,0.75]}}`
	if string(b) != want {
		t.Errorf("sample = %s, want %s", b, want)
	}
}
