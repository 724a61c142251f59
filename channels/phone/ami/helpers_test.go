package ami

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
	"github.com/switchboard-cc/switchboard/channels/phone/ami/amitest"
)

// recSink records what it accepts, keyed by EventID, and notes any EventID
// delivered again with different content (At aside).
type recSink struct {
	mu       sync.Mutex
	events   []phone.Event
	byID     map[string]phone.Event
	fail     int // refuse this many Handle calls first
	refused  int
	conflict []string
}

func newSink() *recSink { return &recSink{byID: map[string]phone.Event{}} }

func (s *recSink) Handle(_ context.Context, ev phone.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		s.refused++
		return errors.New("database unavailable")
	}
	if prev, ok := s.byID[ev.EventID]; ok {
		a, b := prev, ev
		a.At, b.At = time.Time{}, time.Time{}
		if a != b {
			s.conflict = append(s.conflict, fmt.Sprintf("%s: %+v then %+v", ev.EventID, a, b))
		}
		return nil
	}
	s.byID[ev.EventID] = ev
	s.events = append(s.events, ev)
	return nil
}

func (s *recSink) snapshot() ([]phone.Event, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]phone.Event(nil), s.events...), append([]string(nil), s.conflict...)
}

// waitEvents waits until the sink holds n events, generously: the
// machine is shared.
func (s *recSink) waitEvents(t *testing.T, n int) []phone.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, _ := s.snapshot()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d events after 30 s, want %d: %s", len(evs), n, brief(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// want is the part of a phone.Event a table states.
type want struct {
	Kind      phone.Kind
	Extension string
	Cause     phone.Cause
	Target    string
}

func brief(evs []phone.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s ext=%q cause=%q target=%q", e.Kind, e.Extension, e.Cause, e.Target)
	}
	return b.String()
}

func check(t *testing.T, name string, got []phone.Event, ws []want) {
	t.Helper()
	ok := len(got) == len(ws)
	for i := 0; ok && i < len(ws); i++ {
		g := got[i]
		ok = g.Kind == ws[i].Kind && g.Extension == ws[i].Extension && g.Cause == ws[i].Cause && g.Target == ws[i].Target
	}
	if !ok {
		var w strings.Builder
		for _, e := range ws {
			fmt.Fprintf(&w, "\n  %s ext=%q cause=%q target=%q", e.Kind, e.Extension, e.Cause, e.Target)
		}
		t.Errorf("%s: events:%s\nwant:%s", name, brief(got), w.String())
	}
	for _, g := range got {
		if g.EventID == "" || g.CallID == "" || !g.Kind.Valid() || (g.Cause != "" && !g.Cause.Valid()) {
			t.Errorf("%s: malformed event %+v", name, g)
		}
	}
}

// transcripts and what each must produce.
var transcripts = []struct {
	file   string
	callID string
	want   []want
}{
	{"queue_answered.ami", "1715000000.101", []want{
		{phone.Ringing, "", "", ""}, {phone.Queued, "", "", ""}, {phone.Offered, "1001", "", ""},
		{phone.Answered, "1001", "", ""}, {phone.Ended, "1001", phone.CauseNormal, ""}, {phone.Ended, "", phone.CauseNormal, ""},
	}},
	{"queue_abandon.ami", "1715000000.111", []want{
		{phone.Ringing, "", "", ""}, {phone.Queued, "", "", ""}, {phone.Offered, "1001", "", ""},
		{phone.Ended, "1001", phone.CauseAbandoned, ""}, {phone.Ended, "", phone.CauseAbandoned, ""},
	}},
	{"no_answer_then_answer.ami", "1715000000.121", []want{
		{phone.Ringing, "", "", ""}, {phone.Queued, "", "", ""}, {phone.Offered, "1001", "", ""},
		{phone.Ended, "1001", phone.CauseNoAnswer, ""}, {phone.Offered, "1002", "", ""}, {phone.Answered, "1002", "", ""},
		{phone.Ended, "1002", phone.CauseNormal, ""}, {phone.Ended, "", phone.CauseNormal, ""},
	}},
	{"hold.ami", "1715000000.131", []want{
		{phone.Ringing, "", "", ""}, {phone.Offered, "1001", "", ""}, {phone.Answered, "1001", "", ""},
		{phone.Held, "1001", "", ""}, {phone.Unheld, "1001", "", ""},
		{phone.Ended, "1001", phone.CauseNormal, ""}, {phone.Ended, "", phone.CauseNormal, ""},
	}},
	{"blind_transfer.ami", "1715000000.141", []want{
		{phone.Ringing, "", "", ""}, {phone.Queued, "", "", ""}, {phone.Offered, "1001", "", ""}, {phone.Answered, "1001", "", ""},
		{phone.Transferred, "1001", "", "1002"}, {phone.Ended, "1001", phone.CauseNormal, ""},
		{phone.Offered, "1002", "", ""}, {phone.Answered, "1002", "", ""},
		{phone.Ended, "1002", phone.CauseNormal, ""}, {phone.Ended, "", phone.CauseNormal, ""},
	}},
	{"drop_resumed.ami", "1715000000.151", []want{
		{phone.Ringing, "", "", ""}, {phone.Queued, "", "", ""}, {phone.Offered, "1001", "", ""},
		{phone.Answered, "1001", "", ""}, {phone.Ended, "1001", phone.CauseNormal, ""}, {phone.Ended, "", phone.CauseNormal, ""},
	}},
}

var dropLost = []want{
	{phone.Ringing, "", "", ""}, {phone.Queued, "", "", ""}, {phone.Offered, "1001", "", ""},
	{phone.Answered, "1001", "", ""}, {phone.Ended, "1001", phone.CauseLost, ""}, {phone.Ended, "", phone.CauseLost, ""},
}

// events returns a transcript's events (markers skipped) as Messages.
func events(t testing.TB, file string) []Message {
	t.Helper()
	tr, err := amitest.Load("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Source) == 0 || !strings.Contains(strings.Join(tr.Source, " "), "Source:") {
		t.Errorf("%s: the header does not state its source", file)
	}
	var ms []Message
	for _, st := range tr.Steps {
		if st.Event == nil {
			continue
		}
		m := Message{Fields: make([]Field, len(st.Event))}
		for i, f := range st.Event {
			m.Fields[i] = Field{f.Key, f.Value}
		}
		ms = append(ms, m)
	}
	return ms
}

// logBuf is a slog handler's output for assertions on what was logged.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLog(t testing.TB) (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	var w io.Writer = lb
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// clock is an injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
