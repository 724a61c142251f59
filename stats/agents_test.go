package stats

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestWrapUpInAHTAndOccupancy replays a morning worked out by hand: two
// agents, three chats in one queue, wrap-ups, an overlapping second chat
// and a lunch break taken with a chat still open.
//
//	agent A: available from 0 s; away 300–400 s; figures at 500 s.
//	  c1 assigned 10, closed 130, wrap-up ended 160 (talk 120, wrap-up 30)
//	  c2 assigned 140, closed 200, wrap-up ended 210 (talk 60, wrap-up 10),
//	     taken during c1's wrap-up
//	  in hand 10–210 = 200 s; staffed 0–300 and 400–500 = 400 s → 50%
//	agent B: available from 0 s; away (lunch) at 50 s with c3 open.
//	  c3 assigned 5, closed 85, wrap-up ended 115 (talk 80, wrap-up 30)
//	  in hand 5–115 = 110 s; staffed 0–115 = 115 s → 110/115
//
// Queue: handled 3, talk 260 s, wrap-up 70 s, AHT (150+70+110)/3 = 110 s.
func TestWrapUpInAHTAndOccupancy(t *testing.T) {
	q, a, b := uuid.New(), uuid.New(), uuid.New()
	c1, c2, c3 := uuid.New(), uuid.New(), uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second} })
	tally.Presence(a, org.Available, at(0))
	tally.Presence(b, org.Available, at(0))
	for _, e := range []Event{
		{Kind: "created", ContactID: c1, QueueID: q, Channel: org.Chat, At: at(0)},
		{Kind: "created", ContactID: c3, QueueID: q, Channel: org.Chat, At: at(0)},
		{Kind: "assigned", ContactID: c3, AgentID: b, At: at(5)},
		{Kind: "assigned", ContactID: c1, AgentID: a, At: at(10)},
		{Kind: "closed", ContactID: c3, AgentID: b, At: at(85)},
		{Kind: "created", ContactID: c2, QueueID: q, Channel: org.Chat, At: at(100)},
		{Kind: "wrap_up_ended", ContactID: c3, AgentID: b, At: at(115)},
		{Kind: "closed", ContactID: c1, AgentID: a, At: at(130)},
		{Kind: "assigned", ContactID: c2, AgentID: a, At: at(140)},
		{Kind: "wrap_up_ended", ContactID: c1, AgentID: a, At: at(160)},
		{Kind: "closed", ContactID: c2, AgentID: a, At: at(200)},
		{Kind: "wrap_up_ended", ContactID: c2, AgentID: a, At: at(210)},
	} {
		if e.Kind == "closed" && e.ContactID == c3 {
			tally.Presence(b, org.Away, at(50)) // the presence feed, read before this event
		}
		tally.Add(e)
	}
	tally.Presence(a, org.Away, at(300))
	tally.Presence(a, org.Available, at(400))

	got := tally.Queue(q)
	if got.Handled != 3 || got.TalkTime != 260*time.Second || got.WrapUpTime != 70*time.Second || got.HoldTime != 0 ||
		got.HandleTime != 330*time.Second {
		t.Errorf("queue = %+v, want 3 handled, talk 260 s, wrap-up 70 s, handling 330 s", got)
	}
	if aht := got.AHT(); aht != 110*time.Second {
		t.Errorf("AHT = %v, want 110s (talk + hold + wrap-up)", aht)
	}
	for _, tc := range []struct {
		name  string
		agent uuid.UUID
		want  AgentCounts
		occ   float64
	}{
		{"A", a, AgentCounts{Accepted: 2, Handled: 2, Staffed: 400 * time.Second, Handling: 200 * time.Second}, 0.5},
		{"B", b, AgentCounts{Accepted: 1, Handled: 1, Staffed: 115 * time.Second, Handling: 110 * time.Second}, 110.0 / 115},
	} {
		got := tally.Agent(tc.agent, at(500))
		if got != tc.want {
			t.Errorf("Agent(%s) = %+v, want %+v", tc.name, got, tc.want)
		}
		if occ, ok := got.Occupancy(); !ok || occ != tc.occ {
			t.Errorf("Agent(%s).Occupancy() = %v, %v; want %v", tc.name, occ, ok, tc.occ)
		}
	}
	if _, ok := tally.Agent(uuid.New(), at(500)).Occupancy(); ok {
		t.Error("an agent never staffed has an occupancy; want none")
	}
}

// TestContactInWrapUpIsNotYetHandled: until its wrap-up ends a closed
// contact is not in AHT, and its agent is still handling.
func TestContactInWrapUpIsNotYetHandled(t *testing.T) {
	q, a, c := uuid.New(), uuid.New(), uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second} })
	tally.Presence(a, org.Available, at(0))
	for _, e := range []Event{
		{Kind: "created", ContactID: c, QueueID: q, Channel: org.Chat, At: at(0)},
		{Kind: "assigned", ContactID: c, AgentID: a, At: at(20)},
		{Kind: "closed", ContactID: c, AgentID: a, At: at(80)},
	} {
		tally.Add(e)
	}
	if got := tally.Queue(q); got.Handled != 0 || got.AHT() != 0 {
		t.Errorf("queue = %+v, want nothing handled during the wrap-up", got)
	}
	if got := tally.Agent(a, at(100)); got.Handling != 80*time.Second || got.Staffed != 100*time.Second {
		t.Errorf("Agent = %+v, want 80 s handling of 100 s staffed", got)
	}
}
