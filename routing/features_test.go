package routing

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

func (f *fixture) voiceAgent(name string) uuid.UUID {
	id := f.id()
	f.e.SetAgent(Agent{ID: id, Name: name, Capacity: map[org.Channel]int{org.Voice: 1, org.Chat: 2}})
	f.e.SetPresence(id, org.Available, true)
	return id
}

func (f *fixture) call(q org.Queue, age time.Duration) Task {
	t := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Voice, ArrivedAt: f.now.Add(-age)}
	f.e.Enqueue(t)
	return t
}

func agentsOf(os []Offer) []uuid.UUID {
	var ids []uuid.UUID
	for _, o := range os {
		ids = append(ids, o.AgentID)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

func sorted(ids ...uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

func TestRingAllRingsEveryFreeAgentAndTheFirstAcceptWins(t *testing.T) {
	f := newFixture()
	q := org.Queue{ID: f.id(), Name: "Hotline", Strategy: RingAll, OfferTimeout: 20 * time.Second}
	f.e.SetQueue(q)
	a, b, c := f.voiceAgent("a"), f.voiceAgent("b"), f.voiceAgent("c")
	call := f.call(q, 0)
	offers := f.e.Dispatch()
	if got, want := agentsOf(offers), sorted(a, b, c); !slices.Equal(got, want) {
		t.Fatalf("Dispatch() rang %v, want all three free agents %v", got, want)
	}
	for _, o := range offers {
		if o.Task.ContactID != call.ContactID || o.Reason != "ringing every free agent in Hotline" {
			t.Errorf("offer %+v: want the call, with the ring-all reason", o)
		}
	}
	// b hangs up on the ring: a and c keep ringing, and b is not rung again.
	var ofB, ofC Offer
	for _, o := range offers {
		switch o.AgentID {
		case b:
			ofB = o
		case c:
			ofC = o
		}
	}
	if _, err := f.e.Reject(b, ofB.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Errorf("Dispatch() after one reject = %v, want nothing new: the call still rings a and c", got)
	}
	if f.e.Waiting(call.ContactID) {
		t.Error("Waiting() = true while two agents still ring")
	}
	// c answers first: a's ring ends and is reported once.
	if _, err := f.e.Accept(c, ofC.ID); err != nil {
		t.Fatal(err)
	}
	sup := f.e.TakeSuperseded()
	if len(sup) != 1 || sup[0].AgentID != a {
		t.Fatalf("TakeSuperseded() = %v, want a's ring only", sup)
	}
	if again := f.e.TakeSuperseded(); len(again) != 0 {
		t.Errorf("TakeSuperseded() twice returned %v", again)
	}
	if len(f.e.OffersFor(a)) != 0 || f.e.agents[a].free(org.Voice) != 1 {
		t.Error("a's voice slot is still held after c answered")
	}
	if _, err := f.e.Accept(a, sup[0].ID); err == nil {
		t.Error("a late accept of a superseded ring succeeded; exactly one accept must win")
	}
	if got := f.e.AssignedTo(c, org.Voice); len(got) != 1 || got[0] != call.ContactID {
		t.Errorf("AssignedTo(c) = %v, want the call", got)
	}
}

func TestRingAllCallThatNobodyAnswersWaitsAgain(t *testing.T) {
	f := newFixture()
	q := org.Queue{ID: f.id(), Name: "Hotline", Strategy: RingAll, OfferTimeout: 20 * time.Second}
	f.e.SetQueue(q)
	f.voiceAgent("a")
	f.voiceAgent("b")
	call := f.call(q, 0)
	if got := f.e.Dispatch(); len(got) != 2 {
		t.Fatalf("Dispatch() = %v, want two rings", got)
	}
	f.tick(20 * time.Second)
	if got := f.e.Expire(); len(got) != 2 {
		t.Fatalf("Expire() = %v, want both rings", got)
	}
	if !f.e.Waiting(call.ContactID) {
		t.Error("the unanswered call does not wait again")
	}
	// Chats of a ring-all queue go to one agent.
	chat := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now}
	f.e.Enqueue(chat)
	got := f.e.Dispatch()
	var chats int
	for _, o := range got {
		if o.Task.ContactID == chat.ContactID {
			chats++
		}
	}
	if chats != 1 {
		t.Errorf("a chat in a ring-all queue got %d offers, want 1", chats)
	}
}

func TestPriorityAgeingLetsOldLowPriorityContactsThrough(t *testing.T) {
	for _, tc := range []struct {
		name      string
		step      time.Duration
		max       int
		wantFirst string
	}{
		{"no ageing: priority wins", 0, 0, "urgent"},
		// 60 s at one step per 10 s is +6 > 3: the old contact goes first.
		{"ageing overtakes", 10 * time.Second, 0, "old"},
		// Capped at +2, it stays behind priority 3.
		{"capped ageing", 10 * time.Second, 2, "urgent"},
		// +3 ties priority 3: the older wins the tie.
		{"ageing ties, age decides", 20 * time.Second, 0, "old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			q := org.Queue{ID: f.id(), Name: "Sales", OfferTimeout: 20 * time.Second, AgeingStep: tc.step, AgeingMax: tc.max}
			f.e.SetQueue(q)
			old := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now.Add(-60 * time.Second)}
			urgent := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now, Priority: 3}
			mid := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now.Add(-time.Second), Priority: 1}
			f.e.Enqueue(urgent)
			f.e.Enqueue(old)
			f.e.Enqueue(mid)
			f.agent("only", nil, 1)
			got := f.e.Dispatch()
			names := map[uuid.UUID]string{old.ContactID: "old", urgent.ContactID: "urgent", mid.ContactID: "mid"}
			if len(got) != 1 || names[got[0].Task.ContactID] != tc.wantFirst {
				t.Fatalf("Dispatch() = %v, want %s first", got, tc.wantFirst)
			}
		})
	}
}

