package stats

import (
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestHandComputedDay replays a small morning whose figures were worked out
// by hand: five chats and an e-mail in one queue, SLA 20 s, short abandons
// under 5 s.
func TestHandComputedDay(t *testing.T) {
	q := uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second, ShortAbandon: 5 * time.Second} })
	c := [6]uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	for _, e := range []Event{
		// c0: answered after 10 s, closed 120 s later.
		{Kind: "created", ContactID: c[0], QueueID: q, Channel: org.Chat, At: at(0)},
		{Kind: "assigned", ContactID: c[0], At: at(10)},
		{Kind: "closed", ContactID: c[0], At: at(130)},
		{Kind: "wrap_up_ended", ContactID: c[0], At: at(130)}, // a queue without wrap-up time
		// c1: answered after 30 s (late), closed after 60 s.
		{Kind: "created", ContactID: c[1], QueueID: q, Channel: org.Chat, At: at(5)},
		{Kind: "assigned", ContactID: c[1], At: at(35)},
		{Kind: "closed", ContactID: c[1], At: at(95)},
		{Kind: "wrap_up_ended", ContactID: c[1], At: at(95)},
		// c2: abandoned after 3 s: short, not counted against the queue.
		{Kind: "created", ContactID: c[2], QueueID: q, Channel: org.Chat, At: at(40)},
		{Kind: "abandoned", ContactID: c[2], At: at(43)},
		// c3: abandoned after 15 s: within the threshold.
		{Kind: "created", ContactID: c[3], QueueID: q, Channel: org.Chat, At: at(50)},
		{Kind: "abandoned", ContactID: c[3], At: at(65)},
		// c4: abandoned after 60 s.
		{Kind: "created", ContactID: c[4], QueueID: q, Channel: org.Chat, At: at(60)},
		{Kind: "abandoned", ContactID: c[4], At: at(120)},
		// c5: an e-mail: assignment is not an answer, the first reply is.
		{Kind: "created", ContactID: c[5], QueueID: q, Channel: org.Email, At: at(0)},
		{Kind: "assigned", ContactID: c[5], At: at(5)},
		{Kind: "message_out", ContactID: c[5], At: at(600)},
		{Kind: "message_out", ContactID: c[5], At: at(700)},
	} {
		tally.Add(e)
	}
	chat := tally.Counts(Key{q, org.Chat})
	want := Counts{Offered: 5, Answered: 2, AnsweredWithin: 1, Abandoned: 2, AbandonedWithin: 1, ShortAbandons: 1,
		WaitAnswered: 40 * time.Second, Handled: 2, HandleTime: 180 * time.Second, TalkTime: 180 * time.Second}
	if chat != want {
		t.Errorf("chat counts = %+v\nwant %+v", chat, want)
	}
	if got := chat.ASA(); got != 20*time.Second {
		t.Errorf("ASA = %v, want 20s", got)
	}
	if got := chat.AHT(); got != 90*time.Second {
		t.Errorf("AHT = %v, want 90s", got)
	}
	for def, wantSL := range map[Definition]float64{OfAnswered: 0.5, OfOffered: 0.25, AbandonsWithinMet: 0.5} {
		if got, ok := chat.ServiceLevel(def); !ok || math.Abs(got-wantSL) > 1e-9 {
			t.Errorf("ServiceLevel(%s) = %v, want %v", def, got, wantSL)
		}
	}
	if got, _ := chat.AbandonRate(); got != 0.5 {
		t.Errorf("AbandonRate = %v, want 0.5", got)
	}
	mail := tally.Counts(Key{q, org.Email})
	if mail.Answered != 1 || mail.WaitAnswered != 600*time.Second || mail.AnsweredWithin != 0 {
		t.Errorf("e-mail counts = %+v, want answered once, at the first reply (600 s, late)", mail)
	}
	if all := tally.Queue(q); all.Offered != 6 || all.Answered != 3 {
		t.Errorf("queue total = %+v, want 6 offered, 3 answered", all)
	}
	if _, ok := (Counts{}).ServiceLevel(OfAnswered); ok {
		t.Error("a service level with nothing answered should be reported as not available")
	}
}

func TestTransferCountsOnBothQueues(t *testing.T) {
	from, to, c := uuid.New(), uuid.New(), uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second} })
	for _, e := range []Event{
		{Kind: "created", ContactID: c, QueueID: from, Channel: org.Chat, At: at(0)},
		{Kind: "assigned", ContactID: c, At: at(5)},
		{Kind: "transferred_out", ContactID: c, QueueID: from, At: at(65)},
		{Kind: "transferred_in", ContactID: c, QueueID: to, At: at(65)},
		{Kind: "assigned", ContactID: c, At: at(95)},
		{Kind: "closed", ContactID: c, At: at(155)},
		{Kind: "wrap_up_ended", ContactID: c, At: at(155)},
	} {
		tally.Add(e)
	}
	a, b := tally.Queue(from), tally.Queue(to)
	if a.Offered != 1 || a.Answered != 1 || a.TransferredOut != 1 || a.Handled != 1 || a.HandleTime != 60*time.Second {
		t.Errorf("from-queue = %+v, want offered, answered, 60 s handled, transferred out", a)
	}
	if b.Offered != 0 || b.TransferredIn != 1 || b.Answered != 1 || b.AnsweredWithin != 0 || b.WaitAnswered != 30*time.Second || b.HandleTime != 60*time.Second {
		t.Errorf("to-queue = %+v, want transferred in, answered 30 s after the transfer (late), 60 s handled", b)
	}
}

// TestCallAnsweredWhenTheAgentsPhonePicksUp: a connector's call counts as
// answered when the agent's leg answers, not when the agent accepts in the
// console; the ring in between is still waiting for the caller. A callback
// (a voice contact without a connector call) answers at the accept.
func TestCallAnsweredWhenTheAgentsPhonePicksUp(t *testing.T) {
	q := uuid.New()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tally := NewTally(func(uuid.UUID) Policy { return Policy{SLA: 20 * time.Second, ShortAbandon: 5 * time.Second} })
	call, callback := uuid.New(), uuid.New()
	for _, e := range []Event{
		// Accepted after 15 s, the phone answered after 25 s: late.
		{Kind: "created", ContactID: call, QueueID: q, Channel: org.Voice, Call: true, At: at(0)},
		{Kind: "assigned", ContactID: call, At: at(15)},
		{Kind: "call_answered", ContactID: call, At: at(25)},
		{Kind: "closed", ContactID: call, At: at(85)},
		{Kind: "wrap_up_ended", ContactID: call, At: at(95)},
		// A callback: answered at the accept, after 10 s.
		{Kind: "created", ContactID: callback, QueueID: q, Channel: org.Voice, At: at(0)},
		{Kind: "assigned", ContactID: callback, At: at(10)},
	} {
		tally.Add(e)
	}
	got := tally.Counts(Key{q, org.Voice})
	want := Counts{Offered: 2, Answered: 2, AnsweredWithin: 1, WaitAnswered: 35 * time.Second,
		Handled: 1, TalkTime: 60 * time.Second, WrapUpTime: 10 * time.Second, HandleTime: 70 * time.Second}
	if got != want {
		t.Errorf("voice counts = %+v\nwant %+v", got, want)
	}
}
