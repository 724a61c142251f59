package dispatch

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/lease"
	"github.com/switchboard-cc/switchboard/stats"
)

// tenantRun is one tenant's engine under one lease epoch. Everything that
// touches the engine runs on its loop goroutine; notifications go out in
// order on a second goroutine so a slow screen-pop never stalls routing.
type tenantRun struct {
	d      *Dispatcher
	tenant uuid.UUID // the lease's tenant, fixed: the background readers use it
	lease  lease.Lease
	eng    *routing.Engine
	inbox  chan func(context.Context)
	notes  chan func(context.Context)
	safeTo time.Time // local monotonic deadline after which the lease may be someone else's
	lost   bool      // the renewer found the lease taken over
	dirty  bool      // gauges changed since the last push

	// applies carries the background readers' results to the loop
	// (background.go); kick asks the fetcher for a snapshot now.
	applies chan func(context.Context)
	kick    chan struct{}
	// statsReq is the next statistics read, shared with the fetcher.
	statsMu  sync.Mutex
	statsReq statsRead
	seeded   bool // today's agents' clocks are seeded from the history

	// Today's statistics, followed from the contact events.
	zone     *time.Location
	dayStart time.Time
	cursor   string
	tally    *stats.Tally
	sla      map[uuid.UUID]time.Duration

	// lostSince is when each agent holding chats was last seen without a
	// console; after the grace period their chats go back to the queue.
	lostSince map[uuid.UUID]time.Time
	// lastOverflow is when waiting contacts were last checked against
	// their queues' maximum wait.
	lastOverflow time.Time

	// A queue of a site in another zone than the tenant's counts its day
	// from its own midnight: queueZones names each queue's zone, and
	// zoneDays holds a tally per such zone. The tenant's own zone uses
	// tally (which also carries the agents' figures).
	queueZones map[uuid.UUID]string
	zoneDays   map[string]*zoneDay

	// waits are the waiting chats and what each was last told (waits.go).
	waits     map[uuid.UUID]waitTold
	lastWaits time.Time
}

type zoneDay struct {
	loc   *time.Location
	start time.Time
	tally *stats.Tally
}

// startOfDay is the local midnight of now's day in loc.
func startOfDay(now time.Time, loc *time.Location) time.Time {
	l := now.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// zonesChanged reports a day that has ended, or a queue in a zone that has
// no day yet (a queue added or moved to another site).
func (tr *tenantRun) zonesChanged(now time.Time) bool {
	for _, zd := range tr.zoneDays {
		if !now.Before(zd.start.AddDate(0, 0, 1)) {
			return true
		}
	}
	for _, z := range tr.queueZones {
		if _, ok := tr.zoneDays[z]; !ok && z != tr.zone.String() {
			return true
		}
	}
	return false
}

func (d *Dispatcher) newTenantRun(l lease.Lease) *tenantRun {
	return &tenantRun{
		d:       d,
		tenant:  l.TenantID,
		lease:   l,
		eng:     newEngine(d),
		inbox:   make(chan func(context.Context), 4096),
		notes:   make(chan func(context.Context), 4096),
		applies: make(chan func(context.Context), 64),
		kick:    make(chan struct{}, 1),
		// The lease's expiry is the database's clock; ours may differ, so stop
		// offering a fifth of the TTL early.
		safeTo: time.Now().Add(d.cfg.LeaseTTL * 4 / 5),
	}
}

// poke runs fn on the loop. It never blocks the caller for long: a full
// inbox drops the poke, and the next sweep repairs what it would have done.
func (tr *tenantRun) poke(fn func(context.Context)) {
	select {
	case tr.inbox <- fn:
	default:
		tr.d.log.Warn("routing: inbox full, dropping a poke", "tenant_id", tr.lease.TenantID)
	}
}

func (tr *tenantRun) note(fn func(context.Context)) { tr.notes <- fn }

var errLeaseExpired = errors.New("lease not renewed in time")

func (tr *tenantRun) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	tenant := tr.lease.TenantID
	log := tr.d.log.With("tenant_id", tenant, "epoch", tr.lease.Epoch)

	notesDone := make(chan struct{})
	go func() {
		defer close(notesDone)
		for fn := range tr.notes {
			fn(context.WithoutCancel(ctx))
		}
	}()
	defer func() {
		close(tr.notes)
		<-notesDone
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		if err := lease.Release(rctx, tr.d.pool, tr.lease); err != nil && !errors.Is(err, lease.ErrLost) {
			log.Warn("routing: release lease", "err", err)
		}
	}()

	if err := tr.rebuild(ctx); err != nil {
		return err
	}
	unsub, err := tr.d.sub.Subscribe(ctx, CommandTopic(tenant), commandHandler{tr})
	if err != nil {
		return err
	}
	defer unsub()
	var readers sync.WaitGroup
	defer readers.Wait() // after cancel (deferred later, so run first)
	defer cancel()
	readers.Add(2)
	go func() { defer readers.Done(); tr.renewer(ctx, tr.lease) }()
	go func() { defer readers.Done(); tr.fetcher(ctx) }()
	log.Info("routing engine started")

	gauges := time.NewTicker(tr.d.cfg.GaugeInterval)
	defer gauges.Stop()
	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()

	for {
		select {
		case <-ctx.Done():
			tr.rescindAll("shutdown")
			return nil
		case fn := <-tr.inbox:
			fn(ctx)
		case fn := <-tr.applies:
			fn(ctx)
		case <-gauges.C:
			tr.prepareDay()
			if tr.dirty {
				g, today := tr.eng.Gauges(), tr.today()
				tr.note(func(ctx context.Context) { tr.d.notify.Gauges(ctx, tenant, g, today) })
				tr.dirty = false
			}
			tr.tellWaits()
		case <-deadline.C:
		}
		if tr.lost {
			tr.rescindAll("rebuild")
			return lease.ErrLost
		}
		if time.Now().After(tr.safeTo) {
			tr.rescindAll("rebuild")
			return errLeaseExpired
		}
		tr.step(ctx)
		if next, ok := tr.eng.NextDeadline(); ok {
			deadline.Reset(max(time.Until(next), time.Millisecond))
		}
	}
}

