package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/agentdesk"
	"github.com/switchboard-cc/switchboard/channels/phone"
	"github.com/switchboard-cc/switchboard/channels/phone/cti"
	"github.com/switchboard-cc/switchboard/channels/phone/twilio"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

var (
	_ phone.Calls     = (*crm.Store)(nil)
	_ phone.Lines     = (*org.Store)(nil)
	_ phone.Router    = phoneRouter{}
	_ phone.Desk      = (*agentdesk.Server)(nil)
	_ agentdesk.Calls = (*crm.Store)(nil)
	_ agentdesk.Voice = voiceDesk{}
)

// voiceDesk is the hotline as the desk sees it: phone's errors become the
// desk's.
type voiceDesk struct{ *phone.Service }

func (v voiceDesk) Hold(ctx context.Context, tenant, agent, contact uuid.UUID, hold bool, key string) error {
	err := v.Service.Hold(ctx, tenant, agent, contact, hold, key)
	switch {
	case errors.Is(err, phone.ErrUnsupported):
		return errors.Join(agentdesk.ErrCallNotSupported, err)
	case errors.Is(err, phone.ErrNotLive):
		return errors.Join(agentdesk.ErrNoLiveCall, err)
	}
	return err
}

func (v voiceDesk) Dial(ctx context.Context, tenant, agent, contact uuid.UUID) error {
	err := v.Service.Dial(ctx, tenant, agent, contact)
	switch {
	case errors.Is(err, phone.ErrTelephony):
		return errors.Join(agentdesk.ErrTelephony, err)
	case errors.Is(err, phone.ErrUnsupported):
		return errors.Join(agentdesk.ErrCallNotSupported, err)
	case errors.Is(err, phone.ErrNotLive):
		return errors.Join(agentdesk.ErrNoLiveCall, err)
	}
	return err
}

// phoneRouter turns what calls did into routing commands on the bus, and
// gives intake's NOTIFY for a queued call.
type phoneRouter struct {
	b   *bus.Bus
	enq interface {
		Notification(tenant uuid.UUID, t routing.Task) (string, string)
	}
}

func (r phoneRouter) Notification(tenant uuid.UUID, res crm.InboundResult) (string, string) {
	return r.enq.Notification(tenant, routing.Task{ContactID: res.ContactID, QueueID: res.QueueID, Channel: res.Channel,
		Priority: res.Priority, ArrivedAt: res.ArrivedAt, Preferred: res.Preference.Agents,
		PreferUntil: res.Preference.Until, PreferReason: res.Preference.Reason})
}

func (r phoneRouter) send(ctx context.Context, tenant uuid.UUID, c dispatch.Command) error {
	return r.b.Publish(ctx, dispatch.CommandTopic(tenant), dispatch.EncodeCommand(c))
}

func (r phoneRouter) Cancel(ctx context.Context, tenant, contact uuid.UUID) error {
	return r.send(ctx, tenant, dispatch.Command{Kind: dispatch.CmdCancel, ContactID: contact})
}

func (r phoneRouter) Release(ctx context.Context, tenant, agent, contact uuid.UUID, requeue bool) error {
	return r.send(ctx, tenant, dispatch.Command{Kind: dispatch.CmdRelease, ContactID: contact, AgentID: agent, Requeue: requeue})
}

func (r phoneRouter) WrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, until time.Time) error {
	return r.send(ctx, tenant, dispatch.Command{Kind: dispatch.CmdWrapUp, ContactID: contact, AgentID: agent, Until: until})
}

func (r phoneRouter) Missed(ctx context.Context, tenant, agent uuid.UUID) error {
	return r.send(ctx, tenant, dispatch.Command{Kind: dispatch.CmdMissed, AgentID: agent})
}

func (r phoneRouter) Taken(ctx context.Context, tenant, agent, contact uuid.UUID) error {
	return r.send(ctx, tenant, dispatch.Command{Kind: dispatch.CmdTaken, AgentID: agent, ContactID: contact, Channel: org.Voice})
}

// deskRef lets the phone service, built before the desk, reach it.
type deskRef struct{ s **agentdesk.Server }

func (d deskRef) CallRinging(ctx context.Context, tenant, agent, contact uuid.UUID) {
	(*d.s).CallRinging(ctx, tenant, agent, contact)
}
func (d deskRef) CallAssigned(ctx context.Context, tenant, agent, contact uuid.UUID) {
	(*d.s).CallAssigned(ctx, tenant, agent, contact)
}
func (d deskRef) CallWithdrawn(ctx context.Context, tenant, agent, contact uuid.UUID, reason string) {
	(*d.s).CallWithdrawn(ctx, tenant, agent, contact, reason)
}
func (d deskRef) CallEnded(ctx context.Context, tenant, agent uuid.UUID, k crm.Call, until *time.Time) {
	(*d.s).CallEnded(ctx, tenant, agent, k, until)
}
func (d deskRef) CallState(ctx context.Context, tenant uuid.UUID, k crm.Call) {
	(*d.s).CallState(ctx, tenant, k)
}

// phoneControllers gives each connector kind's control-mode implementation.
func phoneControllers(cfg Config, asterisk *amiLinks) phone.Controllers {
	generic := cti.NewController(nil)
	rest := twilio.NewREST(twilioConfig(cfg), nil)
	return func(kind string) phone.Controller {
		switch kind {
		case phone.KindGeneric:
			return generic
		case phone.KindTwilio:
			return rest
		case phone.KindAsterisk:
			return asterisk
		}
		return nil
	}
}

