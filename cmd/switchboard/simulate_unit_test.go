package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone/cti"
	"github.com/switchboard-cc/switchboard/cmd/switchboard/internal/demo"
)

// within reports whether got is within tol (a fraction) of want.
func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol*want }

// TestTrafficGenerators: seeded draws have the means and shares asked for.
func TestTrafficGenerators(t *testing.T) {
	const n = 40000
	tr := newTraffic(42, 12, 45*time.Second, 0.25, 20*time.Second, 10*time.Minute, 0.3, demo.CallerNumbers())
	var arrivals, talks, patient, impatientSum float64
	impatient, known := 0, 0
	mobile := regexp.MustCompile(`^138[0-9]{8}$`)
	knownSet := map[string]bool{}
	for _, k := range demo.CallerNumbers() {
		knownSet[k] = true
	}
	for range n {
		a, k := tr.interarrival(), tr.talk()
		if a < 0 || k <= 0 {
			t.Fatalf("interarrival %s, talk %s: want positive", a, k)
		}
		arrivals += a.Seconds()
		talks += k.Seconds()
		p, imp := tr.callerPatience()
		if imp {
			impatient++
			impatientSum += p.Seconds()
		} else {
			patient += p.Seconds()
			if p != 10*time.Minute {
				t.Fatalf("a patient caller waits %s, want --max-wait 10m", p)
			}
		}
		switch c := tr.caller(); {
		case knownSet[c]:
			known++
		case !mobile.MatchString(c):
			t.Fatalf("caller %q is neither a known customer's nor a 138… mobile number", c)
		}
	}
	if got := arrivals / n; !within(got, 60.0/12, 0.03) {
		t.Errorf("mean interarrival = %.3fs, want 5s (12 calls a minute) ±3%%", got)
	}
	if got := talks / n; !within(got, 45, 0.03) {
		t.Errorf("mean talk = %.2fs, want 45s ±3%%", got)
	}
	if got := float64(impatient) / n; !within(got, 0.25, 0.05) {
		t.Errorf("impatient share = %.3f, want 0.25 ±5%%", got)
	}
	if got := impatientSum / float64(impatient); !within(got, 20, 0.05) {
		t.Errorf("mean patience of impatient callers = %.2fs, want 20s ±5%%", got)
	}
	if got := float64(known) / n; !within(got, 0.3, 0.05) {
		t.Errorf("known callers' share = %.3f, want 0.3 ±5%%", got)
	}
	// The same seed draws the same.
	a, b := newTraffic(7, 6, time.Minute, 0.2, 20*time.Second, time.Minute, 0.3, nil), newTraffic(7, 6, time.Minute, 0.2, 20*time.Second, time.Minute, 0.3, nil)
	for range 100 {
		if x, y := a.interarrival(), b.interarrival(); x != y {
			t.Fatalf("seeded interarrivals differ: %s, %s", x, y)
		}
	}
	// The lognormal's spread: most talk between half and twice the mean,
	// none absurdly short.
	short := 0
	for range n {
		if tr.talk() < 5*time.Second {
			short++
		}
	}
	if float64(short)/n > 0.001 {
		t.Errorf("%d of %d talks under 5s with a 45s mean; want almost none", short, n)
	}
}

