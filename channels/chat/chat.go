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

// Settings are the sites' widget settings and customer-token secrets
// (org.Store).
type Settings interface {
	ChatSettings(ctx context.Context, tenant, site uuid.UUID) (org.ChatSettings, error)
	ChatSecret(ctx context.Context, tenant, site uuid.UUID) ([]byte, error)
}

// Chats are crm's chat-only writes.
type Chats interface {
	MarkRead(ctx context.Context, tenant, contact uuid.UUID, side string, agent uuid.UUID, seq int) (int, error)
	EndByCustomer(ctx context.Context, tenant, contact uuid.UUID) (crm.CustomerEnd, error)
	Abandon(ctx context.Context, tenant, contact uuid.UUID, reason string) error
	SaveAttachment(ctx context.Context, tenant, contact uuid.UUID, name, contentType string, data []byte) (crm.AttachmentInfo, error)
	LinkAttachment(ctx context.Context, tenant, contact, id uuid.UUID, messageKey string) (crm.AttachmentInfo, error)
	AttachmentOf(ctx context.Context, tenant, contact, id uuid.UUID) (crm.Attachment, error)
	QueueTranscript(ctx context.Context, tenant, contact uuid.UUID, to string) (crm.OutboxEntry, error)
}

// Signaller puts typing, read, ended and state signals on a chat's topic
// (channels.Intake).
type Signaller interface {
	Signal(ctx context.Context, tenant uuid.UUID, s channels.Signal)
}

// Router tells routing what the visitor did: a waiting chat that ended is
// cancelled; an active one that the visitor ended starts its agent's
// wrap-up (until nil: the slot is free now).
type Router interface {
	Cancel(ctx context.Context, tenant, contact uuid.UUID) error
	WrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, until *time.Time) error
}

// Deps are what a Connector needs; all are required.
type Deps struct {
	Sites    Sites
	Settings Settings
	History  History
	Intake   Receiver
	Chats    Chats
	Signals  Signaller
	Router   Router
	Sub      Subscriber
	Presence Presence
	// Queues, Agents and Callbacks decide and serve the offline mode (offline.go).
	Queues    Queues
	Agents    Agents
	Callbacks Callbacks
	Secret    []byte // signs visitor tokens
	Limiter   *ratelimit.Limiter
	Limits    Limits
	Log       *slog.Logger
	// SweepEvery is how often abandoned chats are looked for; default 1s.
	SweepEvery time.Duration
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
	sites     Sites
	settings  Settings
	history   History
	intake    Receiver
	chats     Chats
	signals   Signaller
	router    Router
	sub       Subscriber
	presence  Presence
	queues    Queues
	agents    Agents
	callbacks Callbacks
	secret    []byte
	log       *slog.Logger
	now       func() time.Time
	life      context.Context

	sweepEvery time.Duration

	limiter   *ratelimit.Limiter
	limits    Limits
	sockets   sync.WaitGroup
	writeBufs sync.Pool // the visitor sockets' write buffers
}

// Limits bound what one visitor and one address may do. They are counted
// in Redis, so they hold across nodes.
type Limits struct {
	ConnectsPerMinute        int // new sockets per address (bursts of a third); default 60
	AddressMessagesPerSecond int // lines per address (bursts of twice that); default 20
}

// A person types a few lines a second at most.
var visitorMessages = ratelimit.Limit{Rate: 5, Burst: 10, Period: time.Second}

// The widget sends typing at most every 2 s and read receipts as lines
// arrive; more than this is a misbehaving client.
var (
	visitorTyping = ratelimit.Limit{Rate: 2, Burst: 4, Period: time.Second}
	visitorReads  = ratelimit.Limit{Rate: 5, Burst: 10, Period: time.Second}
	uploads       = ratelimit.Limit{Rate: 20, Burst: 10, Period: time.Minute}
)

// New returns a Connector. Its sockets close with 1001 when life ends.
func New(life context.Context, d Deps) *Connector {
	limits := d.Limits
	if limits.ConnectsPerMinute <= 0 {
		limits.ConnectsPerMinute = 60
	}
	if limits.AddressMessagesPerSecond <= 0 {
		// One address may be a household or an office behind one router.
		limits.AddressMessagesPerSecond = 20
	}
	if d.SweepEvery <= 0 {
		d.SweepEvery = time.Second
	}
	return &Connector{sites: d.Sites, settings: d.Settings, history: d.History, intake: d.Intake, chats: d.Chats,
		signals: d.Signals, router: d.Router, sub: d.Sub, presence: d.Presence, queues: d.Queues, agents: d.Agents, callbacks: d.Callbacks, secret: d.Secret, log: d.Log, now: time.Now,
		life: life, limiter: d.Limiter, limits: limits, sweepEvery: d.SweepEvery}
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

// ServeHTTP serves the widget's routes (listed in agentdesk/routes.go):
// GET /chat/ws (the socket), GET /chat/settings, POST /chat/attachments and
// GET /chat/attachments/{id}.
func (c *Connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/chat/ws" && r.Method == http.MethodGet:
		c.serveSocket(w, r)
	case p == "/chat/settings" && r.Method == http.MethodGet:
		c.serveSettings(w, r)
	case p == "/chat/attachments" && r.Method == http.MethodPost:
		c.serveUpload(w, r)
	case strings.HasPrefix(p, "/chat/attachments/") && r.Method == http.MethodGet:
		c.serveDownload(w, r, strings.TrimPrefix(p, "/chat/attachments/"))
	default:
		http.NotFound(w, r)
	}
}

