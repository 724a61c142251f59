package channels

import (
	"context"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Connectors that record through crm themselves (e-mail records a message,
// its threading and its IMAP checkpoint in one transaction with
// crm.RecordEmail) still announce through intake, so routing hears of their
// contacts exactly as of any other.

// AnnounceHook returns the hook with which crm sends the NOTIFY for a
// queued contact inside the recording transaction, or nil when the
// Enqueuer cannot give one (then call Recorded after the commit).
func (in *Intake) AnnounceHook(tenant uuid.UUID) func(crm.InboundResult) (string, string) {
	return in.announce(tenant)
}

// Recorded tells routing of a contact a connector recorded, if it waits in
// a queue and the Enqueuer could not be told inside the transaction, and
// tells the contact's watchers (a holding agent's console) of the new line.
// Best effort, as Receive's: the contact is durable already.
func (in *Intake) Recorded(ctx context.Context, tenant uuid.UUID, res crm.InboundResult, line bool) {
	if _, ok := in.queue.(Announcer); !ok && res.State == crm.StateQueued {
		if err := in.queue.Enqueue(ctx, tenant, queuedTask(res)); err != nil {
			in.log.WarnContext(ctx, "enqueue failed; the routing sweep will pick the contact up",
				"tenant_id", tenant, "contact_id", res.ContactID, "err", err)
		}
	}
	if line && !res.Duplicate {
		m := res.Message
		in.publish(ctx, tenant, Event{Kind: EventMessage, ContactID: res.ContactID, Message: &m})
	}
}
