package cti

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

type genericSetup struct {
	hotline *fakeHotline
	conns   *fakeConnectors
	router  http.Handler
	conn    phone.Connector
	now     time.Time
}

func setupGeneric(t *testing.T) *genericSetup {
	t.Helper()
	s := &genericSetup{
		hotline: &fakeHotline{},
		conn: phone.Connector{
			ID: uuid.New(), TenantID: uuid.New(), Kind: phone.KindGeneric, Mode: phone.Control,
			Secret: "generic-secret-0123456789",
		},
		now: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
	}
	zam := phone.Connector{ID: uuid.New(), TenantID: s.conn.TenantID, Kind: phone.KindZammad, Mode: phone.Observe, Secret: "zammad-token-0123456789"}
	s.conns = &fakeConnectors{list: []phone.Connector{s.conn, zam}}
	wh := NewWebhook(s.conns, s.hotline, discardLog())
	wh.now = func() time.Time { return s.now }
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/phone/cti/{"+ConnectorParam+"}", wh)
	r.Method(http.MethodGet, "/phone/cti/{"+ConnectorParam+"}", wh)
	s.router = r
	return s
}

// post sends body to the connector's URL, signed at the setup's clock
// unless sign changes the headers.
func (s *genericSetup) post(t *testing.T, id string, body string, sign func(h http.Header, body []byte)) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/phone/cti/"+id, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sign == nil {
		sign = s.signAt(s.conn.Secret, s.now)
	}
	sign(req.Header, []byte(body))
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, req)
	return rec
}

func (s *genericSetup) signAt(secret string, at time.Time) func(http.Header, []byte) {
	return func(h http.Header, body []byte) {
		h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		h.Set(HeaderSignature, Sign(secret, at, body))
	}
}

type errBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func decodeErr(t *testing.T, rec *httptest.ResponseRecorder) errBody {
	t.Helper()
	var e errBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	return e
}

const newCall = `{"event":"new_call","call_id":"pbx-1","from":"13800138000","to":"4008001234","direction":"inbound"}`

func TestWebhookAuthentication(t *testing.T) {
	s := setupGeneric(t)
	id := s.conn.ID.String()
	tests := []struct {
		name   string
		id     string
		sign   func(http.Header, []byte)
		status int
		code   string
	}{
		{"good", id, nil, 200, ""},
		{"forged: another secret", id, s.signAt("not-the-secret", s.now), 403, "bad_signature"},
		{"stale: signed 6 minutes ago", id, s.signAt(s.conn.Secret, s.now.Add(-6*time.Minute)), 403, "bad_signature"},
		{"from the future: 6 minutes ahead", id, s.signAt(s.conn.Secret, s.now.Add(6*time.Minute)), 403, "bad_signature"},
		{"missing headers", id, func(http.Header, []byte) {}, 403, "bad_signature"},
		{"signature of another body", id, func(h http.Header, _ []byte) {
			s.signAt(s.conn.Secret, s.now)(h, []byte(`{"event":"hangup"}`))
		}, 403, "bad_signature"},
		{"unknown connector", uuid.NewString(), nil, 404, "not_found"},
		{"malformed connector id", "not-a-uuid", nil, 404, "not_found"},
		{"a Zammad connector's id", s.conns.list[1].ID.String(), s.signAt(s.conns.list[1].Secret, s.now), 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.hotline.Calls())
			rec := s.post(t, tt.id, newCall, tt.sign)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			after := len(s.hotline.Calls())
			if tt.status != 200 {
				if e := decodeErr(t, rec); e.Error != tt.code || e.Message == "" {
					t.Errorf("error %+v, want code %q and a message", e, tt.code)
				}
				if after != before {
					t.Errorf("the Hotline was called for a refused request")
				}
			} else if after != before+1 {
				t.Errorf("the Hotline got %d calls, want 1", after-before)
			}
			if strings.Contains(rec.Body.String(), s.conn.Secret) {
				t.Errorf("the answer shows the secret: %s", rec.Body)
			}
		})
	}
}

