package routing

import (
	"bytes"
	"errors"
	"iter"
	"slices"
	"sort"
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
	// VoiceBlocksChat: no new chat while the agent rings or talks on a call.
	VoiceBlocksChat bool
	// PresenceSince is when the agent's stored presence last changed; only
	// wallboards read it (time in state).
	PresenceSince time.Time
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
	// offers are the task's open offers: one, or several while a ring-all
	// queue rings its agents; none while it waits.
	offers   []*Offer
	declined map[uuid.UUID]time.Time // agent → not again before
	// visited lists the queues it overflowed out of, so overflow never loops.
	visited []uuid.UUID
}

func (t *taskState) offered() bool { return len(t.offers) > 0 }

type agentState struct {
	Agent
	presence  org.Presence
	connected bool
	idleSince time.Time
	today     int // contacts accepted today (SetHandledToday resets it)
	missed    int // offers in a row that ran out unanswered
	offers    map[uuid.UUID]*Offer
	levels    []int // skill levels by Engine.skillIndex
	// Per channel, by channelIndex: arrays, not maps keyed by channel
	// name, because free slots are counted for every candidate agent.
	capacity, load, offered [3]int
	freeIdx                 [3]int // position in Engine.free, or -1
	gone                    bool   // removed: never free again
}

func (a *agentState) routable() bool { return a.presence == org.Available && a.connected }

func (a *agentState) free(ch org.Channel) int {
	return a.freeAt(channelIndex(ch))
}

// freeAt is free by channel index (channelIndex), the hot path's form.
func (a *agentState) freeAt(ci int) int {
	if ci == chatIndex && a.VoiceBlocksChat && a.load[voiceIndex]+a.offered[voiceIndex] > 0 {
		return 0
	}
	return a.capacity[ci] - a.load[ci] - a.offered[ci]
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
	queues   map[uuid.UUID]*queueState
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
	// Each agent knows its position in each list (freeIdx), so filing and
	// unfiling are O(1) and Dispatch reads the lists as they are.
	free     [3][]*agentState
	lineList []*line // the lines, for walking without a map
	// Scratch space reused by every decision, so that deciding allocates
	// nothing but the offers it makes.
	elig   [2][3][]int
	picked []int

	// What the caller must act on, collected until taken: offers ended
	// because another agent answered a ring-all first, contacts moved to
	// an overflow queue, contacts that met a closed or full queue.
	superseded []Offer
	moves      []Move
	closed     []ClosedArrival
	// open caches each calendar queue's state for the minute it was read.
	open map[uuid.UUID]openState
	// skillIndex numbers every skill name seen, so that an agent's levels
	// are a slice and a skill check is a few array reads, not map lookups:
	// it runs for every free agent of every queue at every decision.
	skillIndex map[string]int
}

// queueState is a queue with its skill requirements compiled.
type queueState struct {
	org.Queue
	need, wide []skillReq // Skills and WidenedSkills
	reason     string     // why its offers go where they go, for the console
}

type skillReq struct{ skill, min int }

func (e *Engine) compile(skills map[string]int) []skillReq {
	out := make([]skillReq, 0, len(skills))
	for name, min := range skills {
		out = append(out, skillReq{skill: e.skill(name), min: min})
	}
	slices.SortFunc(out, func(a, b skillReq) int { return a.skill - b.skill })
	return out
}

func (e *Engine) skill(name string) int {
	i, ok := e.skillIndex[name]
	if !ok {
		i = len(e.skillIndex)
		e.skillIndex[name] = i
	}
	return i
}

type openState struct {
	minute int64
	open   bool
}

// NewEngine returns an empty engine.
func NewEngine(now func() time.Time, newID func() uuid.UUID) *Engine {
	return &Engine{
		now: now, newID: newID,
		queues:      map[uuid.UUID]*queueState{},
		skillIndex:  map[string]int{},
		agents:      map[uuid.UUID]*agentState{},
		tasks:       map[uuid.UUID]*taskState{},
		offers:      map[uuid.UUID]*Offer{},
		assigned:    map[uuid.UUID]assignment{},
		lines:       map[uuid.UUID]*line{},
		open:        map[uuid.UUID]openState{},
		MaxMissed:   3,
		lastOffered: map[uuid.UUID]uuid.UUID{},
	}
}

