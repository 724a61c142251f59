package cti

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// multipartForm encodes fields as curl --form does (Zammad's "form-data"
// examples); repeated names are repeated parts.
func multipartForm(t *testing.T, fields ...[2]string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}

// TestZammadMapping: the requests are the examples of Zammad's
// documentation (docs.zammad.org, API → Generic CTI: the newCall, answer
// and hangup event pages, from zammad-documentation's
// api/generic-cti/*.rst), in its JSON, form-data and URL-encoded variants,
// and one as the public FusionPBX script lcx/zammad-fusionpbx-cti
// (zam_hangupcall.lua) sends it, with FreeSWITCH's own hangup cause.
func TestZammadMapping(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	mpIn, mpInBody := multipartForm(t,
		[2]string{"event", "newCall"}, [2]string{"from", "493023125741"}, [2]string{"to", "492214710334"},
		[2]string{"direction", "in"}, [2]string{"callId", "25641e3f-3317-4c48-80b3-fc573c7ffe2b"},
		[2]string{"user[]", "Christopher Miller"}, [2]string{"user[]", "Emma Taylor"})
	mpHangup, mpHangupBody := multipartForm(t,
		[2]string{"event", "hangup"}, [2]string{"from", "493023125741"}, [2]string{"to", "492214710334"},
		[2]string{"direction", "in"}, [2]string{"callId", "2d77882f-68df-40f0-8c62-b642589c00bc"},
		[2]string{"user[]", "Christopher Miller"}, [2]string{"user[]", "Emma Taylor"},
		[2]string{"answeringNumber", "emma@chrispresso.com"}, [2]string{"cause", "normalClearing"})

	in := func(id string) phone.Event {
		return phone.Event{CallID: id, Direction: phone.Inbound, From: "493023125741", To: "492214710334", At: now}
	}
	out := func(id string) phone.Event {
		return phone.Event{CallID: id, Direction: phone.Outbound, From: "493023125741", To: "492214710334", At: now}
	}
	with := func(ev phone.Event, edit func(*phone.Event)) phone.Event { edit(&ev); return ev }

	tests := []struct {
		name        string
		contentType string
		body        string
		want        []phone.Event
	}{
		{"newCall in, JSON, two users", jsonType,
			`{"event":"newCall","from":"493023125741","to":"492214710334","direction":"in","callId":"307fa962-de8d-4ffc-817b-7f6993204159","user":["Christopher Miller","Emma Taylor"]}`,
			[]phone.Event{
				with(in("307fa962-de8d-4ffc-817b-7f6993204159"), func(e *phone.Event) { e.Kind = phone.Ringing }),
				with(in("307fa962-de8d-4ffc-817b-7f6993204159"), func(e *phone.Event) { e.Kind, e.Extension = phone.Offered, "Christopher Miller" }),
				with(in("307fa962-de8d-4ffc-817b-7f6993204159"), func(e *phone.Event) { e.Kind, e.Extension = phone.Offered, "Emma Taylor" }),
			}},
		{"newCall in, form-data, two user[]", mpIn, string(mpInBody),
			[]phone.Event{
				with(in("25641e3f-3317-4c48-80b3-fc573c7ffe2b"), func(e *phone.Event) { e.Kind = phone.Ringing }),
				with(in("25641e3f-3317-4c48-80b3-fc573c7ffe2b"), func(e *phone.Event) { e.Kind, e.Extension = phone.Offered, "Christopher Miller" }),
				with(in("25641e3f-3317-4c48-80b3-fc573c7ffe2b"), func(e *phone.Event) { e.Kind, e.Extension = phone.Offered, "Emma Taylor" }),
			}},
		{"newCall in, URL-encoded, no user", formType,
			"event=newCall&from=493023125741&to=492214710334&direction=in&callId=123456789",
			[]phone.Event{with(in("123456789"), func(e *phone.Event) { e.Kind = phone.Ringing })}},
		{"newCall in, URL-encoded, the same user twice and a queue", formType,
			"event=newCall&from=493023125741&to=492214710334&direction=in&callId=1&user%5B%5D=801&user%5B%5D=801&queue=helpdesk",
			[]phone.Event{
				with(in("1"), func(e *phone.Event) { e.Kind = phone.Ringing }),
				with(in("1"), func(e *phone.Event) { e.Kind, e.Extension = phone.Offered, "801" }),
			}},
		{"newCall out, JSON, the dialling user", jsonType,
			`{"event":"newCall","from":"493023125741","to":"492214710334","direction":"out","callId":"f4ebd2be-7b9a-4d58-94c2-eb06a3c2ce76","user":"Christopher Miller"}`,
			[]phone.Event{with(out("f4ebd2be-7b9a-4d58-94c2-eb06a3c2ce76"), func(e *phone.Event) { e.Kind, e.Extension = phone.Ringing, "Christopher Miller" })}},
		{"answer out, JSON, no answeringNumber", jsonType,
			`{"event":"answer","from":"493023125741","to":"492214710334","direction":"out","callId":"9f1840cb-8be9-4d3a-8200-3da2937085f0"}`,
			[]phone.Event{with(out("9f1840cb-8be9-4d3a-8200-3da2937085f0"), func(e *phone.Event) { e.Kind = phone.Answered })}},
		{"answer in, answeringNumber", jsonType,
			`{"event":"answer","from":"493023125741","to":"492214710334","direction":"in","callId":"c","user":["A","B"],"answeringNumber":"802"}`,
			[]phone.Event{with(in("c"), func(e *phone.Event) { e.Kind, e.Extension = phone.Answered, "802" })}},
		{"answer in, the only user", formType,
			"event=answer&from=493023125741&to=492214710334&direction=in&callId=c&user%5B%5D=801",
			[]phone.Event{with(in("c"), func(e *phone.Event) { e.Kind, e.Extension = phone.Answered, "801" })}},
		{"hangup out, JSON, cancel", jsonType,
			`{"event":"hangup","from":"493023125741","to":"492214710334","direction":"out","callId":"f4ebd2be-7b9a-4d58-94c2-eb06a3c2ce76","user":"Christopher Miller","cause":"cancel"}`,
			[]phone.Event{with(out("f4ebd2be-7b9a-4d58-94c2-eb06a3c2ce76"), func(e *phone.Event) { e.Kind, e.Cause = phone.Ended, phone.CauseAbandoned })}},
		{"hangup in, form-data, normalClearing", mpHangup, string(mpHangupBody),
			[]phone.Event{with(in("2d77882f-68df-40f0-8c62-b642589c00bc"), func(e *phone.Event) { e.Kind, e.Cause = phone.Ended, phone.CauseNormal })}},
		{"hangup forwarded", formType,
			"event=hangup&from=493023125741&to=492214710334&direction=in&callId=c&cause=forwarded&answeringNumber=4917612345678",
			[]phone.Event{
				with(in("c"), func(e *phone.Event) { e.Kind, e.Target = phone.Transferred, "4917612345678" }),
				with(in("c"), func(e *phone.Event) { e.Kind, e.Cause = phone.Ended, phone.CauseNormal }),
			}},
		{"FusionPBX script, FreeSWITCH cause", formType,
			"event=hangup&answeringNumber=801&from=493023125741&to=492214710334&direction=in&callId=c&cause=ORIGINATOR_CANCEL",
			[]phone.Event{with(in("c"), func(e *phone.Event) { e.Kind, e.Cause = phone.Ended, phone.CauseAbandoned })}},
		{"no Content-Type, call_id alias", "",
			"event=hangup&from=493023125741&to=492214710334&direction=in&call_id=c&cause=noAnswer",
			[]phone.Event{with(in("c"), func(e *phone.Event) { e.Kind, e.Cause = phone.Ended, phone.CauseNoAnswer })}},
		{"JSON with unquoted numbers, nulls and unknown fields", jsonType + "; charset=utf-8",
			`{"event":"hangup","from":493023125741,"to":492214710334,"direction":"in","callId":123,"cause":"busy","user":null,"xcid":"x","userId":[1,2]}`,
			[]phone.Event{with(in("123"), func(e *phone.Event) { e.Kind, e.Cause = phone.Ended, phone.CauseBusy })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeZammad(tt.contentType, []byte(tt.body), now)
			if err != nil {
				t.Fatalf("decodeZammad: %v", err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(phone.Event{}, "EventID")); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			ids := map[string]bool{}
			for _, ev := range got {
				if ev.EventID == "" || ids[ev.EventID] {
					t.Errorf("event %s: EventID %q empty or repeated", ev.Kind, ev.EventID)
				}
				ids[ev.EventID] = true
			}
			// A repeat of the request (Zammad's format has no time) gives
			// the same ids, so the Hotline ignores it.
			again, _ := decodeZammad(tt.contentType, []byte(tt.body), now.Add(time.Minute))
			for i := range again {
				if again[i].EventID != got[i].EventID {
					t.Errorf("repeat: EventID %s, first %s", again[i].EventID, got[i].EventID)
				}
			}
		})
	}
}

func TestZammadCauses(t *testing.T) {
	for cause, want := range map[string]phone.Cause{
		"normalClearing": phone.CauseNormal, "busy": phone.CauseBusy, "cancel": phone.CauseAbandoned,
		"noAnswer": phone.CauseNoAnswer, "congestion": phone.CauseFailed, "notFound": phone.CauseFailed,
		"NORMAL_CLEARING": phone.CauseNormal, "user_busy": phone.CauseBusy, "NO_ANSWER": phone.CauseNoAnswer,
		"CALL_REJECTED": phone.CauseRejected, "UNALLOCATED_NUMBER": phone.CauseFailed,
	} {
		evs, err := decodeZammad(formType, []byte("event=hangup&direction=in&callId=c&cause="+cause), time.Now())
		if err != nil || len(evs) != 1 || evs[0].Cause != want {
			t.Errorf("cause %s: %+v, %v; want one Ended %s", cause, evs, err, want)
		}
	}
}

func TestZammadBadInput(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		status                  int
		message                 string
	}{
		{"no event", formType, "callId=c&direction=in", 400, "event: required"},
		{"unknown event", formType, "event=ringing&callId=c&direction=in", 400, `event: unknown "ringing"; newCall, answer or hangup`},
		{"no callId", formType, "event=answer&direction=in", 400, "callId: required"},
		{"no direction", formType, "event=answer&callId=c", 400, "direction: required"},
		{"bad direction", formType, "event=answer&callId=c&direction=inbound", 400, `direction: unknown "inbound"; in or out`},
		{"hangup without cause", formType, "event=hangup&callId=c&direction=in", 400, "cause: required on hangup"},
		{"unknown cause", formType, "event=hangup&callId=c&direction=in&cause=exploded", 400, `cause: unknown "exploded"`},
		{"event twice", formType, "event=answer&event=hangup&callId=c&direction=in", 400, "event: given more than once"},
		{"callId and call_id", formType, "event=answer&callId=a&call_id=b&direction=in", 400, "callId: given more than once"},
		{"bad escape", formType, "event=answer&callId=%zz&direction=in", 400, "not a valid form"},
		{"NUL in callId", formType, "event=answer&callId=a%00b&direction=in", 400, "callId: contains a control character"},
		{"not UTF-8", formType, "event=answer&callId=a%ffb&direction=in", 400, "callId: not UTF-8"},
		{"too many users", formType, "event=newCall&callId=c&direction=in" + strings.Repeat("&user[]=x", 33), 400, "user: more than 32"},
		{"JSON array", jsonType, `[]`, 400, "not a JSON object"},
		{"JSON null", jsonType, `null`, 400, "not a JSON object"},
		{"JSON trailing", jsonType, `{"event":"answer"} x`, 400, "trailing data"},
		{"JSON object for a string", jsonType, `{"event":{"x":1},"callId":"c","direction":"in"}`, 400, "event: must be a string"},
		{"JSON user of objects", jsonType, `{"event":"newCall","callId":"c","direction":"in","user":[{}]}`, 400, "user: must be a string or an array"},
		{"multipart without boundary", "multipart/form-data", "x", 400, "without a boundary"},
		{"multipart broken", "multipart/form-data; boundary=zz", "--zz\r\nbroken", 400, "not valid multipart"},
		{"XML", "text/xml", "<event/>", 415, "send application/x-www-form-urlencoded"},
		{"bad media type", "a/b; =", "x", 400, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeZammad(tt.contentType, []byte(tt.body), time.Now())
			status, _, msg := classify(err)
			if err == nil || status != tt.status || !strings.Contains(msg, tt.message) {
				t.Errorf("decodeZammad = %v (status %d), want %d %q", err, status, tt.status, tt.message)
			}
		})
	}
}

