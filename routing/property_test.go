package routing

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

var (
	propSeeds = flag.Int("prop.seeds", 3000, "seeds TestRandomSequencesKeepTheInvariants runs")
	propSeed  = flag.Int64("prop.seed", -1, "run only this seed of TestRandomSequencesKeepTheInvariants and print its trace")
)

// propSteps is how many operations one seed applies before draining.
const propSteps = 160

// TestRandomSequencesKeepTheInvariants drives the engine with seeded random
// sequences of arrivals, accepts (committed, failing to commit, or crashing
// before the commit), rejects, timeouts, presence and connection changes,
// closes, abandons, transfers (to a queue or to a preferred agent),
// supervisor moves, configuration changes, sweeps and crashes. A crash
// throws the engine away and builds a new one only from the model of what
// was persisted, the way routing/dispatch rebuilds from PostgreSQL.
//
// An independent checker follows only the test's own inputs and what the
// engine returned, never the engine's bookkeeping, and asserts:
//   - no contact is lost: every contact that arrived and was not closed is
//     waiting, offered or assigned; a sweep re-enqueueing what is stored as
//     queued is refused as a repeat; after the drain every contact was
//     offered and closed;
//   - no contact is offered to two agents at once, nor while assigned;
//   - an offer never takes an agent past its capacity on the channel
//     (assignments plus open offers), nor goes to an agent who is not
//     routable, lacks the queue's skills, declined it within the cool-down,
//     or is not a preferred agent during the contact's preference window;
//   - Dispatch is work-conserving and in order: when it offers a contact, no
//     waiting contact of higher priority, or of equal priority and strictly
//     older, could have been offered to any agent; when it returns, no
//     waiting contact could be offered to any agent;
//   - an offer keeps the contact's queue, priority and original arrival;
//   - every offer ends exactly once (accepted, rejected, expired or
//     rescinded) and never outlives its timeout: after each Expire none is
//     open past its expiry, and NextDeadline wakes the caller in time.
//
// A failing seed is shrunk to a short sequence of operations whose trace is
// printed; -prop.seed=N reruns one seed.
func TestRandomSequencesKeepTheInvariants(t *testing.T) {
	seeds := []uint64{}
	if *propSeed >= 0 {
		seeds = append(seeds, uint64(*propSeed))
	} else {
		for s := range uint64(*propSeeds) {
			seeds = append(seeds, s)
		}
	}
	for _, seed := range seeds {
		ops := genOps(seed, propSteps)
		res := runProp(seed, ops, *propSeed >= 0)
		if *propSeed >= 0 {
			t.Logf("seed %d trace:\n%s", seed, strings.Join(res.trace, "\n"))
		}
		if res.err == "" {
			continue
		}
		small := shrinkOps(seed, ops, res)
		t.Fatalf("seed %d: %s\n\nshrunk to %d of %d operations, failing with: %s\ntrace:\n%s\n\nrerun: go test ./routing -run TestRandomSequencesKeepTheInvariants -args -prop.seed=%d",
			seed, res.err, len(small.ops), res.step+1, small.err, strings.Join(small.trace, "\n"), seed)
	}
}

// op is one random operation. Its choices come from its own seed, so that
// removing other operations while shrinking leaves it mostly the same.
type op struct {
	kind opKind
	seed uint64
}

type opKind int

const (
	opArrive opKind = iota
	opAccept
	opReject
	opWrongAnswer
	opTick
	opTickToDeadline
	opPresence
	opClose
	opTransfer
	opAbandon
	opMove
	opAgentConfig
	opQueueConfig
	opSweep
	opNotify
	opCrash
)

var opWeights = []struct {
	kind   opKind
	weight int
}{
	{opArrive, 7}, {opAccept, 6}, {opReject, 2}, {opWrongAnswer, 1}, {opTick, 3}, {opTickToDeadline, 1},
	{opPresence, 3}, {opClose, 3}, {opTransfer, 2}, {opAbandon, 1}, {opMove, 1}, {opAgentConfig, 1},
	{opQueueConfig, 1}, {opSweep, 1}, {opNotify, 1}, {opCrash, 1},
}

func genOps(seed uint64, n int) []op {
	r := rand.New(rand.NewPCG(seed, 0x5b))
	total := 0
	for _, w := range opWeights {
		total += w.weight
	}
	ops := make([]op, n)
	for i := range ops {
		x := r.IntN(total)
		for _, w := range opWeights {
			if x -= w.weight; x < 0 {
				ops[i] = op{kind: w.kind, seed: r.Uint64()}
				break
			}
		}
	}
	return ops
}

type propResult struct {
	ops   []op
	err   string
	kind  string // the failure's format
	step  int    // index of the failing operation; len(ops) for the drain
	trace []string
}

// shrinkOps removes chunks of operations, halving the chunk size, as long
// as the sequence still fails; the seed's world (queues, agents) stays.
func shrinkOps(seed uint64, ops []op, failed propResult) propResult {
	best := failed
	best.ops = ops[:min(failed.step+1, len(ops))]
	if r := runProp(seed, best.ops, false); r.kind == failed.kind {
		best = r
	} else {
		best.ops = ops // the drain failed: keep everything
	}
	runs := 0
	for chunk := len(best.ops) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i < len(best.ops) && runs < 4000; {
			try := slices.Concat(best.ops[:i], best.ops[min(i+chunk, len(best.ops)):])
			runs++
			if r := runProp(seed, try, false); r.kind == failed.kind {
				best = r
				continue
			}
			i += chunk
		}
	}
	return runProp(seed, best.ops, true)
}

// stored is the model of what PostgreSQL (and Redis, for connections)
// holds: all a crash leaves to rebuild from.
type stored struct {
	queues    map[uuid.UUID]org.Queue
	agents    map[uuid.UUID]Agent
	presence  map[uuid.UUID]org.Presence
	connected map[uuid.UUID]bool
	queued    map[uuid.UUID]Task // state queued; preferences are not stored
	assigned  map[uuid.UUID]uuid.UUID
	wrapUntil map[uuid.UUID]time.Time // assignments in wrap-up, with their deadline
}

// sim runs one sequence: the engine under test, the stored model, the
// checker and the trace.
type sim struct {
	tracing bool
	f       *fixture
	db      stored
	c       *checker
	trace   []string
	names   map[uuid.UUID]string
	counts  map[byte]int
	queues  []uuid.UUID // in creation order, for choosing
	agents  []uuid.UUID
	r       *rand.Rand // the current operation's choices
}

var skillNames = []string{"cars", "parts"}

