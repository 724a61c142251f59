package routing

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
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

// TestRandomSequencesKeepTheInvariants replays seeded random sequences of
// arrivals, accepts, rejects, expiries, presence changes, releases and
// cancels. An independent checker follows only what the engine returned
// (offers made, ended, accepted) and asserts: no contact is offered to two
// agents at once, an agent never holds more than its capacity in
// assignments plus open offers, every offer ends once, and when the agents
// stay available everything waiting is eventually assigned.
func TestRandomSequencesKeepTheInvariants(t *testing.T) {
	for seed := range uint64(1500) {
		if !runRandom(t, seed) {
			return
		}
	}
}

type checker struct {
	t        *testing.T
	seed     uint64
	capacity map[uuid.UUID]int
	open     map[uuid.UUID]Offer     // offer id → offer
	byTask   map[uuid.UUID]uuid.UUID // contact → open offer id
	held     map[uuid.UUID]uuid.UUID // contact → agent (assigned)
	ok       bool
}

func (c *checker) fail(format string, args ...any) {
	c.t.Errorf("seed %d: "+format, append([]any{c.seed}, args...)...)
	c.ok = false
}

func (c *checker) offered(os []Offer) {
	for _, o := range os {
		if prev, dup := c.byTask[o.Task.ContactID]; dup {
			c.fail("contact %v offered again while offer %v is open", o.Task.ContactID, prev)
		}
		if _, held := c.held[o.Task.ContactID]; held {
			c.fail("contact %v offered while assigned", o.Task.ContactID)
		}
		c.open[o.ID] = o
		c.byTask[o.Task.ContactID] = o.ID
	}
	c.checkCapacity()
}

func (c *checker) ended(os []Offer) {
	for _, o := range os {
		if _, ok := c.open[o.ID]; !ok {
			c.fail("offer %v ended but was not open", o.ID)
		}
		delete(c.open, o.ID)
		delete(c.byTask, o.Task.ContactID)
	}
}

func (c *checker) checkCapacity() {
	use := map[uuid.UUID]int{}
	for _, o := range c.open {
		use[o.AgentID]++
	}
	for _, a := range c.held {
		use[a]++
	}
	for a, n := range use {
		if n > c.capacity[a] {
			c.fail("agent %v holds %d contacts, capacity %d", a, n, c.capacity[a])
		}
	}
}

func runRandom(t *testing.T, seed uint64) bool {
	r := rand.New(rand.NewPCG(seed, 7))
	f := newFixture()
	q := f.queue("Q", nil)
	c := &checker{t: t, seed: seed, capacity: map[uuid.UUID]int{}, open: map[uuid.UUID]Offer{},
		byTask: map[uuid.UUID]uuid.UUID{}, held: map[uuid.UUID]uuid.UUID{}, ok: true}
	var agents []uuid.UUID
	for i := range 1 + r.IntN(4) {
		capacity := 1 + r.IntN(3)
		id := f.id()
		f.e.SetAgent(Agent{ID: id, Name: fmt.Sprint(i), Capacity: map[org.Channel]int{org.Chat: capacity}})
		c.ended(f.e.SetPresence(id, org.Available, true))
		c.capacity[id] = capacity
		agents = append(agents, id)
	}
	live := map[uuid.UUID]bool{} // contacts enqueued and not cancelled or released
	for range 200 {
		switch r.IntN(8) {
		case 0, 1:
			tk := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now}
			f.e.Enqueue(tk)
			live[tk.ContactID] = true
		case 2: // accept a random open offer
			for id, o := range c.open {
				got, err := f.e.Accept(o.AgentID, id)
				if err != nil {
					c.fail("Accept of open offer: %v", err)
					break
				}
				c.ended([]Offer{got})
				c.held[got.Task.ContactID] = got.AgentID
				break
			}
		case 3:
			for id, o := range c.open {
				got, err := f.e.Reject(o.AgentID, id)
				if err != nil {
					c.fail("Reject of open offer: %v", err)
				}
				c.ended([]Offer{got})
				break
			}
		case 4:
			f.tick(time.Duration(r.IntN(25)) * time.Second)
			c.ended(f.e.Expire())
		case 5:
			a := agents[r.IntN(len(agents))]
			p := []org.Presence{org.Available, org.Away, org.Offline}[r.IntN(3)]
			c.ended(f.e.SetPresence(a, p, r.IntN(4) > 0))
		case 6:
			for contact := range c.held {
				f.e.Release(contact)
				delete(c.held, contact)
				delete(live, contact)
				break
			}
		case 7:
			for contact := range live {
				if _, held := c.held[contact]; held {
					continue
				}
				if o, had := f.e.Cancel(contact); had {
					c.ended([]Offer{o})
				}
				delete(live, contact)
				break
			}
		}
		c.offered(f.e.Dispatch())
		if !c.ok {
			return false
		}
	}
	// Drain: everyone available and accepting, earlier work finished; every
	// live contact ends up assigned.
	for contact := range c.held {
		f.e.Release(contact)
		delete(c.held, contact)
		delete(live, contact)
	}
	for _, a := range agents {
		c.ended(f.e.SetPresence(a, org.Available, true))
	}
	for range 10000 {
		c.offered(f.e.Dispatch())
		if len(c.open) == 0 {
			f.tick(time.Minute) // let cool-downs pass
			c.ended(f.e.Expire())
			c.offered(f.e.Dispatch())
			if len(c.open) == 0 {
				break
			}
		}
		for id, o := range c.open {
			got, err := f.e.Accept(o.AgentID, id)
			if err != nil {
				c.fail("Accept while draining: %v", err)
				return false
			}
			c.ended([]Offer{got})
			c.held[got.Task.ContactID] = got.AgentID
			f.e.Release(got.Task.ContactID)
			delete(c.held, got.Task.ContactID)
			delete(live, got.Task.ContactID)
			break
		}
	}
	for contact := range live {
		if _, held := c.held[contact]; !held {
			c.fail("contact %v was never assigned", contact)
			break
		}
	}
	return c.ok
}
