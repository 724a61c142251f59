package agentdesk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/wspump"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// frame is one JSON object on a socket (docs/protocol.md).
type frame map[string]any

// Limits from docs/protocol.md.
const (
	maxFrame     = 64 << 10 // larger frames get an error frame
	maxBody      = 4000     // characters in a chat line
	maxWrapUp    = 2000
	maxClientID  = 64
	maxBadFrames = 10 // in a row, then the socket is closed
	closeSession = 4401
)

// UserTopic is the bus topic for everything addressed to one user's sockets
// on any node: offers, assignments, presence, session checks.
func UserTopic(tenant, user uuid.UUID) string { return "user:" + tenant.String() + ":" + user.String() }

// WallboardTopic carries a tenant's coalesced gauges.
func WallboardTopic(tenant uuid.UUID) string { return "wallboard:" + tenant.String() }

func (s *Server) publishUser(ctx context.Context, tenant, user uuid.UUID, f frame) {
	b, _ := json.Marshal(f)
	if err := s.bus.Publish(ctx, UserTopic(tenant, user), b); err != nil {
		s.log.WarnContext(ctx, "publish to user", "tenant_id", tenant, "user_id", user, "err", err)
	}
}

func (s *Server) command(ctx context.Context, tenant uuid.UUID, c dispatch.Command) error {
	return s.bus.Publish(ctx, dispatch.CommandTopic(tenant), dispatch.EncodeCommand(c))
}

func errorFrame(ref, code, msg string) frame {
	f := frame{"type": "error", "code": code, "message": msg}
	if ref != "" {
		f["ref"] = ref
	}
	return f
}

// clientFrame is every field any console frame may carry; unknown fields
// are refused.
type clientFrame struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	OfferID   string `json:"offer_id"`
	ContactID string `json:"contact_id"`
	ClientID  string `json:"client_id"`
	Body      string `json:"body"`
	WrapUp    string `json:"wrap_up"`
	QueueID   string `json:"queue_id"`
	AgentID   string `json:"agent_id"`
	Seq       int    `json:"seq"` // read: the last line seen
	// CustomerID: choose_customer's answer for an ambiguous contact.
	CustomerID string `json:"customer_id"`
	// Disposition: close's and done's code, one of the contact's queue's
	// codes (the contact frame's dispositions).
	Disposition string `json:"disposition"`
}

func decodeFrame(p []byte, v any) error {
	if len(p) > maxFrame {
		return errFrameTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadFrame, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", errBadFrame)
	}
	return nil
}

var (
	errFrameTooLarge = errors.New("frame too large")
	errBadFrame      = errors.New("bad frame")
)

// mail is what reaches a socket's session goroutine from the bus.
type mail struct {
	payload []byte
	contact bool // from a contact topic rather than the user topic
	resync  bool // the bus lost frames: send a fresh snapshot
}

type mailbox chan mail

// consoleMailbox is a console's mailbox size. Every idle console holds its
// buffer (32 bytes a slot), so it is sized for what can pile up, not
// generously: the mail loop relays in microseconds and stalls only while a
// snapshot's queries run, and 128 slots cover more than a second of an
// agent holding 200 chats at 100 lines a second. 512 slots were 12 KiB more
// per idle agent (BENCHMARKS.md, memory per idle agent).
const consoleMailbox = 128

// busHandler feeds a mailbox from the bus goroutine without blocking it; a
// socket whose mailbox is full is too slow and is dropped.
type busHandler struct {
	box     mailbox
	contact bool
	conn    *wspump.Conn
}

func (h busHandler) Deliver(p []byte) {
	select {
	case h.box <- mail{payload: p, contact: h.contact}:
	default:
		h.conn.Close(websocket.ClosePolicyViolation, "too slow")
	}
}

func (h busHandler) Resync() {
	select {
	case h.box <- mail{resync: true}:
	default:
		h.conn.Close(websocket.ClosePolicyViolation, "too slow")
	}
}

func socketID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// agentConsole is one console socket.
type agentConsole struct {
	s      *Server
	conn   *wspump.Conn
	sess   session
	tenant uuid.UUID
	agent  uuid.UUID
	id     string
	box    mailbox
	subs   map[uuid.UUID]func() // contact topics; touched only by the mailbox goroutine
	// lastTyping throttles the agent's typing per contact (chat.go); touched
	// only by the reader goroutine.
	lastTyping map[uuid.UUID]time.Time
	// restricted holds the held contacts whose customer is outside the
	// agent's scope: their customers' lines reach the console without the
	// customer's name. Touched only by the mailbox goroutine.
	restricted map[uuid.UUID]bool
	bad        int
}

