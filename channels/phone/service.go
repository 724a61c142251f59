package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// Errors a connector maps onto its answer to the telephony.
var (
	// ErrUnknownCall: an event for a call this connector never started.
	ErrUnknownCall = errors.New("unknown call")
	// ErrNoNumber: the dialled number is not on the connector's hotline and
	// it has no catch-all.
	ErrNoNumber = errors.New("number not configured")
	// ErrUnsupported: the connector cannot do that from outside the phone.
	ErrUnsupported = errors.New("the phone system cannot do that from here")
	// ErrTelephony: the telephony refused a command or could not be reached.
	ErrTelephony = errors.New("the phone system did not take the command")
	// ErrNotLive: the agent has no live call on that contact.
	ErrNotLive = errors.New("no live call")
	// ErrInvalid: the event itself is malformed (a connector's mapping bug
	// or bad input that got past its decoder).
	ErrInvalid = errors.New("invalid call event")
)

// Calls is what the hotline needs of crm.
type Calls interface {
	StartCall(ctx context.Context, n crm.NewCall, route func(crm.Call, crm.CallerContext) uuid.UUID,
		announce func(crm.InboundResult) (string, string)) (crm.CallStart, error)
	CallByExternal(ctx context.Context, tenant, connector uuid.UUID, callID string) (crm.Call, error)
	CallOfContact(ctx context.Context, tenant, contact uuid.UUID) (crm.Call, error)
	CountMenuTry(ctx context.Context, tenant, call uuid.UUID) (int, error)
	QueueCall(ctx context.Context, tenant, call, queue uuid.UUID, announce func(crm.InboundResult) (string, string)) (crm.Call, crm.InboundResult, error)
	CallConnecting(ctx context.Context, tenant, contact, agent uuid.UUID, extension, key string) (crm.Call, bool, error)
	ApplyCallEvent(ctx context.Context, ev crm.CallEvent) (crm.CallChange, error)
	Connecting(ctx context.Context, before time.Time, limit int) ([]crm.Call, error)
	AcceptedUnconnected(ctx context.Context, before time.Time, limit int) ([]crm.Call, error)
	StartOutboundCall(ctx context.Context, o crm.OutboundCall) (crm.Call, string, error)
	CallbackConnector(ctx context.Context, tenant, contact uuid.UUID) (uuid.UUID, error)
	RenameCall(ctx context.Context, tenant, connector uuid.UUID, from, to string) error
}

// Lines is the hotline's configuration, from org.
type Lines interface {
	PhoneConnector(ctx context.Context, id uuid.UUID) (org.PhoneConnector, error)
	PhoneNumberFor(ctx context.Context, tenant, connector uuid.UUID, dialled []string) (org.PhoneNumber, error)
	AgentByExtension(ctx context.Context, tenant, connector uuid.UUID, extension string) (org.AgentPhone, error)
	AgentPhoneOn(ctx context.Context, tenant, connector, agent uuid.UUID) (org.AgentPhone, error)
	Site(ctx context.Context, tenant, id uuid.UUID) (org.Site, error)
	PhonesOfAgent(ctx context.Context, tenant, agent uuid.UUID) ([]org.AgentPhone, error)
	Queue(ctx context.Context, tenant, id uuid.UUID) (org.Queue, error)
}

// Router tells the tenant's routing engine what calls did. Every method
// is idempotent and absolute; a lost one is made good by routing's sweep.
type Router interface {
	// Notification gives the NOTIFY that announces a queued call at its
	// commit (routing's own announcement of a queued contact).
	Notification(tenant uuid.UUID, res crm.InboundResult) (channel, payload string)
	Cancel(ctx context.Context, tenant, contact uuid.UUID) error
	// Release frees the agent's slot; requeue: the contact waits again.
	Release(ctx context.Context, tenant, agent, contact uuid.UUID, requeue bool) error
	WrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, until time.Time) error
	Missed(ctx context.Context, tenant, agent uuid.UUID) error
	// Taken holds agent's voice slot for a call routing never offered (the
	// PBX put it through, observe mode).
	Taken(ctx context.Context, tenant, agent, contact uuid.UUID) error
}