func TestZammadMultipartFile(t *testing.T) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("event", "newCall")
	fw, _ := mw.CreateFormFile("user[]", "agents.txt")
	fw.Write([]byte("801"))
	mw.Close()
	_, err := decodeZammad(mw.FormDataContentType(), b.Bytes(), time.Now())
	if status, _, msg := classify(err); status != 400 || !strings.Contains(msg, "a file") {
		t.Errorf("a file part: %v, want 400 about a file", err)
	}
}

type zammadSetup struct {
	hotline *fakeHotline
	conns   *fakeConnectors
	router  http.Handler
	conn    phone.Connector
}

const zammadToken = "PhXp3ZG63QyJfcb1pVOnBKJWIbI" // the shape of Zammad's own tokens

func setupZammad(t *testing.T) *zammadSetup {
	t.Helper()
	s := &zammadSetup{
		hotline: &fakeHotline{route: phone.Route{Action: phone.ActionMenu}},
		// A Zammad connector has no secret of its own: the URL token is it.
		conn: phone.Connector{ID: uuid.New(), TenantID: uuid.New(), Kind: phone.KindZammad, Mode: phone.Observe},
	}
	control := phone.Connector{ID: uuid.New(), TenantID: uuid.New(), Kind: phone.KindZammad, Mode: phone.Control}
	generic := phone.Connector{ID: uuid.New(), TenantID: uuid.New(), Kind: phone.KindGeneric, Mode: phone.Observe, Secret: "generic-secret-0123456789"}
	s.conns = &fakeConnectors{
		list: []phone.Connector{s.conn, control, generic},
		tokens: map[string]uuid.UUID{
			zammadToken:               s.conn.ID,
			"control-mode-token-0123": control.ID,
			"generic-kind-token-0123": generic.ID,
		},
	}
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/phone/zammad/{"+TokenParam+"}", NewZammad(s.conns, s.hotline, discardLog()))
	s.router = r
	return s
}

