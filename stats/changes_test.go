package stats

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestApplyAddsUpToTheTally: the changes Apply returns sum, per line, to
// exactly what the tally counts, and each is filed under the arrival and
// agent of the contact it is about (a transfer's target line under the
// transfer's time).
func TestApplyAddsUpToTheTally(t *testing.T) {
	q1, q2 := uuid.New(), uuid.New()
	agent, other := uuid.New(), uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second, ShortAbandon: 5 * time.Second} })
	c := [4]uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	events := []Event{
		{Kind: "created", ContactID: c[0], QueueID: q1, Channel: org.Chat, At: at(0)},
		{Kind: "assigned", ContactID: c[0], QueueID: q1, AgentID: agent, At: at(10)},
		{Kind: "transferred_out", ContactID: c[0], QueueID: q1, At: at(70)},
		{Kind: "transferred_in", ContactID: c[0], QueueID: q2, At: at(70)},
		{Kind: "assigned", ContactID: c[0], QueueID: q2, AgentID: other, At: at(100)},
		{Kind: "closed", ContactID: c[0], QueueID: q2, At: at(160)},
		{Kind: "wrap_up_ended", ContactID: c[0], QueueID: q2, At: at(170)},
		{Kind: "created", ContactID: c[1], QueueID: q1, Channel: org.Voice, Call: true, At: at(5)},
		{Kind: "assigned", ContactID: c[1], QueueID: q1, AgentID: agent, At: at(8)},
		{Kind: "call_answered", ContactID: c[1], QueueID: q1, AgentID: agent, At: at(12)},
		{Kind: "closed", ContactID: c[1], QueueID: q1, At: at(200)},
		{Kind: "wrap_up_ended", ContactID: c[1], QueueID: q1, At: at(230)},
		{Kind: "created", ContactID: c[2], QueueID: q1, Channel: org.Chat, At: at(20)},
		{Kind: "abandoned", ContactID: c[2], QueueID: q1, At: at(50)},
		{Kind: "created", ContactID: c[3], QueueID: q1, Channel: org.Chat, At: at(30)},
		{Kind: "abandoned", ContactID: c[3], QueueID: q1, At: at(31)},
	}
	sum := map[Key]Counts{}
	type filed struct {
		key     Key
		arrived time.Time
		agent   uuid.UUID
	}
	got := map[filed]Counts{}
	for _, e := range events {
		for _, ch := range tally.Apply(e) {
			sum[ch.Key] = sum[ch.Key].Plus(ch.Delta)
			f := filed{ch.Key, ch.Arrived, ch.AgentID}
			got[f] = got[f].Plus(ch.Delta)
		}
	}
	for _, k := range []Key{{q1, org.Chat}, {q2, org.Chat}, {q1, org.Voice}} {
		if sum[k] != tally.Counts(k) {
			t.Errorf("changes of %v sum to %+v, tally has %+v", k, sum[k], tally.Counts(k))
		}
	}
	want := map[filed]Counts{
		{Key{q1, org.Chat}, at(0), uuid.Nil}: {Offered: 1},
		{Key{q1, org.Chat}, at(0), agent}: {Answered: 1, AnsweredWithin: 1, WaitAnswered: 10 * time.Second,
			TransferredOut: 1, Handled: 1, TalkTime: 60 * time.Second, HandleTime: 60 * time.Second},
		{Key{q2, org.Chat}, at(70), uuid.Nil}: {TransferredIn: 1},
		{Key{q2, org.Chat}, at(70), other}: {Answered: 0 + 1, WaitAnswered: 30 * time.Second, Handled: 1,
			TalkTime: 60 * time.Second, WrapUpTime: 10 * time.Second, HandleTime: 70 * time.Second},
		{Key{q1, org.Voice}, at(5), uuid.Nil}: {Offered: 1},
		{Key{q1, org.Voice}, at(5), agent}: {Answered: 1, AnsweredWithin: 1, WaitAnswered: 7 * time.Second, Handled: 1,
			TalkTime: 188 * time.Second, WrapUpTime: 30 * time.Second, HandleTime: 218 * time.Second},
		{Key{q1, org.Chat}, at(20), uuid.Nil}: {Offered: 1, Abandoned: 1},
		{Key{q1, org.Chat}, at(30), uuid.Nil}: {Offered: 1, ShortAbandons: 1},
	}
	for f, w := range want {
		if got[f] != w {
			t.Errorf("filed under %v at %v by %v: %+v, want %+v", f.key, f.arrived.Sub(t0), f.agent, got[f], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d filings, want %d: %+v", len(got), len(want), got)
	}
	for _, id := range c {
		if tally.Tracks(id) {
			t.Errorf("Tracks(%v) after its last event = true", id)
		}
	}
}

// TestTracksOpenContacts: a contact is tracked from its arrival until its
// wrap-up ends, including an e-mail closed unanswered whose agent still
// wraps up.
func TestTracksOpenContacts(t *testing.T) {
	q, agent, c := uuid.New(), uuid.New(), uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second} })
	steps := []struct {
		e    Event
		want bool
	}{
		{Event{Kind: "created", ContactID: c, QueueID: q, Channel: org.Email, At: t0}, true},
		{Event{Kind: "assigned", ContactID: c, QueueID: q, AgentID: agent, At: t0.Add(time.Minute)}, true},
		{Event{Kind: "closed", ContactID: c, QueueID: q, At: t0.Add(2 * time.Minute)}, true},
		{Event{Kind: "wrap_up_ended", ContactID: c, QueueID: q, At: t0.Add(3 * time.Minute)}, false},
	}
	for _, s := range steps {
		tally.Apply(s.e)
		if got := tally.Tracks(c); got != s.want {
			t.Errorf("Tracks after %s = %v, want %v", s.e.Kind, got, s.want)
		}
	}
}
