package stats

import (
	"math"
	"time"

	"github.com/google/uuid"
)

// Erlang C: how many agents a queue needs to meet its service level, from
// the arrival rate and the average handling time. The wallboard shows it
// next to the agents available for the queue.
//
// The probability of waiting is derived from Erlang B, computed by its
// recursion B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)). The textbook form
// with A^N/N! overflows a float64 past about 170 agents; the recursion
// stays between 0 and 1 at any size.

// MaxErlangs is the largest offered load AgentsNeeded computes: the
// recursion costs one step per agent, and no contact center has more.
const MaxErlangs = 100_000

// ArrivalWindow is how far back the wallboard counts arrivals for the
// current arrival rate.
const ArrivalWindow = 30 * time.Minute

// MinArrivalWindow is the shortest span an arrival rate is taken over:
// just after midnight, two arrivals in the day's first ten seconds would
// otherwise read as a flood.
const MinArrivalWindow = 5 * time.Minute

// Rate is a number of arrivals over a span of time.
type Rate struct {
	N    int
	Over time.Duration
}

// PerSecond is the arrival rate; zero over an empty span.
func (r Rate) PerSecond() float64 {
	if r.Over <= 0 || r.N <= 0 {
		return 0
	}
	return float64(r.N) / r.Over.Seconds()
}

// Erlangs is the offered load: arrivals per second × average handling time.
func Erlangs(arrivalsPerSecond float64, aht time.Duration) float64 {
	return arrivalsPerSecond * aht.Seconds()
}

// erlangB returns the blocking probability of n servers at load a.
func erlangB(n int, a float64) float64 {
	b := 1.0
	for i := 1; i <= n; i++ {
		b = a * b / (float64(i) + a*b)
	}
	return b
}

// erlangCFromB turns Erlang B of n servers into the probability of waiting.
func erlangCFromB(n int, a, b float64) float64 {
	if float64(n) <= a {
		return 1
	}
	return float64(n) * b / (float64(n) - a*(1-b))
}

// ErlangC is the probability that a contact waits at all, with agents at
// load erlangs. With no more agents than the load the queue grows without
// bound: every contact waits (1).
func ErlangC(agents int, erlangs float64) float64 {
	if erlangs <= 0 || math.IsNaN(erlangs) {
		return 0
	}
	if agents <= 0 || float64(agents) <= erlangs || math.IsInf(erlangs, 0) {
		return 1
	}
	return erlangCFromB(agents, erlangs, erlangB(agents, erlangs))
}

// ServiceLevel is the share of contacts answered within target with
// agents staffed: 1 − C·e^(−(N−A)·t/AHT). It is 0 when agents do not
// exceed the load (the queue never settles) and 1 with no traffic.
func ServiceLevel(agents int, arrivalsPerSecond float64, aht, target time.Duration) float64 {
	a := Erlangs(arrivalsPerSecond, aht)
	if a <= 0 || math.IsNaN(a) {
		return 1
	}
	if agents <= 0 || float64(agents) <= a {
		return 0
	}
	return slFrom(agents, a, ErlangC(agents, a), aht, target)
}

func slFrom(n int, a, c float64, aht, target time.Duration) float64 {
	sl := 1 - c*math.Exp(-(float64(n)-a)*target.Seconds()/aht.Seconds())
	return max(0, min(1, sl))
}

// AgentsNeeded is the smallest number of agents N > A whose service level
// (answered within target) reaches goal. It is 0 with no traffic or no
// handling time (nothing to staff for), and −1 when the figure cannot be
// computed: goal not below 1 (no finite N reaches it), a negative target,
// NaN or infinite inputs, or a load above MaxErlangs.
func AgentsNeeded(arrivalsPerSecond float64, aht, target time.Duration, goal float64) int {
	a := Erlangs(arrivalsPerSecond, aht)
	switch {
	case math.IsNaN(a) || math.IsNaN(goal) || math.IsInf(a, 0) || goal >= 1 || a > MaxErlangs || target < 0:
		return -1
	case a <= 0:
		return 0
	}
	// B up to ⌊A⌋ once, then one recursion step per candidate N.
	n := int(math.Floor(a))
	b := erlangB(n, a)
	// Past A + 50·√A + 1000 agents the probability of waiting is nil at
	// any goal below 1: a bound that only guards against a float surprise.
	limit := int(a + 50*math.Sqrt(a) + 1000)
	for n < limit {
		n++
		b = a * b / (float64(n) + a*b)
		if float64(n) <= a {
			continue // A a whole number: N must exceed it
		}
		if slFrom(n, a, erlangCFromB(n, a, b), aht, target) >= goal {
			return n
		}
	}
	return -1
}

// arrive notes an arrival in queue for Arrivals, forgetting those more
// than twice ArrivalWindow older than it (events come in commit order, so
// roughly in time order).
func (t *Tally) arrive(queue uuid.UUID, at time.Time) {
	if t.arrivals == nil {
		t.arrivals = map[uuid.UUID][]time.Time{}
	}
	l := t.arrivals[queue]
	old := 0
	for old < len(l) && l[old].Before(at.Add(-2*ArrivalWindow)) {
		old++
	}
	if old > 0 && old >= len(l)/2 {
		l = append(l[:0], l[old:]...) // compact once half is stale
	}
	t.arrivals[queue] = append(l, at)
}

// Arrivals counts queue's arrivals (contacts offered to it: created or
// reopened there) at or after from. It remembers about an hour.
func (t *Tally) Arrivals(queue uuid.UUID, from time.Time) int {
	n := 0
	for _, at := range t.arrivals[queue] {
		if !at.Before(from) {
			n++
		}
	}
	return n
}
