package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// fakeHotline records what the handler asks of it and answers with the
// routes a test sets.
type fakeHotline struct {
	mu       sync.Mutex
	calls    []string // "Incoming CA1", "Choose CA1 2", "Waiting CA1", "Handle ended CA1"
	events   []phone.Event
	incoming phone.Route
	choose   phone.Route
	waiting  phone.Route
	err      error
}

func (f *fakeHotline) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeHotline) Incoming(_ context.Context, c phone.Connector, ev phone.Event) (phone.Route, error) {
	f.record("Incoming " + ev.CallID)
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	return f.incoming, f.err
}

func (f *fakeHotline) Choose(_ context.Context, c phone.Connector, callID, digits string) (phone.Route, error) {
	f.record("Choose " + callID + " " + digits)
	return f.choose, f.err
}

func (f *fakeHotline) Waiting(_ context.Context, c phone.Connector, callID string) (phone.Route, error) {
	f.record("Waiting " + callID)
	return f.waiting, f.err
}

func (f *fakeHotline) Handle(_ context.Context, c phone.Connector, ev phone.Event) error {
	f.record("Handle " + string(ev.Kind) + " " + ev.CallID)
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	return f.err
}

type fakeConnectors map[uuid.UUID]phone.Connector

func (f fakeConnectors) Connector(_ context.Context, id uuid.UUID) (phone.Connector, error) {
	c, ok := f[id]
	if !ok {
		return phone.Connector{}, ErrNoConnector
	}
	return c, nil
}

const testToken = "auth-token-0123456789abcdef"

var (
	otherConnID  = uuid.MustParse("0190d3a4-7b5e-7c1a-9f00-0000000000dd")
	brokenConnID = uuid.MustParse("0190d3a4-7b5e-7c1a-9f00-0000000000ee")
)

type setup struct {
	h       *Handler
	hotline *fakeHotline
	logs    *strings.Builder
}

func newSetup(t testing.TB) setup {
	t.Helper()
	hl := &fakeHotline{
		incoming: menuRoute("en"),
		choose:   phone.Route{Action: phone.ActionQueue, Language: "en", QueueID: testQueue},
		waiting:  phone.Route{Action: phone.ActionQueue, Language: "en", QueueID: testQueue, Position: 2, Wait: 3 * time.Minute},
	}
	conns := fakeConnectors{
		testConnID:  {ID: testConnID, TenantID: uuid.New(), Kind: phone.KindTwilio, Mode: phone.Control, Secret: testToken, AccountSID: "ACtest"},
		otherConnID: {ID: otherConnID, Kind: phone.KindGeneric, Secret: testToken},
	}
	logs := &strings.Builder{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	h := NewHandler(connsWithBroken{conns}, hl, Config{PublicURL: "https://cc.example.com"}, log)
	h.now = func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }
	return setup{h: h, hotline: hl, logs: logs}
}

// connsWithBroken fails for brokenConnID as a database would.
type connsWithBroken struct{ fakeConnectors }

func (c connsWithBroken) Connector(ctx context.Context, id uuid.UUID) (phone.Connector, error) {
	if id == brokenConnID {
		return phone.Connector{}, errors.New("connection refused")
	}
	return c.fakeConnectors.Connector(ctx, id)
}

// post sends a form request to path (+query) as Twilio would: to the proxy
// in front, which passes it on with another Host, signed over the public
// URL with twilio-go's blessing.
func (s setup) post(t *testing.T, pathQuery string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	sig := twilioSign(t, testToken, "https://cc.example.com"+pathQuery, form)
	return s.send(t, http.MethodPost, pathQuery, form.Encode(), "application/x-www-form-urlencoded", sig)
}

func (s setup) send(t *testing.T, method, pathQuery, body, ctype, sig string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://10.0.0.7:8080"+pathQuery, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	return w
}

func path(id uuid.UUID, endpoint string) string {
	return "/phone/twilio/" + id.String() + "/" + endpoint
}

