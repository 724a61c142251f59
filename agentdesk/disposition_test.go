package agentdesk

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/org"
)

// TestDispositionFrames: close and done carry the code in "disposition";
// one longer than any queue's code may be is refused as invalid before the
// database is asked.
func TestDispositionFrames(t *testing.T) {
	for _, typ := range []string{"close", "done"} {
		var f clientFrame
		in := `{"type":"` + typ + `","id":"f1","contact_id":"0193b2c4-0000-7000-8000-000000000000","wrap_up":"note","disposition":"Quote sent"}`
		if err := decodeFrame([]byte(in), &f); err != nil || f.Disposition != "Quote sent" || f.WrapUp != "note" {
			t.Errorf("decodeFrame(%s) = %+v, %v; want disposition Quote sent beside the note", typ, f, err)
		}
	}
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"", true},
		{"Booked service", true},
		{strings.Repeat("长", org.MaxDispositionLen), true},
		{strings.Repeat("长", org.MaxDispositionLen+1), false},
	} {
		err := checkDisposition(tc.code)
		var fe *frameError
		if tc.ok != (err == nil) || !tc.ok && (!errors.As(err, &fe) || fe.code != "invalid") {
			t.Errorf("checkDisposition(%d characters) = %v, want ok %v (else code invalid)", len([]rune(tc.code)), err, tc.ok)
		}
	}
	if got := nonNil(nil); got == nil || len(got) != 0 {
		t.Errorf("nonNil(nil) = %#v, want an empty list (JSON [])", got)
	}
}