func TestWebhookConnectorWithoutSecret(t *testing.T) {
	s := setupGeneric(t)
	s.conns.list[0].Secret = ""
	rec := s.post(t, s.conn.ID.String(), newCall, s.signAt("", s.now))
	if rec.Code != 403 {
		t.Fatalf("status %d, want 403: an empty secret must never verify", rec.Code)
	}
}

func TestWebhookStoreDown(t *testing.T) {
	s := setupGeneric(t)
	s.conns.err = errors.New("connection refused by 10.0.0.5")
	rec := s.post(t, s.conn.ID.String(), newCall, nil)
	if rec.Code != 500 {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if e := decodeErr(t, rec); e.Error != "internal" || strings.Contains(e.Message, "10.0.0.5") {
		t.Errorf("error %+v: want code internal and no detail", e)
	}
}

func TestWebhookMethod(t *testing.T) {
	s := setupGeneric(t)
	req := httptest.NewRequest(http.MethodGet, "/phone/cti/"+s.conn.ID.String(), nil)
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, req)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q, want 405 POST", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestWebhookBadBodies(t *testing.T) {
	s := setupGeneric(t)
	tests := []struct {
		name, body string
		status     int
		message    string // a part of the message
	}{
		{"unknown field", `{"event":"hangup","call_id":"c","cause":"normal","callerid":"x"}`, 400, `unknown field "callerid"`},
		{"bad JSON", `{"event":"hangup",`, 400, "JSON ends too early"},
		{"syntax error", `{"event" "hangup"}`, 400, "not valid JSON at byte"},
		{"trailing data", `{"event":"hangup","call_id":"c","cause":"normal"} {"event":"answer"}`, 400, "trailing data"},
		{"trailing garbage", `{"event":"hangup","call_id":"c","cause":"normal"}xyz`, 400, "trailing data"},
		{"empty body", ``, 400, "empty"},
		{"an array", `[]`, 400, "must be a JSON object"},
		{"a number for a string", `{"event":"new_call","call_id":42}`, 400, "call_id: must be a string"},
		{"no event", `{"call_id":"c"}`, 400, "event: required"},
		{"unknown event", `{"event":"ring","call_id":"c"}`, 400, `event: unknown "ring"; one of new_call`},
		{"missing call_id", `{"event":"answer"}`, 400, "call_id: required"},
		{"unknown direction", `{"event":"new_call","call_id":"c","direction":"in"}`, 400, `direction: unknown "in"; inbound or outbound`},
		{"unknown cause", `{"event":"hangup","call_id":"c","cause":"normalClearing"}`, 400, `cause: unknown "normalClearing"; one of normal`},
		{"hangup without cause", `{"event":"hangup","call_id":"c"}`, 400, "cause: required on hangup"},
		{"ringing without extension", `{"event":"ringing","call_id":"c"}`, 400, "extension: required on ringing"},
		{"transfer without target", `{"event":"transfer","call_id":"c"}`, 400, "target: required on transfer"},
		{"recording without URL", `{"event":"recording","call_id":"c"}`, 400, "recording_url: required"},
		{"recording URL not http", `{"event":"recording","call_id":"c","recording_url":"file:///etc/passwd"}`, 400, "recording_url: not an absolute http or https URL"},
		{"digits without digits", `{"event":"digits","call_id":"c"}`, 400, "digits: required"},
		{"digits not keypad", `{"event":"digits","call_id":"c","digits":"1a"}`, 400, "digits: only 0-9, * and #"},
		{"bad at", `{"event":"answer","call_id":"c","at":"yesterday"}`, 400, "at: not an RFC 3339 time"},
		{"call_id too long", `{"event":"answer","call_id":"` + strings.Repeat("x", 251) + `"}`, 400, "call_id: over 250 characters"},
		{"NUL in call_id", `{"event":"answer","call_id":"a\u0000b"}`, 400, "call_id: contains a control character"},
		{"oversized", `{"event":"answer","call_id":"c","from":"` + strings.Repeat("9", MaxBody) + `"}`, 413, "64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.post(t, s.conn.ID.String(), tt.body, nil)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if e := decodeErr(t, rec); !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", e.Message, tt.message)
			}
		})
	}
	if n := len(s.hotline.Calls()); n != 0 {
		t.Errorf("the Hotline got %d calls from bad bodies", n)
	}
}

