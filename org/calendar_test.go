package org

import (
	"testing"
	"time"
)

func TestCalendarOpenAt(t *testing.T) {
	nineToSix := []Span{{9 * 60, 18 * 60}}
	cal := Calendar{
		Zone: "Asia/Shanghai",
		Weekly: map[time.Weekday][]Span{
			time.Monday: nineToSix, time.Tuesday: nineToSix, time.Wednesday: nineToSix,
			time.Thursday: nineToSix, time.Saturday: {{9 * 60, 12 * 60}},
			// Friday's late shift runs to 02:00 Saturday.
			time.Friday: {{9 * 60, 12 * 60}, {13 * 60, 2 * 60}},
		},
		Exceptions: []Exception{
			{Date: "2026-10-01"},                   // National Day, a Thursday: closed
			{Date: "2026-09-27", Spans: nineToSix}, // a make-up working Sunday
		},
	}
	if err := cal.Validate(); err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, sh) }
	for _, tc := range []struct {
		name string
		t    time.Time
		want bool
	}{
		{"Monday morning", at(2026, 11, 23, 9, 0), true},
		{"Monday just before opening", at(2026, 11, 23, 8, 59), false},
		{"Monday at closing time", at(2026, 11, 23, 18, 0), false},
		{"ordinary Sunday", at(2026, 11, 22, 10, 0), false},
		{"make-up working Sunday", at(2026, 9, 27, 10, 0), true},
		{"National Day", at(2026, 10, 1, 10, 0), false},
		{"Friday lunch break", at(2026, 11, 27, 12, 30), false},
		{"Friday late shift before midnight", at(2026, 11, 27, 23, 30), true},
		{"Saturday 01:30, Friday's shift crossing midnight", at(2026, 11, 28, 1, 30), true},
		{"Saturday 02:00, the late shift is over", at(2026, 11, 28, 2, 0), false},
		{"Saturday morning", at(2026, 11, 28, 11, 0), true},
		{"Sunday 01:00 (Saturday has no overnight span)", at(2026, 11, 29, 1, 0), false},
		// Monday 09:30 in Shanghai is Monday 01:30 UTC: the zone decides.
		{"given in UTC", time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC), true},
		{"UTC Monday 09:30 is 17:30 in Shanghai", time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC), true},
		{"UTC Monday 10:30 is 18:30 in Shanghai", time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC), false},
	} {
		got, err := cal.OpenAt(tc.t)
		if err != nil || got != tc.want {
			t.Errorf("%s: OpenAt(%v) = %v, %v; want %v", tc.name, tc.t, got, err, tc.want)
		}
	}
	if open, _ := (Calendar{}).OpenAt(time.Now()); !open {
		t.Error("an empty calendar should be always open")
	}
	for _, bad := range []Calendar{
		{Zone: "Mars/Olympus"},
		{Zone: "UTC", Weekly: map[time.Weekday][]Span{time.Monday: {{600, 600}}}},
		{Zone: "UTC", Exceptions: []Exception{{Date: "2026-13-01"}}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted a broken calendar", bad)
		}
	}
}

func TestCalendarNextOpen(t *testing.T) {
	nineToSix := []Span{{9 * 60, 18 * 60}}
	cal := Calendar{
		Zone:   "Asia/Shanghai",
		Weekly: map[time.Weekday][]Span{time.Monday: nineToSix, time.Tuesday: nineToSix, time.Wednesday: nineToSix, time.Thursday: nineToSix, time.Friday: nineToSix},
		Exceptions: []Exception{
			{Date: "2026-10-01"}, {Date: "2026-10-02"}, // National Day holidays, Thursday and Friday
			{Date: "2026-10-04", Spans: []Span{{10 * 60, 16 * 60}}}, // make-up working Sunday
		},
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, sh) }
	for _, tc := range []struct {
		name     string
		from     time.Time
		want     time.Time
		wantOpen bool
	}{
		{"open now", at(11, 23, 10, 0), at(11, 23, 10, 0), true},
		{"Monday before opening", at(11, 23, 7, 15), at(11, 23, 9, 0), true},
		{"Friday evening to Monday", at(11, 27, 19, 0), at(11, 30, 9, 0), true},
		{"Wednesday evening before the holidays: the make-up Sunday", at(9, 30, 20, 0), at(10, 4, 10, 0), true},
		{"after the make-up Sunday closes: Monday", at(10, 4, 16, 0), at(10, 5, 9, 0), true},
	} {
		got, ok, err := cal.NextOpen(tc.from)
		if err != nil || ok != tc.wantOpen || !got.Equal(tc.want) {
			t.Errorf("%s: NextOpen(%v) = %v, %v, %v; want %v", tc.name, tc.from, got, ok, err, tc.want)
		}
	}
	never := Calendar{Zone: "UTC", Exceptions: []Exception{{Date: "2000-01-01"}}}
	never.Weekly = map[time.Weekday][]Span{} // no weekly hours, one past exception: closed for good
	if _, ok, err := never.NextOpen(time.Now()); ok || err != nil {
		t.Errorf("a calendar that never opens: NextOpen ok=%v err=%v, want no opening", ok, err)
	}
}