func TestAgeingAcrossQueues(t *testing.T) {
	f := newFixture()
	vip := org.Queue{ID: f.id(), Name: "VIP", Priority: 5, OfferTimeout: 20 * time.Second}
	parts := org.Queue{ID: f.id(), Name: "Parts", OfferTimeout: 20 * time.Second, AgeingStep: 30 * time.Second}
	f.e.SetQueue(vip)
	f.e.SetQueue(parts)
	fresh := Task{ContactID: f.id(), QueueID: vip.ID, Channel: org.Chat, ArrivedAt: f.now}
	starving := Task{ContactID: f.id(), QueueID: parts.ID, Channel: org.Chat, ArrivedAt: f.now.Add(-4 * time.Minute)}
	f.e.Enqueue(fresh)
	f.e.Enqueue(starving)
	f.agent("only", nil, 1)
	// Four minutes at +1 per 30 s is +8 > VIP's 5.
	if got := f.e.Dispatch(); len(got) != 1 || got[0].Task.ContactID != starving.ContactID {
		t.Fatalf("Dispatch() = %v, want the starving Parts contact ahead of the fresh VIP one", got)
	}
}

func TestWidenedSkillsAfterWaiting(t *testing.T) {
	f := newFixture()
	q := org.Queue{ID: f.id(), Name: "Warranty", Skills: map[string]int{"warranty": 5}, OfferTimeout: 20 * time.Second,
		WidenAfter: 45 * time.Second, WidenedSkills: map[string]int{"warranty": 2}}
	f.e.SetQueue(q)
	junior := f.agent("junior", map[string]int{"warranty": 3}, 1)
	tk := f.task(q, 0)
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Fatalf("Dispatch() = %v, want nothing: nobody has warranty 5", got)
	}
	f.tick(44 * time.Second)
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Fatalf("Dispatch() at 44 s = %v, want still nothing", got)
	}
	f.tick(time.Second)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != junior || got[0].Task.ContactID != tk.ContactID {
		t.Fatalf("Dispatch() at 45 s = %v, want the junior agent under the widened skills", got)
	}
}

