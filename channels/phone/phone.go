// Package phone is the voice channel: the single hotline. Connectors (the
// generic CTI webhook, Zammad's observe-mode format, Twilio's voice
// webhooks, Asterisk AMI) turn what the telephony sends into the same call
// Events; the Hotline decides where each call goes (menu, queue, closed),
// records it through crm, and, in control mode, tells the connector to
// connect the caller to the agent who accepted.
package phone

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Mode is who routes a connector's calls.
type Mode string

const (
	// Control: Switchboard routes. The caller waits at the telephony until
	// an agent accepts; then the connector is told to connect them.
	Control Mode = "control"
	// Observe: the PBX routes with its own queues; a ring at an extension
	// becomes an offer (the screen-pop) to that extension's agent, and
	// Switchboard records the call.
	Observe Mode = "observe"
)

// Connector kinds.
const (
	KindGeneric  = "generic"  // the documented JSON CTI webhook
	KindZammad   = "zammad"   // Zammad's CTI format, observe mode only
	KindTwilio   = "twilio"   // Twilio voice webhooks and REST
	KindAsterisk = "asterisk" // Asterisk AMI over TCP
)

// Kind is what happened to a call.
type Kind string

// Call event kinds. Every connector produces these and only these.
const (
	// Ringing: a new call reached the telephony. With Extension set (a
	// connector that sees the agent leg) the agent's device rings.
	Ringing Kind = "ringing"
	// Queued: the PBX put the caller in one of its own queues (observe).
	Queued Kind = "queued"
	// Offered: the PBX rings an agent's extension (observe) or the
	// connector rings the agent who accepted (control).
	Offered Kind = "offered"
	// Answered: with Extension set, that agent's leg answered and the agent
	// has the call; without, the telephony answered (IVR, holding).
	Answered Kind = "answered"
	Held     Kind = "held"
	Unheld   Kind = "unheld"
	// Transferred: the call went to Target (an extension or a number).
	Transferred Kind = "transferred"
	// Ended: the call (without Extension) or the agent's leg (with it)
	// ended, for Cause.
	Ended Kind = "ended"
	// Recording: RecordingURL holds the call's recording.
	Recording Kind = "recording"
	// Digits: the caller pressed Digits in the menu.
	Digits Kind = "digits"
)

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool {
	switch k {
	case Ringing, Queued, Offered, Answered, Held, Unheld, Transferred, Ended, Recording, Digits:
		return true
	}
	return false
}

// Cause is why a call or a leg ended.
type Cause string

// Causes. Connectors map their own codes (Q.850, Twilio's CallStatus,
// Zammad's cause) onto these.
const (
	CauseNormal    Cause = "normal"    // hung up after talking
	CauseBusy      Cause = "busy"      // the agent's device was busy
	CauseNoAnswer  Cause = "no_answer" // the agent's device rang out
	CauseRejected  Cause = "rejected"  // the agent's device declined
	CauseFailed    Cause = "failed"    // the telephony could not connect
	CauseAbandoned Cause = "abandoned" // the caller hung up before an agent answered
	CauseLost      Cause = "lost"      // the connector lost track (no event for hours, gone after a resync)
)

// Valid reports whether c is one of the causes above.
func (c Cause) Valid() bool {
	switch c {
	case CauseNormal, CauseBusy, CauseNoAnswer, CauseRejected, CauseFailed, CauseAbandoned, CauseLost:
		return true
	}
	return false
}

// Directions.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Event is one thing that happened to a call, from any connector.
type Event struct {
	// CallID is the connector's own id for the call (Twilio's CallSid,
	// Asterisk's Linkedid, the generic API's call_id). Unique per connector.
	CallID string
	// EventID makes a repeated event a no-op: the connector's id for this
	// event, or a key derived from what makes it unique (call, kind,
	// extension, sequence). Required.
	EventID   string
	Kind      Kind
	Direction string // Inbound or Outbound; on Ringing
	From      string // the caller's number as the telephony gave it
	To        string // the dialled number as the telephony gave it
	// Extension is the agent leg's extension: the agent's device that
	// rings, answered or ended.
	Extension    string
	Target       string // Transferred: where to
	Cause        Cause  // Ended
	RecordingURL string // Recording
	Digits       string // Digits
	At           time.Time
}