// touch re-files an agent in the free sets after anything that changes its
// presence, capacity, load or open offers.
func (e *Engine) touch(a *agentState) {
	for ci := range e.free {
		in := !a.gone && a.routable() && a.freeAt(ci) > 0
		switch i := a.freeIdx[ci]; {
		case in && i < 0:
			a.freeIdx[ci] = len(e.free[ci])
			e.free[ci] = append(e.free[ci], a)
		case !in && i >= 0:
			// Swap with the last: the list's order carries no meaning, every
			// choice among free agents is made by strategy and id.
			free := e.free[ci]
			last := free[len(free)-1]
			free[i], last.freeIdx[ci] = last, i
			e.free[ci], a.freeIdx[ci] = free[:len(free)-1], -1
		}
	}
}

// line is one queue's tasks in routing order, with a count per channel so
// that a queue nobody free can serve is passed over without a scan.
type line struct {
	q     *queueState // nil while the queue is unknown
	tasks []*taskState
	n     [3]int
}

func (e *Engine) insert(t *taskState) {
	l := e.lines[t.QueueID]
	if l == nil {
		// Lines stay when empty: one per queue, so Dispatch walks a short
		// slice rather than a map.
		l = &line{q: e.queues[t.QueueID]}
		e.lines[t.QueueID] = l
		e.lineList = append(e.lineList, l)
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
	}
}

// SetQueue adds or updates a queue. Tasks of unknown queues wait unoffered.
func (e *Engine) SetQueue(q org.Queue) {
	if q.OfferTimeout <= 0 {
		q.OfferTimeout = 20 * time.Second
	}
	e.queues[q.ID] = &queueState{Queue: q, need: e.compile(q.Skills), wide: e.compile(q.WidenedSkills), reason: reason(q)}
	delete(e.open, q.ID)
	if l := e.lines[q.ID]; l != nil {
		l.q = e.queues[q.ID]
	}
}

func (e *Engine) agent(id uuid.UUID) *agentState {
	a := e.agents[id]
	if a == nil {
		a = &agentState{Agent: Agent{ID: id}, presence: org.Offline,
			offers: map[uuid.UUID]*Offer{}, freeIdx: [3]int{-1, -1, -1}}
		e.agents[id] = a
	}
	return a
}

// SetAgent adds or updates an agent's static properties; presence and load stay.
func (e *Engine) SetAgent(ag Agent) {
	a := e.agent(ag.ID)
	a.Agent = ag
	for ci, ch := range org.Channels {
		a.capacity[ci] = ag.Capacity[ch]
	}
	a.levels = a.levels[:0]
	for name, lvl := range ag.Skills {
		i := e.skill(name)
		for len(a.levels) <= i {
			a.levels = append(a.levels, 0)
		}
		a.levels[i] = lvl
	}
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
	a.gone = true
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
		a.offered[channelIndex(o.Task.Channel)]--
		e.touch(a)
	}
	if t := e.tasks[o.Task.ContactID]; t != nil {
		if i := slices.Index(t.offers, o); i >= 0 {
			t.offers = slices.Delete(t.offers, i, i+1)
		}
	}
}

// Enqueue adds a waiting contact; false when the contact is already
// waiting, offered or assigned, so repeats are harmless.
//
// A contact arriving at a full queue (MaxLength) goes to the queue's
// overflow queue (TakeMoves) or, with none, waits anyway and is reported
// for the closed action (TakeClosed); one arriving while its queue is
// closed waits for the opening and is reported too. A contact is never
// dropped: what to tell the customer is the caller's part.
func (e *Engine) Enqueue(t Task) bool {
	if _, ok := e.tasks[t.ContactID]; ok {
		return false
	}
	if _, ok := e.assigned[t.ContactID]; ok {
		return false
	}
	ts := &taskState{Task: t}
	if q, ok := e.queues[t.QueueID]; ok {
		now := e.now()
		switch {
		case q.MaxLength > 0 && e.length(q.ID) >= q.MaxLength:
			if to, ok := e.overflowTarget(ts, q); ok {
				e.moves = append(e.moves, Move{ContactID: t.ContactID, From: q.ID, To: to, Reason: MoveFull})
				ts.visited = append(ts.visited, q.ID)
				ts.QueueID = to
			} else {
				e.closed = append(e.closed, e.closedArrival(t, q, ClosedFull, now))
			}
		case !e.isOpen(q, now):
			e.closed = append(e.closed, e.closedArrival(t, q, ClosedHours, now))
		}
	}
	e.tasks[t.ContactID] = ts
	e.insert(ts)
	return true
}