func runProp(seed uint64, ops []op, tracing bool) (res propResult) {
	s := &sim{tracing: tracing, f: newFixture(), names: map[uuid.UUID]string{}, counts: map[byte]int{}}
	s.db = stored{queues: map[uuid.UUID]org.Queue{}, agents: map[uuid.UUID]Agent{}, presence: map[uuid.UUID]org.Presence{},
		connected: map[uuid.UUID]bool{}, queued: map[uuid.UUID]Task{}, assigned: map[uuid.UUID]uuid.UUID{}, wrapUntil: map[uuid.UUID]time.Time{}}
	s.c = newChecker(func() time.Time { return s.f.now }, s.name)
	res.ops = ops
	defer func() { res.trace = s.trace }()

	// The world: queues and agents, fixed by the seed.
	s.r = rand.New(rand.NewPCG(seed, 0xa1))
	for range 2 + s.r.IntN(2) {
		s.queues = append(s.queues, s.newID('q'))
	}
	for _, id := range s.queues { // after all ids exist: queues overflow into each other
		s.setQueue(s.randomQueue(id))
	}
	for range 2 + s.r.IntN(4) {
		a := s.randomAgent(s.newID('a'))
		s.agents = append(s.agents, a.ID)
		s.setAgent(a)
		s.setPresence(a.ID, s.randomPresence(), s.r.IntN(5) > 0)
	}
	s.step()
	if s.c.err != "" {
		res.err, res.kind, res.step = s.c.err, s.c.errKind, -1
		return res
	}
	for i, o := range ops {
		s.r = rand.New(rand.NewPCG(o.seed, 0xc3))
		s.apply(o.kind)
		s.step()
		if s.c.err != "" {
			res.err, res.kind, res.step = s.c.err, s.c.errKind, i
			return res
		}
	}
	s.drain()
	if s.c.err != "" {
		res.err, res.kind, res.step = s.c.err, s.c.errKind, len(ops)
	}
	return res
}

func (s *sim) newID(kind byte) uuid.UUID {
	id := s.f.id()
	s.counts[kind]++
	s.names[id] = fmt.Sprintf("%c%d", kind, s.counts[kind])
	return id
}

func (s *sim) name(id uuid.UUID) string {
	if n, ok := s.names[id]; ok {
		return n
	}
	s.names[id] = fmt.Sprintf("o%d", len(s.names))
	return s.names[id]
}

func (s *sim) logf(format string, args ...any) {
	if !s.tracing {
		return
	}
	s.trace = append(s.trace, fmt.Sprintf("%6s  ", s.f.now.Sub(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)).String())+fmt.Sprintf(format, args...))
}

// offers and nameList format lazily: most runs keep no trace.
func (s *sim) offers(os []Offer) fmt.Stringer { return lazy(func() string { return s.offersText(os) }) }

type lazy func() string

func (l lazy) String() string { return l() }

// clock prints a time of day, lazily.
type clock time.Time

func (c clock) String() string { return time.Time(c).Format("15:04:05") }

func (s *sim) offersText(os []Offer) string {
	var b []string
	for _, o := range os {
		b = append(b, fmt.Sprintf("%s(%s→%s)", s.name(o.ID), s.name(o.Task.ContactID), s.name(o.AgentID)))
	}
	return "[" + strings.Join(b, " ") + "]"
}

func (s *sim) randomSkills(max int) map[string]int {
	sk := map[string]int{}
	for _, n := range skillNames {
		if l := s.r.IntN(max + 1); l > 0 {
			sk[n] = l
		}
	}
	return sk
}

func (s *sim) randomQueue(id uuid.UUID) org.Queue {
	q := org.Queue{ID: id, Name: s.names[id], Skills: s.randomSkills(3), Priority: s.r.IntN(3),
		Strategy:     Strategies[s.r.IntN(len(Strategies))],
		OfferTimeout: []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second}[s.r.IntN(3)]}
	if s.r.IntN(3) == 0 { // priority ageing
		q.AgeingStep, q.AgeingMax = time.Duration(10+s.r.IntN(50))*time.Second, s.r.IntN(4)
	}
	if s.r.IntN(3) == 0 { // widened skills after a wait
		q.WidenAfter, q.WidenedSkills = time.Duration(10+s.r.IntN(50))*time.Second, s.randomSkills(1)
	}
	if s.r.IntN(3) == 0 { // overflow after a maximum wait (maybe to itself: ignored)
		q.MaxWait = time.Duration(20+s.r.IntN(70)) * time.Second
		q.OverflowQueueID = s.queues[s.r.IntN(len(s.queues))]
	}
	if s.r.IntN(4) == 0 { // a maximum length: overflow, or the closed action
		q.MaxLength = 1 + s.r.IntN(3)
	}
	if s.r.IntN(3) == 0 { // opening hours that open and close during the run
		q.Calendar = s.randomCalendar()
		q.ClosedAction = []org.ClosedAction{org.ActionWait, org.ActionMessage, org.ActionCallback}[s.r.IntN(3)]
		q.ClosedMessage = "closed"
	}
	return q
}

// randomCalendar opens and closes a few times in the run's first half hour
// (it starts at 09:00 UTC), then stays open, so that the drain ends.
func (s *sim) randomCalendar() *org.Calendar {
	var spans []org.Span
	m := 9 * 60
	for range 3 {
		closed, open := s.r.IntN(4), 1+s.r.IntN(5)
		if closed > 0 || len(spans) == 0 {
			spans = append(spans, org.Span{Start: m + closed, End: m + closed + open})
		}
		m += closed + open
	}
	spans = append(spans, org.Span{Start: m + 1 + s.r.IntN(3), End: 24 * 60})
	weekly := map[time.Weekday][]org.Span{}
	for d := time.Sunday; d <= time.Saturday; d++ {
		weekly[d] = spans
	}
	return &org.Calendar{Zone: "UTC", Weekly: weekly}
}

func (s *sim) randomAgent(id uuid.UUID) Agent {
	return Agent{ID: id, Name: s.names[id], Skills: s.randomSkills(4),
		Capacity:        map[org.Channel]int{org.Voice: s.r.IntN(2), org.Chat: s.r.IntN(4), org.Email: s.r.IntN(3)},
		VoiceBlocksChat: s.r.IntN(3) == 0}
}

func (s *sim) randomPresence() org.Presence {
	return []org.Presence{org.Available, org.Available, org.Away, org.Offline}[s.r.IntN(4)]
}

func (s *sim) setQueue(q org.Queue) {
	s.db.queues[q.ID] = q
	s.c.queues[q.ID] = q
	s.f.e.SetQueue(q)
	s.logf("queue %s: skills %v, priority %d, %s, offer timeout %v, ageing %v up to %d, widen after %v to %v, max wait %v to %s, max length %d, calendar %v (%q)",
		s.name(q.ID), q.Skills, q.Priority, q.Strategy, q.OfferTimeout, q.AgeingStep, q.AgeingMax, q.WidenAfter, q.WidenedSkills,
		q.MaxWait, s.name(q.OverflowQueueID), q.MaxLength, q.Calendar != nil, q.ClosedAction)
}

func (s *sim) setAgent(a Agent) {
	s.db.agents[a.ID] = a
	s.c.agents[a.ID] = a
	s.f.e.SetAgent(a)
	s.logf("agent %s: skills %v, capacity %v, voice blocks chat %v", s.name(a.ID), a.Skills, a.Capacity, a.VoiceBlocksChat)
}

func (s *sim) setPresence(a uuid.UUID, p org.Presence, connected bool) {
	s.db.presence[a], s.db.connected[a] = p, connected
	got := s.f.e.SetPresence(a, p, connected)
	s.logf("presence %s %s connected=%v → rescinded %s", s.name(a), p, connected, s.offers(got))
	s.c.presence(a, p, connected, got)
}

// enqueue hands the engine a task, as intake's NOTIFY or a sweep does.
func (s *sim) enqueue(t Task) {
	got := s.f.e.Enqueue(t)
	pref := lazy(func() string {
		if len(t.Preferred) == 0 {
			return ""
		}
		return fmt.Sprintf(", preferring %s until %v", s.namesText(t.Preferred), clock(t.PreferUntil))
	})
	s.logf("enqueue %s in %s (%s, priority %d, arrived %v%v) → %v", s.name(t.ContactID), s.name(t.QueueID),
		t.Channel, t.Priority, clock(t.ArrivedAt), pref, got)
	s.c.enqueued(t, got)
}

