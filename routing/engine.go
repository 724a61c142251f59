package routing

import (
	"bytes"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// Task is a contact waiting to be routed.
type Task struct {
	ContactID uuid.UUID
	QueueID   uuid.UUID
	Channel   org.Channel
	Priority  int       // higher first
	ArrivedAt time.Time // the contact's age; kept through re-queues
}

// Agent is routing's view of an agent's static properties.
type Agent struct {
	ID       uuid.UUID
	Name     string
	Skills   map[string]int
	Capacity map[org.Channel]int
}

// Offer proposes a contact to one agent until it is accepted, rejected,
// rescinded, or expires.
type Offer struct {
	ID        uuid.UUID
	Task      Task
	AgentID   uuid.UUID
	OfferedAt time.Time
	ExpiresAt time.Time
	Reason    string // why this agent, for the console
}

// ErrNoOffer: the offer is unknown, ended, or not this agent's.
var ErrNoOffer = errors.New("no such open offer")

type taskState struct {
	Task
	offer    *Offer
	declined map[uuid.UUID]time.Time // agent → not again before
}

type agentState struct {
	Agent
	presence  org.Presence
	connected bool
	idleSince time.Time
	load      map[org.Channel]int // assignments
	offered   map[org.Channel]int // open offers, each holding a slot
	offers    map[uuid.UUID]*Offer
}

func (a *agentState) routable() bool { return a.presence == org.Available && a.connected }

func (a *agentState) free(ch org.Channel) int {
	return a.Capacity[ch] - a.load[ch] - a.offered[ch]
}

func (a *agentState) totalLoad() int {
	n := 0
	for _, l := range a.load {
		n += l
	}
	return n
}

type assignment struct {
	agent uuid.UUID
	ch    org.Channel
}

// Engine is one tenant's routing state. It is not safe for concurrent use:
// one goroutine drives it.
type Engine struct {
	now      func() time.Time
	newID    func() uuid.UUID
	queues   map[uuid.UUID]org.Queue
	agents   map[uuid.UUID]*agentState
	tasks    map[uuid.UUID]*taskState
	offers   map[uuid.UUID]*Offer
	assigned map[uuid.UUID]assignment

	// order holds every task (waiting or offered) in routing order, kept
	// sorted on insert so that a decision never sorts the whole backlog.
	order []*taskState
	// freeBy is Dispatch's scratch: per channel, the agents with a free slot.
	freeBy map[org.Channel][]*agentState
}

// NewEngine returns an empty engine.
func NewEngine(now func() time.Time, newID func() uuid.UUID) *Engine {
	return &Engine{
		now: now, newID: newID,
		queues:   map[uuid.UUID]org.Queue{},
		agents:   map[uuid.UUID]*agentState{},
		tasks:    map[uuid.UUID]*taskState{},
		offers:   map[uuid.UUID]*Offer{},
		assigned: map[uuid.UUID]assignment{},
		freeBy:   map[org.Channel][]*agentState{},
	}
}

func (e *Engine) insert(t *taskState) {
	i, _ := slices.BinarySearchFunc(e.order, t, e.before)
	e.order = slices.Insert(e.order, i, t)
}

func (e *Engine) remove(t *taskState) {
	if i, ok := slices.BinarySearchFunc(e.order, t, e.before); ok {
		e.order = slices.Delete(e.order, i, i+1)
	}
}

// SetQueue adds or updates a queue. Tasks of unknown queues wait unoffered.
func (e *Engine) SetQueue(q org.Queue) {
	if q.OfferTimeout <= 0 {
		q.OfferTimeout = 20 * time.Second
	}
	old, known := e.queues[q.ID]
	e.queues[q.ID] = q
	if known && old.Priority != q.Priority {
		slices.SortFunc(e.order, e.before)
	}
}

func (e *Engine) agent(id uuid.UUID) *agentState {
	a := e.agents[id]
	if a == nil {
		a = &agentState{Agent: Agent{ID: id}, presence: org.Offline,
			load: map[org.Channel]int{}, offered: map[org.Channel]int{}, offers: map[uuid.UUID]*Offer{}}
		e.agents[id] = a
	}
	return a
}

// SetAgent adds or updates an agent's static properties; presence and load stay.
func (e *Engine) SetAgent(ag Agent) {
	a := e.agent(ag.ID)
	a.Agent = ag
}

// RemoveAgent forgets an agent, rescinding its open offers. Its
// assignments stay until released.
func (e *Engine) RemoveAgent(id uuid.UUID) []Offer {
	a := e.agents[id]
	if a == nil {
		return nil
	}
	out := e.rescindAgent(a)
	delete(e.agents, id)
	return out
}

// SetPresence records an agent's chosen presence and connection. An agent
// who stops being routable loses its open offers (returned; the contacts go
// back with their age); one who becomes routable starts its idle clock.
func (e *Engine) SetPresence(id uuid.UUID, p org.Presence, connected bool) []Offer {
	a := e.agent(id)
	was := a.routable()
	a.presence, a.connected = p, connected
	switch now := a.routable(); {
	case was && !now:
		return e.rescindAgent(a)
	case !was && now:
		a.idleSince = e.now()
	}
	return nil
}

func (e *Engine) rescindAgent(a *agentState) []Offer {
	var out []Offer
	for _, o := range a.offers {
		e.endOffer(o)
		out = append(out, *o)
	}
	sortOffers(out)
	return out
}

// endOffer closes an open offer and puts its task back in line.
func (e *Engine) endOffer(o *Offer) {
	delete(e.offers, o.ID)
	if a := e.agents[o.AgentID]; a != nil {
		delete(a.offers, o.ID)
		a.offered[o.Task.Channel]--
	}
	if t := e.tasks[o.Task.ContactID]; t != nil && t.offer == o {
		t.offer = nil
	}
}

// Enqueue adds a waiting contact; false when the contact is already
// waiting, offered or assigned, so repeats are harmless.
func (e *Engine) Enqueue(t Task) bool {
	if _, ok := e.tasks[t.ContactID]; ok {
		return false
	}
	if _, ok := e.assigned[t.ContactID]; ok {
		return false
	}
	ts := &taskState{Task: t}
	e.tasks[t.ContactID] = ts
	e.insert(ts)
	return true
}

// Waiting reports whether the contact waits for an offer.
func (e *Engine) Waiting(contact uuid.UUID) bool {
	t := e.tasks[contact]
	return t != nil && t.offer == nil
}

// Cancel removes a waiting or offered contact (closed or abandoned); the
// offer it had, if any, is returned so its agent can be told.
func (e *Engine) Cancel(contact uuid.UUID) (Offer, bool) {
	t := e.tasks[contact]
	if t == nil {
		return Offer{}, false
	}
	delete(e.tasks, contact)
	e.remove(t)
	if t.offer != nil {
		o := t.offer
		e.endOffer(o)
		return *o, true
	}
	return Offer{}, false
}

func (e *Engine) openOffer(agent, offer uuid.UUID) (*Offer, error) {
	o := e.offers[offer]
	if o == nil || o.AgentID != agent {
		return nil, ErrNoOffer
	}
	if !e.now().Before(o.ExpiresAt) {
		return nil, ErrNoOffer // Expire will collect it
	}
	return o, nil
}

// Accept turns the agent's offer into an assignment: the contact leaves the
// queue and the agent's slot stays held.
func (e *Engine) Accept(agent, offer uuid.UUID) (Offer, error) {
	o, err := e.openOffer(agent, offer)
	if err != nil {
		return Offer{}, err
	}
	e.endOffer(o)
	if t := e.tasks[o.Task.ContactID]; t != nil {
		delete(e.tasks, o.Task.ContactID)
		e.remove(t)
	}
	e.assign(o.Task.ContactID, agent, o.Task.Channel)
	return *o, nil
}

// Reject ends the offer; the contact goes back with its original age and
// is not offered to this agent again for one offer timeout.
func (e *Engine) Reject(agent, offer uuid.UUID) (Offer, error) {
	o, err := e.openOffer(agent, offer)
	if err != nil {
		return Offer{}, err
	}
	e.decline(o)
	return *o, nil
}

func (e *Engine) decline(o *Offer) {
	e.endOffer(o)
	if t := e.tasks[o.Task.ContactID]; t != nil {
		if t.declined == nil {
			t.declined = map[uuid.UUID]time.Time{}
		}
		t.declined[o.AgentID] = e.now().Add(e.queues[o.Task.QueueID].OfferTimeout)
	}
}

// Assigned records an open assignment read back from the database on rebuild.
func (e *Engine) Assigned(contact, agent uuid.UUID, ch org.Channel) {
	if _, ok := e.assigned[contact]; ok {
		return
	}
	e.Cancel(contact)
	e.assign(contact, agent, ch)
}

func (e *Engine) assign(contact, agent uuid.UUID, ch org.Channel) {
	e.assigned[contact] = assignment{agent: agent, ch: ch}
	e.agent(agent).load[ch]++
}

// Release ends an assignment (closed, or its accept failed to commit) and
// frees the agent's slot; an agent with nothing left starts its idle clock.
func (e *Engine) Release(contact uuid.UUID) bool {
	as, ok := e.assigned[contact]
	if !ok {
		return false
	}
	delete(e.assigned, contact)
	if a := e.agents[as.agent]; a != nil {
		a.load[as.ch]--
		if a.totalLoad() == 0 {
			a.idleSince = e.now()
		}
	}
	return true
}

// Expire ends every offer whose time is up; the contacts go back with
// their age, and the agent who missed one is not offered it again at once.
func (e *Engine) Expire() []Offer {
	now := e.now()
	var out []Offer
	for _, o := range e.offers {
		if !now.Before(o.ExpiresAt) {
			out = append(out, *o)
		}
	}
	sortOffers(out)
	for i := range out {
		e.decline(e.offers[out[i].ID])
	}
	return out
}

// NextDeadline is the earliest time Expire has work.
func (e *Engine) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, o := range e.offers {
		if next.IsZero() || o.ExpiresAt.Before(next) {
			next = o.ExpiresAt
		}
	}
	return next, !next.IsZero()
}

