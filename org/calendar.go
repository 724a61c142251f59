package org

import (
	"fmt"
	"time"
)

// Span is opening time within one local day, in minutes after midnight.
// An End before Start runs past midnight into the next day (22:00–02:00).
type Span struct {
	Start, End int
}

// Exception replaces one local date's weekly hours: a public holiday
// (no spans: closed all day) or, as China's make-up working days do, a
// weekend that opens (spans).
type Exception struct {
	Date  string // YYYY-MM-DD in the calendar's zone
	Spans []Span
}

// Calendar is a queue's opening hours in its zone.
type Calendar struct {
	Zone       string
	Weekly     map[time.Weekday][]Span
	Exceptions []Exception
}

// Validate reports a calendar that cannot be used.
func (c Calendar) Validate() error {
	if _, err := time.LoadLocation(c.Zone); err != nil {
		return fmt.Errorf("%w: time zone %q", ErrInvalid, c.Zone)
	}
	check := func(ss []Span) error {
		for _, s := range ss {
			if s.Start < 0 || s.Start >= 24*60 || s.End < 0 || s.End > 24*60 || s.Start == s.End {
				return fmt.Errorf("%w: opening span %d–%d", ErrInvalid, s.Start, s.End)
			}
		}
		return nil
	}
	for _, ss := range c.Weekly {
		if err := check(ss); err != nil {
			return err
		}
	}
	for _, e := range c.Exceptions {
		if _, err := time.Parse(time.DateOnly, e.Date); err != nil {
			return fmt.Errorf("%w: exception date %q", ErrInvalid, e.Date)
		}
		if err := check(e.Spans); err != nil {
			return err
		}
	}
	return nil
}

// spans are the opening spans of the local date of day.
func (c Calendar) spans(day time.Time) []Span {
	date := day.Format(time.DateOnly)
	for _, e := range c.Exceptions {
		if e.Date == date {
			return e.Spans
		}
	}
	return c.Weekly[day.Weekday()]
}

// OpenAt reports whether the calendar is open at t. A calendar with no
// weekly hours and no exceptions is always open (a 24/7 queue).
func (c Calendar) OpenAt(t time.Time) (bool, error) {
	if len(c.Weekly) == 0 && len(c.Exceptions) == 0 {
		return true, nil
	}
	loc, err := time.LoadLocation(c.Zone)
	if err != nil {
		return false, fmt.Errorf("%w: time zone %q", ErrInvalid, c.Zone)
	}
	local := t.In(loc)
	minute := local.Hour()*60 + local.Minute()
	today := time.Date(local.Year(), local.Month(), local.Day(), 12, 0, 0, 0, loc)
	for _, s := range c.spans(today) {
		if s.End > s.Start && minute >= s.Start && minute < s.End {
			return true, nil
		}
		if s.End < s.Start && minute >= s.Start { // runs past midnight
			return true, nil
		}
	}
	// Yesterday's overnight spans reach into today's early hours.
	for _, s := range c.spans(today.AddDate(0, 0, -1)) {
		if s.End < s.Start && minute < s.End {
			return true, nil
		}
	}
	return false, nil
}

// NextOpen is the first moment at or after t when the calendar is open,
// looking at most two weeks ahead (a calendar closed longer than that has
// no next opening worth promising a customer).
func (c Calendar) NextOpen(t time.Time) (time.Time, bool, error) {
	if open, err := c.OpenAt(t); err != nil || open {
		return t, open, err
	}
	loc, err := time.LoadLocation(c.Zone)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%w: time zone %q", ErrInvalid, c.Zone)
	}
	local := t.In(loc)
	for d := range 15 {
		noon := time.Date(local.Year(), local.Month(), local.Day()+d, 12, 0, 0, 0, loc)
		var best time.Time
		for _, s := range c.spans(noon) {
			start := time.Date(noon.Year(), noon.Month(), noon.Day(), s.Start/60, s.Start%60, 0, 0, loc)
			if !start.After(t) {
				continue
			}
			// An exception may close a date whose span this is not; check.
			if open, _ := c.OpenAt(start); open && (best.IsZero() || start.Before(best)) {
				best = start
			}
		}
		if !best.IsZero() {
			return best, true, nil
		}
	}
	return time.Time{}, false, nil
}
