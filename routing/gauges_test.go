package routing

import (
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/org"
)

// TestGaugesAvailablePerQueue: each queue counts the agents routable now
// (available and connected, busy or not) with its skills, the staff the
// wallboard sets beside Erlang C; agents carry their presence's time.
func TestGaugesAvailablePerQueue(t *testing.T) {
	f := newFixture()
	sales := f.queue("Sales", map[string]int{"sales": 3})
	f.queue("Service", map[string]int{"service": 1})
	f.queue("Enquiries", nil)
	ann := f.agent("Ann", map[string]int{"sales": 5}, 2)
	f.agent("Bo", map[string]int{"sales": 2, "service": 4}, 2) // too junior for Sales
	cy := f.agent("Cy", map[string]int{"sales": 3, "service": 1}, 2)
	away := f.agent("Di", map[string]int{"sales": 9}, 2)
	f.e.SetPresence(away, org.Away, true)
	gone := f.agent("Ed", map[string]int{"sales": 9}, 2)
	f.e.SetPresence(gone, org.Available, false) // no console
	since := f.now.Add(-7 * time.Minute)
	f.e.SetAgent(Agent{ID: cy, Name: "Cy", Skills: map[string]int{"sales": 3, "service": 1}, Capacity: map[org.Channel]int{org.Chat: 2}, PresenceSince: since})
	// Ann busy with a chat still counts.
	f.task(sales, time.Second)
	if os := f.e.Dispatch(); len(os) != 1 || os[0].AgentID != ann && os[0].AgentID != cy {
		t.Fatalf("offers %v, want one to a Sales agent", os)
	}
	g := f.e.Gauges()
	want := map[string]int{"Sales": 2, "Service": 2, "Enquiries": 3}
	for _, q := range g.Queues {
		if q.Available != want[q.Name] {
			t.Errorf("%s: %d available, want %d", q.Name, q.Available, want[q.Name])
		}
	}
	for _, a := range g.Agents {
		if a.Name == "Cy" && !a.PresenceSince.Equal(since) {
			t.Errorf("Cy's presence since %v, want %v", a.PresenceSince, since)
		}
	}
}