// Desk is the agents' consoles.
type Desk interface {
	// CallRinging pops the caller on the agent's console while their
	// extension rings (observe mode: the PBX routed the call).
	CallRinging(ctx context.Context, tenant, agent, contact uuid.UUID)
	// CallAssigned gives the agent the contact (observe mode: they answered).
	CallAssigned(ctx context.Context, tenant, agent, contact uuid.UUID)
	// CallWithdrawn takes a contact off the agent's console (their phone did
	// not answer; the call went back to the queue, or was transferred away).
	CallWithdrawn(ctx context.Context, tenant, agent, contact uuid.UUID, reason string)
	// CallEnded starts the agent's wrap-up (until nil: none) of the ended call k.
	CallEnded(ctx context.Context, tenant, agent uuid.UUID, k crm.Call, until *time.Time)
	// CallState tells the contact's watchers the call's state (the call panel).
	CallState(ctx context.Context, tenant uuid.UUID, k crm.Call)
}

// Waits says where a waiting call stands, as routing last told it
// (position 1 is next); ok is false when routing has said nothing yet.
type Waits interface {
	Wait(ctx context.Context, tenant, contact uuid.UUID) (position int, wait time.Duration, ok bool)
}

// Controllers gives the connector implementation that acts on calls of a
// kind in control mode; nil when the kind cannot.
type Controllers func(kind string) Controller

// Config tunes the Service.
type Config struct {
	// RingTimeout: an agent's phone that has not answered this long after
	// the connect is given up on; the call goes back to the queue.
	RingTimeout time.Duration // default 30s
	// SweepInterval: how often connects are checked. Default 2s.
	SweepInterval time.Duration
	// MaxMenuTries: after this many times round the menu without a choice
	// the caller goes to the number's default queue. Default 3.
	MaxMenuTries int
}

// Service is the hotline: it implements Hotline for every connector.
type Service struct {
	cfg   Config
	calls Calls
	lines Lines
	route Router
	desk  Desk
	ctl   Controllers
	waits Waits
	log   *slog.Logger
	now   func() time.Time
	cache configCache
}

// NewService returns the hotline.
func NewService(cfg Config, calls Calls, lines Lines, route Router, desk Desk, ctl Controllers, waits Waits, log *slog.Logger) *Service {
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 30 * time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 2 * time.Second
	}
	if cfg.MaxMenuTries <= 0 {
		cfg.MaxMenuTries = 3
	}
	return &Service{cfg: cfg, calls: calls, lines: lines, route: route, desk: desk, ctl: ctl, waits: waits, log: log, now: time.Now,
		cache: configCache{now: time.Now}}
}

var _ Hotline = (*Service)(nil)

// numberForms are the forms a dialled number may be stored in: as sent,
// its digits with and without "+", and E.164 by China's rules.
func numberForms(to string) []string {
	forms := []string{to}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, to)
	if digits != "" {
		forms = append(forms, digits, "+"+digits)
	}
	if e, err := crm.NormalizePhone(to, "CN"); err == nil {
		forms = append(forms, e)
	}
	return forms
}

