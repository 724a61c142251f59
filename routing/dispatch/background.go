package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/lease"
	"github.com/switchboard-cc/switchboard/stats"
)

// The loop only computes. What it needs from PostgreSQL and Redis (the
// sweep's re-read of queues, agents, connections and queued contacts, the
// statistics' new events, the lease renewal) is read on background
// goroutines and handed to the loop as closures on tr.applies, so a slow
// query never stands between a queued contact and its offer.

// snapshot is one read of what the sweep re-reads.
type snapshot struct {
	queues []org.Queue
	agents []org.Agent
	conns  map[uuid.UUID]bool
	tasks  []routing.Task // nil when not read
}

// read fetches a snapshot; it touches no loop state.
func (tr *tenantRun) read(ctx context.Context, withTasks bool) (snapshot, error) {
	var s snapshot
	var err error
	if s.queues, err = tr.d.src.Queues(ctx, tr.tenant); err != nil {
		return s, err
	}
	if s.agents, err = tr.d.src.Agents(ctx, tr.tenant); err != nil {
		return s, err
	}
	if s.conns, err = tr.d.conns.Connected(ctx, tr.tenant); err != nil {
		return s, err
	}
	if withTasks {
		if s.tasks, err = tr.d.src.Queued(ctx, tr.tenant); err != nil {
			return s, err
		}
		if s.tasks == nil {
			s.tasks = []routing.Task{}
		}
	}
	return s, nil
}

// applyLater hands fn to the loop; it waits rather than drop, because what
// it carries (a lease renewal) may be essential.
func (tr *tenantRun) applyLater(ctx context.Context, fn func(context.Context)) {
	select {
	case tr.applies <- fn:
	case <-ctx.Done():
	}
}

// kickFetch asks the fetcher for a fresh snapshot now (a presence or queue
// change, a contact waiting again). Kicks coalesce.
func (tr *tenantRun) kickFetch() {
	select {
	case tr.kick <- struct{}{}:
	default:
	}
}

// fetcher runs the sweep and the statistics reads until ctx ends.
func (tr *tenantRun) fetcher(ctx context.Context) {
	sweep := time.NewTicker(tr.d.cfg.SweepInterval)
	defer sweep.Stop()
	follow := time.NewTicker(tr.d.cfg.GaugeInterval)
	defer follow.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			tr.fetchSweep(ctx)
		case <-tr.kick:
			tr.fetchSweep(ctx)
		case <-follow.C:
			tr.fetchStats(ctx)
		}
	}
}

func (tr *tenantRun) fetchSweep(ctx context.Context) {
	s, err := tr.read(ctx, true)
	if err != nil {
		if ctx.Err() == nil {
			tr.d.log.Warn("routing: sweep", "tenant_id", tr.tenant, "err", err)
		}
		return
	}
	tr.applyLater(ctx, func(ctx context.Context) {
		tr.apply(s)
		tr.requeueLost(ctx)
	})
}

func (tr *tenantRun) fetchStats(ctx context.Context) {
	tr.statsMu.Lock()
	req := tr.statsReq
	tr.statsMu.Unlock()
	if req.since.IsZero() {
		return // the loop has not started a day yet
	}
	apply, err := tr.readStats(ctx, req)
	if err != nil {
		if ctx.Err() == nil {
			tr.d.log.Warn("routing: follow contact events", "tenant_id", tr.tenant, "err", err)
		}
		return
	}
	tr.applyLater(ctx, func(context.Context) { apply() })
}

// renewer keeps the lease. A renewal that fails for a while is no loss of
// the lease yet: the loop stops on its own when safeTo passes.
func (tr *tenantRun) renewer(ctx context.Context, l lease.Lease) {
	tick := time.NewTicker(tr.d.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		renewed, err := lease.Renew(ctx, tr.d.pool, l, tr.d.cfg.LeaseTTL)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, lease.ErrLost):
			tr.applyLater(ctx, func(context.Context) { tr.lost = true })
			return
		case err != nil:
			tr.d.log.Warn("routing: renew lease", "tenant_id", tr.tenant, "err", err)
			continue
		}
		l = renewed
		// The lease's expiry is the database's clock; ours may differ, so
		// stop offering a fifth of the TTL early.
		safe := time.Now().Add(tr.d.cfg.LeaseTTL * 4 / 5)
		tr.applyLater(ctx, func(context.Context) { tr.lease, tr.safeTo = renewed, safe })
	}
}

