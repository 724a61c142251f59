package chat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// A customer token is how a dealer's site, whose visitor is logged in
// there, tells the widget who the visitor is:
//
//	base64url(payload) "." base64url(HMAC-SHA256(site secret, payload))
//
// with payload {"site": chat key, "customer": the site's own customer id,
// "exp": unix seconds}, valid for at most 24 hours. The site's secret is
// generated and rotated by an admin (POST /api/sites/{id}/chat-secret).

// customerClaims is a customer token's payload.
type customerClaims struct {
	Site     string `json:"site"`
	Customer string `json:"customer"`
	Exp      int64  `json:"exp"`
}

// maxCustomerTTL is the longest a customer token may live; a minute of
// clock skew between the dealer's server and ours is forgiven.
const (
	maxCustomerTTL = 24 * time.Hour
	clockSkew      = time.Minute
	maxCustomerID  = 128
)

// Why a customer token was refused; each is told to the widget as it is.
var (
	errCustomerMalformed = errors.New("the customer token is malformed")
	errCustomerForged    = errors.New("the customer token's signature is not this site's")
	errCustomerExpired   = errors.New("the customer token has expired")
	errCustomerTooLong   = errors.New("the customer token is valid for more than 24 hours")
	errCustomerOtherSite = errors.New("the customer token is for another site")
	errCustomerNoSecret  = errors.New("this site does not accept customer tokens")
)

// SignCustomerToken makes a customer token; dealers' servers do the same
// in their own language. It is here for tests and for documentation.
func SignCustomerToken(secret []byte, site, customer string, exp time.Time) string {
	payload, _ := json.Marshal(customerClaims{Site: site, Customer: customer, Exp: exp.Unix()})
	mac := hmac.New(sha256.New, secret)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// parseCustomerToken checks a customer token for the site with chat key
// site. The signature is checked before anything in the payload is
// believed.
func parseCustomerToken(secret []byte, site, s string, now time.Time) (customerClaims, error) {
	if len(s) > 1024 {
		return customerClaims{}, errCustomerMalformed
	}
	p, sig, ok := strings.Cut(s, ".")
	if !ok || strings.Contains(sig, ".") {
		return customerClaims{}, errCustomerMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return customerClaims{}, errCustomerMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return customerClaims{}, errCustomerMalformed
	}
	if len(secret) == 0 {
		return customerClaims{}, errCustomerNoSecret
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return customerClaims{}, errCustomerForged
	}
	var c customerClaims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Customer == "" || len(c.Customer) > maxCustomerID ||
		strings.TrimSpace(c.Customer) != c.Customer || c.Exp == 0 {
		return customerClaims{}, errCustomerMalformed
	}
	switch {
	case c.Site != site:
		return customerClaims{}, errCustomerOtherSite
	case now.Unix() >= c.Exp:
		return customerClaims{}, errCustomerExpired
	case time.Unix(c.Exp, 0).Sub(now) > maxCustomerTTL+clockSkew:
		return customerClaims{}, errCustomerTooLong
	}
	return c, nil
}
