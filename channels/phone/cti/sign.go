package cti

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed request, in both directions: the PBX's webhook calls
// and Switchboard's control commands.
const (
	HeaderSignature = "X-Switchboard-Signature"
	HeaderTimestamp = "X-Switchboard-Timestamp"
	// HeaderIdempotency carries the command's key on control commands.
	HeaderIdempotency = "Idempotency-Key"
)

// MaxSkew is how far a signed request's timestamp may be from our clock.
// A captured request can be replayed only within it, and a replay within
// it is a no-op because every event carries an idempotency key.
const MaxSkew = 5 * time.Minute

const sigPrefix = "sha256="

// Errors of Verify. They say what is wrong without saying what was
// expected: the caller must not learn anything about the secret.
var (
	errNoSignature  = errors.New("missing " + HeaderSignature + " or " + HeaderTimestamp + " header")
	errBadTimestamp = errors.New(HeaderTimestamp + " is not unix seconds")
	errStale        = errors.New(HeaderTimestamp + " is more than 5 minutes from the server's clock")
	errBadSignature = errors.New(HeaderSignature + " does not match the body")
	errNoSecret     = errors.New("the connector has no secret configured")
)

// Sign returns the X-Switchboard-Signature value of body sent at ts:
// "sha256=" and the hex HMAC-SHA256, keyed with secret, of the decimal
// unix timestamp, a dot, and the body's exact bytes. Signing the timestamp
// with the body is what stops an old request from being replayed later.
func Sign(secret string, ts time.Time, body []byte) string {
	return sigPrefix + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a request's signature and timestamp header values against
// body, secret and now. An empty secret never verifies: a connector saved
// without one must not accept unsigned requests.
func Verify(secret, signature, timestamp string, body []byte, now time.Time) error {
	if secret == "" {
		return errNoSecret
	}
	if signature == "" || timestamp == "" {
		return errNoSignature
	}
	// Digits only: ParseInt would take a sign, and the signed text must be
	// the header exactly as sent.
	if len(timestamp) > 12 || strings.TrimLeft(timestamp, "0123456789") != "" {
		return errBadTimestamp
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return errStale
	}
	got, ok := strings.CutPrefix(signature, sigPrefix)
	if !ok {
		return errBadSignature
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return errBadSignature
	}
	if !hmac.Equal(sum, mac(secret, timestamp, body)) {
		return errBadSignature
	}
	return nil
}
