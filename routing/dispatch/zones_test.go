package dispatch

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/stats"
)

// eventSource is a hand-written Source (dispatch defines the interface):
// it serves a fixed list of events and nothing else.
type eventSource struct {
	Source
	events []stats.Event
}

func (s eventSource) Events(_ context.Context, _ uuid.UUID, cursor string, since time.Time) ([]stats.Event, string, error) {
	if cursor != "" {
		return nil, cursor, nil
	}
	var out []stats.Event
	for _, e := range s.events {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out, "end", nil
}

func (eventSource) PresenceHistory(context.Context, uuid.UUID, time.Time) ([]PresenceChange, error) {
	return nil, nil
}

// TestEachQueueCountsTodayFromItsOwnMidnight: a Shanghai group with a
// branch in Berlin. At 10:00 in Shanghai it is 03:00 in Berlin: a call to
// the Berlin queue at 21:00 Berlin time yesterday is not today's, though it
// falls in Shanghai's today; one at 01:00 Berlin time is.
func TestEachQueueCountsTodayFromItsOwnMidnight(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	utc := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	home, berlin := uuid.New(), uuid.New()
	ev := func(q uuid.UUID, at time.Time) stats.Event {
		return stats.Event{Kind: "created", ContactID: uuid.New(), QueueID: q, Channel: org.Voice, At: at}
	}
	src := eventSource{events: []stats.Event{
		ev(home, utc(28, 15)),   // 23:00 in Shanghai yesterday: not today
		ev(home, utc(28, 17)),   // 01:00 in Shanghai: today
		ev(berlin, utc(28, 20)), // 21:00 in Berlin yesterday (04:00 today in Shanghai): not Berlin's today
		ev(berlin, utc(29, 0)),  // 01:00 in Berlin: today
		ev(berlin, utc(29, 1)),  // 02:00 in Berlin: today
	}}
	now := utc(29, 2) // 10:00 in Shanghai, 03:00 in Berlin
	d := &Dispatcher{src: src, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	tr := &tenantRun{d: d, eng: routing.NewEngine(d.now, uuid.New), zone: shanghai,
		sla:        map[uuid.UUID]time.Duration{home: 20 * time.Second, berlin: 20 * time.Second},
		queueZones: map[uuid.UUID]string{home: "Asia/Shanghai", berlin: "Europe/Berlin"}}
	if err := tr.followEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	today := tr.today()
	if got := today.Queues[home].Offered; got != 1 {
		t.Errorf("Shanghai queue offered today = %d, want 1", got)
	}
	if got := today.Queues[berlin].Offered; got != 2 {
		t.Errorf("Berlin queue offered today = %d, want 2 (from Berlin's midnight)", got)
	}
	// Shanghai's midnight comes round (16:00 UTC): its day starts again,
	// Berlin's (17:00 there) goes on.
	now = utc(29, 17)
	if err := tr.followEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	today = tr.today()
	if got := today.Queues[home].Offered; got != 0 {
		t.Errorf("after Shanghai's midnight its queue offered %d, want 0", got)
	}
	if got := today.Queues[berlin].Offered; got != 2 {
		t.Errorf("Berlin queue offered %d after Shanghai's midnight, want still 2", got)
	}
}