func TestParseSimulate(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"SWITCHBOARD_SIMULATE_SECRET": "from-the-env-0123456789", "SWITCHBOARD_PUBLIC_URL": "http://localhost:9000/"}[k]
	}
	cfg, err := parseSimulate([]string{"--aht", "30", "--patience", "1m", "--rate", "12", "--agents", "3"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AHT != 30*time.Second || cfg.Patience != time.Minute || cfg.Rate != 12 || cfg.Agents != 3 ||
		cfg.Secret != "from-the-env-0123456789" || cfg.URL != "http://localhost:9000" || cfg.Listen != "127.0.0.1:8089" ||
		cfg.Number != demo.HotlineNumber || cfg.Seed == 0 {
		t.Errorf("parseSimulate = %+v", cfg)
	}
	for _, args := range [][]string{
		{"--rate", "0"}, {"--rate", "-1"}, {"--aht", "soon"}, {"--abandon", "1.5"}, {"--agents", "13"},
		{"--connector", "not-a-uuid"}, {"--url", "localhost:8080"}, {"--listen", "8089"}, {"extra"}, {"--speed", "0"},
	} {
		if _, err := parseSimulate(args, env, io.Discard); err == nil {
			t.Errorf("parseSimulate(%q) accepted it", args)
		}
	}
	var help strings.Builder
	if _, err := parseSimulate([]string{"--help"}, env, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-agents") {
		t.Errorf("--help = %v, printed %q", err, help.String())
	}
}

// testPBX is a PBX endpoint with one live and one ended call.
func testPBX(t testing.TB) (*pbx, *simCall, *simCall) {
	t.Helper()
	p := &pbx{secret: "pbx-test-secret-0123456789", runID: "run1", st: &simStats{}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now,
		calls: map[string]*simCall{}, keys: map[string]time.Time{}, lostSent: map[string]bool{}}
	live := &simCall{id: "sim-1", cmds: make(chan pbxCommand, 16)}
	ended := &simCall{id: "sim-2", cmds: make(chan pbxCommand, 16), ended: time.Now()}
	p.calls[live.id], p.calls[ended.id] = live, ended
	return p, live, ended
}

func signedCommand(t testing.TB, secret string, at time.Time, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/pbx", strings.NewReader(string(body)))
	r.Header.Set(cti.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	r.Header.Set(cti.HeaderSignature, cti.Sign(secret, at, body))
	return r
}

func command(t testing.TB, c cti.Command) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPBXEndpoint: the fake PBX verifies signatures as docs/phone.md asks
// (403 otherwise), acts once per idempotency key, answers 404 for unknown
// calls, 409 for a connect to an ended call and 2xx for cancelling one.
func TestPBXEndpoint(t *testing.T) {
	p, live, _ := testPBX(t)
	connect := command(t, cti.Command{Command: "connect", CallID: "sim-1", Extension: "8001", IdempotencyKey: "k1"})
	now := time.Now()
	forged := signedCommand(t, "another-secret-0123456789", now, connect)
	stale := signedCommand(t, p.secret, now.Add(-10*time.Minute), connect)
	unsigned := httptest.NewRequest(http.MethodPost, "/pbx", strings.NewReader(string(connect)))
	tampered := signedCommand(t, p.secret, now, connect)
	tampered.Body = io.NopCloser(strings.NewReader(strings.Replace(string(connect), "8001", "8002", 1)))

	cases := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"forged signature", forged, http.StatusForbidden},
		{"stale timestamp", stale, http.StatusForbidden},
		{"unsigned", unsigned, http.StatusForbidden},
		{"body changed after signing", tampered, http.StatusForbidden},
		{"GET", httptest.NewRequest(http.MethodGet, "/pbx", nil), http.StatusMethodNotAllowed},
		{"not JSON", signedCommand(t, p.secret, now, []byte("connect sim-1")), http.StatusBadRequest},
		{"unknown field", signedCommand(t, p.secret, now, []byte(`{"command":"connect","call_id":"sim-1","extension":"8001","idempotency_key":"x","agent":"me"}`)), http.StatusBadRequest},
		{"unknown command", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "explode", CallID: "sim-1", Extension: "8001", IdempotencyKey: "k9"})), http.StatusBadRequest},
		{"dial without a number", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "dial", CallID: "sb-1", Extension: "8001", IdempotencyKey: "k10"})), http.StatusUnprocessableEntity},
		{"dial", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "dial", CallID: "sb-2", Extension: "8001", To: "+8613900000001", IdempotencyKey: "k11"})), http.StatusOK},
		{"no key", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "connect", CallID: "sim-1", Extension: "8001"})), http.StatusBadRequest},
		{"unknown call", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "connect", CallID: "sim-404", Extension: "8001", IdempotencyKey: "k2"})), http.StatusNotFound},
		{"connect an ended call", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "connect", CallID: "sim-2", Extension: "8001", IdempotencyKey: "k3"})), http.StatusConflict},
		{"cancel an ended call", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "cancel", CallID: "sim-2", Extension: "8001", IdempotencyKey: "k4"})), http.StatusOK},
		{"a mobile number only", signedCommand(t, p.secret, now, command(t, cti.Command{Command: "connect", CallID: "sim-1", Number: "+8613800138000", IdempotencyKey: "k5"})), http.StatusUnprocessableEntity},
		{"connect", signedCommand(t, p.secret, now, connect), http.StatusOK},
		{"the same connect again", signedCommand(t, p.secret, now.Add(time.Second), connect), http.StatusOK},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, c.req)
		if w.Code != c.want {
			t.Errorf("%s: HTTP %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
	}
	// Only the signed connect reached the call, once.
	if got := len(live.cmds); got != 1 {
		t.Fatalf("the call got %d commands, want 1 (forgeries refused, the repeat ignored)", got)
	}
	if cmd := <-live.cmds; cmd != (pbxCommand{kind: "connect", extension: "8001", key: "k1"}) {
		t.Errorf("command = %+v, want connect 8001 k1", cmd)
	}
}

