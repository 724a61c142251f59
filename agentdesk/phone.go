package agentdesk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
)

// Errors a Voice returns.
var (
	// ErrCallNotSupported: the telephony cannot do that from outside the phone.
	ErrCallNotSupported = errors.New("not supported by the phone system")
	// ErrNoLiveCall: the agent has no live call on the contact.
	ErrNoLiveCall = errors.New("no live call")
	// ErrTelephony: the telephony refused the command or could not be reached.
	ErrTelephony = errors.New("the phone system did not take the command")
)

// Calls is what the call panel reads of crm.
type Calls interface {
	CallOfContact(ctx context.Context, tenant, contact uuid.UUID) (crm.Call, error)
}

// Voice connects an accepted call to the agent's phone (the phone
// channel's hotline, in control mode; key is the accept's offer id), holds
// it where the telephony can, and says whether a call is still live.
type Voice interface {
	Connect(ctx context.Context, tenant, contact, agent uuid.UUID, key string) error
	Hold(ctx context.Context, tenant, agent, contact uuid.UUID, hold bool, key string) error
	Live(ctx context.Context, tenant, contact uuid.UUID) (bool, error)
	// Dial places the callback the agent holds through their phone
	// (click-to-call).
	Dial(ctx context.Context, tenant, agent, contact uuid.UUID) error
}

var errNoPhone = &deskError{http.StatusServiceUnavailable, "unavailable", "this server has no phone channel"}

// dialCallback is a callback's "Call now": POST /api/contacts/{id}/dial by
// the agent holding it. 202: the agent's phone will ring, then the
// customer's; the call panel follows it.
func (s *Server) dialCallback(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.voice == nil {
		s.writeError(w, r, errNoPhone)
		return
	}
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tenant := sess.User.TenantID
	// Another tenant's contact is "not found", one this agent does not hold "not held".
	if _, err := s.contacts.Contact(r.Context(), tenant, contact); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch err := s.voice.Dial(r.Context(), tenant, sess.User.ID, contact); {
	case errors.Is(err, ErrCallNotSupported):
		s.writeError(w, r, &deskError{http.StatusConflict, "not_supported", "your phone system cannot place calls from here: dial the number yourself"})
	case errors.Is(err, ErrNoLiveCall):
		s.writeError(w, r, &deskError{http.StatusConflict, "not_held", "you do not hold that callback"})
	case errors.Is(err, ErrTelephony):
		s.log.WarnContext(r.Context(), "click-to-call: the phone system did not take it", "contact_id", contact, "err", err)
		s.writeError(w, r, &deskError{http.StatusBadGateway, "telephony", "the phone system did not place the call: try again, or dial the number yourself"})
	case err != nil:
		s.writeError(w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"dialling": true})
	}
}

// callControl is the call panel's hold and resume: {"type":"call_control",
// "contact_id", "state": "held"|"talking"}, an absolute state, so a
// repeat is harmless.
func (c *agentConsole) callControl(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	if c.s.voice == nil {
		return &frameError{code: "unavailable", msg: "this server has no phone channel"}
	}
	if f.State != "held" && f.State != "talking" {
		return invalid(`state must be "held" or "talking"`)
	}
	key := f.ID
	if key == "" {
		key = socketID()
	}
	err = c.s.voice.Hold(ctx, c.tenant, c.agent, contact, f.State == "held", "hold:"+contact.String()+":"+key)
	switch {
	case errors.Is(err, ErrCallNotSupported):
		return &frameError{code: "not_supported", msg: "the phone system cannot hold calls from here: use your phone's hold button"}
	case errors.Is(err, ErrNoLiveCall):
		return &frameError{code: "not_live", msg: "you have no live call on that contact"}
	case err != nil:
		return err
	}
	c.send(frame{"type": "ack", "ref": f.ID})
	return nil
}

// liveCall refuses to close a voice contact whose call is still going: the
// phone leg decides when a call is over, and the close follows its end.
func (c *agentConsole) liveCall(ctx context.Context, contact uuid.UUID) error {
	if c.s.voice == nil {
		return nil
	}
	live, err := c.s.voice.Live(ctx, c.tenant, contact)
	if err != nil {
		return err
	}
	if live {
		return &frameError{code: "call_live", msg: "the call is still going: hang up on your phone, and the wrap-up starts by itself"}
	}
	return nil
}

// callView is the call panel's view of a call: its state and times, never
// the numbers (the screen-pop shows the caller, masked as the role says).
func callView(k crm.Call) frame {
	f := frame{"state": k.State, "direction": k.Direction, "started_at": k.StartedAt.UTC(),
		"hold_seconds": k.HoldSeconds, "cause": k.Cause, "recording": k.RecordingURL != ""}
	if k.AnsweredAt != nil {
		f["answered_at"] = k.AnsweredAt.UTC()
	}
	if k.EndedAt != nil {
		f["ended_at"] = k.EndedAt.UTC()
	}
	if k.HeldAt != nil && k.State == crm.CallHeld {
		f["held_at"] = k.HeldAt.UTC()
	}
	if k.TransferredTo != "" {
		f["transferred"] = true
	}
	return f
}

