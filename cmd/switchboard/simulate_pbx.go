package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone/cti"
)

// simStats is what the simulator counts; the progress line and the
// summary read it.
type simStats struct {
	started, waiting, ringing, talking atomic.Int64
	answered, completed                atomic.Int64
	abandoned, impatient               atomic.Int64 // hung up waiting; impatient: of those with short patience
	closed, cut, failed                atomic.Int64 // after hours, hung up at the end, gave up on an error
	lost                               atomic.Int64 // earlier runs' calls ended as lost
	accepted, done, callbacks          atomic.Int64 // bot agents: offers accepted, wrap-ups done, callbacks made

	mu    sync.Mutex
	waits []time.Duration // queue to answer, answered calls
	rtts  []time.Duration // webhook round trips
}

// maxSamples bounds the memory of a long run's samples.
const maxSamples = 200000

func (s *simStats) wait(d time.Duration) {
	s.mu.Lock()
	if len(s.waits) < maxSamples {
		s.waits = append(s.waits, d)
	}
	s.mu.Unlock()
}

func (s *simStats) rtt(d time.Duration) {
	s.mu.Lock()
	if len(s.rtts) < maxSamples {
		s.rtts = append(s.rtts, d)
	}
	s.mu.Unlock()
}

// quantile of a copy of ds (q in [0, 1]); 0 when empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), ds...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[min(len(c)-1, int(q*float64(len(c))))]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// ctiClient posts signed events to Switchboard's generic CTI webhook.
type ctiClient struct {
	url    string // …/phone/cti/{connector}
	secret string
	hc     *http.Client
	st     *simStats
	// slots bounds the requests in flight (nil: no bound), so an
	// overloaded server sees a queue at the PBX rather than a stampede
	// (the end of a big run hangs up hundreds of calls at once).
	slots chan struct{}
}

// maxInFlight is how many webhook requests one simulator has open at once.
const maxInFlight = 64

// ctiError is a refusal by Switchboard: the status and the API's error
// code (its message may quote what was sent, so it is not kept).
type ctiError struct {
	Event  string
	Status int
	Code   string
}

func (e *ctiError) Error() string {
	return fmt.Sprintf("%s: Switchboard answered HTTP %d %s", e.Event, e.Status, e.Code)
}

