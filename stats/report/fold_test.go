package report

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// TestFoldFilesByArrivalInterval: a contact's figures go to the 15-minute
// interval it arrived in, even when it is answered in the next one (or the
// next day); 23:59:59 and 00:00:00 local fall on either side of midnight in
// Shanghai and Berlin alike, because both offsets are whole quarters.
func TestFoldFilesByArrivalInterval(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	be, _ := time.LoadLocation("Europe/Berlin")
	q, agent := uuid.New(), uuid.New()
	for _, loc := range []*time.Location{sh, be} {
		f := NewFold(func(uuid.UUID) stats.Policy { return stats.Policy{SLA: 20 * time.Second, ShortAbandon: ShortAbandon} })
		late, early := uuid.New(), uuid.New()
		before := time.Date(2026, 3, 10, 23, 59, 59, 0, loc)
		midnight := time.Date(2026, 3, 11, 0, 0, 0, 0, loc)
		for _, e := range []stats.Event{
			{Kind: "created", ContactID: late, QueueID: q, Channel: org.Chat, At: before},
			{Kind: "created", ContactID: early, QueueID: q, Channel: org.Chat, At: midnight},
			{Kind: "assigned", ContactID: late, QueueID: q, AgentID: agent, At: midnight.Add(5 * time.Second)},
		} {
			f.Add(e)
		}
		rows, open := f.Flush()
		q2345 := time.Date(2026, 3, 10, 23, 45, 0, 0, loc).UTC()
		want := map[Row]Figures{
			{Start: q2345, QueueID: q, Channel: org.Chat}: {Counts: stats.Counts{Offered: 1}},
			{Start: q2345, QueueID: q, Channel: org.Chat, AgentID: agent}: {Counts: stats.Counts{Answered: 1, AnsweredWithin: 1,
				WaitAnswered: 6 * time.Second}},
			{Start: midnight.UTC(), QueueID: q, Channel: org.Chat}: {Counts: stats.Counts{Offered: 1}},
		}
		for r, w := range want {
			if rows[r] != w {
				t.Errorf("%s: row %v = %+v, want %+v", loc, r, rows[r], w)
			}
		}
		if len(rows) != len(want) {
			t.Errorf("%s: %d rows, want %d: %+v", loc, len(rows), len(want), rows)
		}
		if !open[late] || !open[early] {
			t.Errorf("%s: open = %v, want both contacts open", loc, open)
		}
		if got := IntervalStart(before).In(loc); got.Day() != 10 || got.Hour() != 23 || got.Minute() != 45 {
			t.Errorf("%s: IntervalStart(23:59:59) = %v, want 23:45 the same day", loc, got)
		}
	}
}

// TestFoldCallbacks: a callback made counts for its agent in the interval
// it was made in, a missed one for nobody.
func TestFoldCallbacks(t *testing.T) {
	q, agent, c := uuid.New(), uuid.New(), uuid.New()
	at := time.Date(2026, 3, 10, 4, 7, 0, 0, time.UTC)
	f := NewFold(func(uuid.UUID) stats.Policy { return stats.Policy{SLA: 20 * time.Second} })
	f.Add(stats.Event{Kind: "callback_outcome", ContactID: c, QueueID: q, AgentID: agent, Channel: org.Voice, At: at})
	f.Add(stats.Event{Kind: "callback_failed", ContactID: c, QueueID: q, Channel: org.Voice, At: at.Add(time.Hour)})
	rows, _ := f.Flush()
	if got := rows[Row{Start: at.Truncate(Interval), QueueID: q, Channel: org.Voice, AgentID: agent}]; got.CallbacksMade != 1 {
		t.Errorf("made = %+v, want 1", got)
	}
	if got := rows[Row{Start: at.Add(time.Hour).Truncate(Interval), QueueID: q, Channel: org.Voice}]; got.CallbacksMissed != 1 {
		t.Errorf("missed = %+v, want 1", got)
	}
}

func TestQueryValidate(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	for _, tc := range []struct {
		q  Query
		ok bool
	}{
		{Query{From: d("2026-03-10"), To: d("2026-03-10"), Interval: Quarter, By: ByQueue}, true},
		{Query{From: d("2026-01-01"), To: d("2026-12-31"), Interval: Day, By: BySite}, true},
		{Query{From: d("2026-01-01"), To: d("2026-02-01"), Interval: Quarter, By: ByQueue}, false},
		{Query{From: d("2026-03-11"), To: d("2026-03-10"), Interval: Day, By: ByQueue}, false},
		{Query{From: d("2026-03-10"), To: d("2026-03-10"), Interval: "week", By: ByQueue}, false},
		{Query{From: d("2026-03-10"), To: d("2026-03-10"), Interval: Day, By: "customer"}, false},
		{Query{From: d("2026-03-10"), To: d("2026-03-10"), Interval: Day, By: ByChannel, Channels: []org.Channel{"fax"}}, false},
		{Query{Interval: Day, By: ByQueue}, false},
	} {
		if err := tc.q.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.q, err, tc.ok)
		}
	}
}