func (c *Connector) serveSocket(w http.ResponseWriter, r *http.Request) {
	site, ok := c.siteFor(w, r, true)
	if !ok {
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
	// Most visitor sockets sit idle: write buffers come from a pool while
	// a frame is written instead of staying with each socket.
	up := websocket.Upgrader{ReadBufferSize: 2048, WriteBufferSize: 2048, WriteBufferPool: &c.writeBufs,
		CheckOrigin: func(*http.Request) bool { return true }} // checked above against the site's list
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c.sockets.Add(1)
	defer c.sockets.Done()
	v := &visitor{c: c, site: site, conn: wspump.New(ws, wspump.Options{ReadLimit: 64 << 10, SendBuffer: 128}), ip: clientIP(r),
		settings: c.settingsFor(r.Context(), site)}
	ctx, cancel := context.WithCancel(c.life)
	defer cancel()
	v.presence = &presenceTracker{c: c, socket: uuid.NewString(), ctx: ctx}
	v.run(ctx)
}

// visitor is one widget socket.
type visitor struct {
	c        *Connector
	site     org.Site
	settings org.ChatSettings
	conn     *wspump.Conn
	ip       string
	presence *presenceTracker

	// Set by hello and by the first message; touched only on the reader goroutine.
	helloed   bool
	token     visitorToken
	form      prechat
	agentRead int
	avail     availability // of a visitor without a chat: offline takes messages instead
	unsub     func()
	bad       int
}

type inFrame struct {
	Type          string `json:"type"`
	Token         string `json:"token"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	Phone         string `json:"phone"`
	Topic         string `json:"topic"`
	CustomerToken string `json:"customer_token"`
	LastSeq       int    `json:"last_seq"`
	Seq           int    `json:"seq"`
	ClientID      string `json:"client_id"`
	Body          string `json:"body"`
	AttachmentID  string `json:"attachment_id"`
}

func (v *visitor) run(ctx context.Context) {
	hello := time.AfterFunc(helloWait, func() { v.conn.Close(websocket.ClosePolicyViolation, "no hello") })
	defer hello.Stop()
	v.conn.Run(ctx, func(p []byte) { v.onFrame(ctx, p, hello) })
	if v.unsub != nil {
		v.unsub()
	}
	v.presence.stop()
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
		if !v.allowed(ctx, "msg", visitorMessages) {
			v.refuse("rate_limited", "too many messages; slow down", f.ClientID)
			return
		}
		v.message(ctx, f)
	case f.Type == "typing":
		if !v.allowed(ctx, "typing", visitorTyping) {
			v.refuse("rate_limited", "too many typing frames; send one every few seconds at most", "")
			return
		}
		v.typing(ctx)
	case f.Type == "read":
		if !v.allowed(ctx, "read", visitorReads) {
			v.refuse("rate_limited", "too many read frames; slow down", "")
			return
		}
		v.read(ctx, f)
	case f.Type == "end":
		v.end(ctx)
	case f.Type == "transcript":
		if !v.allowed(ctx, "transcript", visitorTranscripts) {
			v.refuse("rate_limited", "too many transcripts asked for; try again later", "")
			return
		}
		v.transcript(ctx, f)
	case f.Type == "offline_message":
		if !v.avail.offline || v.token.Contact != uuid.Nil {
			v.refuse("invalid", "chat is open: send a message instead", f.ClientID)
			return
		}
		if !v.allowed(ctx, "msg", visitorMessages) {
			v.refuse("rate_limited", "too many messages; slow down", f.ClientID)
			return
		}
		v.offlineMessage(ctx, f)
	default:
		v.refuse("unknown_type", fmt.Sprintf("unknown frame type %q", f.Type), "")
	}
}

// hello starts or resumes the visitor's chat. A bad visitor token is not
// fatal: the visitor simply starts afresh. A bad customer token or pre-chat
// form is: the widget must correct it and say hello again.
func (v *visitor) hello(ctx context.Context, f inFrame) bool {
	if f.LastSeq < 0 {
		v.refuse("invalid", "last_seq must not be negative", "")
		return false
	}
	now := v.c.now()
	t, err := parseToken(v.c.secret, f.Token, now)
	if err != nil || t.Site != v.site.ID {
		t = visitorToken{Site: v.site.ID, Visitor: uuid.Must(uuid.NewV7())}
	}
	var customer string
	if f.CustomerToken != "" {
		if customer, err = v.customer(ctx, f.CustomerToken, now); err != nil {
			v.send(map[string]any{"type": "error", "code": "bad_customer_token", "message": err.Error()})
			return false
		}
	}
	if t.Contact == uuid.Nil {
		v.avail = v.c.availability(ctx, v.site, v.settings)
	}
	if t.Contact == uuid.Nil && !v.avail.offline {
		// Only a new chat is filed with the form; a resumed one has been.
		// Offline, the form comes with the offline message.
		form, err := checkPrechat(v.site, v.settings, f, customer != "")
		var fe *fieldError
		if errors.As(err, &fe) {
			v.send(map[string]any{"type": "error", "code": "invalid", "field": fe.field, "message": fe.msg})
			return false
		}
		form.customer = customer
		v.form = form
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
			v.agentRead = ct.AgentReadSeq
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
			v.send(v.lineFrame(m))
		}
	}
	return true
}

// customer checks a customer token with the site's secret and returns the
// site's customer id.
func (v *visitor) customer(ctx context.Context, token string, now time.Time) (string, error) {
	secret, err := v.c.settings.ChatSecret(ctx, v.site.TenantID, v.site.ID)
	if errors.Is(err, org.ErrNotFound) {
		secret = nil
	} else if err != nil {
		v.c.log.Error("chat: customer secret", "site_id", v.site.ID, "err", err)
		return "", errors.New("customer tokens cannot be checked now; try again")
	}
	c, err := parseCustomerToken(secret, v.site.ChatKey, token, now)
	if err != nil {
		return "", err
	}
	return c.Customer, nil
}

// customerSystem names the system of the site's customer ids.
func (v *visitor) customerSystem() string {
	if v.settings.CustomerSystem != "" {
		return v.settings.CustomerSystem
	}
	return v.site.ChatKey
}

func (v *visitor) welcome(state string) {
	v.token.Expires = v.c.now().Add(tokenTTL).Unix()
	f := map[string]any{"type": "welcome", "token": signToken(v.c.secret, v.token), "state": state, "contact_id": "",
		"settings": widgetSettings(v.settings), "agent_read_seq": v.agentRead, "identified": v.form.customer != ""}
	if v.token.Contact == uuid.Nil {
		v.avail.fields(f)
	} else {
		f["contact_id"] = v.token.Contact
		v.presence.set(v.c.life, presenceMember(v.site.TenantID, v.site.ID, v.token.Contact))
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
	if (body == "" && f.AttachmentID == "") || utf8.RuneCountInString(f.Body) > maxBody || !utf8.ValidString(f.Body) {
		v.refuse("invalid", fmt.Sprintf("a message must be 1 to %d characters", maxBody), f.ClientID)
		return
	}
	// The same client id from the same visitor is the same message, even
	// when the first attempt's ack was lost with the connection.
	key := "chat:" + v.token.Visitor.String() + ":" + f.ClientID
	if f.AttachmentID != "" {
		var ok bool
		if f.Body, ok = v.attach(ctx, f, key); !ok {
			return
		}
	}
	if v.avail.offline && v.token.Contact == uuid.Nil {
		v.refuse("offline", "nobody can chat now; leave a message instead", f.ClientID)
		return
	}
	queue := v.form.queue
	if queue == uuid.Nil {
		queue = v.site.ChatQueueID
	}
	rc, err := v.c.intake.Receive(ctx, channels.Inbound{
		TenantID: v.site.TenantID, SiteID: v.site.ID, QueueID: queue, Channel: org.Chat,
		ContactID: v.token.Contact, Identities: v.form.identities(v.token.Visitor, v.customerSystem()), Name: v.form.name, Body: f.Body,
		IdempotencyKey: key,
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

func (v *visitor) lineFrame(m crm.Message) map[string]any {
	f := map[string]any{"type": "message", "seq": m.Seq, "author_kind": m.AuthorKind, "author_name": m.AuthorName,
		"body": m.Body, "at": m.At.UTC()}
	if m.ClientID != "" {
		f["client_id"] = m.ClientID
	}
	if a := m.Attachment; a != nil {
		f["attachment"] = map[string]any{"id": a.ID, "name": a.Name, "content_type": a.ContentType, "size": a.Size}
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
	case channels.EventTyping, channels.EventRead, channels.EventWait, channels.EventEnded:
		var s channels.Signal
		if json.Unmarshal(p, &s) == nil {
			h.v.signal(s)
		}
	case channels.EventMessage:
		if e.Message != nil {
			h.v.send(h.v.lineFrame(*e.Message))
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
