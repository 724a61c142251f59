package main

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/agentdesk"
	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/channels/chat"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
	"github.com/switchboard-cc/switchboard/stats"
)

// Where the packages meet: each must satisfy the interfaces its consumers define.
var (
	_ dispatch.Source         = routingSource{}
	_ dispatch.Assigner       = assigner{}
	_ dispatch.WrapUpEnder    = assigner{}
	_ dispatch.Connections    = (*bus.Bus)(nil)
	_ dispatch.Subscriber     = (*bus.Bus)(nil)
	_ dispatch.Notifier       = (*agentdesk.Notifier)(nil)
	_ channels.Store          = (*crm.Store)(nil)
	_ channels.Enqueuer       = (*dispatch.Enqueuer)(nil)
	_ channels.Publisher      = (*bus.Bus)(nil)
	_ chat.Sites              = (*org.Store)(nil)
	_ chat.History            = (*crm.Store)(nil)
	_ chat.Receiver           = (*channels.Intake)(nil)
	_ chat.Subscriber         = (*bus.Bus)(nil)
	_ agentdesk.Accounts      = (*org.Store)(nil)
	_ agentdesk.Contacts      = (*crm.Store)(nil)
	_ agentdesk.Callbacks     = (*crm.Store)(nil)
	_ agentdesk.Privacy       = (*crm.Store)(nil)
	_ agentdesk.Merges        = (*crm.Store)(nil)
	_ agentdesk.Records       = (*crm.Store)(nil)
	_ agentdesk.APIKeys       = (*org.Store)(nil)
	_ agentdesk.Webhooks      = (*crm.Store)(nil)
	_ agentdesk.Importer      = (*crm.Store)(nil)
	_ channels.DueCallbacks   = (*crm.Store)(nil)
	_ agentdesk.Conversations = (*channels.Intake)(nil)
)

// routingSource reads routing's rebuild and sweep inputs from org and crm,
// mapping their types to routing's.
type routingSource struct {
	orgs   *org.Store
	people *crm.Store
}

func (s routingSource) Tenants(ctx context.Context) ([]uuid.UUID, error) {
	ts, err := s.orgs.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids, nil
}

func (s routingSource) Queues(ctx context.Context, tenant uuid.UUID) ([]org.Queue, error) {
	return s.orgs.Queues(ctx, tenant)
}

func (s routingSource) Agents(ctx context.Context, tenant uuid.UUID) ([]org.Agent, error) {
	return s.orgs.Agents(ctx, tenant)
}

func (s routingSource) Queued(ctx context.Context, tenant uuid.UUID) ([]routing.Task, error) {
	qs, err := s.people.Queued(ctx, tenant)
	if err != nil {
		return nil, err
	}
	ts := make([]routing.Task, len(qs))
	for i, q := range qs {
		ts[i] = routing.Task{ContactID: q.ContactID, QueueID: q.QueueID, Channel: q.Channel, Priority: q.Priority, ArrivedAt: q.ArrivedAt,
			Preferred: q.Preference.Agents, PreferUntil: q.Preference.Until, PreferReason: q.Preference.Reason}
	}
	return ts, nil
}

func (s routingSource) OpenAssignments(ctx context.Context, tenant uuid.UUID) ([]dispatch.Assignment, error) {
	as, err := s.people.OpenAssignments(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]dispatch.Assignment, len(as))
	for i, a := range as {
		out[i] = dispatch.Assignment{ContactID: a.ContactID, AgentID: a.AgentID, Channel: a.Channel, WrapUpUntil: a.WrapUpUntil}
	}
	return out, nil
}

func (s routingSource) Zone(ctx context.Context, tenant uuid.UUID) (*time.Location, error) {
	t, err := s.orgs.Tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return time.LoadLocation(t.DefaultZone)
}

func (s routingSource) Events(ctx context.Context, tenant uuid.UUID, cursor string, since time.Time) ([]stats.Event, string, error) {
	es, next, err := s.people.EventsSince(ctx, tenant, crm.EventCursor(cursor), since)
	if err != nil {
		return nil, cursor, err
	}
	out := make([]stats.Event, len(es))
	for i, e := range es {
		out[i] = stats.Event{Kind: e.Kind, ContactID: e.ContactID, QueueID: e.QueueID, AgentID: e.AgentID, Channel: e.Channel, At: e.At, Call: e.Call}
	}
	return out, string(next), nil
}

func (s routingSource) PresenceHistory(ctx context.Context, tenant uuid.UUID, since time.Time) ([]dispatch.PresenceChange, error) {
	cs, err := s.orgs.PresenceHistory(ctx, tenant, since)
	if err != nil {
		return nil, err
	}
	out := make([]dispatch.PresenceChange, len(cs))
	for i, c := range cs {
		out[i] = dispatch.PresenceChange{AgentID: c.AgentID, Presence: c.Presence, At: c.At}
	}
	return out, nil
}

// EndWrapUp ends a wrap-up whose time ran out, at its deadline.
func (a assigner) EndWrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, at time.Time) error {
	_, err := a.people.EndWrapUp(ctx, tenant, agent, contact, "", at)
	return err
}

// Requeue puts a lost agent's chat back in its queue.
func (a assigner) Requeue(ctx context.Context, tenant, agent, contact uuid.UUID) (routing.Task, error) {
	c, err := a.people.Requeue(ctx, tenant, agent, contact, "agent_disconnected")
	if errors.Is(err, crm.ErrNotHeld) {
		return routing.Task{}, errors.Join(dispatch.ErrGone, err)
	} else if err != nil {
		return routing.Task{}, err
	}
	return routing.Task{ContactID: c.ID, QueueID: c.QueueID, Channel: c.Channel, Priority: c.Priority, ArrivedAt: c.ArrivedAt}, nil
}

// assigner commits routing's accepts as crm assignments and maps crm's
// errors to the ones dispatch acts on.
type assigner struct{ people *crm.Store }

func (a assigner) Assign(ctx context.Context, tenant, contact, agent, offer uuid.UUID, epoch int64, holder string) error {
	err := a.people.Assign(ctx, crm.Assignment{TenantID: tenant, ContactID: contact, AgentID: agent, OfferID: offer, Epoch: epoch, Holder: holder})
	switch {
	case errors.Is(err, crm.ErrFenced):
		return errors.Join(dispatch.ErrFenced, err)
	case errors.Is(err, crm.ErrNotQueued), errors.Is(err, crm.ErrNotFound):
		return errors.Join(dispatch.ErrGone, err)
	}
	return err
}
