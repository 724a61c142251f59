package routing

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// fixture is an engine on a fake clock with deterministic ids.
type fixture struct {
	e   *Engine
	now time.Time
	n   uint64
}

func newFixture() *fixture {
	f := &fixture{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	f.e = NewEngine(func() time.Time { return f.now }, f.id)
	return f
}

func (f *fixture) id() uuid.UUID {
	f.n++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], f.n)
	return u
}

func (f *fixture) tick(d time.Duration) { f.now = f.now.Add(d) }

func (f *fixture) queue(name string, skills map[string]int) org.Queue {
	q := org.Queue{ID: f.id(), Name: name, Skills: skills, OfferTimeout: 20 * time.Second}
	f.e.SetQueue(q)
	return q
}

func (f *fixture) agent(name string, skills map[string]int, chat int) uuid.UUID {
	id := f.id()
	f.e.SetAgent(Agent{ID: id, Name: name, Skills: skills, Capacity: map[org.Channel]int{org.Chat: chat, org.Voice: 1}})
	f.e.SetPresence(id, org.Available, true)
	return id
}

func (f *fixture) task(q org.Queue, age time.Duration) Task {
	t := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now.Add(-age)}
	f.e.Enqueue(t)
	return t
}

func offeredTo(os []Offer) map[uuid.UUID]uuid.UUID {
	m := map[uuid.UUID]uuid.UUID{}
	for _, o := range os {
		m[o.Task.ContactID] = o.AgentID
	}
	return m
}

func TestOffersGoToTheLongestIdleAgent(t *testing.T) {
	f := newFixture()
	q := f.queue("Enquiries", nil)
	first := f.agent("first", nil, 1)
	f.tick(time.Minute)
	second := f.agent("second", nil, 1)
	c1 := f.task(q, 0)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != first {
		t.Fatalf("Dispatch() = %v, want one offer to the agent idle longest (%v)", got, first)
	}
	if _, err := f.e.Accept(first, got[0].ID); err != nil {
		t.Fatal(err)
	}
	c2 := f.task(q, 0)
	got = f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != second || got[0].Task.ContactID != c2.ContactID {
		t.Fatalf("Dispatch() = %v, want %v offered to %v (the first is busy)", got, c2.ContactID, second)
	}
	// The first agent finishes: idle again from now, so the second stays longer idle.
	f.tick(time.Minute)
	f.e.Release(c1.ContactID)
	if got := f.e.Gauges().Agents[0].Load[org.Chat]; got != 0 {
		t.Errorf("load after Release = %d, want 0", got)
	}
}

func TestSkillsAndCapacity(t *testing.T) {
	f := newFixture()
	sales := f.queue("Sales", map[string]int{"sales": 3})
	junior := f.agent("junior", map[string]int{"sales": 2}, 3)
	senior := f.agent("senior", map[string]int{"sales": 4}, 2)
	var tasks []Task
	for i := range 4 {
		tasks = append(tasks, f.task(sales, time.Duration(4-i)*time.Second))
	}
	got := offeredTo(f.e.Dispatch())
	if len(got) != 2 {
		t.Fatalf("offered %d contacts, want 2 (senior's chat capacity; junior lacks the skill level)", len(got))
	}
	for _, tk := range tasks[:2] {
		if got[tk.ContactID] != senior {
			t.Errorf("oldest contacts should go to senior, got %v", got)
		}
	}
	if len(f.e.OffersFor(junior)) != 0 {
		t.Errorf("junior got offers without the required level")
	}
	// Open offers hold capacity: nothing more until something ends.
	if more := f.e.Dispatch(); len(more) != 0 {
		t.Errorf("second Dispatch() = %v, want nothing: capacity is held by open offers", more)
	}
}

