package stats

import (
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// The figures (issue 8): 100 calls in 30 minutes at an AHT of
// 180 s is 10 Erlangs; with a target of 80% answered in 20 s, 13 agents
// give 79.56% and 14 give 88.84%, so 14 are needed. 400 Erlangs needs 410.
func TestErlangServiceLevel(t *testing.T) {
	const aht, target = 180 * time.Second, 20 * time.Second
	tenErlangs := 100.0 / (30 * 60)
	for _, c := range []struct {
		agents int
		rate   float64
		want   float64
	}{
		{13, tenErlangs, 0.7956},
		{14, tenErlangs, 0.8884},
		{409, 400.0 / 180, 0.7982},
		{10, tenErlangs, 0}, // N = A: the queue never settles
		{9, tenErlangs, 0},  // N < A
		{0, tenErlangs, 0},
		{3, 0, 1}, // no traffic: nobody waits
	} {
		if got := ServiceLevel(c.agents, c.rate, aht, target); math.Abs(got-c.want) > 0.0005 {
			t.Errorf("ServiceLevel(%d, %.4f/s, 180 s, 20 s) = %.4f, want %.4f ± 0.0005", c.agents, c.rate, got, c.want)
		}
	}
}

func TestAgentsNeeded(t *testing.T) {
	for _, c := range []struct {
		name        string
		rate        float64
		aht, target time.Duration
		goal        float64
		want        int
	}{
		{"100 calls in 30 min, 80/20", 100.0 / 1800, 180 * time.Second, 20 * time.Second, 0.8, 14},
		{"400 Erlangs, 80/20", 400.0 / 180, 180 * time.Second, 20 * time.Second, 0.8, 410},
		{"no arrivals", 0, 180 * time.Second, 20 * time.Second, 0.8, 0},
		{"no handling time yet", 1, 0, 20 * time.Second, 0.8, 0},
		{"goal 0: more agents than the load", 100.0 / 1800, 180 * time.Second, 20 * time.Second, 0, 11},
		{"a whole-number load needs one more", 10.0 / 180, 180 * time.Second, 20 * time.Second, 0, 11},
		{"tiny load", 1.0 / 1800, 60 * time.Second, 20 * time.Second, 0.8, 1},
		{"goal 100% is unreachable", 100.0 / 1800, 180 * time.Second, 20 * time.Second, 1, -1},
		{"NaN goal", 100.0 / 1800, 180 * time.Second, 20 * time.Second, math.NaN(), -1},
		{"NaN rate", math.NaN(), 180 * time.Second, 20 * time.Second, 0.8, -1},
		{"infinite rate", math.Inf(1), 180 * time.Second, 20 * time.Second, 0.8, -1},
		{"beyond MaxErlangs", MaxErlangs, 2 * time.Second, 20 * time.Second, 0.8, -1},
		{"negative target", 1, 180 * time.Second, -time.Second, 0.8, -1},
	} {
		if got := AgentsNeeded(c.rate, c.aht, c.target, c.goal); got != c.want {
			t.Errorf("%s: AgentsNeeded(%g, %v, %v, %g) = %d, want %d", c.name, c.rate, c.aht, c.target, c.goal, got, c.want)
		}
	}
}

// AgentsNeeded's answer meets the goal and one agent fewer does not, over
// a spread of loads (the incremental recursion agrees with ServiceLevel's).
func TestAgentsNeededIsTheSmallest(t *testing.T) {
	const aht, target, goal = 240 * time.Second, 30 * time.Second, 0.85
	for _, erlangs := range []float64{0.3, 1, 2.5, 7, 33.3, 120, 999.5, 5000} {
		rate := erlangs / aht.Seconds()
		n := AgentsNeeded(rate, aht, target, goal)
		if n <= int(erlangs) || ServiceLevel(n, rate, aht, target) < goal {
			t.Errorf("%g Erlangs: %d agents (SL %.4f), want more than the load and SL ≥ %.2f", erlangs, n, ServiceLevel(n, rate, aht, target), goal)
		}
		if n-1 > int(erlangs) && ServiceLevel(n-1, rate, aht, target) >= goal {
			t.Errorf("%g Erlangs: %d agents already reach %.2f, AgentsNeeded said %d", erlangs, n-1, goal, n)
		}
	}
}

func TestErlangC(t *testing.T) {
	// Two agents at 1 Erlang: B(2) = 1/5, C = 2·0.2/(2 − 0.8) = 1/3.
	if got := ErlangC(2, 1); math.Abs(got-1.0/3) > 1e-12 {
		t.Errorf("ErlangC(2, 1) = %v, want 1/3", got)
	}
	if got := ErlangC(5, 0); got != 0 {
		t.Errorf("ErlangC(5, 0) = %v, want 0", got)
	}
	if got := ErlangC(5, 5); got != 1 {
		t.Errorf("ErlangC(5, 5) = %v, want 1", got)
	}
	// Far past the factorial's range: finite and a probability.
	if got := ErlangC(1200, 1100); math.IsNaN(got) || got <= 0 || got >= 1 {
		t.Errorf("ErlangC(1200, 1100) = %v, want a probability", got)
	}
}

func TestRatePerSecond(t *testing.T) {
	for _, c := range []struct {
		r    Rate
		want float64
	}{
		{Rate{N: 100, Over: 30 * time.Minute}, 100.0 / 1800},
		{Rate{N: 3, Over: 0}, 0},
		{Rate{N: 0, Over: time.Minute}, 0},
	} {
		if got := c.r.PerSecond(); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v.PerSecond() = %v, want %v", c.r, got, c.want)
		}
	}
}

