package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/url"
	"slices"
	"strings"
)

// SignatureHeader carries Twilio's signature of a webhook request.
const SignatureHeader = "X-Twilio-Signature"

// Signature is what Twilio sends in X-Twilio-Signature for a request to
// fullURL with the form params: base64(HMAC-SHA1(authToken, fullURL followed
// by every key and value, keys sorted byte-wise, no separators)). A key sent
// more than once contributes each of its values, sorted, so that a repeated
// field cannot be added to a signed request without breaking it. For a GET
// request and for the JSON-body variant, params is empty: the signature
// covers the URL alone.
func Signature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyForm reports whether sig is Twilio's signature of a form request to
// fullURL. Twilio has signed URLs of the default port both with and without
// the port written out (its own validators try both), so both are tried.
func VerifyForm(authToken, fullURL string, params url.Values, sig string) bool {
	if sig == "" || authToken == "" {
		return false
	}
	ok := false
	for _, u := range portVariants(fullURL) {
		// Every variant is computed and compared, so the time taken does
		// not say which one came close.
		if equal(Signature(authToken, u, params), sig) {
			ok = true
		}
	}
	return ok
}

// VerifyBody reports whether sig is Twilio's signature of a JSON-body
// request to fullURL: the URL carries the body's SHA-256 (hex) in its
// bodySHA256 query parameter, the signature covers the URL alone, and the
// body must hash to that value. A URL without bodySHA256 never verifies:
// nothing would then vouch for the body.
func VerifyBody(authToken, fullURL string, body []byte, sig string) bool {
	want := bodySHA256(fullURL)
	if want == "" {
		return false
	}
	sum := sha256.Sum256(body)
	bodyOK := equal(hex.EncodeToString(sum[:]), strings.ToLower(want))
	sigOK := VerifyForm(authToken, fullURL, nil, sig)
	return bodyOK && sigOK
}

// bodySHA256 is the bodySHA256 query parameter of u, or "".
func bodySHA256(u string) string {
	_, q, ok := strings.Cut(u, "?")
	if !ok {
		return ""
	}
	vs, err := url.ParseQuery(q)
	if err != nil {
		return ""
	}
	return vs.Get("bodySHA256")
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// portVariants is fullURL as given, plus the same URL with the scheme's
// default port added when it has none, or with its port removed when it has
// one: the variants Twilio's own validators accept.
func portVariants(fullURL string) []string {
	scheme, rest, ok := strings.Cut(fullURL, "://")
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(scheme)]
	if !ok || def == "" {
		return []string{fullURL}
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	authority, tail := rest[:hostEnd], rest[hostEnd:]
	if authority == "" || strings.Contains(authority, "@") {
		// No host, or userinfo in a webhook URL: only as configured.
		return []string{fullURL}
	}
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		return []string{fullURL, scheme + "://" + net.JoinHostPort(strings.Trim(authority, "[]"), def) + tail}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return []string{fullURL, scheme + "://" + host + tail}
}