// step expires overdue offers and makes every offer possible now.
func (tr *tenantRun) step(ctx context.Context) {
	tenant := tr.lease.TenantID
	for _, o := range tr.eng.Expire() {
		tr.dirty = true
		tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "timeout") })
	}
	tr.endWrapUps() // before Dispatch: a freed slot takes the next contact now
	for _, agent := range tr.eng.NoAnswer() {
		tr.note(func(ctx context.Context) {
			const reason = "no answer"
			if _, err := tr.d.pres.SetPresence(ctx, tenant, agent, org.Away, reason); err != nil {
				// The engine has them away already; the next sweep reads the
				// stored presence back, so they become routable again.
				tr.d.log.Error("routing: set no-answer agent away", "tenant_id", tenant, "agent_id", agent, "err", err)
				return
			}
			tr.d.log.Info("agent set away after missed offers", "tenant_id", tenant, "agent_id", agent)
			tr.d.notify.PresenceForced(ctx, tenant, agent, org.Away, reason)
		})
	}
	for _, o := range tr.eng.TakeSuperseded() {
		tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "answered_elsewhere") })
	}
	if now := tr.d.now(); now.Sub(tr.lastOverflow) >= time.Second {
		tr.lastOverflow = now
		tr.eng.Overflow()
	}
	// Moves and closed actions are persisted before the next offers, so a
	// contact is offered in the queue the database has it in.
	tr.persistMoves(ctx)
	tr.closedActions(ctx)
	for _, o := range tr.eng.Dispatch() {
		tr.dirty = true
		tr.note(func(ctx context.Context) { tr.d.notify.Offered(ctx, tenant, o) })
	}
}

// persistMoves writes the engine's overflow moves. The engine routes the
// contact in its new queue already; a failed write is repaired at the next
// rebuild, which reads the queue back and overflows again if still due.
func (tr *tenantRun) persistMoves(ctx context.Context) {
	tenant := tr.lease.TenantID
	for _, m := range tr.eng.TakeMoves() {
		tr.dirty = true
		err := tr.d.overflow.Overflow(ctx, tenant, m)
		switch {
		case errors.Is(err, ErrGone):
			tr.eng.Cancel(m.ContactID) // closed or taken meanwhile; the sweep knows better
		case err != nil:
			tr.d.log.Error("routing: persist overflow", "tenant_id", tenant, "contact_id", m.ContactID, "err", err)
		default:
			tr.d.log.Info("contact overflowed", "tenant_id", tenant, "contact_id", m.ContactID,
				"from_queue", m.From, "to_queue", m.To, "reason", m.Reason)
		}
	}
}