// The tally remembers recent arrivals per queue for the current arrival
// rate: created and reopened contacts count, transfers in do not.
func TestTallyArrivals(t *testing.T) {
	q, other := uuid.New(), uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second} })
	for i := range 200 { // one a minute for 200 minutes
		tally.Add(Event{Kind: "created", ContactID: uuid.New(), QueueID: q, Channel: org.Chat, At: t0.Add(time.Duration(i) * time.Minute)})
	}
	tally.Add(Event{Kind: "reopened", ContactID: uuid.New(), QueueID: q, Channel: org.Email, At: t0.Add(199*time.Minute + 30*time.Second)})
	tally.Add(Event{Kind: "transferred_in", ContactID: uuid.New(), QueueID: q, Channel: org.Chat, At: t0.Add(199*time.Minute + 40*time.Second)})
	tally.Add(Event{Kind: "created", ContactID: uuid.New(), QueueID: other, Channel: org.Chat, At: t0.Add(199 * time.Minute)})
	now := t0.Add(200 * time.Minute)
	// Minutes 170..199 are in the last 30 minutes, plus the reopened one.
	if got := tally.Arrivals(q, now.Add(-ArrivalWindow)); got != 31 {
		t.Errorf("Arrivals(q, last 30 min) = %d, want 31", got)
	}
	if got := tally.Arrivals(other, now.Add(-ArrivalWindow)); got != 1 {
		t.Errorf("Arrivals(other) = %d, want 1", got)
	}
	if got := len(tally.arrivals[q]); got > 130 {
		t.Errorf("the tally keeps %d arrivals of q, want about an hour's (≤ 130)", got)
	}
}

// FuzzAgentsNeeded: any inputs give an answer promptly and never a panic;
// a figure other than 0 and −1 exceeds the load and meets the goal, and one
// agent fewer does not.
func FuzzAgentsNeeded(f *testing.F) {
	f.Add(100.0/1800, 180.0, 20.0, 0.8)
	f.Add(400.0/180, 180.0, 20.0, 0.8)
	f.Add(0.0, 180.0, 20.0, 0.8)
	f.Add(1.0, 0.0, 20.0, 0.8)
	f.Add(math.Inf(1), 180.0, 20.0, 0.8)
	f.Add(1e-300, 1e300, 0.0, 0.999999)
	f.Add(50.0, 2000.0, -5.0, 0.5)
	f.Add(0.3, 30.0, 1e12, 1e-9)
	f.Fuzz(func(t *testing.T, rate, ahtSeconds, targetSeconds, goal float64) {
		if math.IsNaN(ahtSeconds) || math.IsNaN(targetSeconds) || math.Abs(ahtSeconds) > 1e9 || math.Abs(targetSeconds) > 1e9 {
			return // durations: time.Duration cannot hold these
		}
		aht, target := time.Duration(ahtSeconds*float64(time.Second)), time.Duration(targetSeconds*float64(time.Second))
		n := AgentsNeeded(rate, aht, target, goal)
		a := Erlangs(rate, aht)
		switch {
		case n == -1 || n == 0:
			if n == 0 && a > 0 && !math.IsInf(a, 0) {
				t.Fatalf("AgentsNeeded(%g, %v, %v, %g) = 0 with a load of %g", rate, aht, target, goal, a)
			}
		case n < 0 || float64(n) <= a:
			t.Fatalf("AgentsNeeded(%g, %v, %v, %g) = %d for a load of %g", rate, aht, target, goal, n, a)
		default:
			if sl := ServiceLevel(n, rate, aht, target); sl < goal {
				t.Fatalf("AgentsNeeded(%g, %v, %v, %g) = %d with SL %g below the goal", rate, aht, target, goal, n, sl)
			}
			if float64(n-1) > a && ServiceLevel(n-1, rate, aht, target) >= goal {
				t.Fatalf("AgentsNeeded(%g, %v, %v, %g) = %d, but %d already meet it", rate, aht, target, goal, n, n-1)
			}
		}
		if sl := ServiceLevel(max(n, 1), rate, aht, target); math.IsNaN(sl) || sl < 0 || sl > 1 {
			t.Fatalf("ServiceLevel = %g, want a share", sl)
		}
	})
}