func incomingForm() url.Values {
	return url.Values{
		"AccountSid": {"ACtest"}, "CallSid": {"CA0001"}, "From": {"+8613800138000"}, "To": {"+862112345678"},
		"Direction": {"inbound"}, "CallStatus": {"ringing"}, "ApiVersion": {"2010-04-01"},
	}
}

func okTwiML(t *testing.T, w *httptest.ResponseRecorder) node {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type %q, want text/xml", ct)
	}
	return parseTwiML(t, w.Body.Bytes())
}

func TestVoiceWebhook(t *testing.T) {
	s := newSetup(t)
	n := okTwiML(t, s.post(t, path(testConnID, "voice"), incomingForm()))
	if diff := cmp.Diff([]string{"Gather", "Redirect"}, n.names()); diff != "" {
		t.Fatalf("verbs (-want +got):\n%s", diff)
	}
	want := phone.Event{CallID: "CA0001", EventID: "CA0001:ringing", Kind: phone.Ringing, Direction: phone.Inbound,
		From: "+8613800138000", To: "+862112345678", At: s.h.now()}
	if diff := cmp.Diff([]phone.Event{want}, s.hotline.events); diff != "" {
		t.Errorf("Incoming's event (-want +got):\n%s", diff)
	}
	// No number in the logs, not even on success.
	if strings.Contains(s.logs.String(), "13800138000") {
		t.Errorf("logs hold the caller's number: %s", s.logs)
	}

	// The repeat of the menu (Redirect) is Incoming again, next play.
	n = okTwiML(t, s.post(t, path(testConnID, "voice")+"?attempt=2", incomingForm()))
	if got := n.Nodes[1].Text; got != testBase+"/voice?attempt=3" {
		t.Errorf("second play redirects to %q", got)
	}

	// An outbound call's direction.
	f := incomingForm()
	f.Set("CallSid", "CA0002")
	f.Set("Direction", "outbound-api")
	okTwiML(t, s.post(t, path(testConnID, "voice"), f))
	if got := s.hotline.events[len(s.hotline.events)-1].Direction; got != phone.Outbound {
		t.Errorf("Direction outbound-api → %q, want outbound", got)
	}
}