func TestTimeoutAndRejectKeepTheOriginalAge(t *testing.T) {
	f := newFixture()
	q := f.queue("Enquiries", nil)
	a := f.agent("a", nil, 1)
	b := f.agent("b", nil, 1)
	old := f.task(q, time.Minute)
	first := f.e.Dispatch()
	if len(first) != 1 || first[0].AgentID != a {
		t.Fatalf("Dispatch() = %v, want the old contact offered to a (idle longest)", first)
	}
	newer := f.task(q, 0)
	if got := f.e.Dispatch(); len(got) != 1 || got[0].AgentID != b || got[0].Task.ContactID != newer.ContactID {
		t.Fatalf("Dispatch() = %v, want the newer contact offered to b", got)
	}
	// a rejects: the old contact waits again with its original age.
	if _, err := f.e.Reject(a, first[0].ID); err != nil {
		t.Fatal(err)
	}
	if !f.e.Waiting(old.ContactID) {
		t.Fatalf("rejected contact is not waiting again")
	}
	if g := f.e.Gauges(); !g.Queues[0].OldestArrival.Equal(old.ArrivedAt) {
		t.Errorf("oldest arrival = %v, want the original %v", g.Queues[0].OldestArrival, old.ArrivedAt)
	}
	// a is not offered the contact it just rejected; b is busy.
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Errorf("Dispatch right after reject = %v, want nothing", got)
	}
	if _, err := f.e.Reject(a, first[0].ID); err != ErrNoOffer {
		t.Errorf("second Reject = %v, want ErrNoOffer", err)
	}
	// b's offer times out; the newer contact goes back too.
	f.tick(21 * time.Second)
	if expired := f.e.Expire(); len(expired) != 1 || expired[0].AgentID != b {
		t.Fatalf("Expire() = %v, want b's offer", expired)
	}
	// The old contact is first in line again, ahead of the newer one.
	got := f.e.Dispatch()
	if len(got) == 0 || got[0].Task.ContactID != old.ContactID || !got[0].Task.ArrivedAt.Equal(old.ArrivedAt) {
		t.Errorf("after the cool-down Dispatch() = %v, want the old contact first with its original age", got)
	}
}

func TestAgentGoingAwayMidOffer(t *testing.T) {
	f := newFixture()
	q := f.queue("Service", nil)
	a := f.agent("a", nil, 1)
	tk := f.task(q, 0)
	o := f.e.Dispatch()
	if len(o) != 1 || o[0].AgentID != a {
		t.Fatalf("Dispatch = %v", o)
	}
	b := f.agent("b", nil, 1)
	rescinded := f.e.SetPresence(a, org.Away, true)
	if len(rescinded) != 1 || rescinded[0].ID != o[0].ID {
		t.Fatalf("SetPresence(away) rescinded %v, want the open offer", rescinded)
	}
	if _, err := f.e.Accept(a, o[0].ID); err != ErrNoOffer {
		t.Errorf("Accept of a rescinded offer = %v, want ErrNoOffer", err)
	}
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != b || got[0].Task.ContactID != tk.ContactID {
		t.Errorf("after a went away: %v, want the contact offered to b", got)
	}
	// Disconnecting is the same as going away.
	if r := f.e.SetPresence(b, org.Available, false); len(r) != 1 {
		t.Errorf("disconnect rescinded %v, want b's offer", r)
	}
}

func TestEnqueueIsIdempotentAndAssignedContactsStayOut(t *testing.T) {
	f := newFixture()
	q := f.queue("Q", nil)
	a := f.agent("a", nil, 2)
	tk := f.task(q, 0)
	if f.e.Enqueue(tk) {
		t.Error("Enqueue of a waiting contact returned true")
	}
	o := f.e.Dispatch()[0]
	if f.e.Enqueue(tk) {
		t.Error("Enqueue of an offered contact returned true")
	}
	if _, err := f.e.Accept(a, o.ID); err != nil {
		t.Fatal(err)
	}
	if f.e.Enqueue(tk) {
		t.Error("Enqueue of an assigned contact returned true (a late NOTIFY would double it)")
	}
	if _, err := f.e.Accept(a, o.ID); err != ErrNoOffer {
		t.Errorf("second Accept = %v, want ErrNoOffer", err)
	}
	f.e.Release(tk.ContactID)
	if !f.e.Enqueue(tk) {
		t.Error("after Release the contact may be queued again (a transfer)")
	}
	// Rebuild: an open assignment read back holds capacity.
	other := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now}
	f.e.Assigned(other.ContactID, a, org.Chat)
	f.e.Assigned(other.ContactID, a, org.Chat)
	if got := f.e.Gauges().Agents[0].Load[org.Chat]; got != 1 {
		t.Errorf("load after Assigned twice = %d, want 1", got)
	}
}

func TestPriorityBeforeAge(t *testing.T) {
	f := newFixture()
	q := f.queue("Q", nil)
	f.agent("a", nil, 1)
	f.task(q, time.Hour)
	vip := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, Priority: 5, ArrivedAt: f.now}
	f.e.Enqueue(vip)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].Task.ContactID != vip.ContactID {
		t.Errorf("Dispatch = %v, want the priority contact first", got)
	}
}
