package org

import (
	"time"

	"github.com/google/uuid"
)

// Channel is the medium a contact arrives on.
type Channel string

const (
	Voice Channel = "voice"
	Chat  Channel = "chat"
	Email Channel = "email"
)

// Channels lists every channel, in display order.
var Channels = []Channel{Voice, Chat, Email}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool { return c == Voice || c == Chat || c == Email }

// Role decides what a user may do.
type Role string

const (
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// Allows reports whether a user with role r may act as need: an admin may do
// what a supervisor may, and a supervisor what an agent may.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case RoleAgent:
		return 1
	case RoleSupervisor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Presence is the state an agent chose. "Busy" and "wrap-up" are derived
// from load, never stored.
type Presence string

const (
	Offline   Presence = "offline"
	Available Presence = "available"
	Away      Presence = "away"
)

// Valid reports whether p is a known presence.
func (p Presence) Valid() bool { return p == Offline || p == Available || p == Away }

// Tenant is one customer organisation, a dealer group. It sees only its own data.
type Tenant struct {
	ID          uuid.UUID
	Name        string
	DefaultZone string
}

// Site is one dealership of a tenant.
type Site struct {
	ID             uuid.UUID
	TenantID       uuid.UUID
	Name           string
	Zone           string
	Country        string // ISO 3166 region used to parse local phone numbers
	AreaCode       string
	ChatKey        string   // public key of the chat widget
	AllowedOrigins []string // web origins allowed to embed the chat widget
	ChatQueueID    uuid.UUID
}

// User is a person who logs in.
type User struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	SiteID      uuid.UUID // uuid.Nil: works for the whole group
	Email       string
	DisplayName string
	Role        Role
	Active      bool
}

// Agent is what routing needs to know of a user who takes contacts.
type Agent struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Name     string
	Skills   map[string]int // skill → level 1..10
	Capacity map[Channel]int
	Presence Presence
	Reason   string // why away
	Since    time.Time
	// VoiceBlocksChat: while the agent is on a call, no new chat is
	// offered (some agents cannot type and talk at once).
	VoiceBlocksChat bool
}

// Queue is a line of business that contacts wait in.
type Queue struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	SiteID   uuid.UUID // uuid.Nil: group-wide
	Name     string
	Skills   map[string]int // required skill → minimum level
	Strategy string
	Priority int
	SLA      time.Duration // service-level threshold
	// Zone is where the queue's day is counted (today's statistics): its
	// site's zone, or the tenant's default for a group-wide queue. Read only.
	Zone         string
	OfferTimeout time.Duration
	WrapUp       time.Duration // how long an agent's slot stays held after closing a contact

	// Calendar is the queue's opening hours; nil means always open. Contacts
	// of a closed queue wait unoffered; on arrival they get ClosedAction.
	Calendar      *Calendar
	ClosedAction  ClosedAction
	ClosedMessage string // what the customer is told when closed (message action)

	// MaxWait: a contact waiting longer overflows to OverflowQueueID (its
	// age kept). Zero: no limit.
	MaxWait         time.Duration
	OverflowQueueID uuid.UUID // uuid.Nil: none
	// After WidenAfter of waiting, WidenedSkills replace Skills for that
	// contact, so more agents qualify. Zero: never.
	WidenAfter    time.Duration
	WidenedSkills map[string]int
	// MaxLength caps how many contacts wait (offered ones included); an
	// arrival at a full queue overflows, or gets ClosedAction when there is
	// no overflow queue. Zero: no limit.
	MaxLength int

	// Priority ageing: every AgeingStep of waiting adds one to a contact's
	// priority, up to AgeingMax, so that low priorities never starve.
	AgeingStep time.Duration
	AgeingMax  int

	// PreferWindow is how long a contact's preferred agents (owner, advisor,
	// salesperson, last agent, transfer target) are tried alone before the
	// whole pool; zero takes routing's default.
	PreferWindow time.Duration
	// AutoCallback: every abandoned call of this queue gets a callback.
	AutoCallback bool
	// Dispositions are the codes an agent picks one of at wrap-up (at most
	// MaxDispositions); empty: the queue asks for none.
	Dispositions []string
}

// MaxDispositions is how many disposition codes a queue may have, and
// MaxDispositionLen how long (in characters) each may be: short labels
// that fit a select and a report column.
const (
	MaxDispositions   = 30
	MaxDispositionLen = 64
)

// ClosedAction is what a queue does with a contact that arrives while it
// is closed (or full with nowhere to overflow).
type ClosedAction string

const (
	ActionWait      ClosedAction = ""          // wait for opening, say nothing
	ActionMessage   ClosedAction = "message"   // tell the customer (ClosedMessage); keep waiting
	ActionVoicemail ClosedAction = "voicemail" // the phone connector takes a voicemail
	ActionCallback  ClosedAction = "callback"  // abandon and schedule a callback at the next opening
)

// Valid reports whether a is a known action.
func (a ClosedAction) Valid() bool {
	return a == ActionWait || a == ActionMessage || a == ActionVoicemail || a == ActionCallback
}