// twilioConfig is the Twilio connector's share of the configuration. Its
// menu plays as often as the hotline lets a caller go round it.
func twilioConfig(cfg Config) twilio.Config {
	return twilio.Config{PublicURL: cfg.PublicURL, MenuPlays: phoneMenuTries}
}

// phoneMenuTries is how often a caller hears the menu before going to the
// number's own queue; the hotline and the Twilio TwiML must agree.
const phoneMenuTries = 3

// phoneHandler serves the connectors' webhooks under /phone: each
// authenticates its telephony itself.
func phoneHandler(cfg Config, orgs *org.Store, hotline *phone.Service, log *slog.Logger) http.Handler {
	r := chi.NewRouter()
	cache := newConnectorCache(orgs)
	ctiConns := phoneConnectors{orgs, cache, cti.ErrNoConnector}
	r.Method(http.MethodPost, "/cti/{"+cti.ConnectorParam+"}", cti.NewWebhook(ctiConns, hotline, log))
	r.Method(http.MethodPost, "/zammad/{token}", cti.NewZammad(ctiConns, hotline, log))
	r.Mount("/twilio", twilio.NewHandler(phoneConnectors{orgs, cache, twilio.ErrNoConnector}, hotline, twilioConfig(cfg), log))
	return r
}

// connectorCache keeps connectors read for the webhooks (a row and an
// AES-GCM open per request otherwise) for connectorTTL: an admin's change
// (a new secret, a deactivation) reaches the webhooks within it.
type connectorCache struct {
	orgs *org.Store
	mu   sync.Mutex
	byID map[uuid.UUID]cachedConnector
}

type cachedConnector struct {
	pc    org.PhoneConnector
	err   error
	until time.Time
}

const connectorTTL = 5 * time.Second

func newConnectorCache(orgs *org.Store) *connectorCache {
	return &connectorCache{orgs: orgs, byID: map[uuid.UUID]cachedConnector{}}
}

// get returns the active connector id, from the cache when fresh. Only
// found and not-found answers are kept.
func (c *connectorCache) get(ctx context.Context, id uuid.UUID) (org.PhoneConnector, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.byID[id]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.pc, e.err
	}
	pc, err := c.orgs.PhoneConnector(ctx, id)
	if err == nil || errors.Is(err, org.ErrNotFound) {
		c.mu.Lock()
		if len(c.byID) > 10000 { // ids from the URL: bounded against floods
			c.byID = map[uuid.UUID]cachedConnector{}
		}
		c.byID[id] = cachedConnector{pc: pc, err: err, until: now.Add(connectorTTL)}
		c.mu.Unlock()
	}
	return pc, err
}

// phoneConnectors looks connectors up for a connector package's webhooks,
// mapping org's not-found to that package's own error (notFound).
type phoneConnectors struct {
	orgs     *org.Store
	cache    *connectorCache
	notFound error
}

// found maps a lookup's result to the channel's connector.
func (a phoneConnectors) found(pc org.PhoneConnector, err error) (phone.Connector, error) {
	if errors.Is(err, org.ErrNotFound) {
		return phone.Connector{}, errors.Join(a.notFound, err)
	} else if err != nil {
		return phone.Connector{}, err
	}
	return phone.ConnectorOf(pc), nil
}

func (a phoneConnectors) Connector(ctx context.Context, id uuid.UUID) (phone.Connector, error) {
	return a.found(a.cache.get(ctx, id))
}

// ConnectorByToken is not cached: the token lookup is by its hash, and a
// rotated token must stop working at once.
func (a phoneConnectors) ConnectorByToken(ctx context.Context, token string) (phone.Connector, error) {
	return a.found(a.orgs.PhoneConnectorByToken(ctx, token))
}

// callWaits keeps, for any node's hotline, where each waiting call stands,
// as routing last told (in Redis, for a little longer than routing's
// interval between tellings).
type callWaits struct{ b *bus.Bus }

const callWaitTTL = 30 * time.Second

func (w callWaits) key(tenant, contact uuid.UUID) string {
	return w.b.Key("callwait", tenant.String(), contact.String())
}

func (w callWaits) Waiting(ctx context.Context, tenant, contact uuid.UUID, position int, wait time.Duration) {
	v := strconv.Itoa(position) + "," + strconv.Itoa(int(wait/time.Second))
	w.b.Redis().Set(ctx, w.key(tenant, contact), v, callWaitTTL) // best effort, as the telling is
}

func (w callWaits) Wait(ctx context.Context, tenant, contact uuid.UUID) (int, time.Duration, bool) {
	v, err := w.b.Redis().Get(ctx, w.key(tenant, contact)).Result()
	if err != nil {
		return 0, 0, false
	}
	p, s, ok := strings.Cut(v, ",")
	pos, err1 := strconv.Atoi(p)
	secs, err2 := strconv.Atoi(s)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return pos, time.Duration(secs) * time.Second, true
}

// contactWaits tells waiting chats' visitors (a signal on the contact's
// topic) and keeps waiting calls' places for the hotline; routing does not
// say which a contact is, and a signal nobody hears costs one publish.
type contactWaits struct {
	chat waitSignals
	call callWaits
}

func (w contactWaits) Waiting(ctx context.Context, tenant, contact uuid.UUID, position int, wait time.Duration) {
	w.chat.Waiting(ctx, tenant, contact, position, wait)
	w.call.Waiting(ctx, tenant, contact, position, wait)
}
