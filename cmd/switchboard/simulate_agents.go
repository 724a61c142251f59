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
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wrapUpNotes are what bot agents write when they finish a call: no
// personal data, just what a dealership's agent might note.
var wrapUpNotes = []string{
	"Answered a question about opening hours",
	"Booked a service appointment",
	"Sent a quote for the test-drive model",
	"Passed the question on to the service advisor",
	"已预约保养",
	"客户咨询试驾，已登记",
}

// botAgent is a simulated agent: it logs in as a demo agent, opens the
// console socket, goes Available, accepts call offers after a short
// human-like delay, makes the callbacks it is given, and sends done with
// a note a few seconds after each call ends.
type botAgent struct {
	n      int    // its number, for the logs (no e-mail there)
	email  string // the demo login
	pass   string
	base   string // Switchboard's public URL, also the Origin
	p      *pbx   // pace, speed and random draws
	st     *simStats
	log    *slog.Logger
	active atomic.Int64 // contacts held: assigned and not yet done
}

// run keeps the bot's console open until ctx ends, reconnecting with
// backoff when the socket drops (a server restart, a deploy).
func (b *botAgent) run(ctx context.Context) {
	backoff := time.Second
	for {
		start := time.Now()
		err := b.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		b.log.Warn("simulate: bot agent's console dropped; reconnecting", "bot", b.n, "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// botConn is one console session of a bot.
type botConn struct {
	b    *botAgent
	hc   *http.Client
	csrf string
	out  chan map[string]any
	ctx  context.Context // the session's: ends when the socket does
	id   atomic.Int64
}

// send queues a frame for the writer; dropped when the session is over.
func (c *botConn) send(f map[string]any) {
	f["id"] = fmt.Sprintf("b%d-%d", c.b.n, c.id.Add(1))
	select {
	case c.out <- f:
	case <-c.ctx.Done():
	}
}

// later runs fn after d unless the session ends first.
func (c *botConn) later(d time.Duration, fn func()) {
	go func() {
		if sleep(c.ctx, d) {
			fn()
		}
	}()
}

// login returns a client with the bot's session cookie and the page's
// CSRF token.
func (b *botAgent) login(ctx context.Context) (*http.Client, string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	form := url.Values{"email": {b.email}, "password": {b.pass}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/login", strings.NewReader(form))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("login: %w", err)
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests:
		return nil, "", errors.New("login: rate limited (Switchboard takes 10 logins a minute from one address)")
	default:
		return nil, "", fmt.Errorf("login: HTTP %d (bot agents log in as the demo's agents, with its password)", resp.StatusCode)
	}
	const marker = `name="csrf-token" content="`
	i := bytes.Index(page, []byte(marker))
	if i < 0 {
		return nil, "", errors.New("login: no CSRF token on the page")
	}
	rest := page[i+len(marker):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, "", errors.New("login: no CSRF token on the page")
	}
	return hc, string(rest[:end]), nil
}

// session is one login and console socket, until either ends.
func (b *botAgent) session(ctx context.Context) error {
	hc, csrf, err := b.login(ctx)
	if err != nil {
		return err
	}
	d := websocket.Dialer{Jar: hc.Jar, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(ctx, strings.Replace(b.base, "http", "ws", 1)+"/ws/agent", http.Header{"Origin": {b.base}})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("console socket: %w (HTTP %d)", err, resp.StatusCode)
		}
		return fmt.Errorf("console socket: %w", err)
	}
	defer ws.Close()
	ws.SetReadLimit(1 << 20)
	sctx, end := context.WithCancel(ctx)
	defer end()
	c := &botConn{b: b, hc: hc, csrf: csrf, out: make(chan map[string]any, 64), ctx: sctx}
	bye := make(chan struct{}) // closed when the goodbye is acknowledged
	var byeOnce sync.Once
	readerDone := make(chan struct{})

	// One writer; at the end of the run it says goodbye (offline) and
	// closes the socket, which ends the reader.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer ws.Close()
		for {
			select {
			case f := <-c.out:
				ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := ws.WriteJSON(f); err != nil {
					end()
					return
				}
			case <-sctx.Done():
				if ctx.Err() == nil {
					return // the socket failed; run reconnects
				}
				// The run is over: go offline, and close once the server
				// has stored it (closing at once would cut it short).
				ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if ws.WriteJSON(map[string]any{"type": "presence", "id": "bye", "state": "offline"}) == nil {
					select {
					case <-bye:
					case <-readerDone:
					case <-time.After(3 * time.Second):
					}
				}
				ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "simulation over"))
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(readerDone)

	first := true
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			end()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var f map[string]any
		if err := json.Unmarshal(p, &f); err != nil {
			continue
		}
		if f["type"] == "ack" && f["ref"] == "bye" {
			byeOnce.Do(func() { close(bye) })
			continue
		}
		if first {
			if f["type"] != "snapshot" {
				return fmt.Errorf("console socket: first frame %v, want a snapshot", f["type"])
			}
			first = false
			c.snapshot(f)
			c.send(map[string]any{"type": "presence", "state": "available"})
			continue
		}
		c.frame(f)
	}
}

// snapshot finishes what a previous session left open: wrap-ups, and
// callbacks it held when the last run ended.
func (c *botConn) snapshot(f map[string]any) {
	items, _ := f["contacts"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		ct, _ := m["contact"].(map[string]any)
		id, _ := ct["id"].(string)
		switch {
		case id == "":
		case ct["state"] == "closed":
			c.send(map[string]any{"type": "done", "contact_id": id, "wrap_up": c.note()})
		case ct["state"] == "active" && m["callback"] != nil:
			c.b.active.Add(1)
			c.later(c.b.p.delay(c.b.p.pace.accept), func() { c.callbackOutcome(id) })
		}
	}
}

func (c *botConn) note() string { return wrapUpNotes[c.b.p.tr.pick(len(wrapUpNotes))] }

// frame reacts to one frame from the server.
func (c *botConn) frame(f map[string]any) {
	b := c.b
	switch f["type"] {
	case "offer":
		offer, _ := f["offer_id"].(string)
		ct, _ := f["contact"].(map[string]any)
		if ct["channel"] != "voice" {
			// Chats and e-mails are left to the humans at the demo.
			c.send(map[string]any{"type": "reject", "offer_id": offer, "reason": "simulated agent: calls only"})
			return
		}
		c.later(b.p.delay(b.p.pace.accept), func() {
			c.send(map[string]any{"type": "accept", "offer_id": offer})
		})
	case "assigned":
		ct, _ := f["contact"].(map[string]any)
		id, _ := ct["id"].(string)
		if id == "" {
			return
		}
		b.active.Add(1)
		b.st.accepted.Add(1)
		if f["callback"] != nil {
			// A missed caller to call back: the bot "dials", talks a
			// while and records that it reached them.
			c.later(b.p.tr.talk(), func() { c.callbackOutcome(id) })
		}
	case "contact_closed":
		id, _ := f["contact_id"].(string)
		if id == "" {
			return
		}
		if _, wrapping := f["wrap_up_until"]; !wrapping {
			b.doneWith()
			return
		}
		c.later(b.p.delay(b.p.pace.wrapUp), func() {
			c.send(map[string]any{"type": "done", "contact_id": id, "wrap_up": c.note()})
			b.doneWith()
			b.st.done.Add(1)
		})
	case "contact_withdrawn":
		b.doneWith()
	case "presence":
		// Routing sets an agent who missed offers Away; a bot takes a
		// breath and comes back.
		if f["state"] != "available" && c.ctx.Err() == nil {
			c.later(5*time.Second, func() { c.send(map[string]any{"type": "presence", "state": "available"}) })
		}
	case "error":
		if code, _ := f["code"].(string); code != "offer_gone" {
			b.log.Warn("simulate: the console refused a bot's frame", "bot", b.n, "code", code, "ref", f["ref"])
		}
	}
}

// doneWith counts a held contact off.
func (b *botAgent) doneWith() {
	if b.active.Add(-1) < 0 {
		b.active.Store(0)
	}
}

// callbackOutcome records a callback attempt as reached.
func (c *botConn) callbackOutcome(contact string) {
	b := c.b
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, b.base+"/api/contacts/"+contact+"/callback-outcome",
		strings.NewReader(`{"outcome":"reached"}`))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.base)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		if c.ctx.Err() == nil {
			b.log.Warn("simulate: bot's callback outcome", "bot", b.n, "contact_id", contact, "err", err)
		}
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.log.Warn("simulate: bot's callback outcome refused", "bot", b.n, "contact_id", contact, "status", resp.StatusCode)
		return
	}
	b.st.callbacks.Add(1)
}