func TestOverflowAfterMaxWaitKeepsTheAgeAndNeverBounces(t *testing.T) {
	f := newFixture()
	a := org.Queue{ID: f.id(), Name: "Sales Shanghai", Skills: map[string]int{"sh": 1}, OfferTimeout: 20 * time.Second, MaxWait: time.Minute}
	b := org.Queue{ID: f.id(), Name: "Sales group", Skills: map[string]int{"group": 1}, OfferTimeout: 20 * time.Second, MaxWait: time.Minute}
	a.OverflowQueueID, b.OverflowQueueID = b.ID, a.ID // each the other's overflow
	f.e.SetQueue(a)
	f.e.SetQueue(b)
	tk := f.task(a, 0)
	f.tick(59 * time.Second)
	f.e.Overflow()
	if m := f.e.TakeMoves(); len(m) != 0 {
		t.Fatalf("TakeMoves() at 59 s = %v, want none", m)
	}
	f.tick(time.Second)
	f.e.Overflow()
	moves := f.e.TakeMoves()
	if len(moves) != 1 || moves[0] != (Move{ContactID: tk.ContactID, From: a.ID, To: b.ID, Reason: MoveMaxWait}) {
		t.Fatalf("TakeMoves() = %v, want one max-wait move from A to B", moves)
	}
	// Still unserved in B past its own maximum: it does not go back to A.
	f.tick(2 * time.Minute)
	f.e.Overflow()
	if m := f.e.TakeMoves(); len(m) != 0 {
		t.Fatalf("TakeMoves() = %v, want no bounce back to the queue it came from", m)
	}
	ag := f.agent("group agent", map[string]int{"group": 1}, 1)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != ag || got[0].Task.QueueID != b.ID || !got[0].Task.ArrivedAt.Equal(tk.ArrivedAt) {
		t.Fatalf("Dispatch() = %v, want the overflow queue's agent, with the original arrival %v", got, tk.ArrivedAt)
	}
	// An offered contact does not overflow under its agent's feet.
	t2 := f.task(a, 2*time.Minute)
	f.agent("sh agent", map[string]int{"sh": 1}, 1)
	if got := f.e.Dispatch(); len(got) != 1 || got[0].Task.ContactID != t2.ContactID {
		t.Fatalf("Dispatch() = %v, want the second contact offered in A", got)
	}
	f.e.Overflow()
	if m := f.e.TakeMoves(); len(m) != 0 {
		t.Errorf("TakeMoves() = %v, want an offered contact left alone", m)
	}
}

func TestMaxLength(t *testing.T) {
	f := newFixture()
	spill := org.Queue{ID: f.id(), Name: "Spill", OfferTimeout: 20 * time.Second}
	full := org.Queue{ID: f.id(), Name: "Small", OfferTimeout: 20 * time.Second, MaxLength: 2, OverflowQueueID: spill.ID}
	alone := org.Queue{ID: f.id(), Name: "Alone", OfferTimeout: 20 * time.Second, MaxLength: 1,
		ClosedAction: org.ActionCallback}
	f.e.SetQueue(spill)
	f.e.SetQueue(full)
	f.e.SetQueue(alone)
	f.task(full, 0)
	f.task(full, 0)
	third := f.task(full, 0)
	moves := f.e.TakeMoves()
	if len(moves) != 1 || moves[0] != (Move{ContactID: third.ContactID, From: full.ID, To: spill.ID, Reason: MoveFull}) {
		t.Fatalf("TakeMoves() = %v, want the third arrival sent to the overflow queue", moves)
	}
	f.task(alone, 0)
	second := f.task(alone, 0)
	closed := f.e.TakeClosed()
	if len(closed) != 1 || closed[0].Task.ContactID != second.ContactID || closed[0].Reason != ClosedFull || closed[0].Action != org.ActionCallback {
		t.Fatalf("TakeClosed() = %+v, want the second arrival at the full queue, for its callback", closed)
	}
	// Nothing is dropped: the contact waits until the caller acts.
	if !f.e.Waiting(second.ContactID) {
		t.Error("a contact that met a full queue was dropped")
	}
	if f.e.Enqueue(Task{ContactID: second.ContactID, QueueID: alone.ID, Channel: org.Chat, ArrivedAt: f.now}) {
		t.Error("Enqueue of a waiting contact reported it new")
	}
	if c := f.e.TakeClosed(); len(c) != 0 {
		t.Errorf("a repeated Enqueue reported the closed action again: %v", c)
	}
}

