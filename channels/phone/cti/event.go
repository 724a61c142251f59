package cti

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// Limits of the text fields. A call id of 250 characters is Zammad's own
// limit; numbers may be SIP URIs; an extension may be a login or an e-mail
// address, as Zammad's answeringNumber allows.
const (
	maxID     = 250
	maxNumber = 128
	maxURL    = 2048
	maxDigits = 32
)

// checkText rejects what would fail later in the store or the logs with a
// less clear error: text that is not UTF-8, control characters (PostgreSQL
// refuses NUL), and values over max characters.
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return badRequest("invalid", field+": not UTF-8")
	}
	if utf8.RuneCountInString(v) > max {
		return badRequest("invalid", fmt.Sprintf("%s: over %d characters", field, max))
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return badRequest("invalid", field+": contains a control character")
	}
	return nil
}

// checkDigits allows what a phone keypad sends.
func checkDigits(v string) error {
	if v == "" {
		return badRequest("invalid", "digits: required on a digits event")
	}
	if len(v) > maxDigits {
		return badRequest("invalid", fmt.Sprintf("digits: over %d characters", maxDigits))
	}
	if strings.Trim(v, "0123456789*#") != "" {
		return badRequest("invalid", "digits: only 0-9, * and # are allowed")
	}
	return nil
}

// checkRecordingURL wants an absolute http(s) URL: agents open it.
func checkRecordingURL(v string) error {
	if err := checkText("recording_url", v, maxURL); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badRequest("invalid", "recording_url: not an absolute http or https URL")
	}
	return nil
}

// deriveEventID makes the idempotency key of an event the telephony sent
// without one, from what makes it that event: the call, the kind, the
// agent leg, what it carries, and when the telephony says it happened
// (at, as given; empty when not given). A retried request gives the same
// id, so the Hotline ignores it; a different event differs in one of these.
// The cause is left out on purpose: a call ends once, and a repeated hang-up
// with another cause is still a repeat.
func deriveEventID(ev phone.Event, at string) string {
	h := sha256.New()
	for _, f := range []string{ev.CallID, string(ev.Kind), ev.Extension, ev.Target, ev.Digits, ev.RecordingURL, at} {
		// Length-prefixed, so no two lists of fields hash the same text.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return "sb1-" + hex.EncodeToString(h.Sum(nil)[:16])
}
