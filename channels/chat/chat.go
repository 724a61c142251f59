package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/wspump"
	"github.com/switchboard-cc/switchboard/org"
)

// Sites finds the site behind a widget key.
type Sites interface {
	SiteByChatKey(ctx context.Context, key string) (org.Site, error)
}

// History reads a chat back for a resuming visitor.
type History interface {
	Contact(ctx context.Context, tenant, id uuid.UUID) (crm.Contact, error)
	Messages(ctx context.Context, tenant, contact uuid.UUID, afterSeq int) ([]crm.Message, error)
}

// Receiver is the intake pipeline.
type Receiver interface {
	Receive(ctx context.Context, in channels.Inbound) (channels.Receipt, error)
}

// Subscriber is the bus.
type Subscriber interface {
	Subscribe(ctx context.Context, topic string, h bus.Handler) (func(), error)
}

// Limits of the visitor protocol (docs/protocol.md).
const (
	maxFrame     = 16 << 10
	maxBody      = 4000
	maxClientID  = 64
	maxName      = 100
	helloWait    = 10 * time.Second
	maxBadFrames = 10
)

// Connector serves /chat/ws.
type Connector struct {
	sites   Sites
	history History
	intake  Receiver
	sub     Subscriber
	secret  []byte
	log     *slog.Logger
	now     func() time.Time
	life    context.Context

	limiter *ratelimit.Limiter
	limits  Limits
	sockets sync.WaitGroup
}

// Limits bound what one visitor and one address may do. They are counted
// in Redis, so they hold across nodes.
type Limits struct {
	ConnectsPerMinute        int // new sockets per address (bursts of a third); default 60
	AddressMessagesPerSecond int // lines per address (bursts of twice that); default 20
}

// A person types a few lines a second at most.
var visitorMessages = ratelimit.Limit{Rate: 5, Burst: 10, Period: time.Second}

// New returns a Connector. Its sockets close with 1001 when life ends.
func New(life context.Context, sites Sites, history History, intake Receiver, sub Subscriber, secret []byte,
	limiter *ratelimit.Limiter, limits Limits, log *slog.Logger) *Connector {
	if limits.ConnectsPerMinute <= 0 {
		limits.ConnectsPerMinute = 60
	}
	if limits.AddressMessagesPerSecond <= 0 {
		// One address may be a household or an office behind one router.
		limits.AddressMessagesPerSecond = 20
	}
	return &Connector{sites: sites, history: history, intake: intake, sub: sub, secret: secret, log: log, now: time.Now,
		life: life, limiter: limiter, limits: limits}
}

// allow takes one event under key; a limiter outage lets it through (logged).
func (c *Connector) allow(ctx context.Context, key string, limit ratelimit.Limit) bool {
	ok, _, err := c.limiter.Allow(ctx, key, limit)
	if err != nil {
		c.log.Warn("chat: rate limit unavailable", "err", err)
	}
	return ok
}

