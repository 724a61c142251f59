package routing

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// Move is a waiting contact that the engine moved to its queue's overflow
// queue, keeping its age. The caller persists it; until then the engine
// already routes it in the new queue.
type Move struct {
	ContactID, From, To uuid.UUID
	Reason              string // MoveMaxWait or MoveFull
}

// Why a contact overflowed.
const (
	MoveMaxWait = "max_wait" // it waited longer than its queue's MaxWait
	MoveFull    = "full"     // it arrived at a queue holding MaxLength contacts
)

// ClosedArrival is a contact that arrived at a queue that is closed, or
// full with nowhere to overflow. It waits in the engine all the same; the
// caller carries out Action (tell the customer, take a voicemail, or turn
// it into a callback at NextOpen and Cancel it).
type ClosedArrival struct {
	Task     Task
	Reason   string // ClosedHours or ClosedFull
	Action   org.ClosedAction
	Message  string
	NextOpen time.Time // zero when the calendar shows no opening in two weeks, or the queue is open but full
}

// Why a queue could not take a contact.
const (
	ClosedHours = "closed"
	ClosedFull  = "full"
)

func (e *Engine) closedArrival(t Task, q *queueState, why string, now time.Time) ClosedArrival {
	c := ClosedArrival{Task: t, Reason: why, Action: q.ClosedAction, Message: q.ClosedMessage}
	if why == ClosedHours && q.Calendar != nil {
		if next, ok, err := q.Calendar.NextOpen(now); err == nil && ok {
			c.NextOpen = next
		}
	}
	return c
}

// overflowTarget is where a contact of q overflows to: q's overflow queue,
// if it is known and the contact has not been there already (two queues
// overflowing into each other must not bounce a contact forever).
func (e *Engine) overflowTarget(t *taskState, q *queueState) (uuid.UUID, bool) {
	to := q.OverflowQueueID
	if to == uuid.Nil || to == q.ID || slices.Contains(t.visited, to) {
		return uuid.Nil, false
	}
	if _, ok := e.queues[to]; !ok {
		return uuid.Nil, false
	}
	return to, true
}

// Overflow moves every waiting (not offered) contact that has waited
// longer than its queue's MaxWait to the overflow queue, keeping its age,
// and reports the moves through TakeMoves. It walks every such queue's
// line, so the caller runs it on a timer (about once a second), not per
// decision.
func (e *Engine) Overflow() {
	now := e.now()
	var moving []*taskState
	for _, l := range e.lineList {
		q := l.q
		if q == nil || q.MaxWait <= 0 || q.OverflowQueueID == uuid.Nil {
			continue
		}
		for _, t := range l.tasks {
			if !t.offered() && now.Sub(t.ArrivedAt) >= q.MaxWait {
				if _, ok := e.overflowTarget(t, q); ok {
					moving = append(moving, t)
				}
			}
		}
	}
	// Oldest first, so the moves are reported in a stable order.
	slices.SortFunc(moving, byAge)
	for _, t := range moving {
		q := e.queues[t.QueueID]
		to, _ := e.overflowTarget(t, q)
		e.remove(t)
		t.visited = append(t.visited, q.ID)
		t.QueueID = to
		t.declined = nil
		e.insert(t)
		e.moves = append(e.moves, Move{ContactID: t.ContactID, From: q.ID, To: to, Reason: MoveMaxWait})
	}
}

// Move puts a waiting contact in another queue (a supervisor's decision,
// already persisted), keeping its age; an open offer is ended and
// returned. False when the contact does not wait here.
func (e *Engine) Move(contact, to uuid.UUID) ([]Offer, bool) {
	t := e.tasks[contact]
	if t == nil {
		return nil, false
	}
	var ended []Offer
	for _, o := range slices.Clone(t.offers) {
		e.endOffer(o)
		ended = append(ended, *o)
	}
	e.remove(t)
	t.QueueID = to
	t.declined = nil
	e.insert(t)
	return ended, true
}

// TakeMoves returns, once, the overflow moves made since the last call.
func (e *Engine) TakeMoves() []Move {
	out := e.moves
	e.moves = nil
	return out
}

// TakeClosed returns, once, the contacts that met a closed or full queue
// since the last call.
func (e *Engine) TakeClosed() []ClosedArrival {
	out := e.closed
	e.closed = nil
	return out
}

// TakeSuperseded returns, once, the offers ended because another agent
// accepted the same ring-all contact first; their agents must be told.
func (e *Engine) TakeSuperseded() []Offer {
	out := e.superseded
	e.superseded = nil
	slices.SortFunc(out, func(a, b Offer) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// Reasons a contact prefers some agents, as intake and transfers set them.
const (
	PreferOwner       = "owner"       // the customer's owner
	PreferAdvisor     = "advisor"     // the service advisor on an open order
	PreferSalesperson = "salesperson" // the salesperson on an open deal
	PreferLastAgent   = "last_agent"  // the agent who handled the customer last
	PreferTransfer    = "transfer"    // an agent transferred it to this one
)

// preferReason is what the console shows agent, a preferred agent of t.
// PreferReason holds one code for all of t's preferred agents, or one per
// agent, comma separated, in the order of Preferred.
func preferReason(t Task, agent uuid.UUID) string {
	codes := strings.Split(t.PreferReason, ",")
	code := codes[0]
	if i := slices.Index(t.Preferred, agent); i >= 0 && i < len(codes) && len(codes) > 1 {
		code = codes[i]
	}
	switch code {
	case PreferOwner:
		return "you own this customer"
	case PreferAdvisor:
		return "you advise on their open service order"
	case PreferSalesperson:
		return "you are the salesperson on their open deal"
	case PreferLastAgent:
		return "you handled this customer last"
	case PreferTransfer:
		return "transferred to you"
	}
	if code != "" && !strings.ContainsAny(code, ",") {
		return code // a caller's own words
	}
	return "a preferred agent for this customer"
}
