package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// twilioSign returns our signature of a form request after checking that
// the official twilio-go RequestValidator accepts it: every signature the
// tests send is one Twilio's own library vouches for.
func twilioSign(t testing.TB, token, fullURL string, params url.Values) string {
	t.Helper()
	sig := Signature(token, fullURL, params)
	flat := map[string]string{}
	for k, vs := range params {
		flat[k] = vs[0]
	}
	v := client.NewRequestValidator(token)
	if !v.Validate(fullURL, flat, sig) {
		t.Fatalf("twilio-go rejects our signature of %s", fullURL)
	}
	return sig
}

// twilioSignBody is the JSON-body variant: the URL gets bodySHA256, the
// signature covers the URL alone, and twilio-go's ValidateBody checks both.
func twilioSignBody(t testing.TB, token, fullURL string, body []byte) (string, string) {
	t.Helper()
	sum := sha256.Sum256(body)
	sep := "?"
	if u, _ := url.Parse(fullURL); u != nil && u.RawQuery != "" {
		sep = "&"
	}
	signedURL := fullURL + sep + "bodySHA256=" + hex.EncodeToString(sum[:])
	sig := Signature(token, signedURL, nil)
	v := client.NewRequestValidator(token)
	if !v.ValidateBody(signedURL, body, sig) {
		t.Fatalf("twilio-go rejects our JSON-body signature of %s", signedURL)
	}
	return signedURL, sig
}

// The vectors of twilio-go v1.31.0's own request_validator_test.go (auth
// token "12345"), signatures computed by Twilio's library, not by us.
var (
	docURL    = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docParams = url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"}, "From": {"+14158675309"}}
	docBody   = []byte(`{"property": "value", "boolean": true}`)
)

func TestSignatureKnownVectors(t *testing.T) {
	if got, want := Signature("12345", docURL, docParams), "RSOYDt4T1cUTdK1PDd93/VVr8B8="; got != want {
		t.Errorf("Signature(docURL) = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		url, sig string
		want     bool
	}{
		{docURL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		{docURL, "WRONG SIGNATURE", false},
		{docURL, "", false},
		// Signed with the default port written out / without a port.
		{docURL, "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
		{"https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		{"http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4=", true},
		{"http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", true},
		// Another path or query is another URL.
		{"https://mycompany.com/myapp.php?foo=1&bar=3", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
	} {
		if got := VerifyForm("12345", tc.url, docParams, tc.sig); got != tc.want {
			t.Errorf("VerifyForm(%q, %q) = %v, want %v", tc.url, tc.sig, got, tc.want)
		}
	}
	if VerifyForm("54321", docURL, docParams, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("VerifyForm with another token accepted")
	}
	if VerifyForm("", docURL, docParams, Signature("", docURL, docParams)) {
		t.Error("VerifyForm with an empty auth token accepted")
	}
	forged := url.Values{}
	for k, v := range docParams {
		forged[k] = v
	}
	forged.Set("Digits", "9")
	if VerifyForm("12345", docURL, forged, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("VerifyForm accepted changed parameters")
	}
	// A repeated field added to a signed request breaks the signature (the
	// official validator would look at the first value only).
	forged = url.Values{}
	for k, v := range docParams {
		forged[k] = v
	}
	forged.Add("Digits", "9")
	if VerifyForm("12345", docURL, forged, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("VerifyForm accepted a repeated field")
	}

	bodyHash := "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	for _, tc := range []struct {
		url, sig string
		body     []byte
		want     bool
	}{
		{docURL + "&bodySHA256=" + bodyHash, "a9nBmqA0ju/hNViExpshrM61xv4=", docBody, true},
		{"https://mycompany.com/myapp.php?bodySHA256=" + bodyHash, "y77kIzt2vzLz71DgmJGsen2scGs=", docBody, true},
		// The body changed: the signature still fits the URL, the hash not.
		{docURL + "&bodySHA256=" + bodyHash, "a9nBmqA0ju/hNViExpshrM61xv4=", []byte(`{"property": "other"}`), false},
		// No bodySHA256 in the URL: nothing vouches for the body.
		{docURL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", docBody, false},
		{docURL + "&bodySHA256=" + bodyHash, "", docBody, false},
	} {
		if got := VerifyBody("12345", tc.url, tc.body, tc.sig); got != tc.want {
			t.Errorf("VerifyBody(%q, %q) = %v, want %v", tc.url, tc.sig, got, tc.want)
		}
	}
}

// Our signatures pass twilio-go's validator and ours, for URLs and values
// of the shapes the webhooks carry (Chinese text, spaces, plus signs).
func TestSignatureAgreesWithTwilioGo(t *testing.T) {
	for _, tc := range []struct {
		url    string
		params url.Values
	}{
		{"https://cc.example.com/phone/twilio/x/voice", url.Values{"CallSid": {"CA1"}, "From": {"+8613800138000"}, "To": {"+862112345678"}, "CallerName": {"王 伟"}}},
		{"https://cc.example.com/phone/twilio/x/status?leg=agent&ext=agent_li", url.Values{"CallStatus": {"in-progress"}, "a": {""}, "B": {"&="}}},
		{"http://localhost:8080/phone/twilio/x/wait", nil},
	} {
		sig := twilioSign(t, "tok", tc.url, tc.params)
		if !VerifyForm("tok", tc.url, tc.params, sig) {
			t.Errorf("VerifyForm(%q) rejects a twilio-go-valid signature", tc.url)
		}
		signedURL, bsig := twilioSignBody(t, "tok", tc.url, []byte(`{"CallSid":"CA1"}`))
		if !VerifyBody("tok", signedURL, []byte(`{"CallSid":"CA1"}`), bsig) {
			t.Errorf("VerifyBody(%q) rejects a twilio-go-valid signature", signedURL)
		}
	}
}
