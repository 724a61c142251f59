package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Signal kinds on a contact topic, beside EventMessage and EventState.
// Typing and wait signals are never stored: a watcher that misses one
// simply misses it. Read and ended signals announce stored facts, which a
// reconnecting watcher reads back (the contact's read seqs and state).
const (
	EventTyping = "typing" // Side is typing now; watchers show it for a few seconds
	EventRead   = "read"   // Side has read up to Seq
	EventEnded  = "ended"  // the customer ended the chat
	EventWait   = "wait"   // a waiting chat's place in its queue changed
)

// Signal is a contact-topic event other than a line or a state change. It
// shares Event's kind and contact_id, so a watcher can decode either from
// the same payload.
type Signal struct {
	Kind      string    `json:"kind"`
	ContactID uuid.UUID `json:"contact_id"`
	// Side is who typed or read: crm.SideCustomer or crm.SideAgent.
	Side string `json:"side,omitempty"`
	Seq  int    `json:"seq,omitempty"`
	// Name is the typing agent's display name.
	Name string `json:"name,omitempty"`
	// Position (1 = next) and WaitSeconds (0: no estimate) of a waiting chat.
	Position    int `json:"position,omitempty"`
	WaitSeconds int `json:"wait_seconds,omitempty"`
	// With EventEnded, when the agent's wrap-up ends (none: no wrap-up).
	WrapUpUntil *time.Time `json:"wrap_up_until,omitempty"`
	State       string     `json:"state,omitempty"`
}

// Signal puts s on its contact's topic. It is best effort, like every
// publish: what it announces is either ephemeral or already stored.
func (in *Intake) Signal(ctx context.Context, tenant uuid.UUID, s Signal) {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("channels: marshal signal: %v", err))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := in.pub.Publish(ctx, ContactTopic(tenant, s.ContactID), b); err != nil {
		in.log.WarnContext(ctx, "publish contact signal", "tenant_id", tenant, "contact_id", s.ContactID, "kind", s.Kind, "err", err)
	}
}