// FuzzPBXCommand: whatever a correctly signed body holds, the endpoint
// answers with a status it documents and never panics.
func FuzzPBXCommand(f *testing.F) {
	for _, s := range []string{
		`{"command":"connect","call_id":"sim-1","extension":"8001","idempotency_key":"k"}`,
		`{"command":"cancel","call_id":"sim-2","extension":"8001","idempotency_key":"k"}`,
		`{"command":"hold","call_id":"sim-1","extension":"8001","idempotency_key":"h"}`,
		`{}`, `[]`, `null`, `{"command":1}`, "\x00", `{"command":"connect","call_id":"sim-1"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, _, _ := testPBX(t)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, signedCommand(t, p.secret, time.Now(), body))
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict,
			http.StatusUnprocessableEntity, http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("body %q: HTTP %d", body, w.Code)
		}
	})
}

// TestPBXEndsEarlierRunsCalls: a connect for a call of an earlier,
// killed simulator run is refused (404) and that call reported lost once,
// signed, so Switchboard stops offering it; this run's and other PBXs'
// call ids are left alone.
func TestPBXEndsEarlierRunsCalls(t *testing.T) {
	p, _, _ := testPBX(t)
	var mu sync.Mutex
	var got []cti.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := cti.Verify(p.secret, r.Header.Get(cti.HeaderSignature), r.Header.Get(cti.HeaderTimestamp), body, time.Now()); err != nil {
			t.Errorf("the lost hangup is not signed: %v", err)
		}
		var req cti.Request
		json.Unmarshal(body, &req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	p.cti = &ctiClient{url: srv.URL, secret: p.secret, hc: srv.Client(), st: p.st}
	for i, id := range []string{"sim-old-3", "sim-old-3", "sim-run1-9", "pbx-77"} {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, signedCommand(t, p.secret, time.Now(), command(t, cti.Command{Command: "connect", CallID: id, Extension: "8001",
			IdempotencyKey: fmt.Sprint("key-", i)})))
		if w.Code != http.StatusNotFound {
			t.Errorf("connect %s: HTTP %d, want 404", id, w.Code)
		}
	}
	p.wg.Wait()
	if len(got) != 1 || got[0].Event != "hangup" || got[0].CallID != "sim-old-3" || got[0].Cause != "lost" {
		t.Errorf("posted %+v, want one hangup of sim-old-3 with cause lost", got)
	}
}