func (s *Server) agentSocket(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	ctx := r.Context()
	if _, err := s.accounts.Agent(ctx, sess.User.TenantID, sess.User.ID); err != nil {
		s.writeError(w, r, errNotAgent)
		return
	}
	// With buffer sizes of zero gorilla reuses the 4 KiB read and write
	// buffers the HTTP server already holds for the hijacked connection
	// instead of allocating a second pair: 8 KiB less per idle console.
	up := s.upgrader
	up.ReadBufferSize, up.WriteBufferSize = 0, 0
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	s.sockets.Add(1)
	defer s.sockets.Done()
	s.metrics.sockets.WithLabelValues("agent").Inc()
	defer s.metrics.sockets.WithLabelValues("agent").Dec()

	c := &agentConsole{
		s: s, conn: wspump.New(ws, wspump.Options{}), sess: sess,
		tenant: sess.User.TenantID, agent: sess.User.ID, id: socketID(),
		box: make(mailbox, consoleMailbox), subs: map[uuid.UUID]func(){}, restricted: map[uuid.UUID]bool{},
	}
	life, cancel := context.WithCancel(s.life)
	defer cancel()
	c.run(life)
}

var errNotAgent = &deskError{http.StatusForbidden, "not_agent", "this user takes no contacts"}

func (c *agentConsole) run(ctx context.Context) {
	s := c.s
	log := s.log.With("tenant_id", c.tenant, "agent_id", c.agent, "socket", c.id)
	unsub, err := s.bus.Subscribe(ctx, UserTopic(c.tenant, c.agent), busHandler{box: c.box, conn: c.conn})
	if err != nil {
		log.Warn("console: subscribe", "err", err)
		c.conn.Close(websocket.CloseTryAgainLater, "try again")
		c.conn.Run(ctx, func([]byte) {})
		return
	}
	defer unsub()
	c.markConnected(ctx, true)
	defer c.markConnected(context.WithoutCancel(ctx), false)

	mailDone := make(chan struct{})
	mctx, stopMail := context.WithCancel(ctx)
	go func() { defer close(mailDone); c.mailLoop(mctx) }()
	err = c.conn.Run(ctx, func(p []byte) { c.onFrame(ctx, p) })
	stopMail()
	<-mailDone
	for _, u := range c.subs {
		u()
	}
	if err != nil {
		log.Debug("console socket ended", "err", err)
	}
}

// markConnected updates the Redis registry and tells routing to re-read the
// agent, who becomes routable (or not) at once rather than at the next sweep.
func (c *agentConsole) markConnected(ctx context.Context, up bool) {
	var err error
	if up {
		err = c.s.bus.MarkConnected(ctx, c.tenant, c.agent, c.id)
	} else {
		err = c.s.bus.MarkDisconnected(ctx, c.tenant, c.agent, c.id)
	}
	if err == nil {
		err = c.s.command(ctx, c.tenant, dispatch.Command{Kind: dispatch.CmdPresence, AgentID: c.agent})
	}
	if err != nil {
		c.s.log.Warn("console: connection registry", "tenant_id", c.tenant, "agent_id", c.agent, "err", err)
	}
}

// mailLoop sends the snapshot, then relays bus mail, keeps the connection
// registry fresh and rechecks the session.
func (c *agentConsole) mailLoop(ctx context.Context) {
	c.snapshot(ctx)
	heartbeat := time.NewTicker(bus.ConnTTL / 3)
	defer heartbeat.Stop()
	recheck := time.NewTicker(c.s.cfg.SessionRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.conn.Done():
			return
		case <-heartbeat.C:
			if err := c.s.bus.MarkConnected(ctx, c.tenant, c.agent, c.id); err != nil && ctx.Err() == nil {
				c.s.log.Warn("console: heartbeat", "agent_id", c.agent, "err", err)
			}
		case <-recheck.C:
			c.checkSession(ctx)
		case m := <-c.box:
			c.relay(ctx, m)
		}
	}
}

func (c *agentConsole) checkSession(ctx context.Context) {
	if _, err := c.s.accounts.SessionByToken(ctx, c.sess.token); errors.Is(err, org.ErrNoSession) {
		c.conn.Close(closeSession, "session ended")
	}
}