func TestGenericEventMapping(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	at := time.Date(2025, 3, 1, 17, 29, 58, 500e6, time.FixedZone("CST", 8*3600))
	tests := []struct {
		body string
		op   op
		want phone.Event
	}{
		{`{"event":"new_call","call_id":"c1","from":"13800138000","to":"4008001234"}`, opIncoming,
			phone.Event{CallID: "c1", Kind: phone.Ringing, Direction: phone.Inbound, From: "13800138000", To: "4008001234", At: now}},
		{`{"event":"new_call","call_id":"c1","from":"801","to":"13800138000","direction":"outbound","extension":"801"}`, opIncoming,
			phone.Event{CallID: "c1", Kind: phone.Ringing, Direction: phone.Outbound, From: "801", To: "13800138000", Extension: "801", At: now}},
		{`{"event":"ringing","call_id":"c1","extension":"801","at":"2025-03-01T17:29:58.5+08:00"}`, opHandle,
			phone.Event{CallID: "c1", Kind: phone.Offered, Extension: "801", At: at}},
		{`{"event":"queued","call_id":"c1"}`, opHandle, phone.Event{CallID: "c1", Kind: phone.Queued, At: now}},
		{`{"event":"answer","call_id":"c1","extension":"801"}`, opHandle, phone.Event{CallID: "c1", Kind: phone.Answered, Extension: "801", At: now}},
		{`{"event":"answer","call_id":"c1"}`, opHandle, phone.Event{CallID: "c1", Kind: phone.Answered, At: now}},
		{`{"event":"hold","call_id":"c1","extension":"801"}`, opHandle, phone.Event{CallID: "c1", Kind: phone.Held, Extension: "801", At: now}},
		{`{"event":"unhold","call_id":"c1","extension":"801"}`, opHandle, phone.Event{CallID: "c1", Kind: phone.Unheld, Extension: "801", At: now}},
		{`{"event":"transfer","call_id":"c1","extension":"801","target":"802"}`, opHandle,
			phone.Event{CallID: "c1", Kind: phone.Transferred, Extension: "801", Target: "802", At: now}},
		{`{"event":"hangup","call_id":"c1","cause":"abandoned"}`, opHandle, phone.Event{CallID: "c1", Kind: phone.Ended, Cause: phone.CauseAbandoned, At: now}},
		{`{"event":"hangup","call_id":"c1","extension":"801","cause":"no_answer"}`, opHandle,
			phone.Event{CallID: "c1", Kind: phone.Ended, Extension: "801", Cause: phone.CauseNoAnswer, At: now}},
		{`{"event":"recording","call_id":"c1","recording_url":"https://pbx.example.cn/rec/c1.wav"}`, opHandle,
			phone.Event{CallID: "c1", Kind: phone.Recording, RecordingURL: "https://pbx.example.cn/rec/c1.wav", At: now}},
		{`{"event":"digits","call_id":"c1","digits":"2"}`, opChoose, phone.Event{CallID: "c1", Kind: phone.Digits, Digits: "2", At: now}},
		{`{"event":"waiting","call_id":"c1"}`, opWaiting, phone.Event{CallID: "c1", At: now}},
		{`{"event":"answer","call_id":"c1","event_id":"pbx-ev-7"}`, opHandle,
			phone.Event{CallID: "c1", EventID: "pbx-ev-7", Kind: phone.Answered, At: now}},
	}
	for _, tt := range tests {
		ev, o, err := decodeGeneric([]byte(tt.body), now)
		if err != nil {
			t.Errorf("decodeGeneric(%s): %v", tt.body, err)
			continue
		}
		if o != tt.op {
			t.Errorf("decodeGeneric(%s) op %d, want %d", tt.body, o, tt.op)
		}
		ignoreID := cmpopts.IgnoreFields(phone.Event{}, "EventID")
		if tt.want.EventID != "" {
			ignoreID = cmp.Options{}
		}
		if d := cmp.Diff(tt.want, ev, ignoreID); d != "" {
			t.Errorf("decodeGeneric(%s) (-want +got):\n%s", tt.body, d)
		}
		if ev.EventID == "" {
			t.Errorf("decodeGeneric(%s): no EventID", tt.body)
		}
	}
}

