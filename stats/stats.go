// Package stats defines the contact-center metrics once, as pure functions
// over contact events, so that the wallboard and the reports compute them
// the same way and agree. It keeps the raw counts, from which every
// service-level variant is derived and named. It imports only org types.
package stats

import (
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// Event is one contact event as stats needs it.
type Event struct {
	Kind      string // created, reopened, assigned, message_out, transferred_out, transferred_in, closed, wrap_up_ended, requeued, abandoned
	ContactID uuid.UUID
	QueueID   uuid.UUID
	AgentID   uuid.UUID
	Channel   org.Channel // on created
	At        time.Time
	// Call, on created: a phone connector's call. It counts as answered
	// when the agent's leg answers (call_answered), not when the agent
	// accepts it in the console: until the phone picks up, the caller waits.
	Call bool
}

// Policy is a queue's thresholds.
type Policy struct {
	SLA          time.Duration // answered (or abandoned) within this counts as met
	ShortAbandon time.Duration // abandons quicker than this are not counted against the queue
}

// Counts are the raw figures of one queue and channel over a period.
type Counts struct {
	Offered         int // contacts that entered the queue (not offers to agents)
	Answered        int
	AnsweredWithin  int
	Abandoned       int // not counting short abandons
	AbandonedWithin int
	ShortAbandons   int
	WaitAnswered    time.Duration // sum of waits of answered contacts, for ASA
	Handled         int
	HandleTime      time.Duration // TalkTime + HoldTime + WrapUpTime, for AHT
	TalkTime        time.Duration // sum from answer to close (or transfer out)
	HoldTime        time.Duration // customer on hold; comes with the phone channel, zero until then
	WrapUpTime      time.Duration // sum from close to the end of the wrap-up
	TransferredIn   int
	TransferredOut  int
}

// Definition names a service-level formula; the wallboard shows which one
// it uses next to the figure.
type Definition string

const (
	// OfAnswered: answered within the threshold / answered.
	OfAnswered Definition = "answered within / answered"
	// OfOffered: answered within / (answered + abandoned).
	OfOffered Definition = "answered within / (answered + abandoned)"
	// AbandonsWithinMet: (answered within + abandoned within) / (answered + abandoned).
	AbandonsWithinMet Definition = "(answered within + abandoned within) / (answered + abandoned)"
)

// ServiceLevel returns the share by def, and false when nothing counts yet.
func (c Counts) ServiceLevel(def Definition) (float64, bool) {
	var num, den int
	switch def {
	case OfAnswered:
		num, den = c.AnsweredWithin, c.Answered
	case OfOffered:
		num, den = c.AnsweredWithin, c.Answered+c.Abandoned
	case AbandonsWithinMet:
		num, den = c.AnsweredWithin+c.AbandonedWithin, c.Answered+c.Abandoned
	}
	if den == 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

// ASA is the average speed of answer.
func (c Counts) ASA() time.Duration {
	if c.Answered == 0 {
		return 0
	}
	return c.WaitAnswered / time.Duration(c.Answered)
}

// AHT is the average handling time: talk + hold + wrap-up. A contact counts
// as handled when its wrap-up ends (or when it is transferred out, with no
// wrap-up), so a contact in wrap-up does not yet pull the average down.
func (c Counts) AHT() time.Duration {
	if c.Handled == 0 {
		return 0
	}
	return c.HandleTime / time.Duration(c.Handled)
}

// AvgWrapUp is the average wrap-up time of the handled contacts.
func (c Counts) AvgWrapUp() time.Duration {
	if c.Handled == 0 {
		return 0
	}
	return c.WrapUpTime / time.Duration(c.Handled)
}

// AbandonRate is abandoned / (answered + abandoned).
func (c Counts) AbandonRate() (float64, bool) {
	if d := c.Answered + c.Abandoned; d > 0 {
		return float64(c.Abandoned) / float64(d), true
	}
	return 0, false
}

// Key identifies one line of figures.
type Key struct {
	QueueID uuid.UUID
	Channel org.Channel
}

type contactState struct {
	key      Key
	arrived  time.Time
	answered time.Time // zero until answered
	call     bool      // answered by call_answered
	closed   time.Time // zero until closed; then the agent wraps up
}

// Tally folds events, in commit order, into Counts per queue and channel,
// and agents' time into AgentCounts.
type Tally struct {
	policy   func(queue uuid.UUID) Policy
	contacts map[uuid.UUID]*contactState
	counts   map[Key]*Counts
	agents   map[uuid.UUID]*agentClock
	holder   map[uuid.UUID]uuid.UUID   // contact → the agent holding it (talk or wrap-up)
	arrivals map[uuid.UUID][]time.Time // per queue, the last hour's arrivals (erlang.go)
}

// NewTally returns an empty tally; policy gives each queue's thresholds.
func NewTally(policy func(queue uuid.UUID) Policy) *Tally {
	return &Tally{policy: policy, contacts: map[uuid.UUID]*contactState{}, counts: map[Key]*Counts{},
		agents: map[uuid.UUID]*agentClock{}, holder: map[uuid.UUID]uuid.UUID{}}
}

func (t *Tally) line(k Key) *Counts {
	c := t.counts[k]
	if c == nil {
		c = &Counts{}
		t.counts[k] = c
	}
	return c
}

// Add applies one event. The moment a contact counts as answered depends on
// its channel: chat when an agent accepts it, e-mail at the first reply;
// voice (when the phone channel lands) when the agent's leg answers.
func (t *Tally) Add(e Event) {
	cs := t.contacts[e.ContactID]
	t.agentEvent(e)
	switch e.Kind {
	case "created", "reopened":
		ch := e.Channel
		if cs != nil && ch == "" {
			ch = cs.key.Channel
		}
		call := e.Call || cs != nil && cs.call
		cs = &contactState{key: Key{QueueID: e.QueueID, Channel: ch}, arrived: e.At, call: call}
		t.contacts[e.ContactID] = cs
		t.line(cs.key).Offered++
		t.arrive(e.QueueID, e.At)
	case "assigned":
		if cs != nil && cs.key.Channel != org.Email && !cs.call {
			t.answer(cs, e.At)
		}
	case "call_answered":
		if cs != nil {
			t.answer(cs, e.At)
		}
	case "message_out":
		if cs != nil && cs.key.Channel == org.Email {
			t.answer(cs, e.At)
		}
	case "transferred_out":
		if cs != nil {
			c := t.line(cs.key)
			c.TransferredOut++
			if !cs.answered.IsZero() {
				c.Handled++
				talk := e.At.Sub(cs.answered)
				c.TalkTime += talk
				c.HandleTime += talk
			}
		}
	case "transferred_in":
		// The contact waits anew in the target queue, which measures its own
		// speed of answer from the transfer.
		ch := e.Channel
		if cs != nil && ch == "" {
			ch = cs.key.Channel
		}
		cs = &contactState{key: Key{QueueID: e.QueueID, Channel: ch}, arrived: e.At, call: cs != nil && cs.call}
		t.contacts[e.ContactID] = cs
		t.line(cs.key).TransferredIn++
	case "closed":
		// Handled only once the wrap-up ends: AHT includes it.
		if cs != nil && !cs.answered.IsZero() {
			cs.closed = e.At
			break
		}
		delete(t.contacts, e.ContactID)
	case "wrap_up_ended":
		if cs != nil && !cs.closed.IsZero() {
			c := t.line(cs.key)
			c.Handled++
			talk, wrap := cs.closed.Sub(cs.answered), max(e.At.Sub(cs.closed), 0)
			c.TalkTime += talk
			c.WrapUpTime += wrap
			c.HandleTime += talk + wrap
		}
		delete(t.contacts, e.ContactID)
	case "abandoned":
		if cs != nil && cs.answered.IsZero() {
			p := t.policy(cs.key.QueueID)
			wait := e.At.Sub(cs.arrived)
			c := t.line(cs.key)
			switch {
			case wait < p.ShortAbandon:
				c.ShortAbandons++
			default:
				c.Abandoned++
				if wait <= p.SLA {
					c.AbandonedWithin++
				}
			}
		}
		delete(t.contacts, e.ContactID)
	}
}

func (t *Tally) answer(cs *contactState, at time.Time) {
	if !cs.answered.IsZero() {
		return
	}
	cs.answered = at
	wait := at.Sub(cs.arrived)
	c := t.line(cs.key)
	c.Answered++
	c.WaitAnswered += wait
	if wait <= t.policy(cs.key.QueueID).SLA {
		c.AnsweredWithin++
	}
}

// Counts returns the figures of one queue and channel.
func (t *Tally) Counts(k Key) Counts {
	if c := t.counts[k]; c != nil {
		return *c
	}
	return Counts{}
}

// Queue sums a queue's figures over all channels.
func (t *Tally) Queue(queue uuid.UUID) Counts {
	var sum Counts
	for k, c := range t.counts {
		if k.QueueID == queue {
			sum.Offered += c.Offered
			sum.Answered += c.Answered
			sum.AnsweredWithin += c.AnsweredWithin
			sum.Abandoned += c.Abandoned
			sum.AbandonedWithin += c.AbandonedWithin
			sum.ShortAbandons += c.ShortAbandons
			sum.WaitAnswered += c.WaitAnswered
			sum.Handled += c.Handled
			sum.HandleTime += c.HandleTime
			sum.TalkTime += c.TalkTime
			sum.HoldTime += c.HoldTime
			sum.WrapUpTime += c.WrapUpTime
			sum.TransferredIn += c.TransferredIn
			sum.TransferredOut += c.TransferredOut
		}
	}
	return sum
}