func (c *agentConsole) relay(ctx context.Context, m mail) {
	if m.resync {
		c.snapshot(ctx)
		return
	}
	if m.contact {
		if c.relaySignal(m.payload) {
			return // typing, read receipts, ended by the customer (chat.go)
		}
		if c.relayCall(m.payload) {
			return // the call panel's state (phone.go)
		}
		var e channels.Event
		if err := json.Unmarshal(m.payload, &e); err != nil || e.Kind != "message" || e.Message == nil {
			return // state changes reach consoles as their own frames
		}
		if c.restricted[e.ContactID] && e.Message.AuthorKind == "customer" {
			e.Message.AuthorName = ""
		}
		c.send(frame{"type": "message", "contact_id": e.ContactID, "message": e.Message})
		return
	}
	var head struct {
		Type      string    `json:"type"`
		ContactID uuid.UUID `json:"contact_id"`
		Contact   struct {
			ID uuid.UUID `json:"id"`
		} `json:"contact"`
		ScreenPop struct {
			Customer *struct {
				Restricted bool `json:"restricted"`
			} `json:"customer"`
		} `json:"screen_pop"`
	}
	if err := json.Unmarshal(m.payload, &head); err != nil {
		return
	}
	switch head.Type {
	case "session_check":
		c.checkSession(ctx)
		return
	case "assigned":
		c.follow(ctx, head.Contact.ID)
		if cu := head.ScreenPop.Customer; cu != nil && cu.Restricted {
			c.restricted[head.Contact.ID] = true
		}
	case "contact_closed", "contact_withdrawn":
		if u := c.subs[head.ContactID]; u != nil {
			u()
			delete(c.subs, head.ContactID)
		}
		delete(c.restricted, head.ContactID)
	}
	c.s.metrics.frames.WithLabelValues("agent", "out").Inc()
	c.conn.Send(m.payload)
}

// follow subscribes to a held contact's topic, so its lines reach this console.
func (c *agentConsole) follow(ctx context.Context, contact uuid.UUID) {
	if _, ok := c.subs[contact]; ok || contact == uuid.Nil {
		return
	}
	u, err := c.s.bus.Subscribe(ctx, channels.ContactTopic(c.tenant, contact), busHandler{box: c.box, contact: true, conn: c.conn})
	if err != nil {
		c.s.log.Warn("console: follow contact", "contact_id", contact, "err", err)
		return
	}
	c.subs[contact] = u
}

// snapshot sends the console's whole state. Contact topics are subscribed
// before their messages are read, so no line falls between the two.
func (c *agentConsole) snapshot(ctx context.Context) {
	s := c.s
	a, err := s.accounts.Agent(ctx, c.tenant, c.agent)
	if err != nil {
		c.fail(ctx, err)
		return
	}
	held, err := s.contacts.HeldContacts(ctx, c.tenant, c.agent)
	if err != nil {
		c.fail(ctx, err)
		return
	}
	queues, err := s.accounts.Queues(ctx, c.tenant)
	if err != nil {
		c.fail(ctx, err)
		return
	}
	qs := make([]frame, len(queues))
	for i, q := range queues {
		qs[i] = frame{"id": q.ID, "name": q.Name, "dispositions": nonNil(q.Dispositions)}
	}
	// Colleagues to transfer to: ids and display names only.
	agents, err := s.accounts.Agents(ctx, c.tenant)
	if err != nil {
		c.fail(ctx, err)
		return
	}
	colleagues := make([]frame, 0, len(agents))
	for _, ag := range agents {
		if ag.ID != c.agent {
			colleagues = append(colleagues, frame{"id": ag.ID, "name": ag.Name})
		}
	}
	items := make([]frame, 0, len(held))
	for _, h := range held {
		c.follow(ctx, h.ID)
		item, err := s.contactFrame(ctx, c.tenant, c.agent, h.ID)
		if err != nil {
			c.fail(ctx, err)
			return
		}
		if pop, _ := item["screen_pop"].(crm.ScreenPop); pop.Customer != nil && pop.Customer.Restricted {
			c.restricted[h.ID] = true
		}
		if h.WrapUpUntil != nil {
			item["wrap_up_until"] = h.WrapUpUntil.UTC()
		}
		items = append(items, item)
	}
	c.send(frame{
		"type":     "snapshot",
		"agent":    frame{"id": a.ID, "name": a.Name},
		"presence": frame{"state": a.Presence, "reason": a.Reason},
		"contacts": items,
		"offers":   []frame{},
		"queues":   qs,
		"agents":   colleagues,
	})
	// Open offers live in the routing engine: ask it to send them again.
	if err := s.command(ctx, c.tenant, dispatch.Command{Kind: dispatch.CmdResync, AgentID: c.agent}); err != nil {
		s.log.Warn("console: resync offers", "agent_id", c.agent, "err", err)
	}
}

