package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// FuzzWebhook throws arbitrary bodies, content types, queries and
// endpoints at the handler, unsigned and correctly signed (so decoding and
// the Hotline paths run too, not only the signature check). It must never
// panic, and answer only with the statuses the webhooks document; a signed
// request is never 403.
func FuzzWebhook(f *testing.F) {
	f.Add("voice", "", "application/x-www-form-urlencoded", incomingForm().Encode(), true)
	f.Add("gather", "attempt=3", "application/x-www-form-urlencoded", "CallSid=CA1&Digits=1", true)
	f.Add("wait", "", "application/x-www-form-urlencoded", "CallSid=CA1&QueuePosition=-4&AvgQueueTime=99999999999", true)
	f.Add("status", "leg=agent&ext=1", "", "CallSid=CA1&DialCallStatus=no-answer", true)
	f.Add("status", "leg=voicemail&lang=zh", "", "CallSid=CA1&RecordingUrl=https%3A%2F%2Fx%2Fr", true)
	f.Add("status", "bodySHA256=00", "application/json", `{"CallSid":"CA1","CallStatus":"completed","n":1.5e400}`, true)
	f.Add("status", "", "application/json", `{"CallSid":`, false)
	f.Add("queue", "%zz", "text/plain", "CallSid=%zz&&&=", false)
	f.Add("voice", "attempt=99", "application/json; charset=utf-8", `{"CallSid":"CA1"} {}`, true)
	f.Fuzz(func(t *testing.T, endpoint, query, ctype, body string, sign bool) {
		s := newSetup(t)
		s.hotline.incoming = phone.Route{Action: phone.ActionMenu, Say: []string{body}}
		s.hotline.waiting = phone.Route{Action: phone.ActionQueue, Language: query, Position: len(body), Wait: time.Duration(len(query)) * time.Hour}
		pq := "/phone/twilio/" + testConnID.String() + "/" + url.PathEscape(endpoint)
		if query != "" {
			pq += "?" + query
		}
		full := "https://cc.example.com" + pq
		sig := ""
		if sign {
			if strings.Contains(query, "bodySHA256") {
				// Re-sign with the body's real hash: the JSON variant.
				u, _ := url.Parse(full)
				if u == nil {
					return
				}
				full, sig = signBody(full, body)
				pq = strings.TrimPrefix(full, "https://cc.example.com")
			} else if form, err := url.ParseQuery(body); err == nil {
				sig = Signature(testToken, full, form)
			}
		}
		r, err := http.NewRequest(http.MethodPost, "http://internal"+pq, strings.NewReader(body))
		if err != nil {
			return
		}
		if r.URL.RawQuery != query && !strings.Contains(query, "bodySHA256") {
			return // not a query a client could send as it is
		}
		r.RequestURI = pq
		r.Header.Set("Content-Type", ctype)
		r.Header.Set(SignatureHeader, sig)
		w := newRecorder()
		s.h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 404, 413:
		case 403:
			mt, _, _ := mime.ParseMediaType(ctype)
			q, _ := url.ParseQuery(r.URL.RawQuery)
			unsignedBody := mt == "application/json" && !q.Has("bodySHA256")
			if sig != "" && !unsignedBody {
				t.Errorf("a signed request got 403: %q %q", pq, body)
			}
		default:
			t.Errorf("status %d for %q %q", w.Code, pq, body)
		}
	})
}

// signBody adds bodySHA256 (replacing any there) and signs the URL.
func signBody(full, body string) (string, string) {
	u, _ := url.Parse(full)
	q := u.Query()
	q.Del("bodySHA256")
	sum := sha256.Sum256([]byte(body))
	q.Set("bodySHA256", hex.EncodeToString(sum[:]))
	u.RawQuery = q.Encode()
	s := u.String()
	return s, Signature(testToken, s, nil)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// FuzzVerify: any URL, parameters and body; a signature we make always
// verifies, a changed one never does, and nothing panics.
func FuzzVerify(f *testing.F) {
	f.Add("12345", docURL, docParams.Encode(), string(docBody))
	f.Add("t", "https://[::1]:443/x?bodySHA256=ab", "a=1&a=2", "")
	f.Add("t", "http://user@host/p", "", "{}")
	f.Add("t", "https://h:notaport/p?q#frag", "%zz", "x")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, token, fullURL, form, body string) {
		params, _ := url.ParseQuery(form)
		sig := Signature(token, fullURL, params)
		if token != "" && !VerifyForm(token, fullURL, params, sig) {
			t.Errorf("VerifyForm rejects its own signature of %q", fullURL)
		}
		if VerifyForm(token, fullURL, params, sig+"A") {
			t.Errorf("VerifyForm accepts a changed signature of %q", fullURL)
		}
		VerifyBody(token, fullURL, []byte(body), sig)
		signed, bsig := signBody("https://cc.example.com/p?x=1", body)
		if !VerifyBody(testToken, signed, []byte(body), bsig) {
			t.Errorf("VerifyBody rejects its own signature of %q", body)
		}
		if VerifyBody(testToken, signed, []byte(body+"x"), bsig) {
			t.Errorf("VerifyBody accepts a changed body")
		}
	})
}
