package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// Inbound is one item that arrived on any channel, already tied to its tenant
// and site by its entry point (widget key, mailbox, dialled number), never by
// its payload.
type Inbound struct {
	TenantID, SiteID, QueueID uuid.UUID
	Channel                   org.Channel
	ContactID                 uuid.UUID // uuid.Nil opens a new contact
	Identities                []crm.Identity
	Name                      string
	Subject                   string
	Body                      string
	IdempotencyKey            string
}

// Receipt is what the source is acknowledged with.
type Receipt struct {
	ContactID  uuid.UUID
	Seq        int
	NewContact bool
	Duplicate  bool
	State      string
}

// Store is what intake needs of crm.
type Store interface {
	RecordInbound(ctx context.Context, in crm.Inbound) (crm.InboundResult, error)
	AppendAgentMessage(ctx context.Context, tenant, agent, contact uuid.UUID, clientID, body string) (crm.Message, error)
	Close(ctx context.Context, tenant, agent, contact uuid.UUID, wrapUp string) (crm.Contact, error)
	Transfer(ctx context.Context, tenant, agent, contact, toQueue uuid.UUID) (crm.Contact, error)
	TransferToAgent(ctx context.Context, tenant, agent, contact, target, toQueue uuid.UUID) (crm.Contact, crm.Preference, error)
	AppendSystemMessage(ctx context.Context, tenant, contact uuid.UUID, key, body string) (crm.Message, bool, error)
}

// Enqueuer announces a committed, queued contact to routing. A failure only
// delays the contact until routing's next sweep.
type Enqueuer interface {
	Enqueue(ctx context.Context, tenant uuid.UUID, t routing.Task) error
}

// Announcer is an Enqueuer that can also give the PostgreSQL NOTIFY
// (channel and payload) announcing t, as dispatch.Enqueuer does. Intake
// sends that NOTIFY inside its own transaction, so routing hears of the
// contact the moment it commits instead of one round trip later; with a
// plain Enqueuer it announces after the commit.
type Announcer interface {
	Notification(tenant uuid.UUID, t routing.Task) (channel, payload string)
}

// Publisher puts events on the bus.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// ContactTopic is the bus topic on which everything that happens to a
// conversation is announced; visitor sockets and the holding agent's console
// subscribe to it.
func ContactTopic(tenant, contact uuid.UUID) string {
	return "contact:" + tenant.String() + ":" + contact.String()
}

// Event kinds on a contact topic.
const (
	EventMessage = "message"
	EventState   = "state"
)

// Event is what a contact topic carries.
type Event struct {
	Kind      string       `json:"kind"`
	ContactID uuid.UUID    `json:"contact_id"`
	Message   *crm.Message `json:"message,omitempty"`
	State     string       `json:"state,omitempty"`
	AgentName string       `json:"agent_name,omitempty"`
}

// Intake is the pipeline every inbound item and every reply goes through.
type Intake struct {
	store Store
	queue Enqueuer
	pub   Publisher
	log   *slog.Logger
}

// NewIntake returns an Intake.
func NewIntake(store Store, q Enqueuer, pub Publisher, log *slog.Logger) *Intake {
	return &Intake{store: store, queue: q, pub: pub, log: log}
}

// Receive makes in durable (customer resolved, contact opened or found,
// message and events stored, routing notified at commit: one transaction),
// then tells the watchers. Only after Receive returns may the source be
// acknowledged.
func (in *Intake) Receive(ctx context.Context, item Inbound) (Receipt, error) {
	res, err := in.store.RecordInbound(ctx, crm.Inbound{
		TenantID: item.TenantID, SiteID: item.SiteID, QueueID: item.QueueID, Channel: item.Channel,
		ContactID: item.ContactID, Identities: item.Identities, Name: item.Name, Subject: item.Subject,
		Body: item.Body, IdempotencyKey: item.IdempotencyKey,
		Announce: in.announce(item.TenantID),
	})
	if err != nil {
		return Receipt{}, err
	}
	rc := Receipt{ContactID: res.ContactID, Seq: res.Seq, NewContact: res.NewContact, Duplicate: res.Duplicate, State: res.State}
	if _, ok := in.queue.(Announcer); !ok && res.State == crm.StateQueued {
		// Enqueue is idempotent, so a resent duplicate is announced again:
		// the first announcement may have been the one that was lost.
		if err := in.queue.Enqueue(ctx, item.TenantID, queuedTask(res)); err != nil {
			in.log.WarnContext(ctx, "enqueue failed; the routing sweep will pick the contact up",
				"tenant_id", item.TenantID, "contact_id", res.ContactID, "err", err)
		}
	}
	if !res.Duplicate {
		m := res.Message
		in.publish(ctx, item.TenantID, Event{Kind: EventMessage, ContactID: res.ContactID, Message: &m})
	}
	return rc, nil
}

