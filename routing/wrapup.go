package routing

import (
	"bytes"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// Wrap-up: after closing a contact the agent finishes its paperwork, and
// the queue's wrap-up time keeps the slot held meanwhile, so the next
// contact is not offered on top of it. The assignment ends early when the
// agent says done (Release), or when the time runs out (EndWrapUps).

// WrapUpEnd is an assignment whose wrap-up time ran out, for the caller to
// persist: the assignment ended At, the deadline, not when it was noticed.
type WrapUpEnd struct {
	ContactID, AgentID uuid.UUID
	Channel            org.Channel
	At                 time.Time
}

// WrapUp puts an assignment in wrap-up until until; the slot stays held
// until then. Repeating it with another deadline moves the deadline (the
// command carries an absolute time). False when the contact is not assigned
// or until is zero. A deadline already past ends at the next EndWrapUps.
func (e *Engine) WrapUp(contact uuid.UUID, until time.Time) bool {
	as, ok := e.assigned[contact]
	if !ok || until.IsZero() {
		return false
	}
	as.wrapUntil = until
	e.assigned[contact] = as
	return true
}

// InWrapUp reports whether the contact's assignment is in wrap-up, and
// until when.
func (e *Engine) InWrapUp(contact uuid.UUID) (time.Time, bool) {
	as, ok := e.assigned[contact]
	if !ok || as.wrapUntil.IsZero() {
		return time.Time{}, false
	}
	return as.wrapUntil, true
}

// EndWrapUps releases the assignments whose wrap-up has run out and
// returns them, earliest first. An agent with nothing left starts its idle
// clock, as with Release.
func (e *Engine) EndWrapUps() []WrapUpEnd {
	now := e.now()
	var out []WrapUpEnd
	for c, as := range e.assigned {
		if !as.wrapUntil.IsZero() && !now.Before(as.wrapUntil) {
			out = append(out, WrapUpEnd{ContactID: c, AgentID: as.agent, Channel: as.ch, At: as.wrapUntil})
		}
	}
	slices.SortFunc(out, func(a, b WrapUpEnd) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return bytes.Compare(a.ContactID[:], b.ContactID[:])
	})
	for _, w := range out {
		e.Release(w.ContactID)
	}
	return out
}

// wrapUpDeadlines reports every open wrap-up's end to earlier, for
// NextDeadline.
func (e *Engine) wrapUpDeadlines(earlier func(time.Time)) {
	for _, as := range e.assigned {
		if !as.wrapUntil.IsZero() {
			earlier(as.wrapUntil)
		}
	}
}
