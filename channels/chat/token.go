package chat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// visitorToken names a visitor and their current chat. The widget keeps it;
// the HMAC stops a visitor from naming someone else's chat.
type visitorToken struct {
	Site    uuid.UUID `json:"s"`
	Visitor uuid.UUID `json:"v"`
	Contact uuid.UUID `json:"c,omitzero"`
	Expires int64     `json:"e"`
}

const tokenTTL = 30 * 24 * time.Hour

var errBadToken = errors.New("invalid or expired visitor token")

func signToken(secret []byte, t visitorToken) string {
	payload, _ := json.Marshal(t)
	body := "v1." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func parseToken(secret []byte, s string, now time.Time) (visitorToken, error) {
	if len(s) > 512 {
		return visitorToken{}, errBadToken
	}
	i := strings.LastIndexByte(s, '.')
	if i < 0 || !strings.HasPrefix(s, "v1.") {
		return visitorToken{}, errBadToken
	}
	body, sig := s[:i], s[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return visitorToken{}, errBadToken
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return visitorToken{}, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(body, "v1."))
	if err != nil {
		return visitorToken{}, errBadToken
	}
	var t visitorToken
	if err := json.Unmarshal(payload, &t); err != nil || t.Visitor == uuid.Nil || now.Unix() > t.Expires {
		return visitorToken{}, errBadToken
	}
	return t, nil
}