// statsRead is what the statistics fetcher reads next: events after cursor
// from since, and the presence history from seedFrom when a new day needs
// its agents' clocks seeded. gen changes when a day starts, so a read
// begun for the old day is dropped.
type statsRead struct {
	gen      int
	cursor   string
	since    time.Time
	seedFrom time.Time
}

// prepareDay starts a new day when the tenant's (or a queue's zone's) day
// has ended, or on the first call; the next statistics read rebuilds it.
func (tr *tenantRun) prepareDay() {
	now := tr.d.now().In(tr.zone)
	if tr.tally != nil && now.Before(tr.dayStart.AddDate(0, 0, 1)) && !tr.zonesChanged(now) {
		return
	}
	policy := func(q uuid.UUID) stats.Policy { return stats.Policy{SLA: tr.sla[q], ShortAbandon: shortAbandon} }
	tr.dayStart = startOfDay(now, tr.zone)
	tr.cursor = ""
	tr.tally = stats.NewTally(policy)
	tr.zoneDays = map[string]*zoneDay{}
	for _, z := range tr.queueZones {
		if _, ok := tr.zoneDays[z]; ok || z == tr.zone.String() {
			continue
		}
		loc, err := time.LoadLocation(z)
		if err != nil {
			continue // counted in the tenant's zone
		}
		tr.zoneDays[z] = &zoneDay{loc: loc, start: startOfDay(now, loc), tally: stats.NewTally(policy)}
	}
	tr.seeded = false
	tr.dirty = true
	since := tr.dayStart
	for _, zd := range tr.zoneDays {
		if zd.start.Before(since) {
			since = zd.start
		}
	}
	tr.statsMu.Lock()
	tr.statsReq = statsRead{gen: tr.statsReq.gen + 1, since: since, seedFrom: tr.dayStart}
	tr.statsMu.Unlock()
}

// readStats does a statistics read (no loop state) and returns what folds
// it into the day, to run on the loop.
func (tr *tenantRun) readStats(ctx context.Context, req statsRead) (func(), error) {
	var changes []PresenceChange
	if !req.seedFrom.IsZero() {
		var err error
		if changes, err = tr.d.src.PresenceHistory(ctx, tr.tenant, req.seedFrom); err != nil {
			return nil, err
		}
	}
	events, next, err := tr.d.src.Events(ctx, tr.tenant, req.cursor, req.since)
	if err != nil {
		return nil, err
	}
	return func() { tr.foldStats(req, changes, events, next) }, nil
}

// foldStats folds a read into the day, unless a newer day or read has
// superseded it.
func (tr *tenantRun) foldStats(req statsRead, changes []PresenceChange, events []stats.Event, next string) {
	tr.statsMu.Lock()
	current := tr.statsReq
	tr.statsMu.Unlock()
	if req.gen != current.gen || req.cursor != tr.cursor || (req.seedFrom.IsZero() && !tr.seeded) {
		return
	}
	if !req.seedFrom.IsZero() {
		for _, c := range changes {
			tr.tally.Presence(c.AgentID, c.Presence, c.At)
		}
	}
	for _, e := range events {
		if !e.At.Before(tr.dayStart) {
			tr.tally.Add(e)
		}
		if zd := tr.zoneDays[tr.queueZones[e.QueueID]]; zd != nil && !e.At.Before(zd.start) {
			zd.tally.Add(e)
		}
	}
	if !req.seedFrom.IsZero() {
		tr.seeded = true
		tr.setHandledToday()
	}
	tr.cursor = next
	tr.statsMu.Lock()
	tr.statsReq.cursor, tr.statsReq.seedFrom = next, time.Time{}
	tr.statsMu.Unlock()
	if len(events) > 0 {
		tr.dirty = true
	}
}

// followEvents brings today's statistics up to date at once, reading on the
// caller's goroutine: the rebuild, before the loop starts, and tests.
func (tr *tenantRun) followEvents(ctx context.Context) error {
	tr.prepareDay()
	tr.statsMu.Lock()
	req := tr.statsReq
	tr.statsMu.Unlock()
	apply, err := tr.readStats(ctx, req)
	if err != nil {
		return err
	}
	apply()
	return nil
}
