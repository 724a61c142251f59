package chat

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
)

// allowed counts one frame of kind against the visitor's own limit and the
// address's, which every kind of frame shares: one Redis round trip, and a
// frame refused by either is charged to neither.
func (v *visitor) allowed(ctx context.Context, kind string, limit ratelimit.Limit) bool {
	ok, _, err := v.c.limiter.AllowAll(ctx,
		ratelimit.Rule{Key: "chat:" + kind + ":visitor:" + v.token.Visitor.String(), Limit: limit},
		ratelimit.Rule{Key: "chat:msg:ip:" + v.ip, Limit: ratelimit.Limit{Rate: v.c.limits.AddressMessagesPerSecond,
			Burst: 2 * v.c.limits.AddressMessagesPerSecond, Period: time.Second}})
	if err != nil {
		v.c.log.Warn("chat: rate limit unavailable", "err", err)
	}
	return ok
}

// typing tells the agent the visitor is typing. Never stored; before the
// chat exists there is nobody to tell.
func (v *visitor) typing(ctx context.Context) {
	if v.token.Contact == uuid.Nil {
		return
	}
	v.c.signals.Signal(ctx, v.site.TenantID, channels.Signal{Kind: channels.EventTyping, ContactID: v.token.Contact, Side: crm.SideCustomer})
}

// read records that the visitor has seen the chat up to seq and tells the
// agent.
func (v *visitor) read(ctx context.Context, f inFrame) {
	if v.token.Contact == uuid.Nil {
		return
	}
	if f.Seq < 0 {
		v.refuse("invalid", "seq must not be negative", "")
		return
	}
	seq, err := v.c.chats.MarkRead(ctx, v.site.TenantID, v.token.Contact, crm.SideCustomer, uuid.Nil, f.Seq)
	if err != nil {
		v.c.log.Error("chat: mark read", "contact_id", v.token.Contact, "err", err)
		v.refuse("internal", "could not record the read receipt", "")
		return
	}
	v.c.signals.Signal(ctx, v.site.TenantID, channels.Signal{Kind: channels.EventRead, ContactID: v.token.Contact, Side: crm.SideCustomer, Seq: seq})
}

// end is the visitor's "end chat": a waiting chat is abandoned and leaves
// the queue; an active one closes and its agent is told and starts the
// wrap-up.
func (v *visitor) end(ctx context.Context) {
	if v.token.Contact == uuid.Nil {
		v.send(map[string]any{"type": "state", "state": crm.StateClosed, "ended_by": "customer"})
		return
	}
	tenant, contact := v.site.TenantID, v.token.Contact
	res, err := v.c.chats.EndByCustomer(ctx, tenant, contact)
	switch {
	case errors.Is(err, crm.ErrClosed):
		v.send(map[string]any{"type": "state", "state": crm.StateClosed, "ended_by": "customer"})
		return
	case err != nil:
		v.c.log.Error("chat: end by visitor", "contact_id", contact, "err", err)
		v.refuse("internal", "could not end the chat; try again", "")
		return
	}
	if res.WasQueued {
		if err := v.c.router.Cancel(ctx, tenant, contact); err != nil {
			v.c.log.Warn("chat: tell routing of an ended chat; its sweep will notice", "contact_id", contact, "err", err)
		}
	} else if res.Agent != uuid.Nil {
		if err := v.c.router.WrapUp(ctx, tenant, res.Agent, contact, res.Contact.WrapUpUntil); err != nil {
			v.c.log.Warn("chat: tell routing of a wrap-up", "contact_id", contact, "err", err)
		}
	}
	// Every watcher hears it: the agent's consoles (contact_closed, ended
	// by the customer) and the visitor's other tabs.
	v.c.signals.Signal(ctx, tenant, channels.Signal{Kind: channels.EventEnded, ContactID: contact, Side: crm.SideCustomer,
		State: res.Contact.State, WrapUpUntil: res.Contact.WrapUpUntil})
	v.c.log.Info("chat ended by the visitor", "tenant_id", tenant, "contact_id", contact, "was_queued", res.WasQueued)
}

// attach ties an uploaded attachment to the line being sent under key and
// returns the line's body: the visitor's caption, else the file name.
func (v *visitor) attach(ctx context.Context, f inFrame, key string) (string, bool) {
	id, err := uuid.Parse(f.AttachmentID)
	if err != nil || v.token.Contact == uuid.Nil {
		v.refuse("invalid", "attachment_id must be the id of a file uploaded to this chat", f.ClientID)
		return "", false
	}
	info, err := v.c.chats.LinkAttachment(ctx, v.site.TenantID, v.token.Contact, id, key)
	if errors.Is(err, crm.ErrNotFound) {
		v.refuse("not_found", "no such attachment on this chat", f.ClientID)
		return "", false
	} else if err != nil {
		v.c.log.Error("chat: link attachment", "contact_id", v.token.Contact, "err", err)
		v.refuse("internal", "the message was not saved; it will be sent again", f.ClientID)
		return "", false
	}
	if f.Body != "" {
		return f.Body, true
	}
	return info.Name, true
}

// signal relays a typing, read, wait or ended signal to the visitor; the
// visitor's own typing and reads come back too and are dropped.
func (v *visitor) signal(s channels.Signal) {
	switch s.Kind {
	case channels.EventTyping:
		if s.Side == crm.SideAgent {
			v.send(map[string]any{"type": "typing", "author_kind": "agent", "name": s.Name})
		}
	case channels.EventRead:
		if s.Side == crm.SideAgent {
			v.send(map[string]any{"type": "read", "seq": s.Seq})
		}
	case channels.EventWait:
		if v.settings.ShowWait {
			f := map[string]any{"type": "wait", "position": s.Position}
			if s.WaitSeconds > 0 {
				f["wait_seconds"] = s.WaitSeconds
			}
			v.send(f)
		}
	case channels.EventEnded:
		v.send(map[string]any{"type": "state", "state": crm.StateClosed, "ended_by": "customer"})
	}
}

// signalState is a state change as a signal; it decodes as a
// channels.Event of kind state.
func signalState(contact uuid.UUID, state string) channels.Signal {
	return channels.Signal{Kind: channels.EventState, ContactID: contact, State: state}
}
