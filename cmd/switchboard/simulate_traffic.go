package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// traffic draws a simulation's random quantities from one seeded source,
// so a run with the same --seed draws the same callers and times.
type traffic struct {
	mu sync.Mutex
	r  *rand.Rand

	rate     float64       // calls per minute (Poisson arrivals)
	aht      time.Duration // mean talk time (lognormal)
	abandon  float64       // share of callers with short patience
	patience time.Duration // their mean patience (exponential)
	maxWait  time.Duration // how long everyone else waits at most
	known    float64       // share of calls from known demo customers
	numbers  []string      // the known customers' phones
}

// talkSigma is the spread of talk times: a lognormal with σ = 0.5 has most
// calls between half and twice the median, with a long tail, as call
// centres report; it never draws a zero-length call.
const talkSigma = 0.5

func newTraffic(seed uint64, rate float64, aht time.Duration, abandon float64, patience, maxWait time.Duration, known float64, numbers []string) *traffic {
	return &traffic{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rate: rate, aht: aht, abandon: abandon,
		patience: patience, maxWait: maxWait, known: known, numbers: numbers}
}

// interarrival is the time to the next call: exponential with mean
// 60/rate seconds, which makes arrivals a Poisson process.
func (t *traffic) interarrival() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return seconds(t.r.ExpFloat64() * 60 / t.rate)
}

// talk is one call's talk time: lognormal with mean aht.
func (t *traffic) talk() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	mu := math.Log(t.aht.Seconds()) - talkSigma*talkSigma/2
	return seconds(math.Exp(mu + talkSigma*t.r.NormFloat64()))
}

// callerPatience is how long a caller waits for an agent: an impatient one
// (share abandon) exponentially with mean patience, everyone else maxWait.
func (t *traffic) callerPatience() (d time.Duration, impatient bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.r.Float64() < t.abandon {
		return seconds(t.r.ExpFloat64() * t.patience.Seconds()), true
	}
	return t.maxWait, false
}

// between is uniform in [lo, hi).
func (t *traffic) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return lo + time.Duration(t.r.Int64N(int64(hi-lo)))
}

// pick is uniform in [0, n).
func (t *traffic) pick(n int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.r.IntN(n)
}

// caller is the number a call comes from: a known demo customer's (so the
// screen-pop shows history), or a random Chinese mobile number in the
// national form a PBX often sends (138…; the hotline reads it by the
// site's rules).
func (t *traffic) caller() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.numbers) > 0 && t.r.Float64() < t.known {
		return t.numbers[t.r.IntN(len(t.numbers))]
	}
	return fmt.Sprintf("138%08d", t.r.IntN(1e8))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
