package ami

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// drain runs the tracker's delivery until the outbox is empty.
func drain(t *testing.T, tr *Tracker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for tr.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := tr.Pending(); n > 0 {
		t.Fatalf("%d events still queued", n)
	}
}

func TestTrackerTranscripts(t *testing.T) {
	for _, tc := range transcripts {
		t.Run(tc.file, func(t *testing.T) {
			log, _ := testLog(t)
			sink := newSink()
			tr := NewTracker(sink, TrackerOptions{}, log)
			ms := events(t, tc.file)
			for _, m := range ms {
				tr.Event(m)
				tr.Event(m) // every event repeated
			}
			for _, m := range ms { // the whole transcript replayed
				tr.Event(m)
			}
			drain(t, tr)
			got, conflicts := sink.snapshot()
			check(t, tc.file, got, tc.want)
			if len(conflicts) > 0 {
				t.Errorf("EventIDs with different content: %v", conflicts)
			}
			if sink.refused != 0 || len(got) != len(tc.want) {
				return
			}
			r := got[0]
			if r.From != "13800138000" || r.Direction != phone.Inbound || r.CallID != tc.callID {
				t.Errorf("Ringing = %+v, want From 13800138000, inbound, call %s", r, tc.callID)
			}
			if tc.file == "queue_answered.ami" && r.To != "4008001234" {
				t.Errorf("Ringing To = %q, want the dialled 4008001234", r.To)
			}
		})
	}
}

// Event ids are the same on every run: a restart replaying the same AMI
// facts into a fresh tracker gives the same ids.
func TestEventIDsDeterministic(t *testing.T) {
	run := func() []phone.Event {
		log, _ := testLog(t)
		sink := newSink()
		tr := NewTracker(sink, TrackerOptions{}, log)
		for _, m := range events(t, "blind_transfer.ami") {
			tr.Event(m)
		}
		drain(t, tr)
		evs, _ := sink.snapshot()
		return evs
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("%d events, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].EventID != b[i].EventID {
			t.Errorf("event %d: id %q, then %q", i, a[i].EventID, b[i].EventID)
		}
	}
}

func TestSinkErrorsRetried(t *testing.T) {
	log, lb := testLog(t)
	sink := newSink()
	sink.fail = 3
	tr := NewTracker(sink, TrackerOptions{MaxRetryWait: 200 * time.Millisecond}, log)
	for _, m := range events(t, "queue_answered.ami") {
		tr.Event(m)
	}
	drain(t, tr)
	got, _ := sink.snapshot()
	check(t, "after 3 refusals", got, transcripts[0].want)
	if sink.refused != 3 {
		t.Errorf("sink refused %d times, want 3", sink.refused)
	}
	if !strings.Contains(lb.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", lb)
	}
}

func TestIdleSweep(t *testing.T) {
	clk := &clock{now: time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC)}
	log, _ := testLog(t)
	sink := newSink()
	tr := NewTracker(sink, TrackerOptions{Now: clk.Now, IdleTimeout: 4 * time.Hour}, log)
	ms := events(t, "queue_answered.ami")
	// Up to the answer: Newchannel … AgentConnect.
	var upTo int
	for i, m := range ms {
		if m.Event() == "AgentConnect" {
			upTo = i + 1
		}
	}
	for _, m := range ms[:upTo] {
		tr.Event(m)
	}
	clk.Add(3 * time.Hour)
	tr.Sweep()
	if n := tr.Pending(); n != 4 {
		t.Fatalf("after 3 h idle: %d events queued, want the 4 of the call so far", n)
	}
	clk.Add(time.Hour + time.Second)
	tr.Sweep()
	for _, m := range ms[upTo:] { // late events about the swept call
		tr.Event(m)
	}
	drain(t, tr)
	got, _ := sink.snapshot()
	check(t, "swept", got, dropLost)
	if at := got[len(got)-1].At; !at.Equal(clk.Now()) {
		t.Errorf("Ended at %v, want the injected clock's %v", at, clk.Now())
	}
	// The memory of the ended call goes after another IdleTimeout.
	clk.Add(4 * time.Hour)
	tr.Sweep()
	tr.mu.Lock()
	left := len(tr.ended) + len(tr.calls)
	tr.mu.Unlock()
	if left != 0 {
		t.Errorf("%d calls remembered after the sweep, want 0", left)
	}
}

func TestResyncAdoptsAndEnds(t *testing.T) {
	log, _ := testLog(t)
	sink := newSink()
	tr := NewTracker(sink, TrackerOptions{}, log)
	ms := events(t, "queue_answered.ami")
	tr.Event(ms[0]) // Newchannel of call .101
	list := []Message{
		{Fields: []Field{{"Channel", "PJSIP/trunk-cn-000000ff"}, {"ChannelState", "6"}, {"CallerIDNum", "13900139000"}, {"Exten", "4008001234"}, {"Context", "from-trunk"}, {"Uniqueid", "1715000000.900"}, {"Linkedid", "1715000000.900"}}},
		{Fields: []Field{{"Channel", "PJSIP/1003-00000100"}, {"ChannelState", "6"}, {"CallerIDNum", "1003"}, {"Uniqueid", "1715000000.901"}, {"Linkedid", "1715000000.900"}}},
		{Fields: []Field{{"Channel", "PJSIP/1004-00000101"}, {"ChannelState", "5"}, {"CallerIDNum", "1004"}, {"Uniqueid", "1715000000.902"}, {"Linkedid", "1715000000.900"}}},
	}
	tr.Channels(1, list)
	drain(t, tr)
	got, _ := sink.snapshot()
	check(t, "resync", got, []want{
		{phone.Ringing, "", "", ""}, {phone.Ended, "", phone.CauseLost, ""}, // .101: gone
		{phone.Ringing, "", "", ""}, {phone.Answered, "1003", "", ""}, {phone.Offered, "1004", "", ""}, // .900 adopted
	})
	if len(got) == 5 && (got[2].CallID != "1715000000.900" || got[2].From != "13900139000") {
		t.Errorf("adopted Ringing = %+v", got[2])
	}
	// A call touched after the list was asked for is not ended by it.
	tr.Event(ms[0])
	sink2 := newSink()
	tr2 := NewTracker(sink2, TrackerOptions{}, log)
	tr2.Event(ms[0])
	tr2.Channels(0, nil)
	drain(t, tr2)
	got2, _ := sink2.snapshot()
	check(t, "list older than the call", got2, []want{{phone.Ringing, "", "", ""}})
}

func TestDeviceExtension(t *testing.T) {
	tr := NewTracker(newSink(), TrackerOptions{}, nil)
	cases := map[string]string{
		"PJSIP/1001-0000002a":              "1001",
		"SIP/2002-00000001":                "2002",
		"IAX2/3003-1234":                   "3003",
		"PJSIP/trunk-cn-00000065":          "",
		"Local/1001@from-queue-00000001;1": "",
		"DAHDI/1-1":                        "",
		"":                                 "",
		"PJSIP/":                           "",
	}
	for ch, w := range cases {
		got, ok := tr.extension(ch)
		if !ok {
			got = ""
		}
		if got != w {
			t.Errorf("extension(%q) = %q, want %q", ch, got, w)
		}
	}
}
