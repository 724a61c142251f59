package stats

import (
	"time"

	"github.com/google/uuid"
)

// Change is what one event added to one line of figures, filed under the
// contact it counts for: when that contact arrived in the line (a transfer
// starts a new arrival in the target queue) and the agent holding it then
// (uuid.Nil while nobody does). Reports file each change under the interval
// the contact arrived in, so an interval's service level is that of the
// contacts offered in it, however late they were answered.
type Change struct {
	Key     Key
	Arrived time.Time
	AgentID uuid.UUID
	Delta   Counts
}

// Apply adds e exactly as Add does and returns the changes it made to the
// lines' counts: none, or one. It exists so that reports fold events with
// the very functions the wallboard uses instead of a copy of them.
func (t *Tally) Apply(e Event) []Change {
	before := t.contacts[e.ContactID]
	agent, held := t.holder[e.ContactID]
	// The lines e may touch: the contact's own, and the one a new arrival
	// would open (its channel from the event, or kept from before).
	was := map[Key]Counts{{QueueID: e.QueueID, Channel: e.Channel}: t.Counts(Key{QueueID: e.QueueID, Channel: e.Channel})}
	if before != nil {
		was[before.key] = t.Counts(before.key)
		k := Key{QueueID: e.QueueID, Channel: before.key.Channel}
		was[k] = t.Counts(k)
	}
	t.Add(e)
	if a, ok := t.holder[e.ContactID]; ok {
		agent, held = a, true
	}
	if !held {
		agent = uuid.Nil
	}
	after := t.contacts[e.ContactID]
	// An event that starts a new arrival (created, reopened, transferred_in)
	// changes only the new line; any other changes only the line the
	// contact was in.
	var ch Change
	switch {
	case after != nil && after != before:
		ch = Change{Key: after.key, Arrived: after.arrived, AgentID: agent, Delta: t.Counts(after.key).Minus(was[after.key])}
	case before != nil:
		ch = Change{Key: before.key, Arrived: before.arrived, AgentID: agent, Delta: t.Counts(before.key).Minus(was[before.key])}
	default:
		return nil
	}
	if ch.Delta == (Counts{}) {
		return nil
	}
	return []Change{ch}
}

// Tracks reports whether the tally still holds state of a contact: waiting,
// in talk or wrap-up, or in an agent's hands. A follower that restarts
// replays the events of exactly these contacts to pick up where it was.
func (t *Tally) Tracks(contact uuid.UUID) bool {
	_, held := t.holder[contact]
	return held || t.contacts[contact] != nil
}

// Plus returns the sum of two sets of counts, field by field.
func (c Counts) Plus(o Counts) Counts {
	return Counts{
		Offered:         c.Offered + o.Offered,
		Answered:        c.Answered + o.Answered,
		AnsweredWithin:  c.AnsweredWithin + o.AnsweredWithin,
		Abandoned:       c.Abandoned + o.Abandoned,
		AbandonedWithin: c.AbandonedWithin + o.AbandonedWithin,
		ShortAbandons:   c.ShortAbandons + o.ShortAbandons,
		WaitAnswered:    c.WaitAnswered + o.WaitAnswered,
		Handled:         c.Handled + o.Handled,
		HandleTime:      c.HandleTime + o.HandleTime,
		TalkTime:        c.TalkTime + o.TalkTime,
		HoldTime:        c.HoldTime + o.HoldTime,
		WrapUpTime:      c.WrapUpTime + o.WrapUpTime,
		TransferredIn:   c.TransferredIn + o.TransferredIn,
		TransferredOut:  c.TransferredOut + o.TransferredOut,
	}
}

// Minus returns c less o, field by field.
func (c Counts) Minus(o Counts) Counts {
	return c.Plus(Counts{
		Offered: -o.Offered, Answered: -o.Answered, AnsweredWithin: -o.AnsweredWithin,
		Abandoned: -o.Abandoned, AbandonedWithin: -o.AbandonedWithin, ShortAbandons: -o.ShortAbandons,
		WaitAnswered: -o.WaitAnswered, Handled: -o.Handled, HandleTime: -o.HandleTime, TalkTime: -o.TalkTime,
		HoldTime: -o.HoldTime, WrapUpTime: -o.WrapUpTime, TransferredIn: -o.TransferredIn, TransferredOut: -o.TransferredOut,
	})
}