// length is how many contacts a queue holds, offered ones included.
func (e *Engine) length(queue uuid.UUID) int {
	if l := e.lines[queue]; l != nil {
		return len(l.tasks)
	}
	return 0
}

// Waiting reports whether the contact waits for an offer.
func (e *Engine) Waiting(contact uuid.UUID) bool {
	t := e.tasks[contact]
	return t != nil && !t.offered()
}

// Position is a waiting contact's place in its queue's line (1: next),
// counting the contacts ahead of it that are being offered; false when it
// is not waiting (offered, assigned or unknown).
func (e *Engine) Position(contact uuid.UUID) (int, bool) {
	t := e.tasks[contact]
	if t == nil || t.offered() {
		return 0, false
	}
	// The line is sorted by before (binary search, not a scan: this runs for
	// every waiting chat every few seconds). The place ignores ageing, which
	// reorders only at the margins: an estimate for the visitor, no more.
	if l := e.lines[t.QueueID]; l != nil {
		if i, ok := slices.BinarySearchFunc(l.tasks, t, e.before); ok {
			return i + 1, true
		}
	}
	return 0, false
}

// Cancel removes a waiting or offered contact (closed, abandoned, or moved
// by hand); the offers it had are returned so their agents can be told.
func (e *Engine) Cancel(contact uuid.UUID) []Offer {
	t := e.tasks[contact]
	if t == nil {
		return nil
	}
	delete(e.tasks, contact)
	e.remove(t)
	var out []Offer
	for _, o := range slices.Clone(t.offers) {
		e.endOffer(o)
		out = append(out, *o)
	}
	return out
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
		// A ring-all contact rang several agents: this one answered first.
		for _, other := range slices.Clone(t.offers) {
			e.endOffer(other)
			e.superseded = append(e.superseded, *other)
		}
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
	e.markDeclined(*o)
}

