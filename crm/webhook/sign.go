package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of every delivery.
const (
	HeaderEvent     = "X-Switchboard-Event"
	HeaderDelivery  = "X-Switchboard-Delivery"  // the outbox row id: the same on every retry
	HeaderTimestamp = "X-Switchboard-Timestamp" // Unix seconds of this attempt
	HeaderSignature = "X-Switchboard-Signature" // "sha256=" + hex HMAC of timestamp + "." + body
)

// Sign returns the X-Switchboard-Signature value for body sent at
// timestamp (Unix seconds, as in the header). Signing the timestamp with the
// body lets receivers refuse replays of an old delivery.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature: a delivery's signature does not match, or its timestamp
// is outside the tolerance.
var ErrBadSignature = errors.New("webhook signature does not verify")

// Verify is what a receiver written in Go does with a delivery: it checks
// the signature in constant time and that the timestamp is within
// tolerance of now.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(strings.TrimSpace(signature))) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	return nil
}