func (s *sim) nameList(ids []uuid.UUID) fmt.Stringer {
	return lazy(func() string { return s.namesText(ids) })
}

func (s *sim) namesText(ids []uuid.UUID) string {
	var n []string
	for _, id := range ids {
		n = append(n, s.name(id))
	}
	return "[" + strings.Join(n, " ") + "]"
}

// store records a task as queued, without what the database does not keep.
func (s *sim) store(t Task) {
	t.Preferred, t.PreferUntil, t.PreferReason = nil, time.Time{}, ""
	s.db.queued[t.ContactID] = t
}

// step is one turn of routing/dispatch's loop after an input: expire,
// persist the no-answer agents, offer.
func (s *sim) step() {
	expired := s.f.e.Expire()
	noAnswer := s.f.e.NoAnswer()
	if len(expired) > 0 || len(noAnswer) > 0 {
		s.logf("expire → %s, no answer %s", s.offers(expired), s.nameList(noAnswer))
	}
	for _, a := range noAnswer {
		s.db.presence[a] = org.Away
	}
	s.c.expired(expired, noAnswer)
	ended := s.f.e.EndWrapUps()
	if len(ended) > 0 {
		s.logf("wrap-ups ended: %d", len(ended))
	}
	for _, w := range ended {
		delete(s.db.assigned, w.ContactID)
		delete(s.db.wrapUntil, w.ContactID)
	}
	s.c.wrapUpsEnded(ended)
	// As routing/dispatch does before offering: overflow what waited too
	// long, persist the moves, carry out closed actions.
	due := s.c.overflowDue()
	s.f.e.Overflow()
	moves, closed := s.f.e.TakeMoves(), s.f.e.TakeClosed()
	if len(moves)+len(closed) > 0 {
		s.logf("moves %v, closed %d", lazy(func() string { return s.movesText(moves) }), len(closed))
	}
	s.c.reports(moves, closed, due)
	for _, m := range moves {
		if t, ok := s.db.queued[m.ContactID]; ok {
			t.QueueID = m.To
			s.db.queued[m.ContactID] = t
		}
	}
	for _, cl := range closed {
		if cl.Action != org.ActionCallback || s.c.contacts[cl.Task.ContactID] == nil {
			continue // told, or a voicemail: it waits for the opening
		}
		// The contact becomes a callback: it leaves the queue.
		got := s.f.e.Cancel(cl.Task.ContactID)
		s.logf("closed: %s becomes a callback → cancel rescinds %s", s.name(cl.Task.ContactID), s.offers(got))
		s.c.cancelled(cl.Task.ContactID, got)
		delete(s.db.queued, cl.Task.ContactID)
	}
	offered := s.f.e.Dispatch()
	if len(offered) > 0 {
		s.logf("dispatch → %s", s.offers(offered))
	}
	s.c.offered(offered)
	if sup, moves, closed := s.f.e.TakeSuperseded(), s.f.e.TakeMoves(), s.f.e.TakeClosed(); len(sup)+len(moves)+len(closed) > 0 {
		s.c.failf("unexplained reports: superseded %d, moves %d, closed %d", len(sup), len(moves), len(closed))
	}
	next, ok := s.f.e.NextDeadline()
	s.c.quiet(next, ok)
}

func (s *sim) movesText(ms []Move) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s %s→%s (%s)", s.name(m.ContactID), s.name(m.From), s.name(m.To), m.Reason))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// accept answers an offer and collects the ring-all offers it ended.
func (s *sim) accept(agent, id uuid.UUID) (Offer, error) {
	got, err := s.f.e.Accept(agent, id)
	superseded := s.f.e.TakeSuperseded()
	s.logf("accept %s by %s → %v, superseding %s", s.name(id), s.name(agent), err, s.offers(superseded))
	s.c.accepted(agent, id, got, err, superseded)
	return got, err
}

