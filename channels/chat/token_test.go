package chat

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var secret = []byte("0123456789abcdef-test")

func TestTokenRoundTripAndForgery(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok := visitorToken{Site: uuid.New(), Visitor: uuid.New(), Contact: uuid.New(), Expires: now.Add(time.Hour).Unix()}
	s := signToken(secret, tok)
	got, err := parseToken(secret, s, now)
	if err != nil || got != tok {
		t.Fatalf("parseToken(signToken(%v)) = %v, %v", tok, got, err)
	}
	cases := map[string]string{
		"other secret":  signToken([]byte("another secret, 21b"), tok),
		"tampered body": strings.Replace(s, "v1.e", "v1.f", 1),
		"truncated sig": s[:len(s)-3],
		"no signature":  s[:strings.LastIndexByte(s, '.')],
		"empty":         "",
		"wrong version": "v2" + s[2:],
		"expired":       signToken(secret, visitorToken{Site: tok.Site, Visitor: tok.Visitor, Expires: now.Add(-time.Second).Unix()}),
		"no visitor":    signToken(secret, visitorToken{Site: tok.Site, Expires: now.Add(time.Hour).Unix()}),
		"absurdly long": s + strings.Repeat("A", 600),
	}
	for name, bad := range cases {
		if _, err := parseToken(secret, bad, now); err == nil {
			t.Errorf("%s: parseToken accepted %q", name, bad)
		}
	}
}

// FuzzParseToken: whatever a visitor sends as a token, parsing neither
// panics nor accepts anything that was not signed with the secret.
func FuzzParseToken(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(signToken(secret, visitorToken{Site: uuid.New(), Visitor: uuid.New(), Expires: now.Add(time.Hour).Unix()}))
	f.Add("v1..")
	f.Add("v1.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseToken(secret, s, now)
		if err != nil {
			return
		}
		if signToken(secret, tok) != s && !strings.HasPrefix(s, "v1.") {
			t.Errorf("accepted a token in another format: %q", s)
		}
		if tok.Visitor == uuid.Nil {
			t.Errorf("accepted a token without a visitor: %q", s)
		}
	})
}
