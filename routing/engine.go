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

	// Preferred agents are tried alone until PreferUntil (the customer's
	// owner, the advisor on an open order, the agent who handled them last);
	// then the queue's whole pool. PreferReason says why, for the console.
	Preferred    []uuid.UUID
	PreferUntil  time.Time
	PreferReason string
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
	today     int                 // contacts accepted today (SetHandledToday resets it)
	missed    int                 // offers in a row that ran out unanswered
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
	// wrapUntil is when the agent's wrap-up after closing ends (zero while
	// the contact is worked): the slot stays held until then (wrapup.go).
	wrapUntil time.Time
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

	// MaxMissed is how many offers in a row an agent may let run out before
	// routing sets them away ("no answer"), as FreeSWITCH mod_callcenter
	// does: an agent who walked off must not keep contacts waiting.
	MaxMissed int
	noAnswer  []uuid.UUID
	// lastOffered is, per queue, the agent offered last, for round robin.
	lastOffered map[uuid.UUID]uuid.UUID

	// lines holds each queue's tasks (waiting or offered) in routing order,
	// kept sorted on insert, so that a decision looks at the heads of the
	// queues a free agent can serve and never sorts or walks the backlog.
	lines map[uuid.UUID]*line
	// free is, per channel, the routable agents with a free slot, kept up to
	// date at every change so a decision never scans every agent.
	free map[org.Channel]map[*agentState]struct{}
	// freeBy is Dispatch's scratch copy of free, made per channel on first use.
	freeBy [3][]*agentState
	built  [3]bool
}

// NewEngine returns an empty engine.
func NewEngine(now func() time.Time, newID func() uuid.UUID) *Engine {
	return &Engine{
		now: now, newID: newID,
		queues:      map[uuid.UUID]org.Queue{},
		agents:      map[uuid.UUID]*agentState{},
		tasks:       map[uuid.UUID]*taskState{},
		offers:      map[uuid.UUID]*Offer{},
		assigned:    map[uuid.UUID]assignment{},
		lines:       map[uuid.UUID]*line{},
		MaxMissed:   3,
		lastOffered: map[uuid.UUID]uuid.UUID{},
		free: map[org.Channel]map[*agentState]struct{}{
			org.Voice: {}, org.Chat: {}, org.Email: {},
		},
	}
}

// touch re-files an agent in the free sets after anything that changes its
// presence, capacity, load or open offers.
func (e *Engine) touch(a *agentState) {
	for _, ch := range org.Channels {
		if a.routable() && a.free(ch) > 0 && e.agents[a.ID] == a {
			e.free[ch][a] = struct{}{}
		} else {
			delete(e.free[ch], a)
		}
	}
}

// line is one queue's tasks in routing order, with a count per channel so
// that a queue nobody free can serve is passed over without a scan.
type line struct {
	tasks []*taskState
	n     [3]int
}

func (e *Engine) insert(t *taskState) {
	l := e.lines[t.QueueID]
	if l == nil {
		l = &line{}
		e.lines[t.QueueID] = l
	}
	i, _ := slices.BinarySearchFunc(l.tasks, t, e.before)
	l.tasks = slices.Insert(l.tasks, i, t)
	l.n[channelIndex(t.Channel)]++
}

func (e *Engine) remove(t *taskState) {
	l := e.lines[t.QueueID]
	if l == nil {
		return
	}
	if i, ok := slices.BinarySearchFunc(l.tasks, t, e.before); ok {
		l.tasks = slices.Delete(l.tasks, i, i+1)
		l.n[channelIndex(t.Channel)]--
		if len(l.tasks) == 0 {
			delete(e.lines, t.QueueID)
		}
	}
}

// freeFor is the list of agents free on ch, copied once per Dispatch.
func (e *Engine) freeFor(ci int) []*agentState {
	if !e.built[ci] {
		free := e.freeBy[ci][:0]
		for a := range e.free[org.Channels[ci]] {
			free = append(free, a)
		}
		e.freeBy[ci], e.built[ci] = free, true
	}
	return e.freeBy[ci]
}

// SetQueue adds or updates a queue. Tasks of unknown queues wait unoffered.
func (e *Engine) SetQueue(q org.Queue) {
	if q.OfferTimeout <= 0 {
		q.OfferTimeout = 20 * time.Second
	}
	e.queues[q.ID] = q
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
	e.touch(a)
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
	e.touch(a)
	return out
}

// SetPresence records an agent's chosen presence and connection. An agent
// who stops being routable loses its open offers (returned; the contacts go
// back with their age); one who becomes routable starts its idle clock.
func (e *Engine) SetPresence(id uuid.UUID, p org.Presence, connected bool) []Offer {
	a := e.agent(id)
	was := a.routable()
	a.presence, a.connected = p, connected
	defer e.touch(a)
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
		e.touch(a)
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
	a := e.agents[agent]
	a.missed = 0
	a.today++
	return *o, nil
}