// Incoming records a new inbound call and decides what the caller hears.
func (s *Service) Incoming(ctx context.Context, c Connector, ev Event) (Route, error) {
	if ev.CallID == "" {
		return Route{}, fmt.Errorf("%w: no call id", ErrInvalid)
	}
	dir := ev.Direction
	if dir == "" {
		dir = Inbound
	}
	// Ours is the number called, or, on a call an agent places, the number
	// calling; the customer's is the other one.
	ours, theirs := ev.To, ev.From
	if dir == Outbound {
		ours, theirs = ev.From, ev.To
	}
	num, err := s.number(ctx, c, ours)
	if errors.Is(err, org.ErrNotFound) {
		return Route{}, ErrNoNumber
	} else if err != nil {
		return Route{}, err
	}
	customer, e164 := s.callerNumber(ctx, c.TenantID, num.SiteID, theirs)
	n := crm.NewCall{TenantID: c.TenantID, ConnectorID: c.ID, SiteID: num.SiteID, NumberID: num.ID,
		CallID: ev.CallID, Direction: dir, From: customer, FromE164: e164, Dialled: ours, At: ev.At}
	if c.Mode == Observe {
		// The PBX routes: the call is only recorded.
		start, err := s.calls.StartCall(ctx, n, nil, nil)
		if err != nil {
			return Route{}, err
		}
		return Route{Action: ActionQueue, ContactID: start.Call.ContactID, Language: num.Language}, nil
	}
	r := Route{Language: num.Language}
	start, err := s.calls.StartCall(ctx, n, func(_ crm.Call, cc crm.CallerContext) uuid.UUID {
		var queue uuid.UUID
		queue, r.Say = s.choose(c, num, cc)
		return queue
	}, s.announce(c.TenantID))
	if err != nil {
		return Route{}, err
	}
	k := start.Call
	switch {
	case start.Fresh:
		s.log.InfoContext(ctx, "call started", "tenant_id", c.TenantID, "connector_id", c.ID, "call", k.ID, "mode", c.Mode)
	case k.State != crm.CallMenu:
		return s.routed(ctx, c, num, k)
	default:
		// The telephony asked again about a caller in the menu (a retried
		// webhook): the menu again, which is not one more try.
		r.Action, r.Menu = ActionMenu, menu(num)
		return r, nil
	}
	if start.Queued.NewContact {
		return s.queued(ctx, c, num, k, r)
	}
	r.Action, r.Menu = ActionMenu, menu(num)
	return r, nil
}

// callerNumber returns the caller's number in E.164 by the site's dialling
// rules when it parses, else as sent (withheld numbers, "anonymous").
func (s *Service) callerNumber(ctx context.Context, tenant, site uuid.UUID, raw string) (string, bool) {
	country, area := "CN", ""
	if site != uuid.Nil {
		if st, err := s.site(ctx, tenant, site); err == nil {
			if st.Country != "" {
				country = st.Country
			}
			area = st.AreaCode
		}
	}
	if e, err := crm.NormalizePhoneAt(raw, country, area); err == nil {
		return e, true
	}
	if len(raw) > 64 {
		raw = raw[:64]
	}
	return raw, false
}

// choose is the hotline's rule for a new call: a known caller whose
// context says where they belong skips the menu; a caller whose car is
// ready hears so, and can still choose from the menu; everyone else hears
// the menu, unless the number has none (or the PBX runs its own IVR): then
// the number's own queue. uuid.Nil means the menu.
func (s *Service) choose(c Connector, num org.PhoneNumber, cc crm.CallerContext) (uuid.UUID, []string) {
	var sayings []string
	dept := ""
	switch {
	case cc.Order != nil && cc.Order.Status == "ready":
		sayings = append(sayings, say(num.Language, "car_ready", cc.Order.Plate))
	case cc.Order != nil:
		dept = "service"
	case cc.Deal != nil:
		dept = "sales"
	}
	if opt, ok := option(num, dept); ok {
		return opt.QueueID, sayings
	}
	if len(num.Menu) == 0 || c.Kind == KindAsterisk {
		return num.QueueID, sayings
	}
	return uuid.Nil, sayings
}

// announce gives the NOTIFY announcing a call's contact to routing.
func (s *Service) announce(tenant uuid.UUID) func(crm.InboundResult) (string, string) {
	return func(res crm.InboundResult) (string, string) { return s.route.Notification(tenant, res) }
}

func option(num org.PhoneNumber, dept string) (org.PhoneMenuOption, bool) {
	if dept == "" {
		return org.PhoneMenuOption{}, false
	}
	for _, o := range num.Menu {
		if o.Department == dept {
			return o, true
		}
	}
	return org.PhoneMenuOption{}, false
}

func menu(num org.PhoneNumber) []MenuOption {
	out := make([]MenuOption, len(num.Menu))
	for i, o := range num.Menu {
		out[i] = MenuOption{Digit: o.Digit, Label: departmentLabel(num.Language, o.Department), Queue: o.QueueID}
	}
	return out
}

