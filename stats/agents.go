package stats

import (
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// AgentCounts are one agent's figures over a period.
type AgentCounts struct {
	Accepted int // contacts assigned to the agent (the fewest-today strategy counts these)
	Handled  int // contacts whose wrap-up ended, or that were transferred or requeued away
	// Staffed is the time the agent was available or had work in hand
	// (talk, hold or wrap-up, also while set away with a contact open).
	Staffed time.Duration
	// Handling is the time the agent had at least one contact in hand.
	// Concurrent chats count once: it is wall-clock time, so occupancy
	// never passes 100%.
	Handling time.Duration
}

// Occupancy is handling time / staffed time, and false while the agent
// has not been staffed at all.
func (a AgentCounts) Occupancy() (float64, bool) {
	if a.Staffed <= 0 {
		return 0, false
	}
	return float64(a.Handling) / float64(a.Staffed), true
}

// agentClock accumulates one agent's time. Presence changes and contact
// events come from two feeds whose times interleave only roughly; a change
// dated before the last one applies from the last one instead, so no span
// is ever counted twice or negatively.
type agentClock struct {
	counts    AgentCounts
	available bool
	held      map[uuid.UUID]struct{}
	last      time.Time // counted up to here
}

func (c *agentClock) spans(to time.Time) (staffed, handling time.Duration) {
	if c.last.IsZero() || !to.After(c.last) {
		return 0, 0
	}
	d := to.Sub(c.last)
	switch {
	case len(c.held) > 0:
		return d, d
	case c.available:
		return d, 0
	}
	return 0, 0
}

func (c *agentClock) advance(to time.Time) {
	s, h := c.spans(to)
	c.counts.Staffed += s
	c.counts.Handling += h
	if to.After(c.last) {
		c.last = to
	}
}

func (t *Tally) clock(agent uuid.UUID) *agentClock {
	c := t.agents[agent]
	if c == nil {
		c = &agentClock{held: map[uuid.UUID]struct{}{}}
		t.agents[agent] = c
	}
	return c
}

// agentEvent applies the agent's side of a contact event: an assignment
// puts the contact in their hands; the end of its wrap-up, a transfer or a
// requeue takes it out, and so does setting an e-mail thread pending (it
// waits for the customer, held by nobody). A close does not: the agent
// still wraps up.
func (t *Tally) agentEvent(e Event) {
	switch e.Kind {
	case "assigned":
		if e.AgentID == uuid.Nil {
			return
		}
		c := t.clock(e.AgentID)
		c.advance(e.At)
		c.held[e.ContactID] = struct{}{}
		c.counts.Accepted++
		t.holder[e.ContactID] = e.AgentID
	case "wrap_up_ended", "transferred_out", "requeued", "abandoned", "pending":
		agent, ok := t.holder[e.ContactID]
		if !ok {
			return
		}
		delete(t.holder, e.ContactID)
		c := t.clock(agent)
		c.advance(e.At)
		delete(c.held, e.ContactID)
		if e.Kind != "abandoned" {
			c.counts.Handled++
		}
	}
}

// Presence records an agent's chosen presence from at on. Only available
// counts as staffed by itself; work in hand counts whatever the presence.
func (t *Tally) Presence(agent uuid.UUID, p org.Presence, at time.Time) {
	c := t.clock(agent)
	c.advance(at)
	c.available = p == org.Available
}

// Agent returns an agent's figures up to now (the span since the last
// change is counted as it stands).
func (t *Tally) Agent(agent uuid.UUID, now time.Time) AgentCounts {
	c := t.agents[agent]
	if c == nil {
		return AgentCounts{}
	}
	out := c.counts
	s, h := c.spans(now)
	out.Staffed += s
	out.Handling += h
	return out
}

// Agents lists the agents the tally has seen.
func (t *Tally) Agents() []uuid.UUID {
	out := make([]uuid.UUID, 0, len(t.agents))
	for id := range t.agents {
		out = append(out, id)
	}
	return out
}
