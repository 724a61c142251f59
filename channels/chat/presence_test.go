package chat

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakePresence records the calls a tracker makes, in order.
type fakePresence struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakePresence) add(c string) { f.mu.Lock(); f.calls = append(f.calls, c); f.mu.Unlock() }
func (f *fakePresence) VisitorUp(_ context.Context, member, _ string) error {
	f.add("up " + member)
	return nil
}
func (f *fakePresence) VisitorDown(_ context.Context, member, _ string) error {
	f.add("down " + member)
	return nil
}
func (f *fakePresence) AbsentVisitors(context.Context, time.Time) (map[string]time.Time, error) {
	return nil, nil
}
func (f *fakePresence) ClaimAbsent(context.Context, string, time.Time) (bool, error) {
	return false, nil
}
func (f *fakePresence) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// TestPresenceRenewsOnATimerAndStops: a socket without a chat touches
// nothing; with one it is marked up at once and renewed on the timer; stop
// marks it down once, and no renewal follows.
func TestPresenceRenewsOnATimerAndStops(t *testing.T) {
	fp := &fakePresence{}
	c := &Connector{presence: fp, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &presenceTracker{c: c, socket: "s1", ctx: ctx, every: 20 * time.Millisecond}
	time.Sleep(50 * time.Millisecond)
	if got := fp.snapshot(); len(got) != 0 {
		t.Fatalf("calls without a chat = %v, want none", got)
	}
	p.set(ctx, "m1")
	p.set(ctx, "m1") // the same chat again: nothing new
	deadline := time.Now().Add(10 * time.Second)
	for len(fp.snapshot()) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("calls = %v, want the first up and renewals", fp.snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	stopped := fp.snapshot()
	time.Sleep(100 * time.Millisecond)
	got := fp.snapshot()
	if len(got) != len(stopped) || got[len(got)-1] != "down m1" {
		t.Fatalf("calls = %v, want them to end with one down and nothing after", got)
	}
	for _, c := range got[:len(got)-1] {
		if c != "up m1" {
			t.Errorf("call %q before the stop, want only renewals of m1", c)
		}
	}
}