func TestDerivedEventID(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	id := func(body string, now time.Time) string {
		t.Helper()
		ev, _, err := decodeGeneric([]byte(body), now)
		if err != nil {
			t.Fatalf("decodeGeneric(%s): %v", body, err)
		}
		return ev.EventID
	}
	base := `{"event":"hold","call_id":"c1","extension":"801","at":"2025-03-01T09:29:00Z"}`
	first := id(base, now)

	// Repeats: a retry later, fields reordered, the same time in another zone.
	for _, same := range []string{
		base,
		`{"at":"2025-03-01T09:29:00Z","extension":"801","call_id":"c1","event":"hold"}`,
		`{"event":"hold","call_id":"c1","extension":"801","at":"2025-03-01T17:29:00+08:00"}`,
	} {
		if got := id(same, now.Add(time.Minute)); got != first {
			t.Errorf("EventID(%s) = %s, want %s (a repeat)", same, got, first)
		}
	}
	// A repeated hang-up with another cause is still the same hang-up.
	if a, b := id(`{"event":"hangup","call_id":"c1","cause":"normal"}`, now),
		id(`{"event":"hangup","call_id":"c1","cause":"failed"}`, now); a != b {
		t.Errorf("hang-ups differing only in cause: %s and %s, want one id", a, b)
	}
	// Without at, the receipt time is not part of it: a retry is a repeat.
	if a, b := id(`{"event":"answer","call_id":"c1"}`, now), id(`{"event":"answer","call_id":"c1"}`, now.Add(time.Hour)); a != b {
		t.Errorf("retried answer without at: %s and %s, want one id", a, b)
	}

	seen := map[string]string{first: base}
	for _, other := range []string{
		`{"event":"unhold","call_id":"c1","extension":"801","at":"2025-03-01T09:29:00Z"}`,
		`{"event":"hold","call_id":"c2","extension":"801","at":"2025-03-01T09:29:00Z"}`,
		`{"event":"hold","call_id":"c1","extension":"802","at":"2025-03-01T09:29:00Z"}`,
		`{"event":"hold","call_id":"c1","extension":"801","at":"2025-03-01T09:31:00Z"}`,
		`{"event":"hold","call_id":"c1","extension":"801"}`,
		`{"event":"transfer","call_id":"c1","extension":"801","target":"802"}`,
		`{"event":"transfer","call_id":"c1","extension":"801","target":"803"}`,
		`{"event":"digits","call_id":"c1","digits":"1"}`,
		`{"event":"digits","call_id":"c1","digits":"2"}`,
		// Fields run together must not collide: "c1"+"8" vs "c"+"18".
		`{"event":"answer","call_id":"c1","extension":"8"}`,
		`{"event":"answer","call_id":"c","extension":"18"}`,
	} {
		got := id(other, now)
		if prev, dup := seen[got]; dup {
			t.Errorf("EventID(%s) = EventID(%s) = %s, want different", other, prev, got)
		}
		seen[got] = other
	}
}