func (s *zammadSetup) post(token, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/phone/zammad/"+token, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, req)
	return rec
}

const zammadNewCall = "event=newCall&from=493023125741&to=492214710334&direction=in&callId=c1&user%5B%5D=801&user%5B%5D=802"

func TestZammadEndpoint(t *testing.T) {
	s := setupZammad(t)
	rec := s.post(zammadToken, formType, zammadNewCall)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("newCall: status %d body %s, want 200 {}", rec.Code, rec.Body)
	}
	rec = s.post(zammadToken, jsonType, `{"event":"hangup","direction":"in","callId":"c1","cause":"cancel"}`)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("hangup: status %d body %s, want 200 {}", rec.Code, rec.Body)
	}
	var got []string
	for _, c := range s.hotline.Calls() {
		if c.Conn != s.conn.ID {
			t.Errorf("%s for connector %s, want %s", c.Method, c.Conn, s.conn.ID)
		}
		got = append(got, c.Method+" "+string(c.Event.Kind)+" "+c.Event.Extension)
	}
	want := []string{"Incoming ringing ", "Handle offered 801", "Handle offered 802", "Handle ended "}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Hotline calls (-want +got):\n%s", d)
	}
}

func TestZammadEndpointRefuses(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		edit    func(*zammadSetup)
		status  int
		lookups int
	}{
		{"unknown token", "AAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, 403, 1},
		{"too short to be one", "abc", nil, 403, 0},
		{"not URL-safe", "PhXp3ZG63QyJfcb1pVOnBKJW.bI", nil, 403, 0},
		{"control mode", "control-mode-token-0123", nil, 403, 1},
		{"a generic connector", "generic-kind-token-0123", nil, 403, 1},
		{"store down", zammadToken, func(s *zammadSetup) { s.conns.err = errors.New("down") }, 500, 1},
		{"a token one character off", zammadToken[:26] + "J", nil, 403, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setupZammad(t)
			if tt.edit != nil {
				tt.edit(s)
			}
			rec := s.post(tt.token, formType, zammadNewCall)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			var e map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e["error"] == "" {
				t.Errorf("body %s: want Zammad's {\"error\": ...}", rec.Body)
			}
			if s.conns.lookups != tt.lookups {
				t.Errorf("%d look-ups, want %d", s.conns.lookups, tt.lookups)
			}
			if n := len(s.hotline.Calls()); n != 0 {
				t.Errorf("the Hotline got %d calls", n)
			}
		})
	}
}

func TestZammadEndpointBodies(t *testing.T) {
	s := setupZammad(t)
	if rec := s.post(zammadToken, formType, "event=answer&direction=in&callId=c&from="+strings.Repeat("9", MaxBody)); rec.Code != 413 {
		t.Errorf("oversized: status %d, want 413", rec.Code)
	}
	if rec := s.post(zammadToken, formType, "event=answer&direction=sideways&callId=c"); rec.Code != 400 || !strings.Contains(rec.Body.String(), "in or out") {
		t.Errorf("bad direction: status %d body %s, want 400 naming in or out", rec.Code, rec.Body)
	}
	s.hotline.err = errors.New("insert: 493023125741")
	rec := s.post(zammadToken, formType, zammadNewCall)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "493023125741") {
		t.Errorf("Hotline failing: status %d body %s, want 500 without detail", rec.Code, rec.Body)
	}
}
