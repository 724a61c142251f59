package cti

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// checkDecoded holds what every decoded event must be, from either
// decoder: something the Hotline can store as it is.
func checkDecoded(t *testing.T, ev phone.Event, allowNoKind bool) {
	t.Helper()
	if ev.CallID == "" || ev.EventID == "" {
		t.Fatalf("event without call or event id: %+v", ev)
	}
	if !ev.Kind.Valid() && !(allowNoKind && ev.Kind == "") {
		t.Fatalf("event of kind %q", ev.Kind)
	}
	if ev.Kind == phone.Ended && !ev.Cause.Valid() {
		t.Fatalf("Ended with cause %q", ev.Cause)
	}
	if ev.Cause != "" && !ev.Cause.Valid() {
		t.Fatalf("cause %q", ev.Cause)
	}
	if ev.Direction != "" && ev.Direction != phone.Inbound && ev.Direction != phone.Outbound {
		t.Fatalf("direction %q", ev.Direction)
	}
	for _, s := range []string{ev.CallID, ev.EventID, ev.From, ev.To, ev.Extension, ev.Target, ev.Digits, ev.RecordingURL} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Fatalf("field %q is not clean text", s)
		}
	}
	if ev.At.IsZero() {
		t.Fatalf("event without time")
	}
}

// checkRefusal: a refusal is a client error with something to read.
func checkRefusal(t *testing.T, err error, statuses ...int) {
	t.Helper()
	status, code, msg := classify(err)
	for _, s := range statuses {
		if status == s && code != "" && msg != "" {
			return
		}
	}
	t.Fatalf("error %v classified %d %q %q, want one of %v with a message", err, status, code, msg, statuses)
}

func FuzzDecodeGeneric(f *testing.F) {
	for _, seed := range []string{
		newCall,
		`{"event":"ringing","call_id":"c1","extension":"801","at":"2025-03-01T17:29:58.5+08:00"}`,
		`{"event":"hangup","call_id":"c1","extension":"801","cause":"no_answer"}`,
		`{"event":"transfer","call_id":"c1","extension":"801","target":"802","event_id":"e"}`,
		`{"event":"recording","call_id":"c1","recording_url":"https://pbx.example.cn/rec/c1.wav"}`,
		`{"event":"digits","call_id":"c1","digits":"2#"}`,
		`{"event":"waiting","call_id":"c1"}`,
		`{"event":"hangup","call_id":"c","cause":"normal"} {}`,
		`{"event":"answer","call_id":"a\u0000b"}`,
		`{"event":"answer","call_id":"c","x":1}`,
		`{"event":"answer","call_id":"c"`,
		`[]`, `null`, ``, `"x"`, `{"at":"2025-13-01T00:00:00Z","event":"answer","call_id":"c"}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, o, err := decodeGeneric(body, now)
		if err != nil {
			checkRefusal(t, err, 400)
			return
		}
		checkDecoded(t, ev, o == opWaiting)
		if o == opChoose && checkDigits(ev.Digits) != nil {
			t.Fatalf("Choose with digits %q", ev.Digits)
		}
	})
}

func FuzzDecodeZammad(f *testing.F) {
	seeds := [][2]string{
		{formType, zammadNewCall},
		{formType, "event=hangup&answeringNumber=801&from=493023125741&to=492214710334&direction=in&callId=c&cause=ORIGINATOR_CANCEL"},
		{formType, "event=hangup&direction=in&callId=c&cause=forwarded&answeringNumber=49176"},
		{formType, "event=answer&callId=%zz&direction=in"},
		{"", "event=answer&direction=out&call_id=c&user=Christopher+Miller"},
		{jsonType, `{"event":"newCall","from":"493023125741","to":"492214710334","direction":"in","callId":"307f","user":["Christopher Miller","Emma Taylor"]}`},
		{jsonType, `{"event":"hangup","from":493023125741,"direction":"in","callId":123,"cause":"busy","user":null}`},
		{jsonType, `{"event":{"x":1}}`},
		{"multipart/form-data; boundary=zz", "--zz\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\nnewCall\r\n--zz\r\nContent-Disposition: form-data; name=\"callId\"\r\n\r\nc\r\n--zz\r\nContent-Disposition: form-data; name=\"direction\"\r\n\r\nin\r\n--zz--\r\n"},
		{"multipart/form-data; boundary=zz", "--zz\r\nbroken"},
		{"text/xml", "<event/>"},
	}
	for _, s := range seeds {
		f.Add(s[0], []byte(s[1]))
	}
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		evs, err := decodeZammad(contentType, body, now)
		if err != nil {
			checkRefusal(t, err, 400, 415)
			return
		}
		if len(evs) == 0 {
			t.Fatalf("no events and no error")
		}
		for _, ev := range evs {
			checkDecoded(t, ev, false)
		}
	})
}