// closedActions carries out the closed action of every contact that met a
// closed or full queue. A contact turned into a callback leaves the engine.
func (tr *tenantRun) closedActions(ctx context.Context) {
	tenant := tr.lease.TenantID
	for _, c := range tr.eng.TakeClosed() {
		waiting, err := tr.d.closed.Closed(ctx, tenant, c)
		if err != nil {
			tr.d.log.Error("routing: closed action", "tenant_id", tenant, "contact_id", c.Task.ContactID,
				"action", string(c.Action), "err", err)
			continue
		}
		if !waiting {
			for _, o := range tr.eng.Cancel(c.Task.ContactID) {
				tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "cancelled") })
			}
			tr.dirty = true
		}
	}
}

func (tr *tenantRun) rescindAll(reason string) {
	tenant := tr.lease.TenantID
	for _, o := range tr.eng.Offers() {
		tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, reason) })
	}
}

// rebuild loads everything the engine needs from PostgreSQL. The lease's new
// epoch is already committed, so a previous holder's accepts now fail.
func (tr *tenantRun) rebuild(ctx context.Context) error {
	tenant := tr.lease.TenantID
	open, err := tr.d.src.OpenAssignments(ctx, tenant)
	if err != nil {
		return err
	}
	agents, err := tr.refresh(ctx)
	if err != nil {
		return err
	}
	for _, a := range open {
		tr.eng.Assigned(a.ContactID, a.AgentID, a.Channel)
	}
	tr.restoreWrapUps(open)
	if err := tr.enqueueQueued(ctx); err != nil {
		return err
	}
	if tr.zone, err = tr.d.src.Zone(ctx, tenant); err != nil {
		return err
	}
	if err := tr.followEvents(ctx); err != nil {
		return err
	}
	// Offers of the previous holder died with it; consoles drop their cards.
	for _, a := range agents {
		tr.note(func(ctx context.Context) { tr.d.notify.OffersReset(ctx, tenant, a.ID) })
	}
	tr.dirty = true
	return nil
}

// refresh re-reads queues, agents and connections and applies them at
// once, on the caller's goroutine: the rebuild, before the loop runs.
// Afterwards the fetcher does this off the loop (background.go).
func (tr *tenantRun) refresh(ctx context.Context) ([]org.Agent, error) {
	s, err := tr.read(ctx, false)
	if err != nil {
		return nil, err
	}
	tr.apply(s)
	return s.agents, nil
}

// apply brings the engine up to a snapshot, so configuration and presence
// changes apply live even when a command was lost.
func (tr *tenantRun) apply(s snapshot) {
	tenant := tr.tenant
	tr.sla = make(map[uuid.UUID]time.Duration, len(s.queues))
	tr.queueZones = make(map[uuid.UUID]string, len(s.queues))
	for _, q := range s.queues {
		tr.eng.SetQueue(q)
		tr.sla[q.ID] = q.SLA
		if q.Zone != "" {
			tr.queueZones[q.ID] = q.Zone
		}
	}
	if tr.lostSince == nil {
		tr.lostSince = map[uuid.UUID]time.Time{}
	}
	for _, a := range s.agents {
		switch {
		case s.conns[a.ID]:
			delete(tr.lostSince, a.ID)
		case len(tr.eng.AssignedTo(a.ID, org.Chat)) > 0:
			if _, ok := tr.lostSince[a.ID]; !ok {
				tr.lostSince[a.ID] = tr.d.now()
			}
		}
		tr.eng.SetAgent(routing.Agent{ID: a.ID, Name: a.Name, Skills: a.Skills, Capacity: a.Capacity, VoiceBlocksChat: a.VoiceBlocksChat, PresenceSince: a.Since})
		for _, o := range tr.eng.SetPresence(a.ID, a.Presence, s.conns[a.ID]) {
			tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "agent_away") })
		}
	}
	tr.livePresence(s.agents)
	for _, t := range s.tasks {
		tr.enqueue(t)
	}
	tr.dirty = true
}

