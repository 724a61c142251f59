package org

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCalendarJSONRoundTrip(t *testing.T) {
	const hand = `{
		"zone": "Asia/Shanghai",
		"weekly": {
			"mon": ["08:00-12:00", "13:00-18:00"],
			"fri": ["08:00-18:00", "22:00-02:00"],
			"sat": ["08:00-24:00"],
			"sun": []
		},
		"exceptions": [
			{"date": "2026-10-01", "hours": []},
			{"date": "2026-09-27", "hours": ["08:00-18:00"]}
		]
	}`
	var got Calendar
	if err := json.Unmarshal([]byte(hand), &got); err != nil {
		t.Fatal(err)
	}
	want := Calendar{
		Zone: "Asia/Shanghai",
		Weekly: map[time.Weekday][]Span{
			time.Monday:   {{8 * 60, 12 * 60}, {13 * 60, 18 * 60}},
			time.Friday:   {{8 * 60, 18 * 60}, {22 * 60, 2 * 60}},
			time.Saturday: {{8 * 60, 24 * 60}},
		},
		Exceptions: []Exception{{Date: "2026-10-01"}, {Date: "2026-09-27", Spans: []Span{{8 * 60, 18 * 60}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Unmarshal(hand-written calendar) differs (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"zone":"Asia/Shanghai","weekly":{"fri":["08:00-18:00","22:00-02:00"],"mon":["08:00-12:00","13:00-18:00"],"sat":["08:00-24:00"]},` +
		`"exceptions":[{"date":"2026-10-01","hours":[]},{"date":"2026-09-27","hours":["08:00-18:00"]}]}`
	if string(b) != wantJSON {
		t.Errorf("Marshal = %s, want %s", b, wantJSON)
	}
	var again Calendar
	if err := json.Unmarshal(b, &again); err != nil || !cmp.Equal(got, again) {
		t.Errorf("Unmarshal(Marshal(c)) = %+v, %v; want %+v", again, err, got)
	}
}

func TestCalendarJSONRefusesWhatAnAdminMightMistype(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"zone":"Asia/Shanghai","weekly":{"monday":["08:00-18:00"]}}`, `weekday "monday"`},
		{`{"zone":"Asia/Shanghai","weekly":{"mon":["8:00-18:00"]}}`, `hours "8:00-18:00"`},
		{`{"zone":"Asia/Shanghai","weekly":{"mon":["08:00 to 18:00"]}}`, `hours "08:00 to 18:00"`},
		{`{"zone":"Asia/Shanghai","weekly":{"mon":["08:00-25:00"]}}`, `hours "08:00-25:00"`},
		{`{"zone":"Asia/Shanghai","weekly":{"mon":[480]}}`, `calendar:`},
		{`{"zone":"Asia/Shanghai","holidays":["2026-10-01"]}`, `unknown field "holidays"`},
		{`{"zone":"Asia/Shanghai","exceptions":[{"date":"2026-10-01","closed":true}]}`, `unknown field "closed"`},
	} {
		var c Calendar
		err := json.Unmarshal([]byte(tc.in), &c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Unmarshal(%s) = %v, want an error naming %s", tc.in, err, tc.want)
		}
	}
}