// send posts one event and returns the route Switchboard answers new_call
// and digits with. Network errors, 429 and 5xx are tried again (the event
// id makes a repeat harmless), up to 6 times over about 6 s.
func (c *ctiClient) send(ctx context.Context, req cti.Request) (cti.RouteResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return cti.RouteResponse{}, err
	}
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		route, err := c.post(ctx, req.Event, body)
		var ce *ctiError
		retry := err != nil && (!errors.As(err, &ce) || ce.Status == http.StatusTooManyRequests || ce.Status >= 500)
		if !retry || attempt == 6 || ctx.Err() != nil {
			return route, err
		}
		select {
		case <-ctx.Done():
			return route, err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (c *ctiClient) post(ctx context.Context, event string, body []byte) (cti.RouteResponse, error) {
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-ctx.Done():
			return cti.RouteResponse{}, fmt.Errorf("%s: %w", event, ctx.Err())
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return cti.RouteResponse{}, err
	}
	now := time.Now()
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(cti.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	hreq.Header.Set(cti.HeaderSignature, cti.Sign(c.secret, now, body))
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return cti.RouteResponse{}, fmt.Errorf("%s: %w", event, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	c.st.rtt(time.Since(now))
	if err != nil {
		return cti.RouteResponse{}, fmt.Errorf("%s: %w", event, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		return cti.RouteResponse{}, &ctiError{Event: event, Status: resp.StatusCode, Code: e.Error}
	}
	var route cti.RouteResponse
	if event == "new_call" || event == "digits" {
		if err := json.Unmarshal(b, &route); err != nil {
			return cti.RouteResponse{}, fmt.Errorf("%s: the route is not JSON: %w", event, err)
		}
	}
	return route, nil
}

// pbxCommand is a control command Switchboard sent, as a call acts on it.
type pbxCommand struct{ kind, extension, key string }

// simCall is one simulated call as the PBX endpoint sees it.
type simCall struct {
	id    string
	cmds  chan pbxCommand // to the call's goroutine
	ended time.Time       // under pbx.mu; zero while live
}

// pace is how long simulated people take for things, before --speed.
type pace struct {
	menu, ring, accept, wrapUp, closed [2]time.Duration
}

var humanPace = pace{
	menu:   [2]time.Duration{2 * time.Second, 5 * time.Second}, // listening to the menu, then a key
	ring:   [2]time.Duration{1 * time.Second, 4 * time.Second}, // the agent picks up the phone
	accept: [2]time.Duration{1 * time.Second, 3 * time.Second}, // a bot reads the offer, then accepts
	wrapUp: [2]time.Duration{3 * time.Second, 8 * time.Second}, // a bot writes its note
	closed: [2]time.Duration{2 * time.Second, 4 * time.Second}, // a caller listens to "we are closed"
}

// pbx is the fake PBX: it starts calls through the CTI webhook and takes
// Switchboard's signed control commands on its own endpoint.
type pbx struct {
	secret string
	number string // the dialled hotline number
	runID  string // makes call ids unique across runs
	speed  float64
	pace   pace
	tr     *traffic
	cti    *ctiClient
	st     *simStats
	log    *slog.Logger
	now    func() time.Time

	seq   atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	calls map[string]*simCall
	keys  map[string]time.Time // idempotency keys acted on
	// lostSent: calls of earlier runs reported lost (see lost).
	lostSent map[string]bool
	// life is the run's context, for calls placed on a command (dial);
	// set by the first start.
	life context.Context
}

// keyMemory is how long acted-on command keys and ended calls are kept:
// docs/phone.md asks a PBX to remember keys for an hour.
const keyMemory = time.Hour

func (p *pbx) delay(r [2]time.Duration) time.Duration {
	return time.Duration(float64(p.tr.between(r[0], r[1])) / p.speed)
}

// ServeHTTP is the PBX's command endpoint (docs/phone.md, "Control mode"):
// verify, act once per key, answer at once; the call's goroutine reports
// what happens through the webhook.
func (p *pbx) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if code == "" {
			io.WriteString(w, `{"ok":true}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		answer(http.StatusRequestEntityTooLarge, "too_large", "body over 64 KiB")
		return
	}
	if err := cti.Verify(p.secret, r.Header.Get(cti.HeaderSignature), r.Header.Get(cti.HeaderTimestamp), body, p.now()); err != nil {
		p.log.Warn("simulate: refused a command with a bad signature", "err", err)
		answer(http.StatusForbidden, "bad_signature", err.Error())
		return
	}
	var cmd cti.Command
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		answer(http.StatusBadRequest, "bad_json", "body is not a command")
		return
	}
	key := r.Header.Get(cti.HeaderIdempotency)
	if key == "" {
		key = cmd.IdempotencyKey
	}
	switch {
	case cmd.Command != "connect" && cmd.Command != "cancel" && cmd.Command != "hold" && cmd.Command != "unhold" && cmd.Command != "dial":
		answer(http.StatusBadRequest, "invalid", "command must be connect, cancel, hold, unhold or dial")
		return
	case cmd.Command == "dial" && (cmd.Extension == "" || cmd.To == ""):
		answer(http.StatusUnprocessableEntity, "invalid", "dial needs the agent's extension and the number to call")
		return
	case key == "":
		answer(http.StatusBadRequest, "invalid", "no idempotency key")
		return
	case cmd.Extension == "" && cmd.Command == "connect":
		// The simulator has extensions only: an agent who takes calls on
		// a mobile number is a phone it cannot answer.
		answer(http.StatusUnprocessableEntity, "no_extension", "this PBX connects to extensions only")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.keys[key]; seen {
		answer(http.StatusOK, "", "") // acted on already
		return
	}
	c := p.calls[cmd.CallID]
	if cmd.Command == "dial" {
		if c == nil && p.life != nil {
			p.keys[key] = p.now()
			c = &simCall{id: cmd.CallID, cmds: make(chan pbxCommand, 16)}
			p.calls[c.id] = c
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.dialOut(p.life, c, cmd.Extension)
				p.mu.Lock()
				c.ended = p.now()
				p.mu.Unlock()
			}()
		}
		answer(http.StatusOK, "", "")
		return
	}
	switch {
	case c == nil:
		answer(http.StatusNotFound, "unknown_call", "no such call")
		p.lost(cmd.CallID)
		return
	case !c.ended.IsZero() && cmd.Command == "cancel":
		answer(http.StatusOK, "", "") // nothing rings any more
		return
	case !c.ended.IsZero():
		answer(http.StatusConflict, "call_ended", "the call has ended")
		return
	}
	select {
	case c.cmds <- pbxCommand{kind: cmd.Command, extension: cmd.Extension, key: key}:
		p.keys[key] = p.now()
		answer(http.StatusOK, "", "")
	default:
		answer(http.StatusServiceUnavailable, "busy", "the call has too many commands pending")
	}
}

// lost reports as lost a call of an earlier simulator run that Switchboard
// still has waiting (that run was killed before it could hang up): no PBX
// will ever end it otherwise, and it would be offered again and again.
// Other call ids are not the simulator's business. Called with p.mu held.
func (p *pbx) lost(callID string) {
	if !strings.HasPrefix(callID, "sim-") || strings.HasPrefix(callID, "sim-"+p.runID+"-") || p.lostSent[callID] || p.cti == nil {
		return
	}
	p.lostSent[callID] = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := p.cti.send(ctx, cti.Request{Event: "hangup", CallID: callID, EventID: callID + ":lost", Cause: "lost"}); err != nil {
			p.log.Warn("simulate: could not end an earlier run's call", "call_id", callID, "err", err)
			return
		}
		p.st.lost.Add(1)
	}()
}

// forget drops keys and ended calls older than keyMemory.
func (p *pbx) forget() {
	cut := p.now().Add(-keyMemory)
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, at := range p.keys {
		if at.Before(cut) {
			delete(p.keys, k)
		}
	}
	for id, c := range p.calls {
		if !c.ended.IsZero() && c.ended.Before(cut) {
			delete(p.calls, id)
		}
	}
}

// start begins one call in its own goroutine.
func (p *pbx) start(ctx context.Context) {
	c := &simCall{id: fmt.Sprintf("sim-%s-%d", p.runID, p.seq.Add(1)), cmds: make(chan pbxCommand, 16)}
	p.mu.Lock()
	p.calls[c.id] = c
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.call(ctx, c)
		p.mu.Lock()
		c.ended = p.now()
		p.mu.Unlock()
	}()
}

// callRun is one call's progress: its events' ids and its end.
type callRun struct {
	p   *pbx
	c   *simCall
	seq int
}

// event posts an event of the call; each gets its own id, the same on
// every retry of it.
func (cr *callRun) event(ctx context.Context, req cti.Request) (cti.RouteResponse, error) {
	cr.seq++
	req.CallID, req.EventID = cr.c.id, fmt.Sprintf("%s:%d", cr.c.id, cr.seq)
	return cr.p.cti.send(ctx, req)
}

// hangup ends the call. It runs on its own context: at the end of a run
// the calls still going are hung up although the run's context is over.
func (cr *callRun) hangup(cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cr.event(ctx, cti.Request{Event: "hangup", Cause: cause}); err != nil {
		cr.fail(err)
	}
}

// hangupIfKnown hangs up a call whose new_call may not have been recorded.
func (cr *callRun) hangupIfKnown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := cr.event(ctx, cti.Request{Event: "hangup", Cause: "abandoned"})
	var ce *ctiError
	if err != nil && !(errors.As(err, &ce) && ce.Code == "unknown_call") {
		cr.fail(err)
	}
}

func (cr *callRun) fail(err error) {
	cr.p.st.failed.Add(1)
	cr.p.log.Error("simulate: call event failed", "call_id", cr.c.id, "err", err)
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// call is one caller's life: dial the hotline, go through the menu, wait
// (giving up when patience runs out), talk to the agent whose phone
// Switchboard connected, hang up.
func (p *pbx) call(ctx context.Context, c *simCall) {
	cr := &callRun{p: p, c: c}
	st := p.st
	st.started.Add(1)
	route, err := cr.event(ctx, cti.Request{Event: "new_call", From: p.tr.caller(), To: p.number, Direction: "inbound"})
	if err != nil && ctx.Err() != nil {
		// The run ended mid-request: Switchboard may have recorded the
		// call, so it is hung up; a 404 says it had not.
		st.cut.Add(1)
		cr.hangupIfKnown()
		return
	} else if err != nil {
		cr.fail(err)
		return
	}
	for tries := 0; route.Action == "menu" && len(route.Menu) > 0 && tries < 4; tries++ {
		if !sleep(ctx, p.delay(p.pace.menu)) {
			st.cut.Add(1)
			cr.hangup("abandoned")
			return
		}
		digit := route.Menu[p.tr.pick(len(route.Menu))].Digit
		if route, err = cr.event(ctx, cti.Request{Event: "digits", Digits: digit}); err != nil {
			if ctx.Err() != nil {
				st.cut.Add(1)
			} else {
				cr.fail(err)
			}
			cr.hangup("abandoned")
			return
		}
	}
	switch route.Action {
	case "queue":
	case "closed":
		st.closed.Add(1)
		sleep(ctx, p.delay(p.pace.closed))
		cr.hangup("normal")
		return
	case "hangup":
		return
	default:
		cr.fail(fmt.Errorf("unexpected route %q", route.Action))
		cr.hangup("abandoned")
		return
	}
	p.wait(ctx, cr)
}

// wait holds the caller in the queue until an agent's phone answers or
// patience runs out, then talks.
func (p *pbx) wait(ctx context.Context, cr *callRun) {
	st := p.st
	queued := time.Now()
	st.waiting.Add(1)
	patience, impatient := p.tr.callerPatience()
	giveUp := time.NewTimer(patience)
	defer giveUp.Stop()
	ring := time.NewTimer(time.Hour)
	ring.Stop()
	defer ring.Stop()
	ringing := ""
	stopRinging := func() {
		if ringing != "" {
			ringing = ""
			ring.Stop()
			st.ringing.Add(-1)
		}
	}
	for {
		select {
		case <-ctx.Done():
			stopRinging()
			st.waiting.Add(-1)
			st.cut.Add(1)
			cr.hangup("abandoned")
			return
		case <-giveUp.C:
			stopRinging()
			st.waiting.Add(-1)
			st.abandoned.Add(1)
			if impatient {
				st.impatient.Add(1)
			}
			cr.hangup("abandoned")
			return
		case cmd := <-cr.c.cmds:
			switch {
			case cmd.kind == "connect":
				// A new connect replaces a ring Switchboard gave up on.
				stopRinging()
				ringing = cmd.extension
				st.ringing.Add(1)
				ring.Reset(p.delay(p.pace.ring))
				if _, err := cr.event(ctx, cti.Request{Event: "ringing", Extension: ringing}); err != nil && ctx.Err() == nil {
					cr.fail(err)
				}
			case cmd.kind == "cancel" && cmd.extension == ringing:
				stopRinging()
			}
		case <-ring.C:
			ext := ringing
			stopRinging()
			if _, err := cr.event(ctx, cti.Request{Event: "answer", Extension: ext}); err != nil {
				// Switchboard did not take the answer: the caller waits on.
				if ctx.Err() == nil {
					cr.fail(err)
				}
				continue
			}
			st.waiting.Add(-1)
			st.answered.Add(1)
			st.wait(time.Since(queued))
			p.talk(ctx, cr, ext)
			return
		}
	}
}

// talk lasts the call's talk time, follows hold commands and a transfer's
// connect to another extension, then hangs up.
func (p *pbx) talk(ctx context.Context, cr *callRun, ext string) {
	st := p.st
	st.talking.Add(1)
	defer st.talking.Add(-1)
	end := time.NewTimer(p.tr.talk())
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			st.cut.Add(1)
			cr.hangup("normal")
			return
		case <-end.C:
			st.completed.Add(1)
			cr.hangup("normal")
			return
		case cmd := <-cr.c.cmds:
			var err error
			switch {
			case cmd.kind == "hold" || cmd.kind == "unhold":
				_, err = cr.event(ctx, cti.Request{Event: cmd.kind, Extension: ext})
			case cmd.kind == "connect" && cmd.extension != ext:
				// A transfer: the first agent's leg ends, the new one's
				// phone rings and answers.
				if _, err = cr.event(ctx, cti.Request{Event: "hangup", Extension: ext, Cause: "normal"}); err == nil {
					ext = cmd.extension
					if _, err = cr.event(ctx, cti.Request{Event: "ringing", Extension: ext}); err == nil {
						sleep(ctx, p.delay(p.pace.ring))
						_, err = cr.event(ctx, cti.Request{Event: "answer", Extension: ext})
					}
				}
			}
			if err != nil && ctx.Err() == nil {
				cr.fail(err)
			}
		}
	}
}

// dialOut is a call an agent places (a callback's "Call now"): the agent's
// phone rings and answers, the customer picks up, they talk, and the
// customer hangs up.
func (p *pbx) dialOut(ctx context.Context, c *simCall, ext string) {
	cr := &callRun{p: p, c: c}
	if _, err := cr.event(ctx, cti.Request{Event: "ringing", Extension: ext}); err != nil {
		cr.fail(err)
		return
	}
	sleep(ctx, p.delay(p.pace.ring))
	if _, err := cr.event(ctx, cti.Request{Event: "answer", Extension: ext}); err != nil {
		cr.fail(err)
		return
	}
	p.talk(ctx, cr, ext)
}
