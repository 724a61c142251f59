package cti

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	body := []byte(`{"event":"new_call","call_id":"c1"}`)
	const secret = "s3cret-of-the-pbx"
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	good := Sign(secret, now, body)

	tests := []struct {
		name            string
		secret, sig, ts string
		body            string
		want            error
	}{
		{"good", secret, good, ts(0), string(body), nil},
		{"good, sent 4m ago", secret, Sign(secret, now.Add(-4*time.Minute), body), ts(-4 * time.Minute), string(body), nil},
		{"good, clock 4m ahead", secret, Sign(secret, now.Add(4*time.Minute), body), ts(4 * time.Minute), string(body), nil},
		{"forged with another secret", secret, Sign("guess", now, body), ts(0), string(body), errBadSignature},
		{"body changed", secret, good, ts(0), strings.Replace(string(body), "c1", "c2", 1), errBadSignature},
		{"timestamp changed", secret, good, ts(time.Second), string(body), errBadSignature},
		{"stale: 6m old", secret, Sign(secret, now.Add(-6*time.Minute), body), ts(-6 * time.Minute), string(body), errStale},
		{"stale: 6m ahead", secret, Sign(secret, now.Add(6*time.Minute), body), ts(6 * time.Minute), string(body), errStale},
		{"missing signature", secret, "", ts(0), string(body), errNoSignature},
		{"missing timestamp", secret, good, "", string(body), errNoSignature},
		{"timestamp not digits", secret, good, "17e8", string(body), errBadTimestamp},
		{"timestamp signed", secret, good, "+" + ts(0), string(body), errBadTimestamp},
		{"timestamp huge", secret, good, "99999999999999999999", string(body), errBadTimestamp},
		{"no sha256= prefix", secret, strings.TrimPrefix(good, "sha256="), ts(0), string(body), errBadSignature},
		{"not hex", secret, "sha256=zz", ts(0), string(body), errBadSignature},
		{"truncated", secret, good[:len(good)-2], ts(0), string(body), errBadSignature},
		{"connector without secret", "", Sign("", now, body), ts(0), string(body), errNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.secret, tt.sig, tt.ts, []byte(tt.body), now); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSignKnownValue pins the wire format against a value computed outside
// Go (printf '1700000000.{}' | openssl dgst -sha256 -hmac key), so a PBX
// script written from docs/phone.md signs as we verify.
func TestSignKnownValue(t *testing.T) {
	got := Sign("key", time.Unix(1700000000, 0), []byte("{}"))
	const want = "sha256=" + opensslHMAC
	if got != want {
		t.Errorf("Sign(key, 1700000000, {}) = %s, want %s", got, want)
	}
}

const opensslHMAC = "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