// Connector is one configured telephony entry point of a tenant. Its
// tenant, and the site and queue of its numbers, come from the
// configuration, never from what the telephony sends.
type Connector struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Kind     string
	Mode     Mode
	// Secret authenticates the telephony: the HMAC key of the generic
	// webhook, Zammad's URL token, Twilio's auth token, the AMI password.
	Secret string `json:"-"`
	// CallbackURL: generic control mode, where the signed connect and
	// cancel commands are POSTed.
	CallbackURL string
	// Twilio: the account SID and the REST base URL (tests point it at a
	// local server). Asterisk: host:port and the AMI user.
	AccountSID string
	APIBase    string
	Address    string
	Username   string
	// Context is Asterisk's dialplan context agents' extensions are
	// reached in (Redirect target).
	Context string
}

// Agent is how an agent's phone is reached through a connector.
type Agent struct {
	AgentID   uuid.UUID
	Extension string // the PBX extension, or the Twilio Client identity
	// Dial: "client" (Twilio <Dial><Client>, a softphone) or "number"
	// (<Dial><Number>, the agent's mobile or desk phone).
	Dial   string
	Number string // E.164, for Dial "number"
}

// Call is a call Switchboard knows, as a connector needs it to act on it.
type Call struct {
	ContactID uuid.UUID
	CallID    string
	From, To  string
}

// Action is what a connector should do with a caller.
type Action string

const (
	ActionMenu   Action = "menu"   // play the menu and gather a digit
	ActionQueue  Action = "queue"  // the caller waits; Switchboard routes
	ActionClosed Action = "closed" // after hours: say so, then voicemail or hang up
	ActionHangup Action = "hangup" // nothing more to do (a repeat after the call ended)
)

// MenuOption is one choice in the hotline's menu.
type MenuOption struct {
	Digit string
	Label string // spoken: "enquiries", "sales", "service"
	Queue uuid.UUID
}

// Route is the Hotline's answer to a connector about a caller: what to play
// and where the caller waits.
type Route struct {
	Action    Action
	ContactID uuid.UUID // set once the call is recorded
	Language  string    // "en" or "zh-CN": the tenant's, for speech
	// Say is spoken before the action, in order (e.g. "your car is ready").
	Say []string
	// Menu: the options of ActionMenu.
	Menu []MenuOption
	// Queue: the queue the caller waits in (ActionQueue).
	QueueID   uuid.UUID
	QueueName string
	// Position (1-based) and Wait estimate for a waiting caller, when known.
	Position int
	Wait     time.Duration
	// Voicemail: ActionClosed, the caller may leave a message.
	Voicemail bool
}

// Hotline is what every connector asks of Switchboard (*Service). Each
// method is durable before it returns: a connector acknowledges the
// telephony only after it.
type Hotline interface {
	// Incoming records a new inbound call (idempotent by connector and
	// CallID) and says what the caller hears: the menu, or straight to a
	// queue when the caller's context says where they belong.
	Incoming(ctx context.Context, c Connector, ev Event) (Route, error)
	// Choose applies the caller's menu choice.
	Choose(ctx context.Context, c Connector, callID, digits string) (Route, error)
	// Waiting says where a waiting caller stands (position, estimated wait).
	Waiting(ctx context.Context, c Connector, callID string) (Route, error)
	// Handle records any other event, idempotent by EventID.
	Handle(ctx context.Context, c Connector, ev Event) error
}

// Holder is a Controller that can also put a call on hold for the agent
// (not every telephony can from outside: Twilio needs a conference, AMI
// has no hold action). hold is absolute: true holds, false resumes.
type Holder interface {
	Hold(ctx context.Context, c Connector, call Call, a Agent, hold bool, key string) error
}

// Dialer is a Controller that can also place a call for an agent
// (click-to-call): ring the agent's phone, then call to (E.164) and
// bridge the two. callID is Switchboard's id for the call, given to the
// telephony for its events; the result is the id the telephony's events
// will carry (callID itself where it takes it).
type Dialer interface {
	Dial(ctx context.Context, c Connector, a Agent, to, callID, key string) (string, error)
}

// Controller is what control mode needs of a connector. key is an
// idempotency key: a repeat with the same key must not act twice.
type Controller interface {
	// Connect bridges the waiting caller to the agent's phone.
	Connect(ctx context.Context, c Connector, call Call, a Agent, key string) error
	// Cancel stops ringing the agent's phone before the call is offered
	// to someone else.
	Cancel(ctx context.Context, c Connector, call Call, a Agent, key string) error
}
