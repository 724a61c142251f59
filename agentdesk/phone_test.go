package agentdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/internal/wspump"
)

// fakeVoice is the hotline as the desk sees it: it records the holds asked
// of it and answers them with err.
type fakeVoice struct {
	mu    sync.Mutex
	holds []string
	err   error
}

func (v *fakeVoice) Connect(context.Context, uuid.UUID, uuid.UUID, uuid.UUID, string) error {
	return nil
}

func (v *fakeVoice) Hold(_ context.Context, _, agent, contact uuid.UUID, hold bool, key string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.holds = append(v.holds, fmt.Sprintf("%s %s %v %s", agent, contact, hold, key))
	return v.err
}

func (v *fakeVoice) Live(context.Context, uuid.UUID, uuid.UUID) (bool, error) { return true, nil }

func (v *fakeVoice) Dial(context.Context, uuid.UUID, uuid.UUID, uuid.UUID) error { return nil }

func (v *fakeVoice) asked() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.holds...)
}

// consoleHarness is one agent console socket served by the real
// agentConsole (its reader, onFrame, and relay of bus mail) on a real
// Redis bus; only the snapshot, which needs the stores, is left out.
type consoleHarness struct {
	t             *testing.T
	s             *Server
	ws            *websocket.Conn
	tenant, agent uuid.UUID
	contact       uuid.UUID // the held contact whose topic the console follows
	frames        chan map[string]any
	raw           chan string
}

func newConsoleHarness(t *testing.T, voice Voice) *consoleHarness {
	t.Helper()
	rdb, prefix := redistest.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := bus.New(rdb, prefix, log)
	ctx, cancel := context.WithCancel(context.Background())
	busDone := make(chan struct{})
	go func() { defer close(busDone); b.Run(ctx) }()
	d := Deps{Log: log, Bus: b, Limiter: ratelimit.New(rdb, prefix), Chat: http.NotFoundHandler()}
	if voice != nil {
		d.Voice = voice // a nil *fakeVoice must stay a nil interface
	}
	s, err := NewServer(Config{PublicURL: "http://localhost:8080"}, d)
	if err != nil {
		t.Fatal(err)
	}
	h := &consoleHarness{t: t, s: s, tenant: uuid.New(), agent: uuid.New(), contact: uuid.New(),
		frames: make(chan map[string]any, 64), raw: make(chan string, 64)}
	served := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &agentConsole{s: s, conn: wspump.New(ws, wspump.Options{}), tenant: h.tenant, agent: h.agent, id: socketID(),
			box: make(mailbox, 64), subs: map[uuid.UUID]func(){}, restricted: map[uuid.UUID]bool{}}
		unsub, err := b.Subscribe(ctx, UserTopic(h.tenant, h.agent), busHandler{box: c.box, conn: c.conn})
		if err != nil {
			t.Errorf("subscribe user topic: %v", err)
			return
		}
		defer unsub()
		c.follow(ctx, h.contact) // as after its assigned frame
		mailDone := make(chan struct{})
		go func() {
			defer close(mailDone)
			for {
				select {
				case m := <-c.box:
					c.relay(ctx, m)
				case <-c.conn.Done():
					return
				}
			}
		}()
		close(served)
		c.conn.Run(ctx, func(p []byte) { c.onFrame(ctx, p) })
		<-mailDone
		for _, u := range c.subs {
			u()
		}
	}))
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(srv.URL, "http", "ws", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.ws = ws
	go func() {
		defer close(h.frames)
		for {
			_, p, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			if err := json.Unmarshal(p, &f); err != nil {
				t.Errorf("server sent non-JSON %q", p)
				return
			}
			h.raw <- string(p)
			h.frames <- f
		}
	}()
	select {
	case <-served:
	case <-time.After(30 * time.Second):
		t.Fatal("the console socket was not served within 30 s")
	}
	t.Cleanup(func() {
		ws.Close()
		cancel()
		srv.Close()
		<-busDone
	})
	return h
}

func (h *consoleHarness) send(f map[string]any) {
	h.t.Helper()
	if err := h.ws.WriteJSON(f); err != nil {
		h.t.Fatal(err)
	}
}

// next returns the next frame and its raw JSON.
func (h *consoleHarness) next(what string) (map[string]any, string) {
	h.t.Helper()
	select {
	case f, ok := <-h.frames:
		if !ok {
			h.t.Fatalf("%s: the socket closed", what)
		}
		return f, <-h.raw
	case <-time.After(30 * time.Second):
		h.t.Fatalf("%s: no frame within 30 s", what)
	}
	return nil, ""
}

