package routing

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestWrapUpHoldsTheSlot walks an agent with one chat slot through close,
// wrap-up and the next offer, on the fake clock.
func TestWrapUpHoldsTheSlot(t *testing.T) {
	for _, tc := range []struct {
		name string
		// done is when the agent presses Done, after closing; zero: never.
		done time.Duration
		// wrap is the queue's wrap-up time.
		wrap time.Duration
		// freeAfter is when, after closing, the next chat is offered.
		freeAfter time.Duration
		ended     bool // EndWrapUps reports the assignment
	}{
		{name: "done before the time runs out", done: 4 * time.Second, wrap: 10 * time.Second, freeAfter: 4 * time.Second},
		{name: "the time runs out", wrap: 10 * time.Second, freeAfter: 10 * time.Second, ended: true},
		{name: "done at the last moment", done: 9 * time.Second, wrap: 10 * time.Second, freeAfter: 9 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			q := f.queue("Enquiries", nil)
			agent := f.agent("only", nil, 1)
			first := f.task(q, 0)
			o := f.e.Dispatch()
			if _, err := f.e.Accept(agent, o[0].ID); err != nil {
				t.Fatal(err)
			}
			f.tick(time.Minute) // talk
			closed := f.now
			if !f.e.WrapUp(first.ContactID, closed.Add(tc.wrap)) {
				t.Fatal("WrapUp on an assigned contact = false, want true")
			}
			if until, ok := f.e.InWrapUp(first.ContactID); !ok || !until.Equal(closed.Add(tc.wrap)) {
				t.Errorf("InWrapUp = %v, %v; want until %v", until, ok, closed.Add(tc.wrap))
			}
			if next, ok := f.e.NextDeadline(); !ok || !next.Equal(closed.Add(tc.wrap)) {
				t.Errorf("NextDeadline() = %v, %v; want the wrap-up's end %v", next, ok, closed.Add(tc.wrap))
			}
			second := f.task(q, 0)
			var ends []WrapUpEnd
			for step := time.Duration(0); step <= tc.wrap; step += time.Second {
				f.now = closed.Add(step)
				if tc.done != 0 && step == tc.done {
					if !f.e.Release(first.ContactID) {
						t.Fatalf("Release during wrap-up = false")
					}
				}
				ends = append(ends, f.e.EndWrapUps()...)
				got := f.e.Dispatch()
				switch {
				case step < tc.freeAfter && len(got) > 0:
					t.Fatalf("%v after closing: offered %v while the wrap-up holds the only slot", step, got)
				case step == tc.freeAfter:
					if len(got) != 1 || got[0].Task.ContactID != second.ContactID || got[0].AgentID != agent {
						t.Fatalf("%v after closing: Dispatch() = %v, want the next chat offered to the agent", step, got)
					}
					if a := f.e.agents[agent]; !a.idleSince.Equal(f.now) {
						t.Errorf("idle since %v, want %v, when the slot freed", a.idleSince, f.now)
					}
					step = tc.wrap // done
				}
			}
			if tc.ended {
				want := []WrapUpEnd{{ContactID: first.ContactID, AgentID: agent, Channel: first.Channel, At: closed.Add(tc.wrap)}}
				if len(ends) != 1 || ends[0] != want[0] {
					t.Errorf("EndWrapUps() = %v, want %v (ended at the deadline)", ends, want)
				}
			} else if len(ends) != 0 {
				t.Errorf("EndWrapUps() = %v after Done, want nothing", ends)
			}
			if f.e.WrapUp(first.ContactID, f.now.Add(time.Minute)) {
				t.Error("WrapUp on an ended assignment = true, want false")
			}
		})
	}
}

func TestWrapUpRefusals(t *testing.T) {
	f := newFixture()
	q := f.queue("Enquiries", nil)
	agent := f.agent("a", nil, 2)
	task := f.task(q, 0)
	if f.e.WrapUp(task.ContactID, f.now.Add(time.Second)) {
		t.Error("WrapUp on a waiting contact = true, want false")
	}
	if f.e.WrapUp(uuid.New(), f.now.Add(time.Second)) {
		t.Error("WrapUp on an unknown contact = true, want false")
	}
	o := f.e.Dispatch()
	f.e.Accept(agent, o[0].ID)
	if f.e.WrapUp(task.ContactID, time.Time{}) {
		t.Error("WrapUp with a zero deadline = true, want false")
	}
	if _, ok := f.e.InWrapUp(task.ContactID); ok {
		t.Error("an assignment being worked reported in wrap-up")
	}
}

// TestRebuiltWrapUps: on rebuild an assignment read back in wrap-up keeps
// its slot until the original deadline; one whose deadline passed while no
// engine ran ends at once, dated at its deadline; several end in order.
func TestRebuiltWrapUps(t *testing.T) {
	f := newFixture()
	q := f.queue("Enquiries", nil)
	agent := f.agent("a", nil, 3)
	past, soon, later := f.id(), f.id(), f.id()
	deadlines := map[uuid.UUID]time.Time{past: f.now.Add(-time.Minute), soon: f.now.Add(5 * time.Second), later: f.now.Add(20 * time.Second)}
	for _, c := range []uuid.UUID{later, past, soon} {
		f.e.Assigned(c, agent, "chat")
		f.e.WrapUp(c, deadlines[c])
	}
	f.task(q, 0)
	if got := f.e.Dispatch(); len(got) != 0 {
		t.Fatalf("Dispatch() = %v with all three slots held", got)
	}
	if got := f.e.EndWrapUps(); len(got) != 1 || got[0].ContactID != past || !got[0].At.Equal(deadlines[past]) {
		t.Fatalf("EndWrapUps() = %v, want the past one, dated at its deadline %v", got, deadlines[past])
	}
	if got := f.e.Dispatch(); len(got) != 1 {
		t.Fatalf("Dispatch() = %v, want one offer in the slot the past wrap-up freed", got)
	}
	f.tick(time.Hour)
	got := f.e.EndWrapUps()
	if len(got) != 2 || got[0].ContactID != soon || got[1].ContactID != later {
		t.Errorf("EndWrapUps() = %v, want soon then later", got)
	}
	if _, ok := f.e.NextDeadline(); !ok {
		t.Error("NextDeadline() = none, want the open offer's expiry")
	}
}
