package ami

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
	"github.com/switchboard-cc/switchboard/channels/phone/ami/amitest"
)

const (
	testUser   = "switchboard"
	testSecret = "s3cret-Do-Not-Log"
)

type setup struct {
	srv    *amitest.Server
	pbx    *PBX
	sink   *recSink
	conn   phone.Connector
	log    *logBuf
	cancel context.CancelFunc
	done   chan error
}

// start runs a PBX against a fresh test server; secret is what the PBX
// logs in with.
func start(t *testing.T, secret string, mod func(*Options)) *setup {
	t.Helper()
	srv := amitest.Start(t, testUser, testSecret)
	log, lb := testLog(t)
	conn := phone.Connector{
		ID: uuid.New(), TenantID: uuid.New(), Kind: phone.KindAsterisk, Mode: phone.Control,
		Address: srv.Addr, Username: testUser, Secret: secret, Context: "agents",
	}
	opt := Options{Client: Config{
		PingInterval: 500 * time.Millisecond, ActionTimeout: 10 * time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
	}}
	if mod != nil {
		mod(&opt)
	}
	sink := newSink()
	p := New(conn, sink, opt, log)
	ctx, cancel := context.WithCancel(context.Background())
	s := &setup{srv: srv, pbx: p, sink: sink, conn: conn, log: lb, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		if strings.Contains(lb.String(), testSecret) {
			t.Errorf("the AMI secret was logged:\n%s", lb)
		}
		if strings.Contains(lb.String(), "13800138000") || strings.Contains(lb.String(), "13900139000") {
			t.Errorf("a caller's number was logged:\n%s", lb)
		}
	})
	return s
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func load(t *testing.T, file string) *amitest.Transcript {
	t.Helper()
	tr, err := amitest.Load("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTranscriptsOverTCP(t *testing.T) {
	for _, tc := range transcripts {
		t.Run(tc.file, func(t *testing.T) {
			s := start(t, testSecret, nil)
			if err := s.srv.Play(waitCtx(t), load(t, tc.file)); err != nil {
				t.Fatal(err)
			}
			got := s.sink.waitEvents(t, len(tc.want))
			time.Sleep(50 * time.Millisecond) // anything extra would show now
			got, conflicts := s.sink.snapshot()
			check(t, tc.file, got, tc.want)
			if len(conflicts) > 0 {
				t.Errorf("EventIDs delivered twice with different content: %v", conflicts)
			}
		})
	}
}

func TestDropMidCall(t *testing.T) {
	t.Run("resumed", func(t *testing.T) {
		s := start(t, testSecret, nil)
		if err := s.srv.Play(waitCtx(t), load(t, "drop_resumed.ami")); err != nil {
			t.Fatal(err)
		}
		s.sink.waitEvents(t, len(transcripts[5].want))
		got, conflicts := s.sink.snapshot()
		check(t, "drop, call listed after the reconnect", got, transcripts[5].want)
		if len(conflicts) > 0 {
			t.Errorf("EventIDs delivered twice with different content: %v", conflicts)
		}
		if logins, _, resyncs := s.srv.Counts(); logins != 2 || resyncs != 2 {
			t.Errorf("logins %d, resyncs %d; want 2 and 2 (reconnect, then resync)", logins, resyncs)
		}
		if !strings.Contains(s.log.String(), "ami connection failed") {
			t.Errorf("the drop was not logged:\n%s", s.log)
		}
	})
	t.Run("lost", func(t *testing.T) {
		s := start(t, testSecret, nil)
		if err := s.srv.Play(waitCtx(t), load(t, "drop_lost.ami")); err != nil {
			t.Fatal(err)
		}
		got := s.sink.waitEvents(t, len(dropLost))
		check(t, "drop, call gone after the reconnect", got, dropLost)
		if _, c := s.sink.snapshot(); len(c) > 0 {
			t.Errorf("EventIDs delivered twice with different content: %v", c)
		}
	})
}

func TestGarbageReconnects(t *testing.T) {
	garbage := []struct {
		name string
		b    []byte
		want string
	}{
		{"binary", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not AMI\r\n\r\n"), "protocol error"},
		{"HTTP", []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n"), "protocol error"},
		{"endless line", []byte(strings.Repeat("A", 64<<10)), "limit"},
	}
	for _, g := range garbage {
		t.Run(g.name, func(t *testing.T) {
			s := start(t, testSecret, nil)
			ctx := waitCtx(t)
			if err := s.srv.WaitLogins(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := s.srv.Raw(g.b); err != nil {
				t.Fatal(err)
			}
			if err := s.srv.WaitLogins(ctx, 2); err != nil {
				t.Fatalf("no reconnect after garbage: %v\n%s", err, s.log)
			}
			if !strings.Contains(s.log.String(), g.want) {
				t.Errorf("log does not say %q:\n%s", g.want, s.log)
			}
			// Still working: a call after the garbage is followed.
			if err := s.srv.Play(ctx, load(t, "queue_answered.ami")); err != nil {
				t.Fatal(err)
			}
			got := s.sink.waitEvents(t, len(transcripts[0].want))
			check(t, "after garbage", got, transcripts[0].want)
		})
	}
}

func TestLoginRefused(t *testing.T) {
	s := start(t, "wrong-secret", nil)
	ctx := waitCtx(t)
	if err := s.srv.WaitRefused(ctx, 4); err != nil {
		t.Fatalf("login attempts: %v", err)
	}
	st := s.pbx.Client().State()
	if st.Connected || !errors.Is(st.LastError, ErrLogin) {
		t.Fatalf("State() = %+v, want not connected, LastError ErrLogin", st)
	}
	if msg := st.LastError.Error(); !strings.Contains(msg, "Authentication failed") || !strings.Contains(msg, testUser) || strings.Contains(msg, "wrong-secret") {
		t.Errorf("error %q: want Asterisk's reason and the user, never the secret", msg)
	}
	if strings.Contains(s.log.String(), "wrong-secret") {
		t.Errorf("the secret was logged:\n%s", s.log)
	}
	// Backoff: the announced waits do not shrink while failures go on
	// (each is drawn from [b/2, b] and b doubles up to the cap).
	var waits []time.Duration
	for _, line := range strings.Split(s.log.String(), "\n") {
		if i := strings.Index(line, "retry_in="); i >= 0 && strings.Contains(line, "refused") {
			d, err := time.ParseDuration(strings.Fields(line[i+len("retry_in="):])[0])
			if err == nil {
				waits = append(waits, d)
			}
		}
	}
	if len(waits) < 3 {
		t.Fatalf("%d refused logins logged with retry_in, want ≥ 3:\n%s", len(waits), s.log)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] && waits[i-1] < 400*time.Millisecond/2 {
			t.Errorf("backoff shrank: %v then %v", waits[i-1], waits[i])
		}
		if waits[i] > 400*time.Millisecond {
			t.Errorf("wait %v above the cap", waits[i])
		}
	}
}

func TestMissingPongReconnects(t *testing.T) {
	s := start(t, testSecret, func(o *Options) {
		o.Client.PingInterval = 100 * time.Millisecond
		o.Client.ActionTimeout = time.Second
	})
	ctx := waitCtx(t)
	if err := s.srv.WaitLogins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.srv.SetPong(false)
	if err := s.srv.WaitLogins(ctx, 2); err != nil {
		t.Fatalf("no reconnect without pongs: %v", err)
	}
	if !strings.Contains(s.log.String(), "keep-alive") {
		t.Errorf("log does not name the keep-alive:\n%s", s.log)
	}
}

// playUntil plays a transcript's events up to and including the first
// event named last.
func playUntil(t *testing.T, s *setup, file, last string) {
	t.Helper()
	tr := load(t, file)
	for i, st := range tr.Steps {
		if st.Event.Get("Event") == last {
			tr.Steps = tr.Steps[:i+1]
			break
		}
	}
	if err := s.srv.Play(waitCtx(t), tr); err != nil {
		t.Fatal(err)
	}
}

func TestConnectRedirects(t *testing.T) {
	s := start(t, testSecret, nil)
	playUntil(t, s, "queue_answered.ami", "QueueCallerJoin")
	s.sink.waitEvents(t, 2) // Ringing, Queued: the call is known
	ctx := waitCtx(t)
	call := phone.Call{CallID: "1715000000.101"}
	agent := phone.Agent{AgentID: uuid.New(), Extension: "1001"}
	for range 2 {
		if err := s.pbx.Connect(ctx, s.conn, call, agent, "offer-1"); err != nil {
			t.Fatalf("Connect: %v", err)
		}
	}
	rs := s.srv.Actions("Redirect")
	if len(rs) != 1 {
		t.Fatalf("server saw %d Redirects for one key, want 1", len(rs))
	}
	r := rs[0]
	if r.Get("Channel") != "PJSIP/trunk-cn-00000065" || r.Get("Context") != "agents" || r.Get("Exten") != "1001" || r.Get("Priority") != "1" {
		t.Errorf("Redirect = %v, want the caller's channel to 1001@agents priority 1", r)
	}
	if r.Get("ActionID") != actionID("connect", "offer-1") {
		t.Errorf("ActionID %q is not derived from the key", r.Get("ActionID"))
	}
	if err := s.pbx.Connect(ctx, s.conn, call, agent, "offer-2"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.srv.Actions("Redirect")); n != 2 {
		t.Errorf("server saw %d Redirects after a second key, want 2", n)
	}

	s.srv.Fail("Redirect", "Channel does not exist: PJSIP/trunk-cn-00000065")
	err := s.pbx.Connect(ctx, s.conn, call, agent, "offer-3")
	var ae *ActionError
	if !errors.As(err, &ae) || ae.Message != "Channel does not exist: PJSIP/trunk-cn-00000065" {
		t.Errorf("Connect on a failing Redirect = %v, want AMI's message", err)
	}
	if err := s.pbx.Connect(ctx, s.conn, phone.Call{CallID: "nope"}, agent, "offer-4"); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("Connect of an unknown call = %v, want ErrUnknownCall", err)
	}
	bad := phone.Agent{Extension: "1001\r\nAction: Originate"}
	if err := s.pbx.Connect(ctx, s.conn, call, bad, "offer-5"); !errors.Is(err, ErrInjection) {
		t.Errorf("Connect with CRLF in the extension = %v, want ErrInjection", err)
	}
}

func TestCancelHangsUpRingingLeg(t *testing.T) {
	s := start(t, testSecret, nil)
	playUntil(t, s, "queue_answered.ami", "DialBegin")
	s.sink.waitEvents(t, 3) // Ringing, Queued, Offered 1001
	ctx := waitCtx(t)
	call := phone.Call{CallID: "1715000000.101"}
	if err := s.pbx.Cancel(ctx, s.conn, call, phone.Agent{Extension: "1002"}, "c-1"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.srv.Actions("Hangup")); n != 0 {
		t.Fatalf("Cancel of an agent not ringing sent %d Hangups", n)
	}
	for range 2 {
		if err := s.pbx.Cancel(ctx, s.conn, call, phone.Agent{Extension: "1001"}, "c-2"); err != nil {
			t.Fatal(err)
		}
	}
	hs := s.srv.Actions("Hangup")
	if len(hs) != 1 || hs[0].Get("Channel") != "PJSIP/1001-00000066" {
		t.Errorf("Hangups = %v, want one of PJSIP/1001-00000066", hs)
	}
}

func TestNotConnected(t *testing.T) {
	log, _ := testLog(t)
	p := New(phone.Connector{ID: uuid.New(), Address: "127.0.0.1:1", Context: "agents"}, newSink(), Options{}, log)
	p.tracker.Event(events(t, "queue_answered.ami")[0])
	err := p.Connect(context.Background(), phone.Connector{Context: "agents"}, phone.Call{CallID: "1715000000.101"}, phone.Agent{Extension: "1001"}, "k")
	if !errors.Is(err, ErrNotConnected) {
		t.Errorf("Connect while disconnected = %v, want ErrNotConnected", err)
	}
}

// A call Switchboard never saw (it started while the connection was down)
// is adopted from CoreShowChannels after the reconnect.
func TestResyncAdoptsOverTCP(t *testing.T) {
	s := start(t, testSecret, nil)
	ctx := waitCtx(t)
	if err := s.srv.WaitResyncs(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.srv.SetChannels([]amitest.Message{
		amitest.M("Channel", "PJSIP/trunk-cn-000000c8", "ChannelState", "6", "ChannelStateDesc", "Up", "CallerIDNum", "13900139000",
			"Context", "from-trunk", "Exten", "4008001234", "Priority", "3", "Uniqueid", "1715000000.200", "Linkedid", "1715000000.200",
			"BridgeId", "b1e0c0de-0200", "Application", "Queue", "ApplicationData", "service", "Duration", "00:02:10"),
		amitest.M("Channel", "PJSIP/1003-000000c9", "ChannelState", "6", "ChannelStateDesc", "Up", "CallerIDNum", "1003",
			"Context", "from-queue", "Exten", "1003", "Priority", "1", "Uniqueid", "1715000000.201", "Linkedid", "1715000000.200",
			"BridgeId", "b1e0c0de-0200", "Application", "AppQueue", "ApplicationData", "(Outgoing Line)", "Duration", "00:01:50"),
	})
	s.srv.Drop()
	got := s.sink.waitEvents(t, 2)
	check(t, "adopted", got, []want{{phone.Ringing, "", "", ""}, {phone.Answered, "1003", "", ""}})
	if got[0].CallID != "1715000000.200" || got[0].From != "13900139000" || got[0].To != "4008001234" {
		t.Errorf("adopted Ringing = %+v", got[0])
	}
	// The call goes on: Connect can move it, and its hang-up ends it.
	if ch, ok := s.pbx.Tracker().CallerChannel("1715000000.200"); !ok || ch != "PJSIP/trunk-cn-000000c8" {
		t.Errorf("CallerChannel = %q, %v", ch, ok)
	}
	if err := s.srv.Send(amitest.M("Event", "Hangup", "Privilege", "call,all", "Channel", "PJSIP/trunk-cn-000000c8",
		"Uniqueid", "1715000000.200", "Linkedid", "1715000000.200", "Cause", "16", "Cause-txt", "Normal Clearing")); err != nil {
		t.Fatal(err)
	}
	got = s.sink.waitEvents(t, 4)
	check(t, "adopted, then hung up", got, []want{
		{phone.Ringing, "", "", ""}, {phone.Answered, "1003", "", ""},
		{phone.Ended, "1003", phone.CauseNormal, ""}, {phone.Ended, "", phone.CauseNormal, ""},
	})
}