// announce returns the hook with which crm sends the NOTIFY inside intake's
// transaction, or nil when the Enqueuer cannot give one. Routing's Enqueue
// is idempotent, so a resent duplicate that is still queued is announced
// again: the first announcement may have been the one that was lost.
func (in *Intake) announce(tenant uuid.UUID) func(crm.InboundResult) (string, string) {
	a, ok := in.queue.(Announcer)
	if !ok {
		return nil
	}
	return func(res crm.InboundResult) (string, string) { return a.Notification(tenant, queuedTask(res)) }
}

// queuedTask is routing's view of a contact that intake left queued.
func queuedTask(res crm.InboundResult) routing.Task {
	return routing.Task{ContactID: res.ContactID, QueueID: res.QueueID, Channel: res.Channel, Priority: res.Priority, ArrivedAt: res.ArrivedAt,
		Preferred: res.Preference.Agents, PreferUntil: res.Preference.Until, PreferReason: res.Preference.Reason}
}

// Reply stores an agent's line on a contact the agent holds and sends it out
// on the contact's own channel (for chat: the visitor's sockets).
func (in *Intake) Reply(ctx context.Context, tenant, agent, contact uuid.UUID, clientID, body string) (crm.Message, error) {
	m, err := in.store.AppendAgentMessage(ctx, tenant, agent, contact, clientID, body)
	if err != nil {
		return crm.Message{}, err
	}
	in.publish(ctx, tenant, Event{Kind: EventMessage, ContactID: contact, Message: &m})
	return m, nil
}

// Close ends an agent's contact with a wrap-up note and tells the watchers.
func (in *Intake) Close(ctx context.Context, tenant, agent, contact uuid.UUID, wrapUp string) (crm.Contact, error) {
	c, err := in.store.Close(ctx, tenant, agent, contact, wrapUp)
	if err != nil {
		return crm.Contact{}, err
	}
	in.publish(ctx, tenant, Event{Kind: EventState, ContactID: contact, State: c.State})
	return c, nil
}

// Transfer hands a contact to another queue; it waits there with its
// original age, and routing hears of it as of any queued contact.
func (in *Intake) Transfer(ctx context.Context, tenant, agent, contact, toQueue uuid.UUID) (crm.Contact, error) {
	c, err := in.store.Transfer(ctx, tenant, agent, contact, toQueue)
	if err != nil {
		return crm.Contact{}, err
	}
	t := routing.Task{ContactID: c.ID, QueueID: c.QueueID, Channel: c.Channel, Priority: c.Priority, ArrivedAt: c.ArrivedAt}
	if err := in.queue.Enqueue(ctx, tenant, t); err != nil {
		in.log.WarnContext(ctx, "enqueue after transfer failed; the routing sweep will pick the contact up",
			"tenant_id", tenant, "contact_id", c.ID, "err", err)
	}
	in.publish(ctx, tenant, Event{Kind: EventState, ContactID: contact, State: c.State})
	return c, nil
}

// Announce tells a contact's watchers that its state changed (an agent took it).
func (in *Intake) Announce(ctx context.Context, tenant, contact uuid.UUID, state, agentName string) {
	in.publish(ctx, tenant, Event{Kind: EventState, ContactID: contact, State: state, AgentName: agentName})
}

// publish is best effort: the line is durable already, and every watcher
// replays from PostgreSQL when it reconnects.
func (in *Intake) publish(ctx context.Context, tenant uuid.UUID, e Event) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("channels: marshal event: %v", err))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := in.pub.Publish(ctx, ContactTopic(tenant, e.ContactID), b); err != nil {
		in.log.WarnContext(ctx, "publish contact event", "tenant_id", tenant, "contact_id", e.ContactID, "err", err)
	}
}