// SetHandledToday sets how many contacts an agent accepted today, on
// rebuild and at the queue's local midnight (fewest-today strategy).
func (e *Engine) SetHandledToday(agent uuid.UUID, n int) { e.agent(agent).today = n }

// Reject ends the offer; the contact goes back with its original age and
// is not offered to this agent again for one offer timeout.
func (e *Engine) Reject(agent, offer uuid.UUID) (Offer, error) {
	o, err := e.openOffer(agent, offer)
	if err != nil {
		return Offer{}, err
	}
	e.agents[agent].missed = 0 // a reject is an answer
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
	a := e.agent(agent)
	a.load[ch]++
	e.touch(a)
}

// AssignedTo lists the contacts an agent holds on channel ch.
func (e *Engine) AssignedTo(agent uuid.UUID, ch org.Channel) []uuid.UUID {
	var out []uuid.UUID
	for c, as := range e.assigned {
		if as.agent == agent && as.ch == ch {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return out
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
		e.touch(a)
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
	expired := len(out)
	for i := range expired { // out grows below; only the expired are declined
		o := e.offers[out[i].ID]
		if o == nil {
			continue // its agent was set away by an earlier one in this round
		}
		e.decline(o)
		if a := e.agents[o.AgentID]; a != nil && a.routable() {
			if a.missed++; e.MaxMissed > 0 && a.missed >= e.MaxMissed {
				a.missed = 0
				e.noAnswer = append(e.noAnswer, a.ID)
				// Their other open offers go back too, reported with the
				// expired ones so their consoles are told.
				for _, r := range e.SetPresence(a.ID, org.Away, a.connected) {
					if !r.ExpiresAt.After(now) {
						continue // expired too: already in out
					}
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// NoAnswer returns, once, the agents that Expire set away for missing
// MaxMissed offers in a row; the caller persists their presence and tells
// them. Their reason is "no answer".
func (e *Engine) NoAnswer() []uuid.UUID {
	out := e.noAnswer
	e.noAnswer = nil
	return out
}

// NextDeadline is the earliest time the engine has work without being
// told anything: an offer to expire, a preference to run out (the
// contact then goes to the whole pool), or a wrap-up to end.
func (e *Engine) NextDeadline() (time.Time, bool) {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, o := range e.offers {
		earlier(o.ExpiresAt)
	}
	now := e.now()
	for _, t := range e.tasks {
		if t.offer == nil && t.prefers(now) {
			earlier(t.PreferUntil)
		}
	}
	e.wrapUpDeadlines(earlier)
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
//
// Each round takes, of every queue, the first waiting contact that a free
// agent can serve, offers the best of those heads to its longest-idle
// agent, and goes again until no head can be served. Tasks of one queue
// share its skills, so a queue nobody free can serve costs one check.
func (e *Engine) Dispatch() []Offer {
	e.built = [3]bool{}
	now := e.now()
	var out []Offer
	for {
		var bestT *taskState
		bestA := -1
		for qid, l := range e.lines {
			q, ok := e.queues[qid]
			if !ok {
				continue
			}
			t, a := e.head(l, q, now)
			if t != nil && (bestT == nil || e.before(t, bestT) < 0) {
				bestT, bestA = t, a
			}
		}
		if bestT == nil {
			return out
		}
		q := e.queues[bestT.QueueID]
		ci := channelIndex(bestT.Channel)
		free := e.freeBy[ci]
		agent := free[bestA]
		why := reason(q)
		if bestT.prefers(now) && bestT.PreferReason != "" {
			why = bestT.PreferReason
		}
		o := &Offer{ID: e.newID(), Task: bestT.Task, AgentID: agent.ID, OfferedAt: now, ExpiresAt: now.Add(q.OfferTimeout),
			Reason: why}
		bestT.offer = o
		e.lastOffered[q.ID] = agent.ID
		e.offers[o.ID] = o
		agent.offers[o.ID] = o
		agent.offered[bestT.Channel]++
		e.touch(agent)
		out = append(out, *o)
		if agent.free(bestT.Channel) <= 0 {
			free[bestA] = free[len(free)-1]
			e.freeBy[ci] = free[:len(free)-1]
		}
	}
}

func reason(q org.Queue) string {
	switch q.Strategy {
	case RoundRobin:
		return "next in turn in " + q.Name
	case LeastOccupied:
		return "least occupied agent in " + q.Name
	case FewestToday:
		return "fewest contacts today in " + q.Name
	case BestSkill:
		return "best skilled agent in " + q.Name
	}
	return "longest idle agent in " + q.Name
}

// head finds a queue's first waiting task that a free agent can take, and
// that agent's index in the channel's free list. The queue's skills are the
// same for all its tasks, so who qualifies is worked out once per channel.
func (e *Engine) head(l *line, q org.Queue, now time.Time) (*taskState, int) {
	var elig [3][]int
	any := false
	for ci := range elig {
		if l.n[ci] == 0 {
			continue
		}
		for i, a := range e.freeFor(ci) {
			if hasSkills(a.Skills, q.Skills) {
				elig[ci] = append(elig[ci], i)
			}
		}
		any = any || len(elig[ci]) > 0
	}
	if !any {
		return nil, -1
	}
	for _, t := range l.tasks {
		if t.offer != nil {
			continue
		}
		ci := channelIndex(t.Channel)
		if len(elig[ci]) == 0 {
			continue
		}
		if t.prefers(now) {
			// Only the preferred agents for now; the task waits for them.
			if i := e.pick(e.freeBy[ci], elig[ci], t, q, now, t.Preferred); i >= 0 {
				return t, i
			}
			continue
		}
		if i := e.pick(e.freeBy[ci], elig[ci], t, q, now, nil); i >= 0 {
			return t, i
		}
	}
	return nil, -1
}

func channelIndex(c org.Channel) int {
	switch c {
	case org.Voice:
		return 0
	case org.Chat:
		return 1
	}
	return 2
}

func (t *taskState) prefers(now time.Time) bool {
	return len(t.Preferred) > 0 && now.Before(t.PreferUntil)
}

// Strategies name how a queue picks among the agents able to take a contact.
const (
	LongestIdle   = "longest_idle"   // the agent idle longest (default)
	RoundRobin    = "round_robin"    // the next agent after the one offered last, in a fixed order
	LeastOccupied = "least_occupied" // the lowest share of capacity in use
	FewestToday   = "fewest_today"   // the fewest contacts accepted today
	BestSkill     = "best_skill"     // the highest level in the queue's skills, then longest idle
)

// Strategies lists the known strategies, for validation.
var Strategies = []string{LongestIdle, RoundRobin, LeastOccupied, FewestToday, BestSkill}

// pick chooses, of the qualified free agents (elig indexes free) who have
// not just declined t, the one q's strategy prefers; ties go to the agent
// idle longest, then by id, so every choice is deterministic. It returns the
// index in free, or -1.
func (e *Engine) pick(free []*agentState, elig []int, t *taskState, q org.Queue, now time.Time, only []uuid.UUID) int {
	better := e.strategy(q)
	best := -1
	for _, i := range elig {
		a := free[i]
		if only != nil && !slices.Contains(only, a.ID) {
			continue
		}
		if until, ok := t.declined[a.ID]; ok && now.Before(until) {
			continue
		}
		if best < 0 || better(a, free[best]) {
			best = i
		}
	}
	return best
}

// strategy returns "a is preferred to b" for q.
func (e *Engine) strategy(q org.Queue) func(a, b *agentState) bool {
	idle := func(a, b *agentState) bool {
		if !a.idleSince.Equal(b.idleSince) {
			return a.idleSince.Before(b.idleSince)
		}
		return bytes.Compare(a.ID[:], b.ID[:]) < 0
	}
	switch q.Strategy {
	case RoundRobin:
		last := e.lastOffered[q.ID]
		return func(a, b *agentState) bool {
			// Agents after the last one, in id order, come first; then wrap.
			aa, ba := bytes.Compare(a.ID[:], last[:]) > 0, bytes.Compare(b.ID[:], last[:]) > 0
			if aa != ba {
				return aa
			}
			return bytes.Compare(a.ID[:], b.ID[:]) < 0
		}
	case LeastOccupied:
		return func(a, b *agentState) bool {
			// Compare used/capacity as cross products: no division, no floats.
			ua, ca := a.occupancy()
			ub, cb := b.occupancy()
			if ua*cb != ub*ca {
				return ua*cb < ub*ca
			}
			return idle(a, b)
		}
	case FewestToday:
		return func(a, b *agentState) bool {
			if a.today != b.today {
				return a.today < b.today
			}
			return idle(a, b)
		}
	case BestSkill:
		return func(a, b *agentState) bool {
			sa, sb := skillScore(a.Skills, q.Skills), skillScore(b.Skills, q.Skills)
			if sa != sb {
				return sa > sb
			}
			return idle(a, b)
		}
	}
	return idle
}

// occupancy is the slots in use (assignments and open offers) and the
// capacity, over all channels.
func (a *agentState) occupancy() (used, capacity int) {
	for _, ch := range org.Channels {
		used += a.load[ch] + a.offered[ch]
		capacity += a.Capacity[ch]
	}
	return used, max(capacity, 1)
}

func skillScore(have, need map[string]int) int {
	n := 0
	for s := range need {
		n += have[s]
	}
	return n
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
