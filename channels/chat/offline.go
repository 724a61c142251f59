package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// Queues reads a queue's calendar (org.Store).
type Queues interface {
	Queue(ctx context.Context, tenant, id uuid.UUID) (org.Queue, error)
}

// Agents tells which agents of a tenant have a console connected (bus.Bus).
type Agents interface {
	Connected(ctx context.Context, group uuid.UUID) (map[uuid.UUID]bool, error)
}

// Callbacks turns a queued contact into a callback at the queue's next
// opening (crm.Store).
type Callbacks interface {
	AbandonToCallback(ctx context.Context, tenant, contact uuid.UUID, due time.Time) (crm.Callback, error)
}

// availability is whether a site's chat is answered now: offline when its
// chat queue is closed by its calendar, or (offline_when no_agents) when
// no agent of the tenant has a console connected. next is the queue's
// next opening when it is closed (zero when open, or closed for more than
// the calendar looks ahead).
type availability struct {
	offline bool
	next    time.Time
}

// availability never refuses a visitor because of its own failure: a
// queue or presence lookup that fails counts as online, and the chat waits
// in the queue as before.
func (c *Connector) availability(ctx context.Context, site org.Site, cs org.ChatSettings) availability {
	q, err := c.queues.Queue(ctx, site.TenantID, site.ChatQueueID)
	if err != nil {
		c.log.Warn("chat: queue for offline check", "site_id", site.ID, "err", err)
		return availability{}
	}
	now := c.now()
	if q.Calendar != nil {
		next, found, err := q.Calendar.NextOpen(now)
		switch {
		case err != nil:
			c.log.Warn("chat: calendar of the chat queue", "queue_id", q.ID, "err", err)
		case !found:
			return availability{offline: true}
		case next.After(now):
			return availability{offline: true, next: next}
		}
	}
	if cs.OfflineWhen == org.OfflineNoAgents {
		agents, err := c.agents.Connected(ctx, site.TenantID)
		if err != nil {
			c.log.Warn("chat: connected agents", "tenant_id", site.TenantID, "err", err)
			return availability{}
		}
		if len(agents) == 0 {
			return availability{offline: true}
		}
	}
	return availability{}
}

// fields adds the offline state to a welcome or settings answer.
func (a availability) fields(f map[string]any) {
	f["offline"] = a.offline
	if !a.next.IsZero() {
		f["next_open"] = a.next.UTC()
	}
}

// offlineMessage takes the offline form: the visitor's name, contact
// details and message become an e-mail-channel contact in the site's chat
// queue (offline_mode email: needs an e-mail address), or (callback: needs
// a phone) that contact abandoned and a callback to the phone due at the
// queue's next opening, now when the queue is open but nobody is there.
// The client_id makes a resend harmless.
func (v *visitor) offlineMessage(ctx context.Context, f inFrame) {
	if f.ClientID == "" || len(f.ClientID) > maxClientID {
		v.refuse("invalid", fmt.Sprintf("client_id must be 1 to %d characters", maxClientID), f.ClientID)
		return
	}
	body := strings.TrimSpace(f.Body)
	if body == "" || utf8.RuneCountInString(f.Body) > maxBody || !utf8.ValidString(f.Body) {
		v.fieldError(f.ClientID, "body", fmt.Sprintf("a message must be 1 to %d characters", maxBody))
		return
	}
	// The form asks for what the site asks for, and for the one contact
	// detail the reply needs.
	cs := v.settings
	callback := cs.OfflineMode == "callback"
	if callback {
		cs.PhoneField = org.FieldRequired
	} else {
		cs.EmailField = org.FieldRequired
	}
	cs.Topics = nil
	f.Topic = ""
	form, err := checkPrechat(v.site, cs, f, false)
	var fe *fieldError
	if errors.As(err, &fe) {
		v.fieldError(f.ClientID, fe.field, fe.msg)
		return
	}
	tenant := v.site.TenantID
	rc, err := v.c.intake.Receive(ctx, channels.Inbound{
		TenantID: tenant, SiteID: v.site.ID, QueueID: v.site.ChatQueueID, Channel: org.Email,
		Identities: form.identities(v.token.Visitor, v.customerSystem()), Name: form.name,
		Subject: "Message left on the website chat", Body: body,
		IdempotencyKey: "chat-offline:" + v.token.Visitor.String() + ":" + f.ClientID,
	})
	if err != nil {
		v.c.log.Error("chat: offline message", "site_id", v.site.ID, "err", err)
		v.refuse("internal", "the message was not saved; try again", f.ClientID)
		return
	}
	ack := map[string]any{"type": "ack", "client_id": f.ClientID, "offline": "email"}
	if callback {
		due := v.c.now()
		if a := v.c.availability(ctx, v.site, v.settings); a.next.After(due) {
			due = a.next
		}
		cb, err := v.c.callbacks.AbandonToCallback(ctx, tenant, rc.ContactID, due)
		switch {
		case err == nil:
			ack["offline"], ack["due_at"] = "callback", cb.DueAt.UTC()
			if err := v.c.router.Cancel(ctx, tenant, rc.ContactID); err != nil {
				v.c.log.Warn("chat: tell routing of an offline message turned callback", "contact_id", rc.ContactID, "err", err)
			}
		case errors.Is(err, crm.ErrNotQueued) && rc.Duplicate:
			ack["offline"] = "callback" // the first copy made the callback
		case errors.Is(err, crm.ErrNoPhone), errors.Is(err, crm.ErrNotQueued):
			// The phone matches several customers (or routing acted first):
			// the message stays an e-mail contact in the queue, nothing is lost.
			v.c.log.Info("chat: offline callback not made; the message waits as a contact", "contact_id", rc.ContactID, "err", err)
		default:
			v.c.log.Error("chat: offline callback", "contact_id", rc.ContactID, "err", err)
		}
	}
	v.c.log.Info("chat: offline message taken", "tenant_id", tenant, "contact_id", rc.ContactID, "as", ack["offline"])
	v.send(ack)
}

func (v *visitor) fieldError(clientID, field, msg string) {
	v.send(map[string]any{"type": "error", "code": "invalid", "field": field, "message": msg, "client_id": clientID})
}
