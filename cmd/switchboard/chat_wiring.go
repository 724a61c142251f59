package main

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/agentdesk"
	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/channels/chat"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

var (
	_ chat.Settings  = (*org.Store)(nil)
	_ chat.Chats     = (*crm.Store)(nil)
	_ chat.Signaller = (*channels.Intake)(nil)
	_ chat.Presence  = (*bus.Bus)(nil)
	_ chat.Router    = chatRouter{}

	_ dispatch.WaitNotifier = waitSignals{}
)

// chatRouter turns what a visitor did into routing commands on the bus,
// which reach the tenant's lease holder on whichever node it runs.
type chatRouter struct{ b *bus.Bus }

func (r chatRouter) Cancel(ctx context.Context, tenant, contact uuid.UUID) error {
	return r.b.Publish(ctx, dispatch.CommandTopic(tenant), dispatch.EncodeCommand(dispatch.Command{Kind: dispatch.CmdCancel, ContactID: contact}))
}

func (r chatRouter) WrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, until *time.Time) error {
	c := dispatch.Command{Kind: dispatch.CmdRelease, ContactID: contact, AgentID: agent}
	if until != nil {
		c = dispatch.Command{Kind: dispatch.CmdWrapUp, ContactID: contact, AgentID: agent, Until: *until}
	}
	return r.b.Publish(ctx, dispatch.CommandTopic(tenant), dispatch.EncodeCommand(c))
}

// waitSignals tells waiting visitors their place in the queue
// (dispatch.WaitNotifier).
type waitSignals struct{ in *channels.Intake }

func (w waitSignals) Waiting(ctx context.Context, tenant, contact uuid.UUID, position int, wait time.Duration) {
	w.in.Signal(ctx, tenant, channels.Signal{Kind: channels.EventWait, ContactID: contact, Position: position,
		WaitSeconds: int(wait.Round(time.Second) / time.Second)})
}

// chatDesk is the console's chat extras: crm's read receipts, holders and
// attachments, and intake's signals.
type chatDesk struct {
	*crm.Store
	*channels.Intake
}

var (
	_ agentdesk.ChatDesk  = chatDesk{}
	_ agentdesk.ChatSites = (*org.Store)(nil)
)