func TestGatherWebhook(t *testing.T) {
	s := newSetup(t)
	f := incomingForm()
	f.Set("Digits", "2")
	n := okTwiML(t, s.post(t, path(testConnID, "gather")+"?attempt=1", f))
	if diff := cmp.Diff([]string{"Enqueue"}, n.names()); diff != "" || n.Nodes[0].Text != testQueue.String() {
		t.Errorf("gather 2 → %s", s.hotline.calls)
	}
	// After the last play nobody pressed anything: Choose with "" (the
	// default queue).
	f.Del("Digits")
	okTwiML(t, s.post(t, path(testConnID, "gather")+"?attempt=4", f))
	if diff := cmp.Diff([]string{"Choose CA0001 2", "Choose CA0001 "}, s.hotline.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	// An invalid choice: the Hotline answers with the menu, played next.
	s.hotline.choose = menuRoute("zh-CN")
	f.Set("Digits", "9")
	n = okTwiML(t, s.post(t, path(testConnID, "gather")+"?attempt=1", f))
	if n.Nodes[0].attr("action") != testBase+"/gather?attempt=2" {
		t.Errorf("menu after a wrong digit: %s", n.Nodes[0].attr("action"))
	}
	// And after the last play, goodbye instead of a menu for ever.
	n = okTwiML(t, s.post(t, path(testConnID, "gather")+"?attempt=3", f))
	if diff := cmp.Diff([]string{"Say", "Hangup"}, n.names()); diff != "" {
		t.Errorf("menu after the last play (-want +got):\n%s", diff)
	}
}

func TestWaitWebhook(t *testing.T) {
	s := newSetup(t)
	f := incomingForm()
	f.Set("QueuePosition", "7")
	f.Set("AvgQueueTime", "30")
	n := okTwiML(t, s.post(t, path(testConnID, "wait"), f))
	want := []string{"You are number 2 in line.", "The expected wait is about 3 minutes."}
	if diff := cmp.Diff(want, n.texts()); diff != "" {
		t.Errorf("spoken (-want +got):\n%s", diff)
	}
	// Twilio's figures when the Hotline has none.
	s.hotline.waiting = phone.Route{Action: phone.ActionQueue, Language: "zh-CN"}
	n = okTwiML(t, s.post(t, path(testConnID, "wait"), f))
	if diff := cmp.Diff([]string{"您现在排在第7位。", "预计等待不到1分钟。"}, n.texts()); diff != "" {
		t.Errorf("spoken (-want +got):\n%s", diff)
	}
	// queue (after Cancel) enqueues where the Hotline says.
	s.hotline.waiting = phone.Route{Action: phone.ActionQueue, QueueID: testQueue}
	n = okTwiML(t, s.post(t, path(testConnID, "queue"), f))
	if diff := cmp.Diff([]string{"Enqueue"}, n.names()); diff != "" {
		t.Errorf("queue verbs (-want +got):\n%s", diff)
	}
}

func TestStatusWebhook(t *testing.T) {
	s := newSetup(t)
	// The caller hung up: recorded; the answer is an empty document.
	n := okTwiML(t, s.post(t, path(testConnID, "status"), url.Values{"CallSid": {"CA0001"}, "CallStatus": {"completed"}, "Timestamp": {"Mon, 02 Mar 2026 09:05:00 +0000"}}))
	if len(n.Nodes) != 0 {
		t.Errorf("status callback answered with %v", n.names())
	}
	last := s.hotline.events[len(s.hotline.events)-1]
	if last.Kind != phone.Ended || last.Cause != phone.CauseNormal || !last.At.Equal(time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC)) {
		t.Errorf("event %+v", last)
	}

	// The agent's phone rang out: the leg ended, the caller goes back in
	// line, where the Hotline says.
	s.hotline.calls = nil
	n = okTwiML(t, s.post(t, path(testConnID, "status")+"?leg=agent&ext=agent_li",
		url.Values{"CallSid": {"CA0001"}, "DialCallSid": {"CAleg"}, "DialCallStatus": {"no-answer"}}))
	if diff := cmp.Diff([]string{"Handle ended CA0001", "Waiting CA0001"}, s.hotline.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Enqueue"}, n.names()); diff != "" {
		t.Errorf("after no-answer (-want +got):\n%s", diff)
	}
	last = s.hotline.events[len(s.hotline.events)-1]
	if last.Extension != "agent_li" || last.Cause != phone.CauseNoAnswer || last.EventID != "CAleg:ended" {
		t.Errorf("event %+v", last)
	}

	// The agent talked and hung up: answered, ended, and the caller is
	// hung up too.
	s.hotline.calls = nil
	n = okTwiML(t, s.post(t, path(testConnID, "status")+"?leg=agent&ext=agent_li",
		url.Values{"CallSid": {"CA0001"}, "DialCallSid": {"CAleg"}, "DialCallStatus": {"completed"}}))
	if diff := cmp.Diff([]string{"Handle answered CA0001", "Handle ended CA0001"}, s.hotline.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Hangup"}, n.names()); diff != "" {
		t.Errorf("after the talk (-want +got):\n%s", diff)
	}

	// A voicemail: the recording, then goodbye in the caller's language.
	s.hotline.calls = nil
	n = okTwiML(t, s.post(t, path(testConnID, "status")+"?leg=voicemail&lang=zh-CN",
		url.Values{"CallSid": {"CA0001"}, "RecordingUrl": {"https://api.twilio.com/r/RE1"}, "RecordingSid": {"RE1"}}))
	if diff := cmp.Diff([]string{"Handle recording CA0001"}, s.hotline.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"感谢您的来电，再见。"}, n.texts()); diff != "" {
		t.Errorf("goodbye (-want +got):\n%s", diff)
	}
}