// addCall puts the call panel's state into a voice contact's frame.
func (s *Server) addCall(ctx context.Context, tenant uuid.UUID, ct crm.Contact, f frame) {
	if s.calls == nil || ct.Channel != "voice" {
		return
	}
	if k, err := s.calls.CallOfContact(ctx, tenant, ct.ID); err == nil {
		f["call"] = callView(k)
	}
}

// CallRinging pops the caller on the agent's console while the PBX rings
// their extension (observe mode). There is nothing to accept: the agent
// answers on their phone, and the answer assigns the contact.
func (s *Server) CallRinging(ctx context.Context, tenant, agent, contact uuid.UUID) {
	ct, err := s.contacts.Contact(ctx, tenant, contact)
	if err != nil {
		s.log.WarnContext(ctx, "call ringing: load contact", "tenant_id", tenant, "contact_id", contact, "err", err)
		return
	}
	pop, err := s.contacts.ScreenPopFor(ctx, tenant, contact, agent)
	if err != nil {
		s.log.WarnContext(ctx, "call ringing: screen-pop", "tenant_id", tenant, "contact_id", contact, "err", err)
		return
	}
	viewContact(pop, &ct, nil)
	s.publishUser(ctx, tenant, agent, frame{"type": "call_ringing", "contact_id": contact, "contact": ct, "screen_pop": pop})
}

// CallAssigned opens the contact on the agent's console: they answered a
// call the PBX put through (observe mode).
func (s *Server) CallAssigned(ctx context.Context, tenant, agent, contact uuid.UUID) {
	item, err := s.contactFrame(ctx, tenant, agent, contact)
	if err != nil {
		s.log.ErrorContext(ctx, "call assigned: load contact", "tenant_id", tenant, "contact_id", contact, "err", err)
		s.publishUser(ctx, tenant, agent, frame{"type": "error", "code": "internal", "message": "a call was put through, but loading it failed; reconnect"})
		return
	}
	item["type"] = "assigned"
	s.publishUser(ctx, tenant, agent, item)
}

// CallWithdrawn takes a call off the agent's console: their phone did not
// answer (the call waits again), the caller hung up first, or the PBX
// moved it to someone else.
func (s *Server) CallWithdrawn(ctx context.Context, tenant, agent, contact uuid.UUID, reason string) {
	s.publishUser(ctx, tenant, agent, frame{"type": "contact_withdrawn", "contact_id": contact, "reason": reason})
}

// CallEnded starts the agent's wrap-up of a call that ended (the phone leg
// decides when a call is over, not the console). The frame carries the
// call as it ended: the console stops following the contact on it.
func (s *Server) CallEnded(ctx context.Context, tenant, agent uuid.UUID, k crm.Call, until *time.Time) {
	contact := k.ContactID
	f := frame{"type": "contact_closed", "contact_id": contact, "state": "closed", "ended_by": "call", "call": callView(k)}
	if ct, err := s.contacts.Contact(ctx, tenant, contact); err == nil {
		f["customer_id"] = ct.CustomerID
	}
	if until != nil {
		f["wrap_up_until"] = until.UTC()
	} else {
		f["wrap_up_ended"] = true
	}
	s.publishUser(ctx, tenant, agent, f)
}

// CallState tells the consoles following the contact how its call stands.
func (s *Server) CallState(ctx context.Context, tenant uuid.UUID, k crm.Call) {
	b, err := json.Marshal(struct {
		Kind      string    `json:"kind"`
		ContactID uuid.UUID `json:"contact_id"`
		Call      frame     `json:"call"`
	}{"call", k.ContactID, callView(k)})
	if err != nil {
		return
	}
	if err := s.bus.Publish(ctx, channels.ContactTopic(tenant, k.ContactID), b); err != nil {
		s.log.WarnContext(ctx, "publish call state", "tenant_id", tenant, "contact_id", k.ContactID, "err", err)
	}
}

// relayCall forwards a call state from a contact topic to the console.
func (c *agentConsole) relayCall(payload []byte) bool {
	var e struct {
		Kind      string          `json:"kind"`
		ContactID uuid.UUID       `json:"contact_id"`
		Call      json.RawMessage `json:"call"`
	}
	if json.Unmarshal(payload, &e) != nil || e.Kind != "call" {
		return false
	}
	c.send(frame{"type": "call", "contact_id": e.ContactID, "call": e.Call})
	return true
}

// rateLimitPhone bounds what one address may send the phone webhooks: a
// PBX sends a few events per call, so a flood is a fault or an attack, and
// signature checks cost CPU even when they fail. Generous, shared across
// nodes; a telephony platform behind few addresses must not be starved.
func (s *Server) rateLimitPhone(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, _, err := s.limiter.Allow(r.Context(), "phone:"+clientIP(r), ratelimit.PerSecond(200))
		if err != nil {
			s.log.WarnContext(r.Context(), "phone rate limit unavailable", "err", err)
		}
		if !ok {
			s.writeError(w, r, errRateLimited)
			return
		}
		next.ServeHTTP(w, r)
	})
}