func (tr *tenantRun) enqueueQueued(ctx context.Context) error {
	tasks, err := tr.d.src.Queued(ctx, tr.lease.TenantID)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tr.enqueue(t)
	}
	return nil
}

func (tr *tenantRun) enqueue(t routing.Task) {
	if _, ok := tr.eng.InWrapUp(t.ContactID); ok {
		// Waiting again while its agent wraps it up: the customer wrote
		// again and the thread was reopened, and crm ended the wrap-up's
		// assignment in that transaction. The slot frees now, not at the
		// wrap-up's end, so the thread is offered at once (its last agent
		// first).
		tr.eng.Release(t.ContactID)
	}
	if tr.eng.Enqueue(t) {
		tr.dirty = true
		tr.watchWait(t)
	}
}

// sweepNow asks for a sweep now (after a lost LISTEN connection or bus
// subscription, whose notifications may be gone).
func (tr *tenantRun) sweepNow(context.Context) { tr.kickFetch() }

// requeueLost returns the chats of agents whose console has been gone for
// longer than the grace period to their queues. They keep their arrival
// time, so they go ahead of newer chats. Calls and e-mails stay: the phone
// leg decides a call, and an e-mail can wait for its agent.
func (tr *tenantRun) requeueLost(ctx context.Context) {
	tenant := tr.lease.TenantID
	now := tr.d.now()
	for agent, since := range tr.lostSince {
		if now.Sub(since) < tr.d.cfg.Grace {
			continue
		}
		delete(tr.lostSince, agent)
		for _, contact := range tr.eng.AssignedTo(agent, org.Chat) {
			if _, ok := tr.eng.InWrapUp(contact); ok {
				continue // closed already: nothing to requeue; its wrap-up runs out
			}
			task, err := tr.d.requeue.Requeue(ctx, tenant, agent, contact)
			if errors.Is(err, ErrGone) {
				tr.eng.Release(contact) // closed or moved meanwhile
				continue
			} else if err != nil {
				tr.d.log.Error("routing: requeue a lost agent's chat", "tenant_id", tenant, "contact_id", contact, "err", err)
				continue
			}
			tr.eng.Release(contact)
			tr.eng.Enqueue(task)
			tr.dirty = true
			tr.d.log.Info("chat back in queue: agent disconnected past the grace period", "tenant_id", tenant, "agent_id", agent, "contact_id", contact)
			tr.note(func(ctx context.Context) { tr.d.notify.Requeued(ctx, tenant, contact) })
		}
	}
}

// handle applies one command from the agent desk.
func (tr *tenantRun) handle(ctx context.Context, c Command) {
	tenant := tr.lease.TenantID
	switch c.Kind {
	case CmdPresence, CmdRefresh:
		tr.kickFetch() // the fetcher reads them off the loop and applies them

	case CmdAccept:
		tr.accept(ctx, c.AgentID, c.OfferID)
	case CmdReject:
		o, err := tr.eng.Reject(c.AgentID, c.OfferID)
		if err != nil {
			tr.note(func(ctx context.Context) { tr.d.notify.AcceptFailed(ctx, tenant, c.AgentID, c.OfferID, "offer_gone") })
			return
		}
		tr.dirty = true
		tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "rejected") })
	case CmdRelease:
		if tr.eng.Release(c.ContactID) {
			tr.dirty = true
		}
		if c.Requeue {
			tr.kickFetch() // its NOTIFY may have come while it was still assigned
		}
	case CmdCancel:
		for _, o := range tr.eng.Cancel(c.ContactID) {
			tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "cancelled") })
		}
		tr.dirty = true
		if c.Requeue { // moved, not ended: it waits again elsewhere
			tr.kickFetch()
		}
	case CmdWrapUp:
		tr.wrapUp(c)
	case CmdTaken:
		if c.Channel.Valid() {
			tr.eng.Assigned(c.ContactID, c.AgentID, c.Channel)
			tr.dirty = true
		}
	case CmdMissed:
		for _, o := range tr.eng.Missed(c.AgentID) {
			tr.note(func(ctx context.Context) { tr.d.notify.Rescinded(ctx, tenant, o, "agent_away") })
		}
		tr.dirty = true // step tells and persists a no-answer away
	case CmdResync:
		for _, o := range tr.eng.OffersFor(c.AgentID) {
			tr.note(func(ctx context.Context) { tr.d.notify.Offered(ctx, tenant, o) })
		}
	default:
		tr.d.log.Warn("routing: unknown command", "tenant_id", tenant, "kind", c.Kind)
	}
}