func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// Wait blocks until every visitor socket has closed or ctx ends.
func (c *Connector) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { c.sockets.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (c *Connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("site")
	if key == "" || len(key) > 64 {
		http.Error(w, "unknown site", http.StatusNotFound)
		return
	}
	site, err := c.sites.SiteByChatKey(r.Context(), key)
	if errors.Is(err, org.ErrNotFound) {
		http.Error(w, "unknown site", http.StatusNotFound)
		return
	} else if err != nil {
		c.log.Error("chat: site lookup", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if origin := r.Header.Get("Origin"); !slices.Contains(site.AllowedOrigins, origin) {
		c.log.Info("chat: origin refused", "site_id", site.ID)
		http.Error(w, "origin not allowed for this site", http.StatusForbidden)
		return
	}
	connects := ratelimit.Limit{Rate: c.limits.ConnectsPerMinute, Burst: max(1, c.limits.ConnectsPerMinute/3), Period: time.Minute}
	if !c.allow(r.Context(), "chat:connect:"+clientIP(r), connects) {
		http.Error(w, "too many connections; slow down", http.StatusTooManyRequests)
		return
	}
	if site.ChatQueueID == uuid.Nil {
		http.Error(w, "chat is not set up for this site", http.StatusServiceUnavailable)
		return
	}
	up := websocket.Upgrader{ReadBufferSize: 2048, WriteBufferSize: 2048,
		CheckOrigin: func(*http.Request) bool { return true }} // checked above against the site's list
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c.sockets.Add(1)
	defer c.sockets.Done()
	v := &visitor{c: c, site: site, conn: wspump.New(ws, wspump.Options{ReadLimit: 64 << 10, SendBuffer: 128}), ip: clientIP(r)}
	ctx, cancel := context.WithCancel(c.life)
	defer cancel()
	v.run(ctx)
}

// visitor is one widget socket.
type visitor struct {
	c    *Connector
	site org.Site
	conn *wspump.Conn
	ip   string

	// Set by hello and by the first message; touched only on the reader goroutine.
	helloed bool
	token   visitorToken
	name    string
	email   string
	unsub   func()
	bad     int
}

type inFrame struct {
	Type     string `json:"type"`
	Token    string `json:"token"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	LastSeq  int    `json:"last_seq"`
	ClientID string `json:"client_id"`
	Body     string `json:"body"`
}

func (v *visitor) run(ctx context.Context) {
	hello := time.AfterFunc(helloWait, func() { v.conn.Close(websocket.ClosePolicyViolation, "no hello") })
	defer hello.Stop()
	v.conn.Run(ctx, func(p []byte) { v.onFrame(ctx, p, hello) })
	if v.unsub != nil {
		v.unsub()
	}
}

func (v *visitor) send(f map[string]any) { v.conn.SendJSON(f) }

func (v *visitor) refuse(code, msg, clientID string) {
	f := map[string]any{"type": "error", "code": code, "message": msg}
	if clientID != "" {
		f["client_id"] = clientID
	}
	v.send(f)
	if code == "bad_frame" || code == "unknown_type" || code == "too_large" || code == "rate_limited" {
		v.bad++
		if v.bad >= maxBadFrames {
			v.conn.Close(websocket.ClosePolicyViolation, "too many bad frames")
		}
	}
}

func (v *visitor) onFrame(ctx context.Context, p []byte, hello *time.Timer) {
	if len(p) > maxFrame {
		v.refuse("too_large", fmt.Sprintf("frames are limited to %d bytes", maxFrame), "")
		return
	}
	var f inFrame
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		v.refuse("bad_frame", "not a valid frame: "+err.Error(), "")
		return
	}
	switch {
	case f.Type == "hello" && !v.helloed:
		if v.hello(ctx, f) {
			hello.Stop()
			v.bad = 0
		}
	case f.Type == "hello":
		v.refuse("invalid", "hello was already sent", "")
	case !v.helloed:
		v.refuse("invalid", "send hello first", "")
	case f.Type == "message":
		if !v.c.allow(ctx, "chat:msg:visitor:"+v.token.Visitor.String(), visitorMessages) ||
			!v.c.allow(ctx, "chat:msg:ip:"+v.ip, ratelimit.Limit{Rate: v.c.limits.AddressMessagesPerSecond,
				Burst: 2 * v.c.limits.AddressMessagesPerSecond, Period: time.Second}) {
			v.refuse("rate_limited", "too many messages; slow down", f.ClientID)
			return
		}
		v.message(ctx, f)
	default:
		v.refuse("unknown_type", fmt.Sprintf("unknown frame type %q", f.Type), "")
	}
}

// hello starts or resumes the visitor's chat. A bad token is not fatal: the
// visitor simply starts afresh.
func (v *visitor) hello(ctx context.Context, f inFrame) bool {
	if utf8.RuneCountInString(f.Name) > maxName || len(f.Email) > 254 || f.LastSeq < 0 {
		v.refuse("invalid", "name or e-mail too long, or negative last_seq", "")
		return false
	}
	v.name = strings.TrimSpace(f.Name)
	if e := strings.TrimSpace(f.Email); e != "" {
		norm, err := crm.NormalizeEmail(e)
		if err != nil {
			v.refuse("invalid", "that e-mail address does not look right", "")
			return false
		}
		v.email = norm
	}
	now := v.c.now()
	t, err := parseToken(v.c.secret, f.Token, now)
	if err != nil || t.Site != v.site.ID {
		t = visitorToken{Site: v.site.ID, Visitor: uuid.Must(uuid.NewV7())}
	}
	v.token = t
	v.helloed = true
	state := "new"
	if t.Contact != uuid.Nil {
		ct, err := v.c.history.Contact(ctx, v.site.TenantID, t.Contact)
		switch {
		case err == nil && ct.Channel == org.Chat:
			if !v.follow(ctx) {
				return true
			}
			state = ct.State
		case err == nil || errors.Is(err, crm.ErrNotFound):
			v.token.Contact = uuid.Nil
		default:
			v.c.log.Error("chat: resume", "contact_id", t.Contact, "err", err)
			v.refuse("internal", "could not resume the chat; try again", "")
			v.conn.Close(websocket.CloseTryAgainLater, "try again")
			return false
		}
	}
	v.welcome(state)
	if v.token.Contact != uuid.Nil {
		msgs, err := v.c.history.Messages(ctx, v.site.TenantID, v.token.Contact, f.LastSeq)
		if err != nil {
			v.c.log.Error("chat: replay", "contact_id", v.token.Contact, "err", err)
			v.conn.Close(websocket.CloseTryAgainLater, "try again")
			return false
		}
		for _, m := range msgs {
			v.send(lineFrame(m))
		}
	}
	return true
}

func (v *visitor) welcome(state string) {
	v.token.Expires = v.c.now().Add(tokenTTL).Unix()
	f := map[string]any{"type": "welcome", "token": signToken(v.c.secret, v.token), "state": state, "contact_id": ""}
	if v.token.Contact != uuid.Nil {
		f["contact_id"] = v.token.Contact
	}
	v.send(f)
}

// follow subscribes to the chat's topic, before any replay, so that no line
// falls between the two; the widget drops duplicates by seq.
func (v *visitor) follow(ctx context.Context) bool {
	if v.unsub != nil {
		return true
	}
	u, err := v.c.sub.Subscribe(ctx, channels.ContactTopic(v.site.TenantID, v.token.Contact), eventHandler{v})
	if err != nil {
		v.c.log.Warn("chat: subscribe", "contact_id", v.token.Contact, "err", err)
		v.conn.Close(websocket.CloseTryAgainLater, "try again")
		return false
	}
	v.unsub = u
	return true
}

func (v *visitor) message(ctx context.Context, f inFrame) {
	if f.ClientID == "" || len(f.ClientID) > maxClientID {
		v.refuse("invalid", fmt.Sprintf("client_id must be 1 to %d characters", maxClientID), f.ClientID)
		return
	}
	body := strings.TrimSpace(f.Body)
	if body == "" || utf8.RuneCountInString(f.Body) > maxBody || !utf8.ValidString(f.Body) {
		v.refuse("invalid", fmt.Sprintf("a message must be 1 to %d characters", maxBody), f.ClientID)
		return
	}
	ids := []crm.Identity{{Kind: "chat", Value: v.token.Visitor.String()}}
	if v.email != "" {
		ids = append(ids, crm.Identity{Kind: "email", Value: v.email})
	}
	rc, err := v.c.intake.Receive(ctx, channels.Inbound{
		TenantID: v.site.TenantID, SiteID: v.site.ID, QueueID: v.site.ChatQueueID, Channel: org.Chat,
		ContactID: v.token.Contact, Identities: ids, Name: v.name, Body: f.Body,
		// The same client id from the same visitor is the same message, even
		// when the first attempt's ack was lost with the connection.
		IdempotencyKey: "chat:" + v.token.Visitor.String() + ":" + f.ClientID,
	})
	switch {
	case errors.Is(err, crm.ErrClosed):
		v.refuse("closed", "this chat has ended; start a new one", f.ClientID)
		return
	case err != nil:
		v.c.log.Error("chat: receive", "site_id", v.site.ID, "err", err)
		v.refuse("internal", "the message was not saved; it will be sent again", f.ClientID)
		return
	}
	if v.token.Contact == uuid.Nil {
		v.token.Contact = rc.ContactID
		if !v.follow(ctx) {
			return
		}
		v.welcome(rc.State)
		v.send(map[string]any{"type": "state", "state": rc.State})
	}
	// Acked only now: the line is committed.
	v.send(map[string]any{"type": "ack", "client_id": f.ClientID, "seq": rc.Seq})
}

func lineFrame(m crm.Message) map[string]any {
	f := map[string]any{"type": "message", "seq": m.Seq, "author_kind": m.AuthorKind, "author_name": m.AuthorName,
		"body": m.Body, "at": m.At.UTC()}
	if m.ClientID != "" {
		f["client_id"] = m.ClientID
	}
	return f
}

// eventHandler relays a chat's events to the visitor. It runs on the bus
// goroutine and only queues frames.
type eventHandler struct{ v *visitor }

func (h eventHandler) Deliver(p []byte) {
	var e channels.Event
	if json.Unmarshal(p, &e) != nil {
		return
	}
	switch e.Kind {
	case channels.EventMessage:
		if e.Message != nil {
			h.v.send(lineFrame(*e.Message))
		}
	case channels.EventState:
		f := map[string]any{"type": "state", "state": e.State}
		if e.AgentName != "" {
			f["agent_name"] = e.AgentName
		}
		h.v.send(f)
	}
}

// Resync: lines published while Redis was away are in PostgreSQL; closing
// makes the widget reconnect and replay from its last seq.
func (h eventHandler) Resync() { h.v.conn.Close(websocket.CloseTryAgainLater, "reconnect") }