func TestClosedQueueWaitsForItsOpening(t *testing.T) {
	nineToSix := []org.Span{{Start: 9 * 60, End: 18 * 60}}
	cal := &org.Calendar{Zone: "Asia/Shanghai",
		Weekly: map[time.Weekday][]org.Span{time.Monday: nineToSix, time.Tuesday: nineToSix, time.Wednesday: nineToSix,
			time.Thursday: nineToSix, time.Friday: nineToSix,
			// Saturday's evening line runs past midnight into Sunday.
			time.Saturday: {{Start: 20 * 60, End: 1 * 60}}},
		Exceptions: []org.Exception{{Date: "2026-10-11", Spans: nineToSix}}, // a make-up working Sunday
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	for _, tc := range []struct {
		name     string
		arrive   time.Time
		wantOpen bool
		nextOpen time.Time
	}{
		{"Monday 08:00, before opening", time.Date(2026, 11, 23, 8, 0, 0, 0, sh), false, time.Date(2026, 11, 23, 9, 0, 0, 0, sh)},
		{"Monday 10:00", time.Date(2026, 11, 23, 10, 0, 0, 0, sh), true, time.Time{}},
		{"Saturday 23:59, evening line", time.Date(2026, 11, 28, 23, 59, 0, 0, sh), true, time.Time{}},
		{"Sunday 00:30, past local midnight, still the Saturday line", time.Date(2026, 11, 29, 0, 30, 0, 0, sh), true, time.Time{}},
		{"Sunday 01:00, the line closed", time.Date(2026, 11, 29, 1, 0, 0, 0, sh), false, time.Date(2026, 11, 30, 9, 0, 0, 0, sh)},
		{"make-up working Sunday", time.Date(2026, 10, 11, 11, 0, 0, 0, sh), true, time.Time{}},
		{"the Sunday before it, closed", time.Date(2026, 10, 4, 11, 0, 0, 0, sh), false, time.Date(2026, 10, 5, 9, 0, 0, 0, sh)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			f.now = tc.arrive
			q := org.Queue{ID: f.id(), Name: "Service", OfferTimeout: 20 * time.Second, Calendar: cal,
				ClosedAction: org.ActionMessage, ClosedMessage: "We open at 9."}
			f.e.SetQueue(q)
			f.agent("advisor", nil, 1)
			tk := f.task(q, 0)
			closed := f.e.TakeClosed()
			got := f.e.Dispatch()
			if tc.wantOpen {
				if len(closed) != 0 || len(got) != 1 {
					t.Fatalf("open queue: TakeClosed() = %v, Dispatch() = %v; want no closed action and an offer", closed, got)
				}
				return
			}
			if len(closed) != 1 || closed[0].Reason != ClosedHours || closed[0].Action != org.ActionMessage ||
				closed[0].Message != "We open at 9." || !closed[0].NextOpen.Equal(tc.nextOpen) {
				t.Fatalf("TakeClosed() = %+v, want the message action with the next opening %v", closed, tc.nextOpen)
			}
			if len(got) != 0 {
				t.Fatalf("Dispatch() = %v while closed, want nothing", got)
			}
			f.now = tc.nextOpen.Add(-time.Minute)
			if got := f.e.Dispatch(); len(got) != 0 {
				t.Fatalf("Dispatch() a minute before opening = %v, want nothing", got)
			}
			f.now = tc.nextOpen
			if got := f.e.Dispatch(); len(got) != 1 || got[0].Task.ContactID != tk.ContactID {
				t.Fatalf("Dispatch() at the opening = %v, want the waiting contact", got)
			}
		})
	}
}