// accept turns an offer into an assignment: the engine first (so the slot
// stays held and nobody else is offered the contact), then the fenced
// transaction; if that fails the engine is put back.
func (tr *tenantRun) accept(ctx context.Context, agent, offer uuid.UUID) {
	tenant := tr.lease.TenantID
	o, err := tr.eng.Accept(agent, offer)
	if err != nil {
		tr.note(func(ctx context.Context) { tr.d.notify.AcceptFailed(ctx, tenant, agent, offer, "offer_gone") })
		return
	}
	tr.dirty = true
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = tr.d.assign.Assign(actx, tenant, o.Task.ContactID, agent, o.ID, tr.lease.Epoch, tr.lease.Holder)
	cancel()
	switch {
	case err == nil:
		tr.note(func(ctx context.Context) { tr.d.notify.Assigned(ctx, tenant, o) })
	case errors.Is(err, ErrGone):
		tr.eng.Release(o.Task.ContactID)
		tr.note(func(ctx context.Context) { tr.d.notify.AcceptFailed(ctx, tenant, agent, offer, "offer_gone") })
	case errors.Is(err, ErrFenced):
		tr.eng.Release(o.Task.ContactID)
		tr.note(func(ctx context.Context) { tr.d.notify.AcceptFailed(ctx, tenant, agent, offer, "offer_gone") })
		tr.safeTo = time.Time{} // another node took over: stop at once
	default:
		// The contact is still queued in the database: back in line, original age.
		tr.eng.Release(o.Task.ContactID)
		tr.eng.Enqueue(o.Task)
		tr.d.log.Error("routing: accept transaction failed", "tenant_id", tenant, "contact_id", o.Task.ContactID, "err", err)
		tr.note(func(ctx context.Context) { tr.d.notify.AcceptFailed(ctx, tenant, agent, offer, "internal") })
	}
}

type commandHandler struct{ tr *tenantRun }

func (h commandHandler) Deliver(p []byte) {
	c, err := DecodeCommand(p)
	if err != nil {
		h.tr.d.log.Warn("routing: bad command on the bus", "err", err)
		return
	}
	h.tr.poke(func(ctx context.Context) { h.tr.handle(ctx, c) })
}

// Resync: commands published while Redis was away are lost; a sweep repairs
// presence and queued contacts, and consoles resend what they still want.
func (h commandHandler) Resync() { h.tr.poke(h.tr.sweepNow) }

func newEngine(d *Dispatcher) *routing.Engine {
	e := routing.NewEngine(d.now, func() uuid.UUID { return uuid.Must(uuid.NewV7()) })
	if d.cfg.MaxMissed > 0 {
		e.MaxMissed = d.cfg.MaxMissed
	}
	return e
}

// shortAbandon is how quick an abandon must be not to count against a queue.
const shortAbandon = 5 * time.Second

func (tr *tenantRun) today() Today {
	t := Today{Since: tr.dayStart, Queues: map[uuid.UUID]stats.Counts{}, SLA: tr.sla}
	if tr.tally != nil {
		now := tr.d.now()
		t.Arrivals = map[uuid.UUID]stats.Rate{}
		for q := range tr.sla {
			tally, start := tr.tally, tr.dayStart
			if zd := tr.zoneDays[tr.queueZones[q]]; zd != nil {
				tally, start = zd.tally, zd.start
			}
			t.Queues[q] = tally.Queue(q)
			// The last half hour's arrivals, or since midnight just after it.
			from := now.Add(-stats.ArrivalWindow)
			if from.Before(start) {
				from = start
			}
			t.Arrivals[q] = stats.Rate{N: tally.Arrivals(q, from), Over: now.Sub(from)}
		}
		t.Agents = map[uuid.UUID]stats.AgentCounts{}
		for _, a := range tr.tally.Agents() {
			t.Agents[a] = tr.tally.Agent(a, now)
		}
	}
	return t
}
