package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// benchDecisions measures one routing decision: a contact arrives, Dispatch
// offers it, the agent accepts, and a held contact is released so the
// population stays the same. Agents are busy enough that waiting contacts
// pile up to the target.
func benchDecisions(b *testing.B, agents, skills, waiting int) {
	r := rand.New(rand.NewPCG(1, 2))
	f := newFixture()
	var queues []org.Queue
	for s := range skills {
		queues = append(queues, f.queue(fmt.Sprint("q", s), map[string]int{fmt.Sprint("s", s): 1 + r.IntN(3)}))
	}
	var ids []uuid.UUID
	for i := range agents {
		sk := map[string]int{}
		// Every agent is qualified for the queues of its three skills, as in
		// a real center; an agent nobody's queue wants would idle forever.
		for range 3 {
			sk[fmt.Sprint("s", r.IntN(skills))] = 3 + r.IntN(3)
		}
		ids = append(ids, f.agent(fmt.Sprint("a", i), sk, 2))
	}
	// Fill every agent and leave the backlog waiting.
	var held []uuid.UUID
	for range waiting + agents*2 {
		t := Task{ContactID: f.id(), QueueID: queues[r.IntN(len(queues))].ID, Channel: org.Chat, ArrivedAt: f.now}
		f.e.Enqueue(t)
		f.tick(time.Millisecond)
	}
	for _, o := range f.e.Dispatch() {
		f.e.Accept(o.AgentID, o.ID)
		held = append(held, o.Task.ContactID)
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		// One slot frees up, one contact arrives, one decision is made.
		i := r.IntN(len(held))
		f.e.Release(held[i])
		held[i] = held[len(held)-1]
		held = held[:len(held)-1]
		f.tick(time.Millisecond)
		f.e.Enqueue(Task{ContactID: f.id(), QueueID: queues[r.IntN(len(queues))].ID, Channel: org.Chat, ArrivedAt: f.now})
		for _, o := range f.e.Dispatch() {
			f.e.Accept(o.AgentID, o.ID)
			held = append(held, o.Task.ContactID)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[min(n-1, n*99/100)].Nanoseconds()), "p99-ns")
	}
	_ = ids
}

func BenchmarkDecisionSmall(b *testing.B) { benchDecisions(b, 12, 3, 50) }

func BenchmarkDecisionLarge(b *testing.B) { benchDecisions(b, 1000, 20, 5000) }