// Offers lists every open offer.
func (e *Engine) Offers() []Offer {
	out := make([]Offer, 0, len(e.offers))
	for _, o := range e.offers {
		out = append(out, *o)
	}
	sortOffers(out)
	return out
}

// OffersFor lists an agent's open offers.
func (e *Engine) OffersFor(agent uuid.UUID) []Offer {
	a := e.agents[agent]
	if a == nil {
		return nil
	}
	out := make([]Offer, 0, len(a.offers))
	for _, o := range a.offers {
		out = append(out, *o)
	}
	sortOffers(out)
	return out
}

func sortOffers(os []Offer) {
	slices.SortFunc(os, func(a, b Offer) int {
		if c := a.OfferedAt.Compare(b.OfferedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
}

// before orders waiting contacts: priority (the task's plus its queue's)
// first, then age, then id so that the order is total.
func (e *Engine) before(a, b *taskState) int {
	pa, pb := a.Priority+e.queues[a.QueueID].Priority, b.Priority+e.queues[b.QueueID].Priority
	if pa != pb {
		return pb - pa
	}
	if c := a.ArrivedAt.Compare(b.ArrivedAt); c != 0 {
		return c
	}
	return bytes.Compare(a.ContactID[:], b.ContactID[:])
}

// Dispatch makes every offer possible now, in contact order, and returns them.
func (e *Engine) Dispatch() []Offer {
	// Per channel, the agents who could take a contact at all; the walk
	// stops as soon as none is left, so a decision costs little however long
	// the backlog.
	left := 0
	for _, ch := range org.Channels {
		free := e.freeBy[ch][:0]
		for _, a := range e.agents {
			if a.routable() && a.free(ch) > 0 {
				free = append(free, a)
			}
		}
		e.freeBy[ch] = free
		left += len(free)
	}
	if left == 0 {
		return nil
	}
	now := e.now()
	var out []Offer
	for _, t := range e.order {
		if t.offer != nil {
			continue
		}
		free := e.freeBy[t.Channel]
		if len(free) == 0 {
			continue
		}
		q, ok := e.queues[t.QueueID]
		if !ok {
			continue
		}
		i := e.longestIdle(free, t, q, now)
		if i < 0 {
			continue
		}
		best := free[i]
		o := &Offer{ID: e.newID(), Task: t.Task, AgentID: best.ID, OfferedAt: now, ExpiresAt: now.Add(q.OfferTimeout),
			Reason: "longest idle agent in " + q.Name}
		t.offer = o
		e.offers[o.ID] = o
		best.offers[o.ID] = o
		best.offered[t.Channel]++
		out = append(out, *o)
		if best.free(t.Channel) <= 0 {
			free[i] = free[len(free)-1]
			e.freeBy[t.Channel] = free[:len(free)-1]
			if left--; left == 0 {
				break
			}
		}
	}
	return out
}

// longestIdle is the default strategy: of the agents able to take t, the
// one idle the longest (ties by id).
// It returns the agent's index in free, or -1.
func (e *Engine) longestIdle(free []*agentState, t *taskState, q org.Queue, now time.Time) int {
	best := -1
	for i, a := range free {
		if !hasSkills(a.Skills, q.Skills) {
			continue
		}
		if until, ok := t.declined[a.ID]; ok && now.Before(until) {
			continue
		}
		if best < 0 || a.idleSince.Before(free[best].idleSince) ||
			(a.idleSince.Equal(free[best].idleSince) && bytes.Compare(a.ID[:], free[best].ID[:]) < 0) {
			best = i
		}
	}
	return best
}

func hasSkills(have, need map[string]int) bool {
	for s, min := range need {
		if have[s] < min {
			return false
		}
	}
	return true
}

// Gauges is a snapshot for wallboards.
type Gauges struct {
	At     time.Time
	Queues []QueueGauge // every known queue, by name
	Agents []AgentGauge // every known agent, by name
}

// QueueGauge is one queue's live figures.
type QueueGauge struct {
	QueueID       uuid.UUID
	Name          string
	Waiting       int // including offered
	Offered       int
	OldestArrival time.Time // zero when none waits
}

// AgentGauge is one agent's live state.
type AgentGauge struct {
	AgentID   uuid.UUID
	Name      string
	Presence  org.Presence
	Connected bool
	Load      map[org.Channel]int // assignments only
	Offered   int
}

// Gauges computes the live figures.
func (e *Engine) Gauges() Gauges {
	g := Gauges{At: e.now()}
	idx := map[uuid.UUID]int{}
	for id, q := range e.queues {
		idx[id] = len(g.Queues)
		g.Queues = append(g.Queues, QueueGauge{QueueID: id, Name: q.Name})
	}
	for _, t := range e.tasks {
		i, ok := idx[t.QueueID]
		if !ok {
			continue
		}
		qg := &g.Queues[i]
		qg.Waiting++
		if t.offer != nil {
			qg.Offered++
		}
		if qg.OldestArrival.IsZero() || t.ArrivedAt.Before(qg.OldestArrival) {
			qg.OldestArrival = t.ArrivedAt
		}
	}
	slices.SortFunc(g.Queues, func(a, b QueueGauge) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.QueueID[:], b.QueueID[:])
	})
	for _, a := range e.agents {
		load := map[org.Channel]int{}
		for ch, n := range a.load {
			if n > 0 {
				load[ch] = n
			}
		}
		g.Agents = append(g.Agents, AgentGauge{AgentID: a.ID, Name: a.Name, Presence: a.presence, Connected: a.connected, Load: load, Offered: len(a.offers)})
	}
	slices.SortFunc(g.Agents, func(a, b AgentGauge) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.AgentID[:], b.AgentID[:])
	})
	return g
}
