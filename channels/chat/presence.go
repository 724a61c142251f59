package chat

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
)

// Presence records visitors' sockets in Redis, shared by every node
// (bus.Bus implements it).
type Presence interface {
	VisitorUp(ctx context.Context, member, socket string) error
	VisitorDown(ctx context.Context, member, socket string) error
	AbsentVisitors(ctx context.Context, before time.Time) (map[string]time.Time, error)
	ClaimAbsent(ctx context.Context, member string, cutoff time.Time) (bool, error)
}

// presenceMember names a chat in the presence sets: tenant, site and
// contact, so the sweeper can find the site's setting without a lookup.
func presenceMember(tenant, site, contact uuid.UUID) string {
	return tenant.String() + "/" + site.String() + "/" + contact.String()
}

func parseMember(m string) (tenant, site, contact uuid.UUID, ok bool) {
	parts := strings.Split(m, "/")
	if len(parts) != 3 {
		return uuid.Nil, uuid.Nil, uuid.Nil, false
	}
	var err [3]error
	tenant, err[0] = uuid.Parse(parts[0])
	site, err[1] = uuid.Parse(parts[1])
	contact, err[2] = uuid.Parse(parts[2])
	return tenant, site, contact, errors.Join(err[:]...) == nil
}

// presenceTracker keeps one socket's chat marked present while the socket
// lives. The member is set on the reader goroutine when the chat becomes
// known; from then a timer (not a goroutine of its own: an idle visitor
// costs no stack for it, and one without a chat not even a timer) renews
// it every third of the TTL until stop.
type presenceTracker struct {
	c      *Connector
	socket string
	ctx    context.Context // the socket's life, for the renewals
	every  time.Duration   // renewal interval; zero: a third of bus.ConnTTL
	member atomic.Pointer[string]

	// mu serialises a renewal with stop, so that no renewal lands after
	// the socket was marked gone.
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func (p *presenceTracker) set(ctx context.Context, member string) {
	if old := p.member.Swap(&member); old != nil && *old == member {
		return
	}
	p.up(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.every <= 0 {
		p.every = bus.ConnTTL / 3
	}
	if p.timer == nil && !p.stopped {
		p.timer = time.AfterFunc(p.every, p.renew)
	}
}

func (p *presenceTracker) up(ctx context.Context) {
	if m := p.member.Load(); m != nil {
		if err := p.c.presence.VisitorUp(ctx, *m, p.socket); err != nil && ctx.Err() == nil {
			p.c.log.Warn("chat: visitor presence", "err", err)
		}
	}
}

// renew runs on the timer's goroutine.
func (p *presenceTracker) renew() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.ctx.Err() != nil {
		return
	}
	p.up(p.ctx)
	p.timer.Reset(p.every)
}

// stop ends the renewals and marks the socket gone (if it had a chat).
func (p *presenceTracker) stop() {
	p.mu.Lock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	if m := p.member.Load(); m != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 2*time.Second)
		defer cancel()
		if err := p.c.presence.VisitorDown(dctx, *m, p.socket); err != nil {
			p.c.log.Warn("chat: visitor gone", "err", err)
		}
	}
}

// Run abandons queued chats whose visitor has had no socket for their
// site's abandon_after_seconds, on whichever node claims them first. It
// returns when ctx ends.
func (c *Connector) Run(ctx context.Context) error {
	t := time.NewTicker(c.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.abandonAbsent(ctx)
		}
	}
}

func (c *Connector) abandonAbsent(ctx context.Context) {
	now := c.now()
	absent, err := c.presence.AbsentVisitors(ctx, now.Add(-time.Second)) // the shortest setting
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("chat: absent visitors", "err", err)
		}
		return
	}
	settings := map[uuid.UUID]time.Duration{}
	for member, since := range absent {
		tenant, site, contact, ok := parseMember(member)
		if !ok {
			continue
		}
		after, ok := settings[site]
		if !ok {
			cs, err := c.settings.ChatSettings(ctx, tenant, site)
			if err != nil {
				c.log.Warn("chat: settings for abandon", "site_id", site, "err", err)
				continue
			}
			after, settings[site] = cs.AbandonAfter, cs.AbandonAfter
		}
		cutoff := now.Add(-after)
		if since.After(cutoff) {
			continue
		}
		if won, err := c.presence.ClaimAbsent(ctx, member, cutoff); err != nil || !won {
			continue
		}
		err := c.chats.Abandon(ctx, tenant, contact, "visitor_left")
		switch {
		case errors.Is(err, crm.ErrNotQueued), errors.Is(err, crm.ErrNotFound):
			continue // taken by an agent or ended meanwhile: nothing to abandon
		case err != nil:
			c.log.Error("chat: abandon", "contact_id", contact, "err", err)
			continue
		}
		c.log.Info("chat abandoned: no visitor socket", "tenant_id", tenant, "contact_id", contact, "after_seconds", int(after/time.Second))
		if err := c.router.Cancel(ctx, tenant, contact); err != nil {
			c.log.Warn("chat: tell routing of an abandon; its sweep will notice", "contact_id", contact, "err", err)
		}
		c.signals.Signal(ctx, tenant, signalState(contact, crm.StateAbandoned))
	}
}
