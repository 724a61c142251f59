package routing

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestStrategies offers one contact to a queue of each strategy, with three
// agents set up so that each strategy prefers a different one.
func TestStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     string
	}{
		{LongestIdle, "oldest-idle"},
		{"", "oldest-idle"},
		{"no-such-strategy", "oldest-idle"},
		{LeastOccupied, "empty"},
		{FewestToday, "fresh"},
		{BestSkill, "expert"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			f := newFixture()
			q := org.Queue{ID: f.id(), Name: "Sales", Strategy: tc.strategy, Skills: map[string]int{"sales": 1}, OfferTimeout: 20 * time.Second}
			f.e.SetQueue(q)
			names := map[uuid.UUID]string{}
			add := func(name string, level, capacity int) uuid.UUID {
				id := f.id()
				names[id] = name
				f.e.SetAgent(Agent{ID: id, Name: name, Skills: map[string]int{"sales": level}, Capacity: map[org.Channel]int{org.Chat: capacity}})
				f.e.SetPresence(id, org.Available, true)
				f.tick(time.Second)
				return id
			}
			// oldest-idle: available first, but busy with two of four slots.
			oldest := add("oldest-idle", 2, 4)
			f.e.Assigned(f.id(), oldest, org.Chat)
			f.e.Assigned(f.id(), oldest, org.Chat)
			// empty: nothing in hand, but handled many today.
			empty := add("empty", 2, 2)
			f.e.SetHandledToday(empty, 9)
			// fresh and expert: one chat in hand each out of two.
			fresh := add("fresh", 2, 2)
			f.e.Assigned(f.id(), fresh, org.Chat)
			f.e.SetHandledToday(oldest, 5)
			f.e.SetHandledToday(fresh, 0)
			expert := add("expert", 9, 2)
			f.e.Assigned(f.id(), expert, org.Chat)
			f.e.SetHandledToday(expert, 3)

			f.task(q, 0)
			got := f.e.Dispatch()
			if len(got) != 1 {
				t.Fatalf("Dispatch() = %v, want one offer", got)
			}
			if names[got[0].AgentID] != tc.want {
				t.Errorf("strategy %q offered to %s, want %s", tc.strategy, names[got[0].AgentID], tc.want)
			}
		})
	}
}

func TestRoundRobinTakesTurns(t *testing.T) {
	f := newFixture()
	q := org.Queue{ID: f.id(), Name: "Q", Strategy: RoundRobin, OfferTimeout: 20 * time.Second}
	f.e.SetQueue(q)
	var agents []uuid.UUID
	for range 3 {
		agents = append(agents, f.agent("a", nil, 5))
	}
	var order []uuid.UUID
	for range 6 {
		tk := f.task(q, 0)
		o := f.e.Dispatch()
		if len(o) != 1 {
			t.Fatalf("Dispatch() = %v", o)
		}
		order = append(order, o[0].AgentID)
		f.e.Accept(o[0].AgentID, o[0].ID)
		f.e.Release(tk.ContactID)
	}
	for i := range order {
		if order[i] != agents[i%3] {
			t.Fatalf("round robin order = %v, want agents in turn %v", order, agents)
		}
	}
}

func TestAgentWhoMissesOffersIsSetAway(t *testing.T) {
	f := newFixture()
	q := f.queue("Q", nil)
	absent := f.agent("absent", nil, 2)
	for i := range 3 {
		f.task(q, 0)
		if got := f.e.Dispatch(); len(got) == 0 {
			t.Fatalf("round %d: no offer", i)
		}
		f.tick(21 * time.Second)
		f.e.Expire()
		if i < 2 && len(f.e.NoAnswer()) != 0 {
			t.Fatalf("set away after %d missed offers, want 3", i+1)
		}
	}
	if got := f.e.NoAnswer(); len(got) != 1 || got[0] != absent {
		t.Fatalf("NoAnswer() = %v, want the agent who missed 3 in a row", got)
	}
	if len(f.e.NoAnswer()) != 0 {
		t.Error("NoAnswer reported the agent twice")
	}
	g := f.e.Gauges()
	if g.Agents[0].Presence != org.Away || g.Agents[0].Offered != 0 {
		t.Errorf("agent after no-answer: %+v, want away with no open offers", g.Agents[0])
	}
	// An answer resets the count.
	other := f.agent("present", nil, 1)
	for range 2 {
		f.task(q, 0)
		f.e.Dispatch()
		f.tick(21 * time.Second)
		f.e.Expire()
	}
	tk := f.task(q, 0)
	_ = tk
	for _, o := range f.e.Dispatch() {
		f.e.Reject(o.AgentID, o.ID)
	}
	f.tick(21 * time.Second)
	f.e.Expire()
	if got := f.e.NoAnswer(); len(got) != 0 {
		t.Errorf("NoAnswer() = %v after a reject broke the run, want none", got)
	}
	_ = other
}

func TestPreferredAgentsFirstThenThePool(t *testing.T) {
	f := newFixture()
	q := f.queue("Service", nil)
	pool := f.agent("pool", nil, 1)
	advisor := f.agent("advisor", nil, 1)
	busy := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now}
	f.e.Assigned(busy.ContactID, advisor, org.Chat) // the advisor is on another chat

	tk := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now,
		Preferred: []uuid.UUID{advisor}, PreferUntil: f.now.Add(30 * time.Second), PreferReason: "advisor on open order SO-1"}
	f.e.Enqueue(tk)
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Fatalf("Dispatch() = %v, want the contact to wait for its advisor", got)
	}
	if next, ok := f.e.NextDeadline(); !ok || !next.Equal(tk.PreferUntil) {
		t.Errorf("NextDeadline() = %v, %v; want the end of the preference", next, ok)
	}
	// The advisor frees up within the window: they get it, with the reason.
	f.tick(10 * time.Second)
	f.e.Release(busy.ContactID)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != advisor || got[0].Reason != "advisor on open order SO-1" {
		t.Fatalf("Dispatch() = %v, want the advisor, with the reason", got)
	}
	// Another contact whose preferred agent never frees up goes to the pool
	// once the window ends.
	other := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now,
		Preferred: []uuid.UUID{advisor}, PreferUntil: f.now.Add(30 * time.Second)}
	f.e.Enqueue(other)
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Fatalf("Dispatch() = %v, want a wait for the (busy) advisor", got)
	}
	f.tick(30 * time.Second)
	got = f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != pool {
		t.Errorf("after the window Dispatch() = %v, want the pool agent", got)
	}
}