// markDeclined keeps o's contact from its agent for one offer timeout.
func (e *Engine) markDeclined(o Offer) {
	if t := e.tasks[o.Task.ContactID]; t != nil {
		if t.declined == nil {
			t.declined = map[uuid.UUID]time.Time{}
		}
		timeout := 20 * time.Second
		if q := e.queues[o.Task.QueueID]; q != nil {
			timeout = q.OfferTimeout
		}
		t.declined[o.AgentID] = e.now().Add(timeout)
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
	a.load[channelIndex(ch)]++
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
		a.load[channelIndex(as.ch)]--
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
			// Its agent was set away by an earlier one in this round, which
			// ended the offer; it still ran out, so it still counts as declined.
			e.markDeclined(out[i])
			continue
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

// Missed counts an offer the agent accepted but whose phone then did not
// answer (a voice connect that rang out, was busy or failed) as missed, as
// an offer that ran out: MaxMissed in a row set them away, their other
// offers coming back (returned, for their consoles).
func (e *Engine) Missed(agent uuid.UUID) []Offer {
	a := e.agents[agent]
	if a == nil || !a.routable() {
		return nil
	}
	if a.missed++; e.MaxMissed <= 0 || a.missed < e.MaxMissed {
		return nil
	}
	a.missed = 0
	e.noAnswer = append(e.noAnswer, a.ID)
	return e.SetPresence(a.ID, org.Away, a.connected)
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
		if !t.offered() && t.prefers(now) {
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

// before orders one queue's line: priority first (all share the queue's
// own), then age, then id so that the order is total. It ignores ageing,
// which changes with the clock: see ahead.
func (e *Engine) before(a, b *taskState) int {
	if a.Priority != b.Priority {
		return b.Priority - a.Priority
	}
	return byAge(a, b)
}

func byAge(a, b *taskState) int {
	if c := a.ArrivedAt.Compare(b.ArrivedAt); c != 0 {
		return c
	}
	return bytes.Compare(a.ContactID[:], b.ContactID[:])
}

// priority is a task's priority at now: its own, its queue's, and one more
// for every AgeingStep waited (up to AgeingMax, when set), so that a
// low-priority contact climbs until it is served and never starves.
func (e *Engine) priority(t *taskState, now time.Time) int {
	q := e.queues[t.QueueID]
	if q == nil {
		return t.Priority
	}
	p := t.Priority + q.Priority
	if q.AgeingStep > 0 {
		bonus := max(int(now.Sub(t.ArrivedAt)/q.AgeingStep), 0)
		if q.AgeingMax > 0 {
			bonus = min(bonus, q.AgeingMax)
		}
		p += bonus
	}
	return p
}

// ahead orders waiting contacts at now, ageing included.
func (e *Engine) ahead(a, b *taskState, now time.Time) int {
	if pa, pb := e.priority(a, now), e.priority(b, now); pa != pb {
		return pb - pa
	}
	return byAge(a, b)
}

// inOrder yields a queue's tasks in routing order at now. Without ageing
// that is the line's own order. With it, tasks of one base priority keep
// their age order (they age alike), so the line is a few runs, one per
// base priority, merged by their priority at now.
func (e *Engine) inOrder(l *line, q *queueState, now time.Time) iter.Seq[*taskState] {
	return func(yield func(*taskState) bool) {
		if q.AgeingStep <= 0 {
			for _, t := range l.tasks {
				if !yield(t) {
					return
				}
			}
			return
		}
		var next, end []int // per run: next index, end index
		for i := 0; i < len(l.tasks); {
			p := l.tasks[i].Priority
			j := i + sort.Search(len(l.tasks)-i, func(k int) bool { return l.tasks[i+k].Priority < p })
			next, end = append(next, i), append(end, j)
			i = j
		}
		for {
			best := -1
			for r := range next {
				if next[r] < end[r] && (best < 0 || e.ahead(l.tasks[next[r]], l.tasks[next[best]], now) < 0) {
					best = r
				}
			}
			if best < 0 {
				return
			}
			t := l.tasks[next[best]]
			next[best]++
			if !yield(t) {
				return
			}
		}
	}
}

// Dispatch makes every offer possible now, in contact order, and returns them.
//
// Each round takes, of every queue, the first waiting contact that a free
// agent can serve, offers the best of those heads to its longest-idle
// agent, and goes again until no head can be served. Tasks of one queue
// share its skills, so a queue nobody free can serve costs one check.
func (e *Engine) Dispatch() []Offer {
	now := e.now()
	var out []Offer
	for {
		var bestT *taskState
		bestA := -1
		for _, l := range e.lineList {
			q := l.q
			if q == nil || len(l.tasks) == 0 || !e.isOpen(q, now) {
				continue
			}
			t, a := e.head(l, q, now)
			if t != nil && (bestT == nil || e.ahead(t, bestT, now) < 0) {
				bestT, bestA = t, a
			}
		}
		if bestT == nil {
			return out
		}
		q := e.queues[bestT.QueueID]
		ci := channelIndex(bestT.Channel)
		agents := append(e.picked[:0], bestA)
		if q.Strategy == RingAll && bestT.Channel == org.Voice {
			agents = e.ringAll(agents[:0], bestT, q, ci, now)
		}
		e.picked = agents
		preferring := e.prefersNow(bestT, q, now)
		// Highest index first: an agent who fills up leaves the free list
		// by swapping with the last one, which never moves an agent still
		// to be offered.
		slices.Sort(agents)
		for _, i := range slices.Backward(agents) {
			agent := e.free[ci][i]
			why := q.reason
			if preferring {
				why = preferReason(bestT.Task, agent.ID)
			}
			o := &Offer{ID: e.newID(), Task: bestT.Task, AgentID: agent.ID, OfferedAt: now, ExpiresAt: now.Add(q.OfferTimeout),
				Reason: why}
			bestT.offers = append(bestT.offers, o)
			e.lastOffered[q.ID] = agent.ID
			e.offers[o.ID] = o
			agent.offers[o.ID] = o
			agent.offered[ci]++
			e.touch(agent)
			out = append(out, *o)
		}
	}
}

// ringAll lists, for a ring-all voice contact, every free qualified agent
// it may ring now (indexes into the channel's free list).
func (e *Engine) ringAll(out []int, t *taskState, q *queueState, ci int, now time.Time) []int {
	var only []uuid.UUID
	if e.prefersNow(t, q, now) {
		only = t.Preferred
	}
	for i, a := range e.free[ci] {
		if !hasSkills(a, e.skillsFor(t, q, now)) || !e.mayOffer(a, t, now, only) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// skillsFor is what an agent needs to take t now: the queue's skills, or
// its widened skills once t has waited WidenAfter.
func (e *Engine) skillsFor(t *taskState, q *queueState, now time.Time) []skillReq {
	if q.WidenAfter > 0 && now.Sub(t.ArrivedAt) >= q.WidenAfter {
		return q.wide
	}
	return q.need
}

// isOpen reports whether a queue's calendar is open at now, read once per
// minute: calendars are in whole minutes. A calendar that cannot be read
// (a zone that does not load) counts as open: a contact must never wait
// forever because of a configuration error, which validation reports.
func (e *Engine) isOpen(q *queueState, now time.Time) bool {
	if q.Calendar == nil {
		return true
	}
	minute := now.Unix() / 60
	if c, ok := e.open[q.ID]; ok && c.minute == minute {
		return c.open
	}
	open, err := q.Calendar.OpenAt(now)
	if err != nil {
		open = true
	}
	e.open[q.ID] = openState{minute: minute, open: open}
	return open
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
	case RingAll:
		return "ringing every free agent in " + q.Name
	}
	return "longest idle agent in " + q.Name
}

// head finds a queue's first waiting task that a free agent can take, and
// that agent's index in the channel's free list. The queue's skills are the
// same for all its tasks, so who qualifies is worked out once per channel.
func (e *Engine) head(l *line, q *queueState, now time.Time) (*taskState, int) {
	// elig[0] qualify by the queue's skills; elig[1] by its widened skills,
	// for contacts that have waited WidenAfter.
	elig := &e.elig
	for i := range elig {
		for ci := range elig[i] {
			elig[i][ci] = elig[i][ci][:0]
		}
	}
	any := false
	widen := q.WidenAfter > 0
	for ci := range 3 {
		if l.n[ci] == 0 {
			continue
		}
		for i, a := range e.free[ci] {
			if hasSkills(a, q.need) {
				elig[0][ci] = append(elig[0][ci], i)
			}
			if widen && hasSkills(a, q.wide) {
				elig[1][ci] = append(elig[1][ci], i)
			}
		}
		any = any || len(elig[0][ci]) > 0 || len(elig[1][ci]) > 0
	}
	if !any {
		return nil, -1
	}
	for t := range e.inOrder(l, q, now) {
		if t.offered() {
			continue
		}
		ci := channelIndex(t.Channel)
		el := elig[0][ci]
		if widen && now.Sub(t.ArrivedAt) >= q.WidenAfter {
			el = elig[1][ci]
		}
		if len(el) == 0 {
			continue
		}
		if e.prefersNow(t, q, now) {
			// Only the preferred agents for now; the task waits for them.
			if i := e.pick(e.free[ci], el, t, q, now, t.Preferred); i >= 0 {
				return t, i
			}
			continue
		}
		if i := e.pick(e.free[ci], el, t, q, now, nil); i >= 0 {
			return t, i
		}
	}
	return nil, -1
}

// Channel indexes, in the order of org.Channels.
const (
	voiceIndex = iota
	chatIndex
	emailIndex
)

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

// prefersNow: t waits for its preferred agents only while one of them is
// present (available, connected) and qualified; waiting for an agent who is
// away or lacks the queue's skills would only keep the customer waiting.
func (e *Engine) prefersNow(t *taskState, q *queueState, now time.Time) bool {
	if !t.prefers(now) {
		return false
	}
	need := e.skillsFor(t, q, now)
	for _, id := range t.Preferred {
		if a := e.agents[id]; a != nil && a.routable() && a.capacity[channelIndex(t.Channel)] > 0 && hasSkills(a, need) {
			return true
		}
	}
	return false
}

// Strategies name how a queue picks among the agents able to take a contact.
const (
	LongestIdle   = "longest_idle"   // the agent idle longest (default)
	RoundRobin    = "round_robin"    // the next agent after the one offered last, in a fixed order
	LeastOccupied = "least_occupied" // the lowest share of capacity in use
	FewestToday   = "fewest_today"   // the fewest contacts accepted today
	BestSkill     = "best_skill"     // the highest level in the queue's skills, then longest idle
	// RingAll offers a call to every free qualified agent at once; the
	// first to accept takes it and the others' offers end. Chats and
	// e-mails of such a queue go to the longest idle agent.
	RingAll = "ring_all"
)

// Strategies lists the known strategies, for validation.
var Strategies = []string{LongestIdle, RoundRobin, LeastOccupied, FewestToday, BestSkill, RingAll}

// pick chooses, of the qualified free agents (elig indexes free) who have
// not just declined t, the one q's strategy prefers; ties go to the agent
// idle longest, then by id, so every choice is deterministic. It returns the
// index in free, or -1.
func (e *Engine) pick(free []*agentState, elig []int, t *taskState, q *queueState, now time.Time, only []uuid.UUID) int {
	better := e.strategy(q)
	best := -1
	for _, i := range elig {
		a := free[i]
		if !e.mayOffer(a, t, now, only) {
			continue
		}
		if best < 0 || better(a, free[best]) {
			best = i
		}
	}
	return best
}

// mayOffer: a free agent may be offered t unless t is limited to other
// agents for now, the agent declined it moments ago, or a call just
// offered to it in this round blocks its chats.
func (e *Engine) mayOffer(a *agentState, t *taskState, now time.Time, only []uuid.UUID) bool {
	if only != nil && !slices.Contains(only, a.ID) {
		return false
	}
	if until, ok := t.declined[a.ID]; ok && now.Before(until) {
		return false
	}
	return a.free(t.Channel) > 0
}

// strategy returns "a is preferred to b" for q.
func (e *Engine) strategy(q *queueState) func(a, b *agentState) bool {
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
			sa, sb := skillScore(a, q.need), skillScore(b, q.need)
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
	for ci := range a.load {
		used += a.load[ci] + a.offered[ci]
		capacity += a.capacity[ci]
	}
	return used, max(capacity, 1)
}

func skillScore(a *agentState, need []skillReq) int {
	n := 0
	for _, r := range need {
		if r.skill < len(a.levels) {
			n += a.levels[r.skill]
		}
	}
	return n
}

func hasSkills(a *agentState, need []skillReq) bool {
	for _, r := range need {
		if r.skill >= len(a.levels) || a.levels[r.skill] < r.min {
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
	// Available counts the agents routable now (available and connected,
	// busy or not) who have the queue's skills: the staff that Erlang C's
	// agents needed is set beside.
	Available int
}

// AgentGauge is one agent's live state.
type AgentGauge struct {
	AgentID   uuid.UUID
	Name      string
	Presence  org.Presence
	Connected bool
	Load      map[org.Channel]int // assignments only
	Offered   int
	// PresenceSince: when the stored presence last changed.
	PresenceSince time.Time
}

// Gauges computes the live figures.
func (e *Engine) Gauges() Gauges {
	g := Gauges{At: e.now()}
	idx := map[uuid.UUID]int{}
	for id, q := range e.queues {
		idx[id] = len(g.Queues)
		qg := QueueGauge{QueueID: id, Name: q.Name}
		for _, a := range e.agents {
			if a.routable() && hasSkills(a, q.need) {
				qg.Available++
			}
		}
		g.Queues = append(g.Queues, qg)
	}
	for _, t := range e.tasks {
		i, ok := idx[t.QueueID]
		if !ok {
			continue
		}
		qg := &g.Queues[i]
		qg.Waiting++
		if t.offered() {
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
		for ci, n := range a.load {
			if n > 0 {
				load[org.Channels[ci]] = n
			}
		}
		g.Agents = append(g.Agents, AgentGauge{AgentID: a.ID, Name: a.Name, Presence: a.presence, Connected: a.connected, Load: load, Offered: len(a.offers), PresenceSince: a.PresenceSince})
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