func TestWebhookAnswers(t *testing.T) {
	s := setupGeneric(t)
	contact := uuid.New()
	s.hotline.route = phone.Route{
		Action: phone.ActionQueue, ContactID: contact, Language: "zh-CN",
		Say:     []string{"car_ready"},
		QueueID: uuid.New(), QueueName: "Service", Position: 3, Wait: 90*time.Second + time.Millisecond,
	}
	id := s.conn.ID.String()

	rec := s.post(t, id, newCall, nil)
	if rec.Code != 200 {
		t.Fatalf("new_call: status %d, body %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"action": "queue", "contact_id": contact.String(), "language": "zh-CN", "say": []any{"car_ready"},
		"menu": []any{}, "queue": "Service", "position": 3.0, "wait_seconds": 91.0, "voicemail": false,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("new_call answer (-want +got):\n%s", d)
	}

	s.hotline.route = phone.Route{Action: phone.ActionMenu, Menu: []phone.MenuOption{
		{Digit: "1", Label: "enquiries", Queue: uuid.New()}, {Digit: "2", Label: "sales", Queue: uuid.New()},
	}}
	rec = s.post(t, id, `{"event":"digits","call_id":"pbx-1","digits":"9"}`, nil)
	var menu RouteResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &menu); err != nil || rec.Code != 200 {
		t.Fatalf("digits: status %d body %s err %v", rec.Code, rec.Body, err)
	}
	if d := cmp.Diff(RouteResponse{Action: "menu", Say: []string{}, Menu: []MenuChoice{{"1", "enquiries"}, {"2", "sales"}}}, menu); d != "" {
		t.Errorf("digits answer (-want +got):\n%s", d)
	}

	rec = s.post(t, id, `{"event":"waiting","call_id":"pbx-1"}`, nil)
	if rec.Code != 200 {
		t.Fatalf("waiting: status %d", rec.Code)
	}
	rec = s.post(t, id, `{"event":"hangup","call_id":"pbx-1","cause":"normal"}`, nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"ok":true}` {
		t.Errorf("hangup: status %d body %s, want 200 {\"ok\":true}", rec.Code, rec.Body)
	}

	calls := s.hotline.Calls()
	var methods []string
	for _, c := range calls {
		methods = append(methods, c.Method)
		if c.Conn != s.conn.ID {
			t.Errorf("%s for connector %s, want %s", c.Method, c.Conn, s.conn.ID)
		}
	}
	if d := cmp.Diff([]string{"Incoming", "Choose", "Waiting", "Handle"}, methods); d != "" {
		t.Errorf("Hotline methods (-want +got):\n%s", d)
	}
	if calls[1].CallID != "pbx-1" || calls[1].Digits != "9" {
		t.Errorf("Choose(%q, %q), want (pbx-1, 9)", calls[1].CallID, calls[1].Digits)
	}
	if calls[3].Event.Kind != phone.Ended || calls[3].Event.Cause != phone.CauseNormal {
		t.Errorf("Handle got %+v, want Ended normal", calls[3].Event)
	}
}

// TestWebhookHotlineFails: the PBX is told to retry (500) with nothing of
// the cause; the answer comes only after the Hotline returned.
func TestWebhookHotlineFails(t *testing.T) {
	s := setupGeneric(t)
	s.hotline.err = errors.New("insert contact: duplicate key for 13800138000")
	for _, body := range []string{newCall, `{"event":"answer","call_id":"pbx-1","extension":"801"}`} {
		rec := s.post(t, s.conn.ID.String(), body, nil)
		if rec.Code != 500 {
			t.Fatalf("status %d, want 500", rec.Code)
		}
		e := decodeErr(t, rec)
		if e.Error != "internal" || strings.Contains(e.Message, "13800138000") {
			t.Errorf("error %+v, want internal without detail", e)
		}
	}
}
