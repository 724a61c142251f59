package main

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

var (
	_ dispatch.Overflower    = assigner{}
	_ dispatch.ClosedHandler = closedActions{}
)

// Overflow persists routing's move of a waiting contact to an overflow queue.
func (a assigner) Overflow(ctx context.Context, tenant uuid.UUID, m routing.Move) error {
	err := a.people.Overflow(ctx, tenant, m.ContactID, m.From, m.To, m.Reason)
	if errors.Is(err, crm.ErrNotQueued) || errors.Is(err, crm.ErrNotFound) {
		return errors.Join(dispatch.ErrGone, err)
	}
	return err
}

// fullQueueCallbackDelay: a contact that met a full queue is called back
// this much later, when the queue has had time to drain.
const fullQueueCallbackDelay = 15 * time.Minute

// closedActions carries out a queue's closed action for a contact that met
// it closed or full.
type closedActions struct {
	people *crm.Store
	intake *channels.Intake
}

func (c closedActions) Closed(ctx context.Context, tenant uuid.UUID, ca routing.ClosedArrival) (bool, error) {
	contact := ca.Task.ContactID
	switch ca.Action {
	case org.ActionMessage:
		// Keyed by the reason, so a rebuild that meets it again says nothing new.
		err := c.intake.Notice(ctx, tenant, contact, "queue_"+ca.Reason, ca.Message)
		if errors.Is(err, crm.ErrClosed) || errors.Is(err, crm.ErrNotFound) {
			return false, nil
		}
		return true, err
	case org.ActionCallback:
		due := ca.NextOpen
		if due.IsZero() {
			due = time.Now().Add(fullQueueCallbackDelay)
		}
		_, err := c.people.AbandonToCallback(ctx, tenant, contact, due)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, crm.ErrNoPhone), errors.Is(err, crm.ErrInvalid):
			// Nobody to call back (an anonymous chat, or the contact is
			// itself a callback): it waits for the opening instead.
			return true, nil
		case errors.Is(err, crm.ErrNotQueued), errors.Is(err, crm.ErrNotFound):
			return false, nil
		}
		return true, err
	case org.ActionVoicemail:
		// The phone connector takes the message; routing records the ask.
		err := c.people.RecordEvent(ctx, tenant, contact, "voicemail_requested", uuid.Nil, uuid.Nil, map[string]any{"reason": ca.Reason})
		return true, err
	}
	return true, nil
}
