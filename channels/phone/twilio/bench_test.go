package twilio

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkVoiceWebhook: one incoming call through the handler (connector
// look-up in memory, body read, signature check, a fake Hotline, the menu's
// TwiML): the connector's own cost per Twilio request.
func BenchmarkVoiceWebhook(b *testing.B) {
	s := newSetup(b)
	p := path(testConnID, "voice")
	form := incomingForm()
	body := form.Encode()
	sig := Signature(testToken, "https://cc.example.com"+p, form)
	b.ReportAllocs()
	for b.Loop() {
		s.hotline.calls, s.hotline.events = s.hotline.calls[:0], s.hotline.events[:0]
		r := httptest.NewRequest(http.MethodPost, p, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(SignatureHeader, sig)
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
