package agentdesk

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"type":"send","id":"1","contact_id":"x","client_id":"c","body":"hi"}`, nil},
		{`{"type":"send","colour":"red"}`, errBadFrame},
		{`{"type":`, errBadFrame},
		{`[1,2]`, errBadFrame},
		{`{"type":"send"} {"type":"send"}`, errBadFrame},
		{`{"type":"send","body":"` + strings.Repeat("x", maxFrame) + `"}`, errFrameTooLarge},
	} {
		var f clientFrame
		if err := decodeFrame([]byte(tc.in), &f); !errors.Is(err, tc.want) {
			t.Errorf("decodeFrame(%.40q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

// FuzzDecodeFrame: no input makes the console's frame decoder panic, and
// whatever it accepts fits the size limit.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(`{"type":"accept","id":"f1","offer_id":"0193b2c4-0000-7000-8000-000000000000"}`)
	f.Add(`{"type":"close","contact_id":"","wrap_up":"\u0000"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		var fr clientFrame
		if err := decodeFrame([]byte(s), &fr); err == nil && len(s) > maxFrame {
			t.Errorf("accepted a frame of %d bytes", len(s))
		}
	})
}