// Choose applies the caller's menu choice. A key that is no option hears
// the menu again, up to MaxMenuTries plays in all; no key at all (the
// telephony's menu timed out) goes to the number's own queue.
func (s *Service) Choose(ctx context.Context, c Connector, callID, digits string) (Route, error) {
	k, num, err := s.callAndNumber(ctx, c, callID)
	if err != nil {
		return Route{}, err
	}
	if k.State != crm.CallMenu {
		return s.routed(ctx, c, num, k)
	}
	r := Route{Language: num.Language}
	for _, o := range num.Menu {
		if digits != "" && o.Digit == digits[:1] {
			return s.enqueue(ctx, c, num, k, o.QueueID, r)
		}
	}
	if digits == "" || len(num.Menu) == 0 {
		// No choice: the telephony played the menu as often as it
		// does (Twilio's <Gather> repeats, a PBX script's timeout).
		return s.enqueue(ctx, c, num, k, num.QueueID, r)
	}
	tries, err := s.calls.CountMenuTry(ctx, c.TenantID, k.ID)
	if err != nil {
		return Route{}, err
	}
	if tries >= s.cfg.MaxMenuTries {
		return s.enqueue(ctx, c, num, k, num.QueueID, r)
	}
	r.Say = append(r.Say, say(num.Language, "invalid_choice", ""))
	r.Action, r.Menu = ActionMenu, menu(num)
	return r, nil
}

func (s *Service) callAndNumber(ctx context.Context, c Connector, callID string) (crm.Call, org.PhoneNumber, error) {
	k, err := s.calls.CallByExternal(ctx, c.TenantID, c.ID, callID)
	if errors.Is(err, crm.ErrNotFound) {
		return crm.Call{}, org.PhoneNumber{}, ErrUnknownCall
	} else if err != nil {
		return crm.Call{}, org.PhoneNumber{}, err
	}
	num, err := s.number(ctx, c, k.Dialled)
	if errors.Is(err, org.ErrNotFound) {
		return crm.Call{}, org.PhoneNumber{}, ErrNoNumber
	}
	return k, num, err
}

// enqueue puts the caller in queue, or says the queue is closed.
func (s *Service) enqueue(ctx context.Context, c Connector, num org.PhoneNumber, k crm.Call, queue uuid.UUID, r Route) (Route, error) {
	k, res, err := s.calls.QueueCall(ctx, c.TenantID, k.ID, queue, s.announce(c.TenantID))
	if err != nil {
		return Route{}, err
	}
	if res.Duplicate {
		return s.routed(ctx, c, num, k)
	}
	return s.queued(ctx, c, num, k, r)
}

// queued tells the connector that the caller now waits in k's queue, or,
// when the queue is closed, what they hear instead: routing carries out
// the queue's closed action on the contact (callback, voicemail request).
func (s *Service) queued(ctx context.Context, c Connector, num org.PhoneNumber, k crm.Call, r Route) (Route, error) {
	s.log.InfoContext(ctx, "call queued", "tenant_id", c.TenantID, "call", k.ID, "contact_id", k.ContactID, "queue_id", k.QueueID)
	q, err := s.queue(ctx, c.TenantID, k.QueueID)
	if err != nil {
		return Route{}, fmt.Errorf("queue %s: %w", k.QueueID, err)
	}
	r.ContactID, r.QueueID, r.QueueName = k.ContactID, k.QueueID, q.Name
	r.Action = ActionQueue
	if q.Calendar != nil {
		if open, err := q.Calendar.OpenAt(s.now()); err == nil && !open {
			r.Action = ActionClosed
			r.Voicemail = q.ClosedAction == org.ActionVoicemail
			msg := q.ClosedMessage
			if msg == "" {
				msg = say(num.Language, "closed", "")
			}
			if q.ClosedAction == org.ActionCallback {
				msg += " " + say(num.Language, "callback", "")
			}
			r.Say = append(r.Say, msg)
		}
	}
	return r, nil
}

// routed answers a repeat (a connector asking again about a call already
// past the menu).
func (s *Service) routed(ctx context.Context, c Connector, num org.PhoneNumber, k crm.Call) (Route, error) {
	r := Route{Language: num.Language, ContactID: k.ContactID, QueueID: k.QueueID}
	switch {
	case k.State == crm.CallEnded:
		r.Action = ActionHangup
	default:
		r.Action = ActionQueue
		if q, err := s.queue(ctx, c.TenantID, k.QueueID); err == nil {
			r.QueueName = q.Name
		}
	}
	return r, nil
}