// contactFrame is a contact held by agent with its conversation and
// screen-pop, as the agent may see them (ScreenPopFor, viewContact).
func (s *Server) contactFrame(ctx context.Context, tenant, agent, id uuid.UUID) (frame, error) {
	ct, err := s.contacts.Contact(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	msgs, err := s.contacts.Messages(ctx, tenant, id, 0)
	if err != nil {
		return nil, err
	}
	pop, err := s.contacts.ScreenPopFor(ctx, tenant, id, agent)
	if err != nil {
		return nil, err
	}
	viewContact(pop, &ct, msgs)
	f := frame{"contact": ct, "messages": msgs, "screen_pop": pop}
	if err := s.addCallback(ctx, tenant, agent, ct, f); err != nil {
		return nil, err
	}
	s.addCall(ctx, tenant, ct, f)
	return f, nil
}

func (c *agentConsole) fail(ctx context.Context, err error) {
	c.s.log.Error("console snapshot failed", "tenant_id", c.tenant, "agent_id", c.agent, "err", err)
	c.send(errorFrame("", "internal", "could not load your workspace; reconnecting"))
	c.conn.Close(websocket.CloseTryAgainLater, "try again")
}

func (c *agentConsole) send(f frame) {
	c.s.metrics.frames.WithLabelValues("agent", "out").Inc()
	c.conn.SendJSON(f)
}

// onFrame handles one frame from the console, on the reader goroutine.
func (c *agentConsole) onFrame(ctx context.Context, p []byte) {
	c.s.metrics.frames.WithLabelValues("agent", "in").Inc()
	var f clientFrame
	if err := decodeFrame(p, &f); err != nil {
		code := "bad_frame"
		if errors.Is(err, errFrameTooLarge) {
			code = "too_large"
		}
		c.refuse("", code, err.Error())
		return
	}
	if len(f.ID) > 64 {
		c.refuse("", "invalid", "id longer than 64 characters")
		return
	}
	var err error
	switch f.Type {
	case "presence":
		err = c.presence(ctx, f)
	case "accept", "reject":
		err = c.answerOffer(ctx, f)
	case "send":
		err = c.sendLine(ctx, f)
	case "close":
		err = c.closeContact(ctx, f)
	case "done":
		err = c.endWrapUp(ctx, f)
	case "transfer":
		err = c.transfer(ctx, f)
	case "typing":
		err = c.typing(ctx, f)
	case "read":
		err = c.read(ctx, f)
	case "choose_customer":
		err = c.chooseCustomer(ctx, f)
	case "call_control":
		err = c.callControl(ctx, f)
	default:
		c.refuse(f.ID, "unknown_type", fmt.Sprintf("unknown frame type %q", f.Type))
		return
	}
	if err != nil {
		var fe *frameError
		if errors.As(err, &fe) {
			c.refuse(f.ID, fe.code, fe.msg)
			return
		}
		status, code, msg := classify(err)
		if status >= 500 {
			c.s.log.Error("console frame failed", "tenant_id", c.tenant, "agent_id", c.agent, "type", f.Type, "err", err)
		}
		c.refuse(f.ID, code, msg)
		return
	}
	c.bad = 0
}

// refuse answers with an error frame and drops a client that only sends garbage.
func (c *agentConsole) refuse(ref, code, msg string) {
	c.send(errorFrame(ref, code, msg))
	if code == "bad_frame" || code == "too_large" || code == "unknown_type" {
		c.bad++
		if c.bad >= maxBadFrames {
			c.conn.Close(websocket.ClosePolicyViolation, "too many bad frames")
		}
	}
}

type frameError struct{ code, msg string }

func (e *frameError) Error() string { return e.msg }

func invalid(msg string) error { return &frameError{"invalid", msg} }

func parseID(field, v string) (uuid.UUID, error) {
	id, err := uuid.Parse(v)
	if err != nil {
		return uuid.Nil, invalid(field + " must be a UUID")
	}
	return id, nil
}

func (c *agentConsole) presence(ctx context.Context, f clientFrame) error {
	p := org.Presence(f.State)
	if !p.Valid() {
		return invalid("state must be available, away or offline")
	}
	a, err := c.s.accounts.SetPresence(ctx, c.tenant, c.agent, p, f.Reason)
	if err != nil {
		return err
	}
	if err := c.s.command(ctx, c.tenant, dispatch.Command{Kind: dispatch.CmdPresence, AgentID: c.agent}); err != nil {
		return err
	}
	c.send(frame{"type": "ack", "ref": f.ID})
	c.s.publishUser(ctx, c.tenant, c.agent, frame{"type": "presence", "state": a.Presence, "reason": a.Reason})
	return nil
}

func (c *agentConsole) answerOffer(ctx context.Context, f clientFrame) error {
	offer, err := parseID("offer_id", f.OfferID)
	if err != nil {
		return err
	}
	kind := dispatch.CmdAccept
	if f.Type == "reject" {
		kind = dispatch.CmdReject
		if len(f.Reason) > 200 {
			return invalid("reason longer than 200 characters")
		}
	}
	if err := c.s.command(ctx, c.tenant, dispatch.Command{Kind: kind, AgentID: c.agent, OfferID: offer, Reason: f.Reason}); err != nil {
		return err
	}
	if kind == dispatch.CmdReject {
		c.send(frame{"type": "ack", "ref": f.ID})
	}
	return nil
}

func (c *agentConsole) sendLine(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	if n := len([]rune(f.Body)); n == 0 || n > maxBody || isBlank(f.Body) {
		return invalid(fmt.Sprintf("body must be 1 to %d characters", maxBody))
	}
	if f.ClientID == "" || len(f.ClientID) > maxClientID {
		return invalid(fmt.Sprintf("client_id must be 1 to %d characters", maxClientID))
	}
	m, err := c.s.convs.Reply(ctx, c.tenant, c.agent, contact, f.ClientID, f.Body)
	if err != nil {
		return err
	}
	c.send(frame{"type": "ack", "ref": f.ID, "seq": m.Seq, "message_id": m.ID, "client_id": f.ClientID})
	return nil
}

func (c *agentConsole) closeContact(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	if len([]rune(f.WrapUp)) > maxWrapUp {
		return invalid(fmt.Sprintf("wrap_up longer than %d characters", maxWrapUp))
	}
	if err := checkDisposition(f.Disposition); err != nil {
		return err
	}
	if err := c.liveCall(ctx, contact); err != nil {
		return err
	}
	// The code is stored first, so Close copies it into its event; a code
	// is optional here, as Done (after the wrap-up) may bring it.
	if f.Disposition != "" {
		if err := c.s.contacts.SetDisposition(ctx, c.tenant, c.agent, contact, f.Disposition, false); err != nil {
			return err
		}
	}
	ct, err := c.s.convs.Close(ctx, c.tenant, c.agent, contact, f.WrapUp)
	if err != nil {
		return err
	}
	// In wrap-up the slot stays held until Done or the deadline; without
	// wrap-up time the assignment has ended already.
	cmd := dispatch.Command{Kind: dispatch.CmdRelease, ContactID: contact, AgentID: c.agent}
	if ct.WrapUpUntil != nil {
		cmd = dispatch.Command{Kind: dispatch.CmdWrapUp, ContactID: contact, AgentID: c.agent, Until: *ct.WrapUpUntil}
	}
	c.send(frame{"type": "ack", "ref": f.ID})
	closed := frame{"type": "contact_closed", "contact_id": contact, "state": ct.State, "customer_id": ct.CustomerID}
	if ct.WrapUpUntil != nil {
		closed["wrap_up_until"] = ct.WrapUpUntil.UTC()
	}
	c.s.publishUser(ctx, c.tenant, c.agent, closed)
	// Routing is told last, so the console has contact_closed before any
	// offer the freed slot brings (offers go out without waiting for a query).
	if err := c.s.command(ctx, c.tenant, cmd); err != nil {
		// The slot stays held in the engine until its next rebuild, which
		// reads the wrap-up (or its end) back; the contact itself is closed.
		c.s.log.Warn("console: tell routing about a close", "contact_id", contact, "err", err)
	}
	return nil
}

// endWrapUp is the agent's Done after closing: the assignment ends, the
// slot frees, and a note sent with it replaces the one given at close. A
// queue with disposition codes needs one by now (sent here or with close).
func (c *agentConsole) endWrapUp(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	if len([]rune(f.WrapUp)) > maxWrapUp {
		return invalid(fmt.Sprintf("wrap_up longer than %d characters", maxWrapUp))
	}
	if err := checkDisposition(f.Disposition); err != nil {
		return err
	}
	if err := c.s.contacts.SetDisposition(ctx, c.tenant, c.agent, contact, f.Disposition, true); err != nil {
		return err
	}
	if _, err := c.s.contacts.EndWrapUp(ctx, c.tenant, c.agent, contact, f.WrapUp, time.Time{}); err != nil {
		return err
	}
	c.send(frame{"type": "ack", "ref": f.ID})
	c.s.publishUser(ctx, c.tenant, c.agent, frame{"type": "wrap_up_ended", "contact_id": contact, "reason": "done"})
	// Told last, as in closeContact: wrap_up_ended reaches the console before
	// the offer the freed slot brings.
	if err := c.s.command(ctx, c.tenant, dispatch.Command{Kind: dispatch.CmdRelease, ContactID: contact, AgentID: c.agent}); err != nil {
		c.s.log.Warn("console: release after wrap-up", "contact_id", contact, "err", err)
	}
	return nil
}

// checkDisposition refuses what cannot be any queue's code before asking
// the database; whether it is this queue's code is crm's to say.
func checkDisposition(code string) error {
	if len([]rune(code)) > org.MaxDispositionLen {
		return invalid(fmt.Sprintf("disposition longer than %d characters", org.MaxDispositionLen))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func isBlank(s string) bool { return len(bytes.TrimSpace([]byte(s))) == 0 }

func (c *agentConsole) transfer(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	var ct crm.Contact
	closed := frame{"type": "contact_closed", "contact_id": contact}
	if f.AgentID != "" {
		// To a named colleague: offered to them alone for the queue's
		// preference window, then to the queue (the one given, or its own).
		target, err := parseID("agent_id", f.AgentID)
		if err != nil {
			return err
		}
		queue := uuid.Nil
		if f.QueueID != "" {
			if queue, err = parseID("queue_id", f.QueueID); err != nil {
				return err
			}
		}
		if ct, err = c.s.convs.TransferToAgent(ctx, c.tenant, c.agent, contact, target, queue); err != nil {
			return err
		}
		closed["transferred_to_agent"] = target
	} else {
		queue, err := parseID("queue_id", f.QueueID)
		if err != nil {
			return err
		}
		if ct, err = c.s.convs.Transfer(ctx, c.tenant, c.agent, contact, queue); err != nil {
			return err
		}
	}
	if err := c.s.command(ctx, c.tenant, dispatch.Command{Kind: dispatch.CmdRelease, ContactID: contact, AgentID: c.agent, Requeue: true}); err != nil {
		c.s.log.Warn("console: release after transfer", "contact_id", contact, "err", err)
	}
	c.send(frame{"type": "ack", "ref": f.ID})
	closed["state"], closed["customer_id"], closed["transferred_to"] = ct.State, ct.CustomerID, ct.QueueName
	c.s.publishUser(ctx, c.tenant, c.agent, closed)
	return nil
}

// chooseCustomer: the agent holding an ambiguous contact says whose it is
// (one of the candidates, or any customer the agent may see); the contact
// takes that customer and the refreshed screen-pop follows as a
// screen_pop frame.
func (c *agentConsole) chooseCustomer(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	customer, err := parseID("customer_id", f.CustomerID)
	if err != nil {
		return err
	}
	u := c.sess.User
	scope, err := c.s.contacts.ScopeFor(ctx, c.tenant, c.agent, u.Role, u.SiteID)
	if err != nil {
		return err
	}
	if err := c.s.contacts.VisibleTo(ctx, c.tenant, scope, customer); err != nil {
		return err
	}
	if _, err := c.s.contacts.ChooseCustomer(ctx, c.tenant, c.agent, contact, customer); err != nil {
		return err
	}
	c.send(frame{"type": "ack", "ref": f.ID})
	cf, err := c.s.contactFrame(ctx, c.tenant, c.agent, contact)
	if err != nil {
		return err
	}
	cf["type"], cf["contact_id"] = "screen_pop", contact
	c.send(cf)
	return nil
}