func TestWebhookJSONBody(t *testing.T) {
	s := newSetup(t)
	body := []byte(`{"CallSid":"CA0009","CallStatus":"completed","SequenceNumber":4,"Nested":{"x":1}}`)
	signedURL, sig := twilioSignBody(t, testToken, "https://cc.example.com"+path(testConnID, "status"), body)
	pq := strings.TrimPrefix(signedURL, "https://cc.example.com")
	w := s.send(t, http.MethodPost, pq, string(body), "application/json", sig)
	okTwiML(t, w)
	if diff := cmp.Diff([]string{"Handle ended CA0009"}, s.hotline.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	// The same signature with another body.
	other := `{"CallSid":"CA0009","CallStatus":"canceled"}`
	if w := s.send(t, http.MethodPost, pq, other, "application/json", sig); w.Code != http.StatusForbidden {
		t.Errorf("JSON body swapped: status %d, want 403", w.Code)
	}
	// JSON without bodySHA256: nothing signs the body.
	p := path(testConnID, "status")
	if w := s.send(t, http.MethodPost, p, string(body), "application/json", Signature(testToken, "https://cc.example.com"+p, nil)); w.Code != http.StatusForbidden {
		t.Errorf("JSON without bodySHA256: status %d, want 403", w.Code)
	}
	// Signed, but not a JSON object.
	signedURL, sig = twilioSignBody(t, testToken, "https://cc.example.com"+p, []byte(`[1,2]`))
	if w := s.send(t, http.MethodPost, strings.TrimPrefix(signedURL, "https://cc.example.com"), `[1,2]`, "application/json", sig); w.Code != http.StatusBadRequest {
		t.Errorf("JSON array: status %d, want 400", w.Code)
	}
}

func TestWebhookGET(t *testing.T) {
	s := newSetup(t)
	pq := path(testConnID, "voice") + "?" + incomingForm().Encode()
	sig := twilioSign(t, testToken, "https://cc.example.com"+pq, nil)
	okTwiML(t, s.send(t, http.MethodGet, pq, "", "", sig))
	if diff := cmp.Diff([]string{"Incoming CA0001"}, s.hotline.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestWebhookRefusals(t *testing.T) {
	s := newSetup(t)
	form := incomingForm()
	p := path(testConnID, "voice")
	good := twilioSign(t, testToken, "https://cc.example.com"+p, form)
	forgedForm := incomingForm()
	forgedForm.Set("From", "+8613900000000")
	for _, tc := range []struct {
		name   string
		method string
		pq     string
		body   string
		ctype  string
		sig    string
		status int
		msg    string
	}{
		{"missing signature", "POST", p, form.Encode(), "application/x-www-form-urlencoded", "", 403, "invalid or missing X-Twilio-Signature"},
		{"forged parameters", "POST", p, forgedForm.Encode(), "application/x-www-form-urlencoded", good, 403, ""},
		{"signed for another URL", "POST", p + "?attempt=2", form.Encode(), "application/x-www-form-urlencoded", good, 403, ""},
		{"signed with another token", "POST", p, form.Encode(), "", Signature("other-token", "https://cc.example.com"+p, form), 403, ""},
		{"signed for the Host it arrived with", "POST", p, form.Encode(), "", Signature(testToken, "http://10.0.0.7:8080"+p, form), 403, ""},
		{"unknown connector", "POST", path(uuid.New(), "voice"), form.Encode(), "", good, 404, "not found"},
		{"not a Twilio connector", "POST", path(otherConnID, "voice"), form.Encode(), "", good, 404, ""},
		{"not a uuid", "POST", "/phone/twilio/12345/voice", form.Encode(), "", good, 404, ""},
		{"unknown endpoint", "POST", path(testConnID, "transfer"), form.Encode(), "", good, 404, ""},
		{"no endpoint", "POST", "/phone/twilio/" + testConnID.String(), form.Encode(), "", good, 404, ""},
		{"method", "PUT", p, form.Encode(), "", good, 405, ""},
		{"too large", "POST", p, "CallSid=CA1&Pad=" + strings.Repeat("x", 70<<10), "", good, 413, ""},
		{"bad form", "POST", p, "CallSid=%zz", "", good, 400, "malformed form body"},
		{"lookup fails", "POST", path(brokenConnID, "voice"), form.Encode(), "", good, 500, "temporarily unavailable; try again"},
	} {
		w := s.send(t, tc.method, tc.pq, tc.body, tc.ctype, tc.sig)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, w.Code, tc.status, w.Body)
		}
		if tc.msg != "" && strings.TrimSpace(w.Body.String()) != tc.msg {
			t.Errorf("%s: body %q, want %q", tc.name, w.Body, tc.msg)
		}
	}
	if len(s.hotline.calls) != 0 {
		t.Errorf("refused requests reached the Hotline: %v", s.hotline.calls)
	}
	if strings.Contains(s.logs.String(), testToken) || strings.Contains(s.logs.String(), "13800138000") {
		t.Errorf("logs hold the token or a number: %s", s.logs)
	}
}

// Signed but wrong: 400 with what is wrong, before the Hotline.
func TestWebhookBadParameters(t *testing.T) {
	s := newSetup(t)
	for _, tc := range []struct {
		name string
		pq   string
		form url.Values
		msg  string
	}{
		{"no CallSid", path(testConnID, "voice"), url.Values{"From": {"+1"}}, "CallSid missing"},
		{"bad attempt", path(testConnID, "voice") + "?attempt=x", incomingForm(), "attempt must be a number from 1 to 100"},
		{"bad digits", path(testConnID, "gather"), url.Values{"CallSid": {"CA1"}, "Digits": {"1<"}}, "Digits must be at most 32 of 0-9, * and #"},
		{"unknown status", path(testConnID, "status"), url.Values{"CallSid": {"CA1"}, "CallStatus": {"boom"}}, "unknown or missing CallStatus"},
	} {
		w := s.post(t, tc.pq, tc.form)
		if w.Code != http.StatusBadRequest || strings.TrimSpace(w.Body.String()) != tc.msg {
			t.Errorf("%s: %d %q, want 400 %q", tc.name, w.Code, w.Body, tc.msg)
		}
	}
	if len(s.hotline.calls) != 0 {
		t.Errorf("bad requests reached the Hotline: %v", s.hotline.calls)
	}
}

// The Hotline failing is 500 with a generic message (Twilio retries or
// plays its fallback), logged with ids only.
func TestWebhookHotlineError(t *testing.T) {
	s := newSetup(t)
	s.hotline.err = errors.New("deadlock detected")
	for _, ep := range []string{"voice", "gather", "wait", "queue", "status"} {
		f := incomingForm()
		f.Set("CallStatus", "completed")
		w := s.post(t, path(testConnID, ep), f)
		body, _ := io.ReadAll(w.Body)
		if w.Code != http.StatusInternalServerError || strings.TrimSpace(string(body)) != "temporarily unavailable; try again" {
			t.Errorf("%s: %d %q, want 500 and the generic message", ep, w.Code, body)
		}
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "call_sid=CA0001") || !strings.Contains(logs, "connector_id="+testConnID.String()) {
		t.Errorf("logs lack the ids: %s", logs)
	}
}

func TestWebhookWithoutPublicURL(t *testing.T) {
	s := newSetup(t)
	s.h.cfg.PublicURL = ""
	if w := s.post(t, path(testConnID, "voice"), incomingForm()); w.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", w.Code)
	}
	if !strings.Contains(s.logs.String(), "PublicURL is not set") {
		t.Errorf("log does not say why: %s", s.logs)
	}
}

// A call the Hotline never saw is 404, not a 500 Twilio would retry.
func TestWebhookUnknownCall(t *testing.T) {
	s := newSetup(t)
	s.hotline.err = fmt.Errorf("waiting: %w", phone.ErrUnknownCall)
	w := s.post(t, path(testConnID, "wait"), url.Values{"CallSid": {"CAold"}})
	if w.Code != http.StatusNotFound || strings.TrimSpace(w.Body.String()) != "unknown call" {
		t.Errorf("%d %q, want 404 unknown call", w.Code, w.Body)
	}
}