// Waiting says where a waiting caller stands: their place in routing's
// line and its rough estimate of the wait, as routing last said (every
// couple of seconds), for the telephony to announce.
func (s *Service) Waiting(ctx context.Context, c Connector, callID string) (Route, error) {
	k, num, err := s.callAndNumber(ctx, c, callID)
	if err != nil {
		return Route{}, err
	}
	r, err := s.routed(ctx, c, num, k)
	if err != nil || r.Action != ActionQueue || k.ContactState != crm.StateQueued || s.waits == nil {
		return r, err
	}
	if pos, wait, ok := s.waits.Wait(ctx, c.TenantID, k.ContactID); ok {
		r.Position, r.Wait = pos, wait
	}
	return r, nil
}

// Handle records any other event and tells routing and the consoles.
func (s *Service) Handle(ctx context.Context, c Connector, ev Event) error {
	if !ev.Kind.Valid() || ev.EventID == "" || ev.CallID == "" {
		return fmt.Errorf("%w: kind, event id and call id are required", ErrInvalid)
	}
	switch ev.Kind {
	case Digits:
		_, err := s.Choose(ctx, c, ev.CallID, ev.Digits)
		return err
	case Ringing:
		// A new call through an event-only connector (AMI, Zammad's
		// format); with an extension, the agent's device rings too (an
		// agent placing a call at the PBX rings first).
		if _, err := s.calls.CallByExternal(ctx, c.TenantID, c.ID, ev.CallID); errors.Is(err, crm.ErrNotFound) {
			if _, err := s.Incoming(ctx, c, ev); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if ev.Extension == "" {
			return nil
		}
		ev.Kind = Offered // the agent's device rings: the same thing
	}
	k, num, err := s.callAndNumber(ctx, c, ev.CallID)
	if errors.Is(err, ErrNoNumber) {
		// A call Switchboard placed (click-to-call) reached no hotline
		// number; it needs none: it has its contact already.
		err = nil
	}
	if err != nil {
		return err
	}
	var agent uuid.UUID
	if ev.Extension != "" {
		ap, err := s.lines.AgentByExtension(ctx, c.TenantID, c.ID, ev.Extension)
		switch {
		case err == nil:
			agent = ap.AgentID
		case errors.Is(err, org.ErrNotFound):
			// A device no agent has (a colleague's desk phone, voicemail):
			// the call is recorded; nobody's console pops.
		default:
			return err
		}
	}
	ch, err := s.calls.ApplyCallEvent(ctx, crm.CallEvent{TenantID: c.TenantID, ConnectorID: c.ID, CallID: ev.CallID,
		EventID: ev.EventID, Kind: string(ev.Kind), Extension: ev.Extension, AgentID: agent, Cause: string(ev.Cause),
		Target: ev.Target, Recording: ev.RecordingURL, At: ev.At, Observe: c.Mode == Observe, DefaultQueue: num.QueueID})
	if errors.Is(err, crm.ErrNotFound) {
		return ErrUnknownCall
	} else if err != nil {
		return err
	}
	if ch.Duplicate {
		return nil
	}
	s.changed(ctx, c, k, ch)
	return nil
}

// changed tells routing and the consoles what an event did. All of it is
// repeatable and made good by routing's sweep and the consoles' snapshots
// if lost, so failures are logged, not returned: the event is durable.
func (s *Service) changed(ctx context.Context, c Connector, before crm.Call, ch crm.CallChange) {
	tenant, k := c.TenantID, ch.Call
	warn := func(what string, err error) {
		if err != nil {
			s.log.WarnContext(ctx, "phone: "+what, "tenant_id", tenant, "call", k.ID, "contact_id", k.ContactID, "err", err)
		}
	}
	switch {
	case ch.Ringing:
		s.desk.CallRinging(ctx, tenant, ch.Agent, k.ContactID)
	case ch.Assigned:
		if ch.Previous != uuid.Nil {
			s.desk.CallWithdrawn(ctx, tenant, ch.Previous, k.ContactID, "transferred")
			warn("release after a transfer at the PBX", s.route.Release(ctx, tenant, ch.Previous, k.ContactID, false))
		}
		// Routing never offered it, but the agent is on the phone: no
		// other call (nor, where a call blocks chat, a chat) for them.
		warn("taken", s.route.Taken(ctx, tenant, ch.Agent, k.ContactID))
		s.desk.CallAssigned(ctx, tenant, ch.Agent, k.ContactID)
	case ch.Requeued != nil:
		s.log.InfoContext(ctx, "agent's phone did not answer; call back in queue", "tenant_id", tenant, "agent_id", ch.Missed,
			"contact_id", k.ContactID)
		s.desk.CallWithdrawn(ctx, tenant, ch.Missed, k.ContactID, "phone_not_answered")
		warn("release after no answer", s.route.Release(ctx, tenant, ch.Missed, k.ContactID, true))
		warn("missed offer", s.route.Missed(ctx, tenant, ch.Missed))
	case ch.Ended:
		s.desk.CallEnded(ctx, tenant, ch.Agent, k, ch.WrapUpUntil)
		if ch.WrapUpUntil != nil {
			warn("wrap-up", s.route.WrapUp(ctx, tenant, ch.Agent, k.ContactID, *ch.WrapUpUntil))
		} else {
			warn("release", s.route.Release(ctx, tenant, ch.Agent, k.ContactID, false))
		}
	case ch.Abandoned:
		if ch.Cancelled {
			warn("cancel", s.route.Cancel(ctx, tenant, k.ContactID))
		}
		if ch.Agent != uuid.Nil {
			s.desk.CallWithdrawn(ctx, tenant, ch.Agent, k.ContactID, "caller_hung_up")
			if c.Mode == Control {
				s.cancelLeg(ctx, c, before, ch.Agent, "abandon:"+k.ID.String())
				warn("release", s.route.Release(ctx, tenant, ch.Agent, k.ContactID, false))
			}
		}
		if ch.Callback != nil {
			s.log.InfoContext(ctx, "missed call: callback scheduled", "tenant_id", tenant, "contact_id", k.ContactID, "callback_id", ch.Callback.ID)
		}
	}
	if k.ContactID != uuid.Nil {
		s.desk.CallState(ctx, tenant, k)
	}
}

// Connect bridges the caller of a voice contact an agent has just accepted
// to the agent's phone (control mode). key is the accept's offer id: a
// repeat with it does not ring twice. A contact without a call (a
// callback) or of an observing connector needs nothing.
func (s *Service) Connect(ctx context.Context, tenant, contact, agent uuid.UUID, key string) error {
	k, err := s.calls.CallOfContact(ctx, tenant, contact)
	if errors.Is(err, crm.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	pc, err := s.lines.PhoneConnector(ctx, k.ConnectorID)
	if err != nil {
		return fmt.Errorf("connector of call %s: %w", k.ID, err)
	}
	c := connectorOf(pc)
	if c.Mode != Control || k.State == crm.CallEnded {
		return nil
	}
	ctl := s.ctl(c.Kind)
	fail := func(why error) error {
		s.log.WarnContext(ctx, "connect failed; call back in queue", "tenant_id", tenant, "contact_id", contact, "agent_id", agent, "err", why)
		return s.legFailed(ctx, c, k, agent, "connect-failed:"+key, CauseFailed)
	}
	ap, err := s.lines.AgentPhoneOn(ctx, tenant, c.ID, agent)
	if errors.Is(err, org.ErrNotFound) {
		// The agent has no phone on this connector: a missed offer, so
		// routing stops offering them calls after a few.
		if k, _, err = s.calls.CallConnecting(ctx, tenant, contact, agent, "", key); err != nil {
			return err
		}
		return fail(errors.New("the agent has no phone on this connector"))
	} else if err != nil {
		return err
	}
	k, send, err := s.calls.CallConnecting(ctx, tenant, contact, agent, ap.Extension, key)
	if errors.Is(err, crm.ErrNotHeld) {
		return nil // the caller hung up, or it moved on, meanwhile
	} else if err != nil {
		return err
	}
	if !send {
		return nil // another node is connecting this agent already
	}
	s.desk.CallState(ctx, tenant, k)
	if ctl == nil {
		return fail(fmt.Errorf("connector kind %s cannot connect calls", c.Kind))
	}
	err = ctl.Connect(ctx, c, Call{ContactID: contact, CallID: k.CallID, From: k.From, To: k.Dialled},
		Agent{AgentID: agent, Extension: ap.Extension, Dial: ap.Dial, Number: ap.Number}, key)
	if err != nil {
		return fail(err)
	}
	return nil
}

// legFailed gives up on agent's leg of k (the connect failed, or the phone
// rang too long): the call goes back to the queue and the agent has missed
// an offer. eventID makes it happen once.
func (s *Service) legFailed(ctx context.Context, c Connector, k crm.Call, agent uuid.UUID, eventID string, cause Cause) error {
	ext := k.Extension
	if ext == "" {
		ext = "-" // no device was rung; the leg is the agent's all the same
	}
	ch, err := s.calls.ApplyCallEvent(ctx, crm.CallEvent{TenantID: c.TenantID, ConnectorID: c.ID, CallID: k.CallID,
		EventID: eventID, Kind: string(Ended), Extension: ext, AgentID: agent, Cause: string(cause)})
	if err != nil || ch.Duplicate {
		return err
	}
	s.changed(ctx, c, k, ch)
	return nil
}

// cancelLeg stops ringing agent's phone through the connector, best effort.
func (s *Service) cancelLeg(ctx context.Context, c Connector, k crm.Call, agent uuid.UUID, key string) {
	ctl := s.ctl(c.Kind)
	if ctl == nil || k.Extension == "" || (k.State != crm.CallConnecting && k.State != crm.CallRinging) {
		return
	}
	if err := ctl.Cancel(ctx, c, Call{ContactID: k.ContactID, CallID: k.CallID, From: k.From, To: k.Dialled},
		Agent{AgentID: agent, Extension: k.Extension}, key); err != nil {
		s.log.WarnContext(ctx, "cancel agent leg", "tenant_id", c.TenantID, "call", k.ID, "err", err)
	}
}

func connectorOf(pc org.PhoneConnector) Connector {
	return Connector{ID: pc.ID, TenantID: pc.TenantID, Kind: pc.Kind, Mode: Mode(pc.Mode), Secret: pc.Secret,
		CallbackURL: pc.CallbackURL, AccountSID: pc.AccountSID, APIBase: pc.APIBase, Address: pc.Address,
		Username: pc.Username, Context: pc.Context}
}

// ConnectorOf maps org's stored connector to the channel's view of it.
func ConnectorOf(pc org.PhoneConnector) Connector { return connectorOf(pc) }

// Run sweeps connects until ctx ends: an accepted call whose node died
// before telling the connector is connected now; an agent's phone that
// rang past RingTimeout is cancelled and the call goes back to the queue.
// Every node runs it; the connector's idempotency key and crm's
// conditional updates make a double sweep harmless.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.sweep(ctx)
	}
}