func TestCallControlFrame(t *testing.T) {
	voice := &fakeVoice{}
	h := newConsoleHarness(t, voice)
	contact := h.contact.String()
	for _, tc := range []struct {
		name      string
		frame     map[string]any
		voiceErr  error
		wantType  string
		wantCode  string
		wantHolds int // holds the hotline was asked for so far
	}{
		{"bad contact id", map[string]any{"contact_id": "x", "state": "held"}, nil, "error", "invalid", 0},
		{"no contact id", map[string]any{"state": "held"}, nil, "error", "invalid", 0},
		{"unknown state", map[string]any{"contact_id": contact, "state": "paused"}, nil, "error", "invalid", 0},
		{"no state (a toggle is not allowed)", map[string]any{"contact_id": contact}, nil, "error", "invalid", 0},
		{"hold", map[string]any{"contact_id": contact, "state": "held"}, nil, "ack", "", 1},
		{"resume", map[string]any{"contact_id": contact, "state": "talking"}, nil, "ack", "", 2},
		{"telephony cannot hold", map[string]any{"contact_id": contact, "state": "held"},
			errors.Join(ErrCallNotSupported, errors.New("generic connector")), "error", "not_supported", 3},
		{"no live call", map[string]any{"contact_id": contact, "state": "held"}, ErrNoLiveCall, "error", "not_live", 4},
	} {
		voice.mu.Lock()
		voice.err = tc.voiceErr
		voice.mu.Unlock()
		ref := "call:" + strings.ReplaceAll(tc.name, " ", "-")
		tc.frame["type"], tc.frame["id"] = "call_control", ref
		h.send(tc.frame)
		f, _ := h.next(tc.name)
		if f["type"] != tc.wantType || f["ref"] != ref {
			t.Errorf("%s: answer %v, want %s with ref %s", tc.name, f, tc.wantType, ref)
		}
		if tc.wantCode != "" && f["code"] != tc.wantCode {
			t.Errorf("%s: code %v, want %s (%v)", tc.name, f["code"], tc.wantCode, f["message"])
		}
		if got := len(voice.asked()); got != tc.wantHolds {
			t.Errorf("%s: the hotline was asked %d holds, want %d", tc.name, got, tc.wantHolds)
		}
	}
	// What reached the hotline: this agent, this contact, absolute states,
	// and a key made of the frame's id (a resent frame is the same command).
	want := []string{
		fmt.Sprintf("%s %s true hold:%s:call:hold", h.agent, h.contact, h.contact),
		fmt.Sprintf("%s %s false hold:%s:call:resume", h.agent, h.contact, h.contact),
	}
	got := voice.asked()
	for i, w := range want {
		if got[i] != w {
			t.Errorf("hold %d = %q, want %q", i, got[i], w)
		}
	}
}

func TestCallControlWithoutPhoneChannel(t *testing.T) {
	h := newConsoleHarness(t, nil)
	h.send(map[string]any{"type": "call_control", "id": "c1", "contact_id": h.contact.String(), "state": "held"})
	f, _ := h.next("call_control on a server without phone")
	if f["type"] != "error" || f["code"] != "unavailable" || f["ref"] != "c1" {
		t.Errorf("answer %v, want error unavailable with ref c1", f)
	}
}

// TestCallStateReachesTheConsole: the hotline's CallState, published on the
// contact's topic, reaches the console that follows the contact as a call
// frame with the state and times and without the numbers; a withdrawn call
// reaches it on the agent's topic.
func TestCallStateReachesTheConsole(t *testing.T) {
	h := newConsoleHarness(t, &fakeVoice{})
	started := time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	answered := started.Add(40 * time.Second)
	k := crm.Call{ID: uuid.New(), TenantID: h.tenant, ContactID: h.contact, CallID: "1740821400.42", Direction: "inbound",
		From: "+8613800138000", Dialled: "+862160001000", State: crm.CallHeld, AgentID: h.agent, Extension: "1001",
		StartedAt: started, AnsweredAt: &answered, HoldSeconds: 12.5, RecordingURL: "https://rec.example.cn/a.mp3"}
	h.s.CallState(context.Background(), h.tenant, k)
	f, raw := h.next("call frame")
	if f["type"] != "call" || f["contact_id"] != h.contact.String() {
		t.Fatalf("frame %s, want a call frame for the contact", raw)
	}
	call, _ := f["call"].(map[string]any)
	want := map[string]any{"state": "held", "direction": "inbound", "started_at": "2026-03-01T01:30:00Z",
		"answered_at": "2026-03-01T01:30:40Z", "hold_seconds": 12.5, "recording": true, "cause": ""}
	for key, w := range want {
		if call[key] != w {
			t.Errorf("call.%s = %v, want %v", key, call[key], w)
		}
	}
	for _, key := range []string{"ended_at", "transferred"} {
		if _, ok := call[key]; ok {
			t.Errorf("call.%s present on a live, untransferred call: %s", key, raw)
		}
	}
	for _, secret := range []string{"13800138000", "60001000", "1740821400.42", "rec.example.cn", "1001"} {
		if strings.Contains(raw, secret) {
			t.Errorf("call frame carries %q: %s", secret, raw)
		}
	}

	ended := answered.Add(3 * time.Minute)
	k.State, k.EndedAt, k.Cause, k.TransferredTo = crm.CallEnded, &ended, "normal", "1002"
	h.s.CallState(context.Background(), h.tenant, k)
	f, raw = h.next("ended call frame")
	call, _ = f["call"].(map[string]any)
	if call["state"] != "ended" || call["ended_at"] != "2026-03-01T01:33:40Z" || call["cause"] != "normal" || call["transferred"] != true {
		t.Errorf("ended call frame %s, want state ended, ended_at, cause normal, transferred", raw)
	}

	h.s.CallWithdrawn(context.Background(), h.tenant, h.agent, h.contact, "phone_not_answered")
	f, raw = h.next("withdrawn frame")
	if f["type"] != "contact_withdrawn" || f["contact_id"] != h.contact.String() || f["reason"] != "phone_not_answered" {
		t.Errorf("frame %s, want contact_withdrawn phone_not_answered", raw)
	}
}