func pickID[V any](r *rand.Rand, m map[uuid.UUID]V, keep func(uuid.UUID, V) bool) (uuid.UUID, bool) {
	var ids []uuid.UUID
	for id, v := range m {
		if keep == nil || keep(id, v) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return uuid.Nil, false
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids[r.IntN(len(ids))], true
}

func (s *sim) apply(k opKind) {
	r, e, now := s.r, s.f.e, s.f.now
	switch k {
	case opArrive:
		t := Task{ContactID: s.newID('c'), QueueID: s.queues[r.IntN(len(s.queues))], Channel: org.Channels[r.IntN(3)],
			Priority: r.IntN(3), ArrivedAt: now.Add(-time.Duration(r.IntN(4)) * 10 * time.Second)}
		if r.IntN(5) == 0 { // the customer's owner, tried alone for a while
			t.Preferred = []uuid.UUID{s.agents[r.IntN(len(s.agents))]}
			t.PreferUntil, t.PreferReason = now.Add(time.Duration(10+r.IntN(50))*time.Second), "owner"
		}
		s.store(t)
		s.c.arrived(t)
		s.enqueue(t)
	case opAccept:
		id, ok := pickID(r, s.c.open, nil)
		if !ok {
			return
		}
		o := s.c.open[id]
		got, err := s.accept(o.AgentID, id)
		if err != nil {
			return
		}
		if s.c.lastSuperseded != nil && r.IntN(2) == 0 {
			// Another agent rung for the same call answers a moment later.
			late := s.c.lastSuperseded[r.IntN(len(s.c.lastSuperseded))]
			s.accept(late.AgentID, late.ID)
		}
		switch x := r.IntN(10); {
		case x < 8: // the fenced transaction commits
			delete(s.db.queued, got.Task.ContactID)
			s.db.assigned[got.Task.ContactID] = got.AgentID
			s.logf("commit %s to %s", s.name(got.Task.ContactID), s.name(got.AgentID))
		case x < 9: // it fails: routing/dispatch puts the contact back
			released := e.Release(got.Task.ContactID)
			s.logf("commit of %s failed: release → %v", s.name(got.Task.ContactID), released)
			s.c.released(got.Task.ContactID, released, false)
			s.enqueue(got.Task)
		default: // the node dies before the commit
			s.logf("crash before committing %s", s.name(got.Task.ContactID))
			s.crash()
		}
	case opReject:
		id, ok := pickID(r, s.c.open, nil)
		if !ok {
			return
		}
		o := s.c.open[id]
		got, err := e.Reject(o.AgentID, id)
		s.logf("reject %s by %s → %v", s.name(id), s.name(o.AgentID), err)
		s.c.rejected(o.AgentID, id, got, err)
	case opWrongAnswer:
		// An answer to an offer that ended, or by another agent: refused,
		// changing nothing (a console's late or forged accept).
		var id uuid.UUID
		if len(s.c.gone) > 0 && r.IntN(2) == 0 {
			id = s.c.gone[r.IntN(len(s.c.gone))]
		} else if oid, ok := pickID(r, s.c.open, nil); ok {
			id = oid
		} else {
			return
		}
		agent := s.agents[r.IntN(len(s.agents))]
		if o, open := s.c.open[id]; open && agent == o.AgentID {
			return // that would be a right answer
		}
		if r.IntN(2) == 0 {
			s.accept(agent, id)
		} else {
			got, err := e.Reject(agent, id)
			s.logf("reject %s by %s → %v", s.name(id), s.name(agent), err)
			s.c.rejected(agent, id, got, err)
		}
	case opTick:
		s.f.tick(time.Duration(r.IntN(31)) * time.Second)
		s.logf("tick")
		// An answer that comes after the offer ran out but before Expire
		// collected it is refused.
		if id, ok := pickID(r, s.c.open, func(_ uuid.UUID, o Offer) bool { return !s.f.now.Before(o.ExpiresAt) }); ok {
			o := s.c.open[id]
			s.accept(o.AgentID, id)
		}
	case opTickToDeadline:
		if next, ok := e.NextDeadline(); ok && next.After(now) {
			s.f.now = next
			s.logf("tick to the next deadline")
		}
	case opPresence:
		s.setPresence(s.agents[r.IntN(len(s.agents))], s.randomPresence(), r.IntN(4) > 0)
	case opClose:
		contact, ok := pickID(r, s.db.assigned, nil)
		if !ok {
			return
		}
		if _, wrapping := s.db.wrapUntil[contact]; !wrapping && r.IntN(2) == 0 {
			// Closed with wrap-up time: the slot stays held until the agent
			// is done or the time runs out.
			until := now.Add(time.Duration(1+r.IntN(40)) * time.Second)
			got := e.WrapUp(contact, until)
			s.logf("close %s with wrap-up until %v → %v", s.name(contact), clock(until), got)
			s.c.wrappingUp(contact, until, got)
			s.db.wrapUntil[contact] = until
			return
		}
		got := e.Release(contact) // closed without wrap-up, or the agent is done
		s.logf("close or done %s → release %v", s.name(contact), got)
		s.c.released(contact, got, true)
		delete(s.db.assigned, contact)
		delete(s.db.wrapUntil, contact)
	case opTransfer:
		contact, ok := pickID(r, s.db.assigned, func(id uuid.UUID, _ uuid.UUID) bool { _, w := s.db.wrapUntil[id]; return !w })
		if !ok {
			return
		}
		got := e.Release(contact)
		s.logf("transfer %s: release → %v", s.name(contact), got)
		s.c.released(contact, got, false)
		from := s.db.assigned[contact]
		delete(s.db.assigned, contact)
		t := s.c.contacts[contact].task
		t.QueueID = s.queues[r.IntN(len(s.queues))]
		t.Preferred, t.PreferUntil, t.PreferReason = nil, time.Time{}, ""
		if r.IntN(2) == 0 { // to an agent: tried alone for a while, then the queue
			t.Preferred = []uuid.UUID{s.agents[r.IntN(len(s.agents))]}
			t.PreferUntil, t.PreferReason = now.Add(time.Duration(10+r.IntN(30))*time.Second), "transferred by "+s.name(from)
		}
		s.store(t)
		s.enqueue(t)
	case opAbandon:
		contact, ok := pickID(r, s.db.queued, nil)
		if !ok {
			return
		}
		got := e.Cancel(contact)
		s.logf("abandon %s → cancel rescinds %s", s.name(contact), s.offers(got))
		s.c.cancelled(contact, got)
		delete(s.db.queued, contact)
	case opMove:
		contact, ok := pickID(r, s.db.queued, nil)
		if !ok {
			return
		}
		// A supervisor's move, persisted first, keeps the contact's age.
		t := s.db.queued[contact]
		t.QueueID = s.queues[r.IntN(len(s.queues))]
		s.store(t)
		got, ok := e.Move(contact, t.QueueID)
		s.logf("supervisor moves %s to %s → %v, rescinding %s", s.name(contact), s.name(t.QueueID), ok, s.offers(got))
		s.c.moved(contact, t.QueueID, got, ok)
	case opAgentConfig:
		id := s.agents[r.IntN(len(s.agents))]
		a := s.randomAgent(id)
		s.setAgent(a)
	case opQueueConfig:
		id := s.queues[r.IntN(len(s.queues))]
		s.setQueue(s.randomQueue(id))
	case opSweep:
		// routing/dispatch re-reads the queued contacts every few seconds;
		// the engine must already have every one of them.
		s.logf("sweep")
		for _, id := range slices.SortedFunc(maps.Keys(s.db.queued), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
			s.enqueue(s.db.queued[id])
		}
	case opNotify:
		// A late or repeated NOTIFY for any contact, assigned ones too:
		// refused unless the engine let the contact go.
		contact, ok := pickID(r, s.c.contacts, nil)
		if !ok {
			return
		}
		s.logf("late notify")
		s.enqueue(s.c.contacts[contact].task)
	case opCrash:
		s.crash()
	}
}

// crash throws the engine away and rebuilds one from the stored model only,
// in routing/dispatch's order: queues, agents and presence, open
// assignments, queued contacts. Open offers died with the old engine.
func (s *sim) crash() {
	s.logf("crash: rescinding %s; rebuild from %d assignments and %d queued", s.offers(s.c.openOffers()), len(s.db.assigned), len(s.db.queued))
	s.c.crashed()
	s.f.e = NewEngine(func() time.Time { return s.f.now }, s.f.id)
	byID := func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
	for _, id := range slices.SortedFunc(maps.Keys(s.db.queues), byID) {
		s.f.e.SetQueue(s.db.queues[id])
	}
	for _, id := range slices.SortedFunc(maps.Keys(s.db.agents), byID) {
		s.f.e.SetAgent(s.db.agents[id])
		got := s.f.e.SetPresence(id, s.db.presence[id], s.db.connected[id])
		s.c.presence(id, s.db.presence[id], s.db.connected[id], got)
	}
	for _, id := range slices.SortedFunc(maps.Keys(s.db.assigned), byID) {
		a := s.db.assigned[id]
		ch := s.c.contacts[id].task.Channel
		s.f.e.Assigned(id, a, ch)
		s.c.rebuiltAssignment(id, a)
		if until, ok := s.db.wrapUntil[id]; ok {
			s.c.wrappingUp(id, until, s.f.e.WrapUp(id, until))
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(s.db.queued), byID) {
		s.enqueue(s.db.queued[id])
	}
	s.c.everyContactHeld("after the rebuild")
}

// drain finishes the work: assignments close, every agent and one more
// who can take anything come available, cool-downs and preference windows
// pass, and each offer is accepted and closed at once. Every contact must
// end up offered and closed.
func (s *sim) drain() {
	s.r = rand.New(rand.NewPCG(1, 1))
	s.logf("drain")
	for _, id := range slices.SortedFunc(maps.Keys(s.db.assigned), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
		got := s.f.e.Release(id)
		s.c.released(id, got, true)
		delete(s.db.assigned, id)
		delete(s.db.wrapUntil, id)
	}
	for _, id := range s.queues { // opening hours end; the queues stay open
		if q := s.db.queues[id]; q.Calendar != nil {
			q.Calendar = nil
			s.setQueue(q)
		}
	}
	helper := s.newID('a')
	s.setAgent(Agent{ID: helper, Name: "helper", Skills: map[string]int{"cars": 9, "parts": 9},
		Capacity: map[org.Channel]int{org.Voice: 1, org.Chat: 3, org.Email: 3}})
	s.agents = append(s.agents, helper)
	for _, a := range s.agents {
		s.setPresence(a, org.Available, true)
	}
	for range 1000 {
		if s.c.err != "" {
			return
		}
		s.f.tick(time.Minute)
		s.step()
		if len(s.c.contacts) == 0 {
			break
		}
		for _, id := range slices.SortedFunc(maps.Keys(s.c.open), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
			o, ok := s.c.open[id]
			if !ok {
				continue
			}
			got, err := s.accept(o.AgentID, id)
			if err != nil {
				return
			}
			delete(s.db.queued, got.Task.ContactID)
			s.c.released(got.Task.ContactID, s.f.e.Release(got.Task.ContactID), true)
		}
	}
	s.logf("drained")
	for id := range s.c.contacts {
		s.c.failf("contact %s never offered after the drain, though an agent who can take anything was free", s.name(id))
		break
	}
	for id := range s.c.open {
		s.c.failf("offer %s still open after the drain", s.name(id))
		break
	}
}

// checker knows only the test's inputs and what the engine returned.
type checker struct {
	now  func() time.Time
	name func(uuid.UUID) string

	queues   map[uuid.UUID]org.Queue
	agents   map[uuid.UUID]Agent
	pres     map[uuid.UUID]org.Presence
	conn     map[uuid.UUID]bool
	contacts map[uuid.UUID]*contactState // arrived and not closed
	open     map[uuid.UUID]Offer
	gone     []uuid.UUID                       // ended offers, for late answers
	load     map[uuid.UUID]map[org.Channel]int // assignments
	offering map[uuid.UUID]map[org.Channel]int // open offers

	dispatches     int     // Dispatch calls seen, to tell one ring-all round from the next
	lastSuperseded []Offer // what the last accept superseded

	// Reports the engine owes for enqueues since the last step: moves of
	// arrivals at full queues and arrivals at closed or full queues.
	pendingMoves  []Move
	pendingClosed []ClosedArrival

	err     string
	errKind string // the failure's format, so that shrinking keeps the same failure
}

type contactState struct {
	task     Task
	held     bool                    // in the engine: waiting, offered or assigned
	offers   map[uuid.UUID]uuid.UUID // agent → its open offer of this contact
	agent    uuid.UUID               // assigned to
	declined map[uuid.UUID]excuse    // agent → why not offered again yet
	round    int                     // the Dispatch that made its open offers
	wrapUp   time.Time               // the end of its wrap-up: closed, slot still held
	visited  []uuid.UUID             // queues it overflowed out of since it was last enqueued
}

// excuse is a cool-down after a reject or a missed offer. A strict one
// forbids offering the contact to that agent until it ends; a loose one
// only excuses not offering. Every decline is strict today, including an
// expiry whose agent was set away in the same round.
type excuse struct {
	until  time.Time
	strict bool
}

func newChecker(now func() time.Time, name func(uuid.UUID) string) *checker {
	return &checker{now: now, name: name, queues: map[uuid.UUID]org.Queue{}, agents: map[uuid.UUID]Agent{},
		pres: map[uuid.UUID]org.Presence{}, conn: map[uuid.UUID]bool{}, contacts: map[uuid.UUID]*contactState{},
		open: map[uuid.UUID]Offer{}, load: map[uuid.UUID]map[org.Channel]int{}, offering: map[uuid.UUID]map[org.Channel]int{}}
}

func (c *checker) failf(format string, args ...any) {
	if c.err == "" {
		c.err, c.errKind = fmt.Sprintf(format, args...), format
	}
}

func (c *checker) openOffers() []Offer {
	out := slices.Collect(maps.Values(c.open))
	sortOffers(out)
	return out
}

func (c *checker) waiting(cs *contactState) bool {
	return cs.held && len(cs.offers) == 0 && cs.agent == uuid.Nil
}

func (c *checker) add(m map[uuid.UUID]map[org.Channel]int, a uuid.UUID, ch org.Channel, n int) {
	if m[a] == nil {
		m[a] = map[org.Channel]int{}
	}
	m[a][ch] += n
}

func (c *checker) timeout(q uuid.UUID) time.Duration {
	if d := c.queues[q].OfferTimeout; d > 0 {
		return d
	}
	return 20 * time.Second
}

// whyNot says why offering cs to agent a now would be wrong, or "".
func (c *checker) whyNot(cs *contactState, a uuid.UUID) string { return c.refuse(cs, a, true) }

// could reports whether nothing explains not offering cs to a now.
func (c *checker) could(cs *contactState, a uuid.UUID) bool {
	if x, ok := cs.declined[a]; ok && c.now().Before(x.until) {
		return false
	}
	return c.refuse(cs, a, false) == ""
}

// refuse is whyNot; without explain it says only "no", which keeps the
// thousands of runs fast.
func (c *checker) refuse(cs *contactState, a uuid.UUID, explain bool) string {
	no := func(format string, args ...any) string {
		if !explain {
			return "no"
		}
		return fmt.Sprintf(format, args...)
	}
	ag, ok := c.agents[a]
	if !ok {
		return "the agent is unknown"
	}
	if c.pres[a] != org.Available || !c.conn[a] {
		return no("the agent is not routable (%s, connected %v)", c.pres[a], c.conn[a])
	}
	if !c.isOpen(c.queues[cs.task.QueueID]) {
		return no("the queue is closed")
	}
	if !c.skilled(cs, ag) {
		return no("the agent lacks the skills %v", c.skills(cs))
	}
	ch := cs.task.Channel
	if ag.Capacity[ch]-c.load[a][ch]-c.offering[a][ch] <= 0 {
		return no("the agent has no free %s slot (capacity %d, %d assigned, %d offered)", ch, ag.Capacity[ch], c.load[a][ch], c.offering[a][ch])
	}
	if ch == org.Chat && ag.VoiceBlocksChat && c.load[a][org.Voice]+c.offering[a][org.Voice] > 0 {
		return no("the agent is on or ringing for a call, which blocks chats")
	}
	if _, ok := cs.offers[a]; ok {
		return no("the agent already has an offer of it")
	}
	now := c.now()
	if x, ok := cs.declined[a]; ok && x.strict && now.Before(x.until) {
		return no("the agent declined it until %v", clock(x.until))
	}
	if c.preferring(cs) && !slices.Contains(cs.task.Preferred, a) {
		return no("only %s may have it until %v", c.name(cs.task.Preferred[0]), clock(cs.task.PreferUntil))
	}
	return ""
}

// skills is what an agent needs for cs now: its queue's, or the widened
// skills once it has waited WidenAfter.
func (c *checker) skills(cs *contactState) map[string]int {
	q := c.queues[cs.task.QueueID]
	if q.WidenAfter > 0 && c.now().Sub(cs.task.ArrivedAt) >= q.WidenAfter {
		return q.WidenedSkills
	}
	return q.Skills
}

func (c *checker) skilled(cs *contactState, ag Agent) bool {
	for skill, level := range c.skills(cs) {
		if ag.Skills[skill] < level {
			return false
		}
	}
	return true
}

// preferring: cs is limited to its preferred agents until PreferUntil, but
// only while one of them is present, able to take the channel and skilled.
func (c *checker) preferring(cs *contactState) bool {
	if len(cs.task.Preferred) == 0 || !c.now().Before(cs.task.PreferUntil) {
		return false
	}
	for _, p := range cs.task.Preferred {
		if ag, ok := c.agents[p]; ok && c.routable(p) && ag.Capacity[cs.task.Channel] > 0 && c.skilled(cs, ag) {
			return true
		}
	}
	return false
}

// ringAll: the contact rings every free qualified agent at once.
func (c *checker) ringAll(cs *contactState) bool {
	return c.queues[cs.task.QueueID].Strategy == RingAll && cs.task.Channel == org.Voice
}

// priority is cs's priority now: its own, its queue's, and one more per
// AgeingStep waited, up to AgeingMax when that is set.
func (c *checker) priority(cs *contactState) int {
	q := c.queues[cs.task.QueueID]
	p := cs.task.Priority + q.Priority
	if q.AgeingStep > 0 {
		bonus := max(int(c.now().Sub(cs.task.ArrivedAt)/q.AgeingStep), 0)
		if q.AgeingMax > 0 {
			bonus = min(bonus, q.AgeingMax)
		}
		p += bonus
	}
	return p
}

// ahead reports whether w must be offered before cs: a higher priority
// (the task's plus its queue's), or the same and strictly older. Equal
// arrivals are left unordered: the spec does not order them.
func (c *checker) ahead(w, cs *contactState) bool {
	pw, pc := c.priority(w), c.priority(cs)
	return pw > pc || pw == pc && w.task.ArrivedAt.Before(cs.task.ArrivedAt)
}

func (c *checker) arrived(t Task) {
	c.contacts[t.ContactID] = &contactState{task: t, offers: map[uuid.UUID]uuid.UUID{}}
}

func (c *checker) enqueued(t Task, got bool) {
	cs := c.contacts[t.ContactID]
	if cs == nil {
		c.failf("test bug: enqueue of unknown contact %s", c.name(t.ContactID))
		return
	}
	if want := !cs.held; got != want {
		if got {
			c.failf("Enqueue(%s) = true: the engine had lost a contact it was holding (waiting, offered or assigned)", c.name(t.ContactID))
		} else {
			c.failf("Enqueue(%s) = false for a contact the engine does not hold", c.name(t.ContactID))
		}
		return
	}
	if got {
		// Its length before this arrival: waiting and offered contacts.
		length := 0
		for _, o := range c.contacts {
			if o != cs && o.held && o.agent == uuid.Nil && o.task.QueueID == t.QueueID {
				length++
			}
		}
		cs.task, cs.held, cs.declined, cs.visited = t, true, nil, nil
		q, known := c.queues[t.QueueID]
		switch {
		case !known:
		case q.MaxLength > 0 && length >= q.MaxLength:
			if to, ok := c.overflowTarget(cs, q); ok {
				c.pendingMoves = append(c.pendingMoves, Move{ContactID: t.ContactID, From: q.ID, To: to, Reason: MoveFull})
				cs.visited, cs.task.QueueID = append(cs.visited, q.ID), to
			} else {
				c.pendingClosed = append(c.pendingClosed, ClosedArrival{Task: t, Reason: ClosedFull, Action: q.ClosedAction})
			}
		case !c.isOpen(q):
			c.pendingClosed = append(c.pendingClosed, ClosedArrival{Task: t, Reason: ClosedHours, Action: q.ClosedAction})
		}
	}
}

// isOpen reads q's calendar on its own (org.Calendar), not the engine's cache.
func (c *checker) isOpen(q org.Queue) bool {
	if q.Calendar == nil {
		return true
	}
	open, err := q.Calendar.OpenAt(c.now())
	return err != nil || open
}

// overflowTarget is where cs overflows from q: q's overflow queue, unless
// it is q itself, unknown, or a queue cs already overflowed out of.
func (c *checker) overflowTarget(cs *contactState, q org.Queue) (uuid.UUID, bool) {
	to := q.OverflowQueueID
	if _, known := c.queues[to]; !known || to == q.ID || slices.Contains(cs.visited, to) {
		return uuid.Nil, false
	}
	return to, true
}

// overflowDue lists the moves Overflow must make now: every waiting
// contact that has waited its queue's MaxWait and has somewhere to go.
func (c *checker) overflowDue() []Move {
	var out []Move
	for _, cs := range c.contacts {
		q := c.queues[cs.task.QueueID]
		if !c.waiting(cs) || q.MaxWait <= 0 || c.now().Sub(cs.task.ArrivedAt) < q.MaxWait {
			continue
		}
		if to, ok := c.overflowTarget(cs, q); ok {
			out = append(out, Move{ContactID: cs.task.ContactID, From: q.ID, To: to, Reason: MoveMaxWait})
		}
	}
	return out
}

// reports checks the engine's moves and closed reports against what the
// checker expected (arrivals since the last step, then the due overflows),
// and applies the overflows: the contact waits in the new queue, with its
// age and no cool-downs.
func (c *checker) reports(moves []Move, closed []ClosedArrival, due []Move) {
	want := append(c.pendingMoves, due...)
	byMove := func(a, b Move) int {
		if x := bytes.Compare(a.ContactID[:], b.ContactID[:]); x != 0 {
			return x
		}
		return strings.Compare(a.Reason, b.Reason)
	}
	got := slices.Clone(moves)
	slices.SortFunc(got, byMove)
	slices.SortFunc(want, byMove)
	if !slices.Equal(got, want) {
		c.failf("moves %v, want %v", len(got), len(want))
		return
	}
	for _, m := range due {
		cs := c.contacts[m.ContactID]
		cs.visited, cs.task.QueueID, cs.declined = append(cs.visited, m.From), m.To, nil
	}
	type closedKey struct {
		contact uuid.UUID
		reason  string
		action  org.ClosedAction
	}
	keys := func(cs []ClosedArrival) []closedKey {
		var out []closedKey
		for _, x := range cs {
			out = append(out, closedKey{x.Task.ContactID, x.Reason, x.Action})
		}
		slices.SortFunc(out, func(a, b closedKey) int { return bytes.Compare(a.contact[:], b.contact[:]) })
		return out
	}
	if g, w := keys(closed), keys(c.pendingClosed); !slices.Equal(g, w) {
		c.failf("closed reports %d, want %d", len(g), len(w))
		return
	}
	c.pendingMoves, c.pendingClosed = nil, nil
}

func (c *checker) offered(os []Offer) {
	now := c.now()
	c.dispatches++
	var ringing *contactState // the ring-all contact whose offers are being listed
	for _, o := range os {
		cs := c.contacts[o.Task.ContactID]
		if ringing != nil && ringing != cs {
			c.rangEveryone(ringing)
			ringing = nil
		}
		// One ring-all call rings several agents in one round; nothing
		// else is ever offered to two agents at once.
		more := cs != nil && len(cs.offers) > 0 && c.ringAll(cs) && cs.round == c.dispatches
		switch {
		case cs == nil:
			c.failf("offer %s of %s, a closed or unknown contact", c.name(o.ID), c.name(o.Task.ContactID))
			return
		case !cs.held:
			c.failf("offer %s of %s, which the engine had let go", c.name(o.ID), c.name(o.Task.ContactID))
			return
		case cs.agent != uuid.Nil:
			c.failf("offer %s of %s to %s while it is assigned to %s", c.name(o.ID), c.name(o.Task.ContactID), c.name(o.AgentID), c.name(cs.agent))
			return
		case len(cs.offers) > 0 && !more:
			c.failf("offer %s of %s to %s while it is offered to another agent (%d open)", c.name(o.ID), c.name(o.Task.ContactID), c.name(o.AgentID), len(cs.offers))
			return
		}
		if _, dup := c.open[o.ID]; dup {
			c.failf("offer id %s reused", c.name(o.ID))
			return
		}
		if o.Task.QueueID != cs.task.QueueID || o.Task.Channel != cs.task.Channel || o.Task.Priority != cs.task.Priority || !o.Task.ArrivedAt.Equal(cs.task.ArrivedAt) {
			c.failf("offer %s carries queue %s, %s, priority %d, arrived %v; want %s, %s, %d, %v", c.name(o.ID),
				c.name(o.Task.QueueID), o.Task.Channel, o.Task.Priority, o.Task.ArrivedAt, c.name(cs.task.QueueID), cs.task.Channel, cs.task.Priority, cs.task.ArrivedAt)
			return
		}
		if !o.OfferedAt.Equal(now) || !o.ExpiresAt.Equal(now.Add(c.timeout(cs.task.QueueID))) {
			c.failf("offer %s made at %v expiring %v, want now (%v) plus the queue's timeout %v", c.name(o.ID), o.OfferedAt, o.ExpiresAt, now, c.timeout(cs.task.QueueID))
			return
		}
		if why := c.whyNot(cs, o.AgentID); why != "" {
			c.failf("offer %s of %s to %s, although %s", c.name(o.ID), c.name(o.Task.ContactID), c.name(o.AgentID), why)
			return
		}
		for wid, w := range c.contacts {
			if more || w == cs || !c.waiting(w) || !c.ahead(w, cs) {
				continue
			}
			for a := range c.agents {
				if c.could(w, a) {
					c.failf("offer %s of %s (priority %d, arrived %v) while %s (priority %d, arrived %v) waits and %s could take it: out of order",
						c.name(o.ID), c.name(o.Task.ContactID), c.priority(cs), clock(cs.task.ArrivedAt),
						c.name(wid), c.priority(w), clock(w.task.ArrivedAt), c.name(a))
					return
				}
			}
		}
		c.open[o.ID] = o
		cs.offers[o.AgentID], cs.round = o.ID, c.dispatches
		c.add(c.offering, o.AgentID, o.Task.Channel, 1)
		if c.ringAll(cs) {
			ringing = cs
		}
		ch := o.Task.Channel
		if n, cap := c.load[o.AgentID][ch]+c.offering[o.AgentID][ch], c.agents[o.AgentID].Capacity[ch]; n > cap {
			c.failf("agent %s holds %d %s contacts (assignments and offers), capacity %d", c.name(o.AgentID), n, ch, cap)
			return
		}
	}
	if ringing != nil {
		c.rangEveryone(ringing)
	}
	// Dispatch makes every offer possible: nothing left could go to anyone.
	for id, cs := range c.contacts {
		if !c.waiting(cs) {
			continue
		}
		for a := range c.agents {
			if c.could(cs, a) {
				c.failf("after Dispatch %s still waits although %s could take it", c.name(id), c.name(a))
				return
			}
		}
	}
}

// rangEveryone checks that a ring-all call, once offered, rings every
// agent who could take it.
func (c *checker) rangEveryone(cs *contactState) {
	for a := range c.agents {
		if c.could(cs, a) {
			c.failf("ring-all call %s does not ring %s, who could take it", c.name(cs.task.ContactID), c.name(a))
			return
		}
	}
}

// end closes an open offer; a reject or a miss starts the agent's cool-down.
func (c *checker) end(o Offer, how string, decline, strict bool) {
	if _, ok := c.open[o.ID]; !ok {
		c.failf("offer %s %s, but it was not open (ended twice, or never made)", c.name(o.ID), how)
		return
	}
	delete(c.open, o.ID)
	c.gone = append(c.gone, o.ID)
	c.add(c.offering, o.AgentID, o.Task.Channel, -1)
	cs := c.contacts[o.Task.ContactID]
	if cs == nil {
		return
	}
	delete(cs.offers, o.AgentID)
	if decline {
		if cs.declined == nil {
			cs.declined = map[uuid.UUID]excuse{}
		}
		cs.declined[o.AgentID] = excuse{until: c.now().Add(c.timeout(o.Task.QueueID)), strict: strict}
	}
}

// answerable reports whether agent's answer to offer id must succeed.
func (c *checker) answerable(agent, id uuid.UUID) (Offer, bool) {
	o, ok := c.open[id]
	return o, ok && o.AgentID == agent && c.now().Before(o.ExpiresAt)
}

// accepted follows Accept: exactly one answer wins, and the other open
// offers of a ring-all call end at once, reported as superseded.
func (c *checker) accepted(agent, id uuid.UUID, got Offer, err error, superseded []Offer) {
	c.lastSuperseded = nil
	o, want := c.answerable(agent, id)
	if (!want || err != nil) && len(superseded) > 0 {
		c.failf("a refused Accept(%s, %s) superseded %d offers", c.name(agent), c.name(id), len(superseded))
		return
	}
	switch {
	case !want && !errors.Is(err, ErrNoOffer):
		c.failf("Accept(%s, %s) = %v, want ErrNoOffer: not an open, unexpired offer of that agent", c.name(agent), c.name(id), err)
	case want && err != nil:
		c.failf("Accept(%s, %s) = %v: the offer is open and unexpired", c.name(agent), c.name(id), err)
	case want && (got.ID != o.ID || got.Task.ContactID != o.Task.ContactID || got.AgentID != agent):
		c.failf("Accept returned offer %s of %s, want %s of %s", c.name(got.ID), c.name(got.Task.ContactID), c.name(o.ID), c.name(o.Task.ContactID))
	case want:
		c.end(o, "accepted", false, false)
		cs := c.contacts[o.Task.ContactID]
		if len(superseded) != len(cs.offers) {
			c.failf("accept of %s superseded %d offers; %d others were open", c.name(o.Task.ContactID), len(superseded), len(cs.offers))
			return
		}
		for _, x := range superseded {
			if cs.offers[x.AgentID] != x.ID {
				c.failf("accept of %s superseded %s, not an open offer of it", c.name(o.Task.ContactID), c.name(x.ID))
				return
			}
			c.end(x, "superseded", false, false)
		}
		c.lastSuperseded = superseded
		cs.agent = agent
		c.add(c.load, agent, o.Task.Channel, 1)
	}
}

func (c *checker) rejected(agent, id uuid.UUID, got Offer, err error) {
	o, want := c.answerable(agent, id)
	switch {
	case !want && !errors.Is(err, ErrNoOffer):
		c.failf("Reject(%s, %s) = %v, want ErrNoOffer", c.name(agent), c.name(id), err)
	case want && (err != nil || got.ID != o.ID):
		c.failf("Reject(%s, %s) = %s, %v: the offer is open", c.name(agent), c.name(id), c.name(got.ID), err)
	case want:
		c.end(o, "rejected", true, true)
	}
}

// released follows Release: true exactly when the contact was assigned.
// closed says the contact ends (closed); otherwise it waits again soon.
func (c *checker) released(contact uuid.UUID, got, closed bool) {
	cs := c.contacts[contact]
	if want := cs != nil && cs.agent != uuid.Nil; got != want {
		c.failf("Release(%s) = %v, want %v", c.name(contact), got, want)
		return
	}
	if got {
		c.add(c.load, cs.agent, cs.task.Channel, -1)
		cs.agent, cs.held, cs.wrapUp = uuid.Nil, false, time.Time{}
	}
	if closed {
		delete(c.contacts, contact)
	}
}

// wrappingUp follows WrapUp: true exactly for an assigned contact; the
// slot stays held until done or the deadline.
func (c *checker) wrappingUp(contact uuid.UUID, until time.Time, got bool) {
	cs := c.contacts[contact]
	if want := cs.agent != uuid.Nil; got != want {
		c.failf("WrapUp(%s) = %v, want %v", c.name(contact), got, want)
		return
	}
	cs.wrapUp = until
}

// wrapUpsEnded follows EndWrapUps: exactly the wrap-ups whose time is up
// end, dated at their deadline, and their contacts close.
func (c *checker) wrapUpsEnded(ended []WrapUpEnd) {
	now := c.now()
	for _, w := range ended {
		cs := c.contacts[w.ContactID]
		switch {
		case cs == nil || cs.agent != w.AgentID || cs.wrapUp.IsZero():
			c.failf("EndWrapUps ended %s of %s, not in wrap-up with that agent", c.name(w.ContactID), c.name(w.AgentID))
			return
		case cs.wrapUp.After(now) || !w.At.Equal(cs.wrapUp):
			c.failf("EndWrapUps ended %s at %v, its wrap-up runs until %v (now %v)", c.name(w.ContactID), clock(w.At), clock(cs.wrapUp), clock(now))
			return
		}
		c.released(w.ContactID, true, true)
	}
	for id, cs := range c.contacts {
		if !cs.wrapUp.IsZero() && !now.Before(cs.wrapUp) {
			c.failf("wrap-up of %s ran out at %v but EndWrapUps kept the slot", c.name(id), clock(cs.wrapUp))
			return
		}
	}
}

// rescinded checks that got is exactly the open offers of cs, and ends them.
func (c *checker) rescinded(cs *contactState, got []Offer, how string) bool {
	if len(got) != len(cs.offers) {
		c.failf("%s of %s ended %d offers; it had %d open", how, c.name(cs.task.ContactID), len(got), len(cs.offers))
		return false
	}
	for _, o := range got {
		if cs.offers[o.AgentID] != o.ID {
			c.failf("%s of %s ended %s, not an open offer of it", how, c.name(cs.task.ContactID), c.name(o.ID))
			return false
		}
		c.end(o, "rescinded by "+how, false, false)
	}
	return true
}

// cancelled follows Cancel of a contact that is not assigned: it closes.
func (c *checker) cancelled(contact uuid.UUID, got []Offer) {
	if c.rescinded(c.contacts[contact], got, "Cancel") {
		delete(c.contacts, contact)
	}
}

// moved follows a supervisor's Move: the contact keeps its age, its offers
// end, and it waits in the other queue with no cool-downs.
func (c *checker) moved(contact, to uuid.UUID, got []Offer, ok bool) {
	cs := c.contacts[contact]
	if want := cs.held && cs.agent == uuid.Nil; ok != want {
		c.failf("Move(%s) = %v, want %v", c.name(contact), ok, want)
		return
	}
	if c.rescinded(cs, got, "Move") {
		cs.task.QueueID, cs.declined = to, nil
	}
}

func (c *checker) routable(a uuid.UUID) bool { return c.pres[a] == org.Available && c.conn[a] }

func (c *checker) presence(a uuid.UUID, p org.Presence, connected bool, got []Offer) {
	was := c.routable(a)
	c.pres[a], c.conn[a] = p, connected
	if was && !c.routable(a) {
		want := map[uuid.UUID]bool{}
		for id, o := range c.open {
			if o.AgentID == a {
				want[id] = true
			}
		}
		for _, o := range got {
			if !want[o.ID] {
				c.failf("SetPresence(%s) rescinded %s, not an open offer of theirs", c.name(a), c.name(o.ID))
				return
			}
			delete(want, o.ID)
			c.end(o, "rescinded", false, false)
		}
		for id := range want {
			c.failf("SetPresence(%s, %s) left offer %s open: an agent who is not routable keeps no offers", c.name(a), p, c.name(id))
			return
		}
		return
	}
	if len(got) > 0 {
		c.failf("SetPresence(%s) rescinded %d offers although the agent stays routable or was not", c.name(a), len(got))
	}
}

// expired follows Expire and NoAnswer: every offer past its expiry ends,
// and others end only as part of an agent set away for missing offers.
func (c *checker) expired(out []Offer, noAnswer []uuid.UUID) {
	now := c.now()
	for _, o := range out {
		if o.ExpiresAt.After(now) {
			if !slices.Contains(noAnswer, o.AgentID) {
				c.failf("Expire ended offer %s, which runs until %v, of an agent not set away", c.name(o.ID), clock(o.ExpiresAt))
				return
			}
			c.end(o, "rescinded (no answer)", false, false)
			continue
		}
		c.end(o, "expired", true, true)
	}
	for _, a := range noAnswer {
		c.pres[a] = org.Away
		for id, o := range c.open {
			if o.AgentID == a {
				c.failf("agent %s set away for not answering kept offer %s", c.name(a), c.name(id))
				return
			}
		}
	}
	for id, o := range c.open {
		if !now.Before(o.ExpiresAt) {
			c.failf("offer %s expired at %v but Expire left it open", c.name(id), clock(o.ExpiresAt))
			return
		}
	}
}

// quiet checks, at the end of a step, that every held contact is still
// accounted for and that NextDeadline wakes the loop before any offer runs
// out, any preference window closes or any wrap-up ends.
func (c *checker) quiet(next time.Time, ok bool) {
	c.everyContactHeld("at the end of a step")
	var want time.Time
	earlier := func(t time.Time) {
		if want.IsZero() || t.Before(want) {
			want = t
		}
	}
	for _, o := range c.open {
		earlier(o.ExpiresAt)
	}
	now := c.now()
	for _, cs := range c.contacts {
		if !cs.wrapUp.IsZero() {
			earlier(cs.wrapUp)
		}
	}
	for _, cs := range c.contacts {
		if c.waiting(cs) && len(cs.task.Preferred) > 0 && now.Before(cs.task.PreferUntil) {
			earlier(cs.task.PreferUntil)
		}
	}
	if !want.IsZero() && (!ok || next.After(want)) {
		c.failf("NextDeadline() = %v, %v; want at or before %v, when an offer expires, a preference or a wrap-up ends", clock(next), ok, clock(want))
	}
}

func (c *checker) everyContactHeld(when string) {
	for id, cs := range c.contacts {
		if !cs.held {
			c.failf("contact %s lost %s: arrived, not closed, neither waiting, offered nor assigned", c.name(id), when)
			return
		}
	}
}

// crashed forgets everything the engine held: its offers are rescinded,
// its cool-downs and loads gone; the rebuild tells the checker again.
func (c *checker) crashed() {
	for _, o := range c.openOffers() {
		c.end(o, "rescinded by the crash", false, false)
	}
	for _, cs := range c.contacts {
		cs.held, cs.agent, cs.declined, cs.wrapUp = false, uuid.Nil, nil, time.Time{}
	}
	clear(c.load)
	for a := range c.pres {
		c.pres[a], c.conn[a] = org.Offline, false // a new engine knows nobody
	}
}

func (c *checker) rebuiltAssignment(contact, agent uuid.UUID) {
	cs := c.contacts[contact]
	cs.held, cs.agent = true, agent
	c.add(c.load, agent, cs.task.Channel, 1)
}