func (s *Service) sweep(ctx context.Context) {
	now := s.now()
	unconnected, err := s.calls.AcceptedUnconnected(ctx, now.Add(-2*s.cfg.SweepInterval), 50)
	if err != nil {
		s.log.WarnContext(ctx, "phone sweep", "err", err)
	}
	for _, k := range unconnected {
		if err := s.Connect(ctx, k.TenantID, k.ContactID, k.AgentID, "sweep:"+k.ContactID.String()+":"+k.AgentID.String()); err != nil {
			s.log.WarnContext(ctx, "phone sweep: connect", "tenant_id", k.TenantID, "contact_id", k.ContactID, "err", err)
		}
	}
	stale, err := s.calls.Connecting(ctx, now.Add(-s.cfg.RingTimeout), 50)
	if err != nil {
		s.log.WarnContext(ctx, "phone sweep", "err", err)
	}
	for _, k := range stale {
		pc, err := s.lines.PhoneConnector(ctx, k.ConnectorID)
		if err != nil {
			continue
		}
		c := connectorOf(pc)
		s.cancelLeg(ctx, c, k, k.AgentID, "timeout:"+k.ConnectKey)
		if err := s.legFailed(ctx, c, k, k.AgentID, "ring-timeout:"+k.ConnectKey, CauseNoAnswer); err != nil {
			s.log.WarnContext(ctx, "phone sweep: ring timeout", "tenant_id", k.TenantID, "contact_id", k.ContactID, "err", err)
		}
	}
}

