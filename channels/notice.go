package channels

import (
	"context"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/routing"
)

// Notice tells a contact's customer something from Switchboard itself
// (a closed queue's message), once per key: the line is stored in the
// conversation like any other, so a visitor who reconnects sees it too.
func (in *Intake) Notice(ctx context.Context, tenant, contact uuid.UUID, key, body string) error {
	m, created, err := in.store.AppendSystemMessage(ctx, tenant, contact, key, body)
	if err != nil {
		return err
	}
	if created {
		in.publish(ctx, tenant, Event{Kind: EventMessage, ContactID: contact, Message: &m})
	}
	return nil
}

// TransferToAgent hands a contact to a named colleague: it waits again with
// its original age, offered to that agent alone for the queue's preference
// window, then to the queue's pool.
func (in *Intake) TransferToAgent(ctx context.Context, tenant, agent, contact, target, toQueue uuid.UUID) (crm.Contact, error) {
	c, p, err := in.store.TransferToAgent(ctx, tenant, agent, contact, target, toQueue)
	if err != nil {
		return crm.Contact{}, err
	}
	t := routing.Task{ContactID: c.ID, QueueID: c.QueueID, Channel: c.Channel, Priority: c.Priority, ArrivedAt: c.ArrivedAt,
		Preferred: p.Agents, PreferUntil: p.Until, PreferReason: p.Reason}
	if err := in.queue.Enqueue(ctx, tenant, t); err != nil {
		in.log.WarnContext(ctx, "enqueue after transfer failed; the routing sweep will pick the contact up",
			"tenant_id", tenant, "contact_id", c.ID, "err", err)
	}
	in.publish(ctx, tenant, Event{Kind: EventState, ContactID: contact, State: c.State})
	return c, nil
}
