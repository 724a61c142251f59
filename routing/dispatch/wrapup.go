package dispatch

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// WrapUpEnder persists the end of a wrap-up whose time ran out: the
// assignment ends at the deadline (at), however late routing noticed. It
// must be idempotent: the agent's Done may have ended it first.
type WrapUpEnder interface {
	EndWrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, at time.Time) error
}

// PresenceChange is one row of an agent's presence history.
type PresenceChange struct {
	AgentID  uuid.UUID
	Presence org.Presence
	At       time.Time
}

// wrapUp applies CmdWrapUp: the agent closed the contact and its slot stays
// held until c.Until.
func (tr *tenantRun) wrapUp(c Command) {
	if c.Until.IsZero() {
		tr.d.log.Warn("routing: wrap-up command without a deadline", "tenant_id", tr.lease.TenantID, "contact_id", c.ContactID)
		return
	}
	if tr.eng.WrapUp(c.ContactID, c.Until) {
		tr.dirty = true
	}
}

// restoreWrapUps puts the open assignments read back on rebuild that are in
// wrap-up back in it, with their original deadline; those already past end
// at the next step, dated at their deadline.
func (tr *tenantRun) restoreWrapUps(open []Assignment) {
	for _, a := range open {
		if !a.WrapUpUntil.IsZero() {
			tr.eng.WrapUp(a.ContactID, a.WrapUpUntil)
		}
	}
}

// endWrapUps frees the slots whose wrap-up ran out, persists each end and
// tells the agent's consoles. A failed write leaves the assignment open in
// the database; the next rebuild reads it back, past its deadline, and ends
// it again.
func (tr *tenantRun) endWrapUps() {
	tenant := tr.lease.TenantID
	for _, w := range tr.eng.EndWrapUps() {
		tr.dirty = true
		tr.note(func(ctx context.Context) {
			if err := tr.d.wrapUps.EndWrapUp(ctx, tenant, w.AgentID, w.ContactID, w.At); err != nil {
				tr.d.log.Error("routing: end a wrap-up that ran out", "tenant_id", tenant, "contact_id", w.ContactID, "err", err)
				return
			}
			tr.d.notify.WrapUpEnded(ctx, tenant, w.AgentID, w.ContactID)
		})
	}
}

// livePresence feeds the presence routing just read into the agent clocks,
// so occupancy follows changes without re-reading the history.
func (tr *tenantRun) livePresence(agents []org.Agent) {
	if tr.tally == nil {
		return
	}
	now := tr.d.now()
	for _, a := range agents {
		tr.tally.Presence(a.ID, a.Presence, now)
	}
}

// setHandledToday gives the engine each agent's contacts accepted today,
// for the fewest-today strategy, after a rebuild or at midnight; the engine
// counts its own accepts from then on.
func (tr *tenantRun) setHandledToday() {
	for _, a := range tr.eng.Gauges().Agents {
		tr.eng.SetHandledToday(a.AgentID, tr.tally.Agent(a.AgentID, tr.dayStart).Accepted)
	}
}