// Hold puts the agent's live call on hold (hold true) or resumes it,
// through the connector; its held and unheld events then update the call.
func (s *Service) Hold(ctx context.Context, tenant, agent, contact uuid.UUID, hold bool, key string) error {
	k, err := s.calls.CallOfContact(ctx, tenant, contact)
	if errors.Is(err, crm.ErrNotFound) {
		return ErrNotLive
	} else if err != nil {
		return err
	}
	if k.AgentID != agent || (k.State != crm.CallTalking && k.State != crm.CallHeld) {
		return ErrNotLive
	}
	pc, err := s.lines.PhoneConnector(ctx, k.ConnectorID)
	if err != nil {
		return err
	}
	c := connectorOf(pc)
	h, ok := s.ctl(c.Kind).(Holder)
	if !ok || c.Mode != Control {
		return ErrUnsupported
	}
	return h.Hold(ctx, c, Call{ContactID: contact, CallID: k.CallID, From: k.From, To: k.Dialled},
		Agent{AgentID: agent, Extension: k.Extension}, hold, key)
}

// Live reports whether the contact's call is still going on the phone.
func (s *Service) Live(ctx context.Context, tenant, contact uuid.UUID) (bool, error) {
	k, err := s.calls.CallOfContact(ctx, tenant, contact)
	if errors.Is(err, crm.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return k.State != crm.CallEnded, nil
}

// Dial places the call back an agent holds (a callback attempt) through a
// connector that can dial: the agent's phone rings first, then the
// customer's. The call then shows in the call panel like any other; a
// customer who does not pick up leaves the contact with the agent, who
// reports the outcome. ErrUnsupported when none of the agent's phones is
// on a connector that can place calls (the agent dials by hand).
func (s *Service) Dial(ctx context.Context, tenant, agent, contact uuid.UUID) error {
	phones, err := s.lines.PhonesOfAgent(ctx, tenant, agent)
	if err != nil {
		return err
	}
	// The telephony the customer called through first, then the agent's others.
	origin, err := s.calls.CallbackConnector(ctx, tenant, contact)
	if err != nil {
		return err
	}
	slices.SortStableFunc(phones, func(a, b org.AgentPhone) int {
		switch {
		case a.ConnectorID == origin && b.ConnectorID != origin:
			return -1
		case b.ConnectorID == origin && a.ConnectorID != origin:
			return 1
		}
		return 0
	})
	for _, ap := range phones {
		pc, err := s.lines.PhoneConnector(ctx, ap.ConnectorID)
		if err != nil {
			continue
		}
		c := connectorOf(pc)
		d, ok := s.ctl(c.Kind).(Dialer)
		if !ok || c.Mode != Control {
			continue
		}
		callID := "sb-" + contact.String()
		k, to, err := s.calls.StartOutboundCall(ctx, crm.OutboundCall{TenantID: tenant, ConnectorID: c.ID, ContactID: contact,
			AgentID: agent, CallID: callID, Extension: ap.Extension, Key: "dial:" + contact.String()})
		if errors.Is(err, crm.ErrNotHeld) || errors.Is(err, crm.ErrInvalid) {
			return ErrNotLive
		} else if err != nil {
			return err
		}
		if k.ConnectorID != c.ID || k.State == crm.CallEnded {
			return nil // placed already (a repeat), perhaps through another connector
		}
		s.desk.CallState(ctx, tenant, k)
		id, err := d.Dial(ctx, c, Agent{AgentID: agent, Extension: ap.Extension, Dial: ap.Dial, Number: ap.Number}, to, callID, "dial:"+contact.String())
		if err != nil {
			s.log.WarnContext(ctx, "click-to-call failed", "tenant_id", tenant, "contact_id", contact, "err", err)
			_, ferr := s.calls.ApplyCallEvent(ctx, crm.CallEvent{TenantID: tenant, ConnectorID: c.ID, CallID: callID,
				EventID: "dial-failed:" + callID, Kind: string(Ended), Cause: string(CauseFailed)})
			if k2, err2 := s.calls.CallOfContact(ctx, tenant, contact); err2 == nil {
				s.desk.CallState(ctx, tenant, k2)
			}
			return errors.Join(ErrTelephony, err, ferr)
		}
		return s.calls.RenameCall(ctx, tenant, c.ID, callID, id)
	}
	return ErrUnsupported
}
