package org

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A calendar's JSON is what an admin writes by hand, and the same shape is
// stored in queues.calendar:
//
//	{
//	  "zone": "Asia/Shanghai",
//	  "weekly": {
//	    "mon": ["08:00-12:00", "13:00-18:00"],
//	    "fri": ["08:00-18:00", "22:00-02:00"],
//	    "sat": ["08:00-18:00"]
//	  },
//	  "exceptions": [
//	    {"date": "2026-10-01", "hours": []},
//	    {"date": "2026-09-27", "hours": ["08:00-18:00"]}
//	  ]
//	}
//
// Weekdays are mon, tue, wed, thu, fri, sat, sun; a day left out is closed.
// Hours are "HH:MM-HH:MM" in the zone's local time, the end exclusive;
// "24:00" ends at midnight, and an end before the start runs past midnight
// into the next day. An exception replaces one date's weekly hours: empty
// hours close it (a holiday), hours open it (a make-up working day).
// An empty zone takes the queue's site zone, or the tenant's default zone.
// A calendar with no weekly hours and no exceptions is always open.

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

type calendarJSON struct {
	Zone       string              `json:"zone"`
	Weekly     map[string][]string `json:"weekly"`
	Exceptions []exceptionJSON     `json:"exceptions"`
}

type exceptionJSON struct {
	Date  string   `json:"date"`
	Hours []string `json:"hours"`
}

// MarshalJSON writes the calendar in the hand-written shape above.
func (c Calendar) MarshalJSON() ([]byte, error) {
	out := calendarJSON{Zone: c.Zone, Weekly: map[string][]string{}, Exceptions: []exceptionJSON{}}
	for d, spans := range c.Weekly {
		if len(spans) > 0 {
			out.Weekly[dayNames[d]] = formatSpans(spans)
		}
	}
	for _, e := range c.Exceptions {
		out.Exceptions = append(out.Exceptions, exceptionJSON{Date: e.Date, Hours: formatSpans(e.Spans)})
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the hand-written shape strictly: unknown keys,
// unknown weekdays and malformed hours are errors that name the culprit.
// Ranges (and the zone) are checked by Validate.
func (c *Calendar) UnmarshalJSON(b []byte) error {
	var in calendarJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("calendar: %w", err)
	}
	cal := Calendar{Zone: in.Zone}
	for name, hours := range in.Weekly {
		d := slices.Index(dayNames[:], strings.ToLower(name))
		if d < 0 {
			return fmt.Errorf("calendar: weekday %q (use mon, tue, wed, thu, fri, sat, sun)", name)
		}
		spans, err := parseSpans(hours)
		if err != nil {
			return err
		}
		if len(spans) > 0 {
			if cal.Weekly == nil {
				cal.Weekly = map[time.Weekday][]Span{}
			}
			cal.Weekly[time.Weekday(d)] = spans
		}
	}
	for _, e := range in.Exceptions {
		spans, err := parseSpans(e.Hours)
		if err != nil {
			return err
		}
		cal.Exceptions = append(cal.Exceptions, Exception{Date: e.Date, Spans: spans})
	}
	*c = cal
	return nil
}

func formatSpans(spans []Span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = fmt.Sprintf("%02d:%02d-%02d:%02d", s.Start/60, s.Start%60, s.End/60, s.End%60)
	}
	return out
}

func parseSpans(hours []string) ([]Span, error) {
	var spans []Span
	for _, h := range hours {
		from, to, ok := strings.Cut(h, "-")
		start, err1 := parseClock(from)
		end, err2 := parseClock(to)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("calendar: hours %q (want HH:MM-HH:MM, e.g. 08:00-18:00)", h)
		}
		spans = append(spans, Span{Start: start, End: end})
	}
	return spans, nil
}

// parseClock reads "HH:MM" as minutes after midnight; "24:00" is 1440.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err == nil && len(s) == 5 {
		return t.Hour()*60 + t.Minute(), nil
	}
	if s == "24:00" {
		return 24 * 60, nil
	}
	return 0, fmt.Errorf("clock %q", s)
}