func TestALiveCallBlocksNewChatsWhenTheAgentSaysSo(t *testing.T) {
	for _, blocks := range []bool{true, false} {
		f := newFixture()
		q := f.queue("Enquiries", nil)
		id := f.id()
		f.e.SetAgent(Agent{ID: id, Name: "a", Capacity: map[org.Channel]int{org.Voice: 1, org.Chat: 3}, VoiceBlocksChat: blocks})
		f.e.SetPresence(id, org.Available, true)
		call := f.call(q, time.Minute) // older: offered first
		chat := f.task(q, 0)
		got := offeredTo(f.e.Dispatch())
		if got[call.ContactID] != id {
			t.Fatalf("blocks=%v: the call was not offered: %v", blocks, got)
		}
		if _, offered := got[chat.ContactID]; offered == blocks {
			t.Fatalf("blocks=%v: chat offered=%v alongside the ringing call", blocks, offered)
		}
		if !blocks {
			continue
		}
		// Talking still blocks; hanging up frees the chats.
		o := f.e.OffersFor(id)[0]
		if _, err := f.e.Accept(id, o.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.e.Dispatch(); len(got) != 0 {
			t.Fatalf("Dispatch() during the call = %v, want no chat", got)
		}
		f.e.Release(call.ContactID)
		if got := f.e.Dispatch(); len(got) != 1 || got[0].Task.ContactID != chat.ContactID {
			t.Fatalf("Dispatch() after the call = %v, want the chat", got)
		}
	}
}

func TestPreferenceSkipsPreferredAgentsWhoAreAway(t *testing.T) {
	f := newFixture()
	q := f.queue("Service", nil)
	pool := f.agent("pool", nil, 1)
	advisor := f.agent("advisor", nil, 1)
	f.e.SetPresence(advisor, org.Away, true)
	tk := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now,
		Preferred: []uuid.UUID{advisor}, PreferUntil: f.now.Add(time.Minute), PreferReason: PreferAdvisor}
	f.e.Enqueue(tk)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != pool || got[0].Reason != "longest idle agent in Service" {
		t.Fatalf("Dispatch() = %v, want the pool at once: the advisor is away", got)
	}
	// With the advisor back and the owner also preferred, each is told
	// their own reason.
	f.e.SetPresence(advisor, org.Available, true)
	owner := f.agent("owner", nil, 1)
	t2 := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now,
		Preferred: []uuid.UUID{owner, advisor}, PreferUntil: f.now.Add(time.Minute), PreferReason: "owner,advisor"}
	f.e.Enqueue(t2)
	got = f.e.Dispatch()
	if len(got) != 1 || got[0].Task.ContactID != t2.ContactID {
		t.Fatalf("Dispatch() = %v, want the second contact offered", got)
	}
	want := map[uuid.UUID]string{owner: "you own this customer", advisor: "you advise on their open service order"}[got[0].AgentID]
	if got[0].Reason != want {
		t.Errorf("offer to %v says %q, want %q", got[0].AgentID, got[0].Reason, want)
	}
}

func TestMoveKeepsTheAgeAndEndsTheOffer(t *testing.T) {
	f := newFixture()
	a := f.queue("A", map[string]int{"a": 1})
	b := f.queue("B", map[string]int{"b": 1})
	ag := f.agent("a-agent", map[string]int{"a": 1}, 1)
	tk := f.task(a, time.Minute)
	if got := f.e.Dispatch(); len(got) != 1 || got[0].AgentID != ag {
		t.Fatalf("Dispatch() = %v", got)
	}
	ended, ok := f.e.Move(tk.ContactID, b.ID)
	if !ok || len(ended) != 1 || ended[0].AgentID != ag {
		t.Fatalf("Move() = %v, %v; want the open offer ended", ended, ok)
	}
	bg := f.agent("b-agent", map[string]int{"b": 1}, 1)
	got := f.e.Dispatch()
	if len(got) != 1 || got[0].AgentID != bg || got[0].Task.QueueID != b.ID || !got[0].Task.ArrivedAt.Equal(tk.ArrivedAt) {
		t.Fatalf("Dispatch() = %v, want B's agent with the original age", got)
	}
	if _, ok := f.e.Move(f.id(), b.ID); ok {
		t.Error("Move of an unknown contact reported success")
	}
}

func TestPositionIsThePlaceInTheLine(t *testing.T) {
	f := newFixture()
	q := f.queue("Enquiries", map[string]int{"x": 1}) // nobody qualifies: all wait
	old := f.task(q, 2*time.Minute)
	urgent := Task{ContactID: f.id(), QueueID: q.ID, Channel: org.Chat, ArrivedAt: f.now, Priority: 2}
	f.e.Enqueue(urgent)
	fresh := f.task(q, 0)
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		want int
	}{{"urgent first", urgent.ContactID, 1}, {"then the oldest", old.ContactID, 2}, {"then the newest", fresh.ContactID, 3}} {
		if got, ok := f.e.Position(tc.id); !ok || got != tc.want {
			t.Errorf("%s: Position = %d, %v; want %d", tc.name, got, ok, tc.want)
		}
	}
	f.e.Cancel(urgent.ContactID)
	if got, _ := f.e.Position(fresh.ContactID); got != 2 {
		t.Errorf("after the first left, the newest is at %d, want 2", got)
	}
	if _, ok := f.e.Position(urgent.ContactID); ok {
		t.Error("a cancelled contact still has a place")
	}
}
