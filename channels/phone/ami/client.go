package ami

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is how a Client reaches one Asterisk. Zero durations take the
// defaults in brackets.
type Config struct {
	Address  string // host:port of the manager interface (5038)
	Username string // manager.conf user
	Secret   string // never logged
	// Events is Login's event mask ("on"): the user's read= permissions
	// in manager.conf decide what actually arrives.
	Events string
	// PingInterval between keep-alive Pings (20 s); a Ping not answered
	// within ActionTimeout drops the connection.
	PingInterval  time.Duration
	ActionTimeout time.Duration // per action, and for the banner and login (10 s)
	DialTimeout   time.Duration // (10 s)
	// Reconnects wait MinBackoff (0.5 s), doubling up to MaxBackoff
	// (30 s), each wait drawn between half and all of it. A connection
	// that logged in starts over at MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	Limits                 Limits
}

// LogValue keeps the secret out of logs even when a whole Config is logged.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", c.Address), slog.String("username", c.Username), slog.String("secret", "[redacted]"))
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PingInterval, 20*time.Second)
	def(&c.ActionTimeout, 10*time.Second)
	def(&c.DialTimeout, 10*time.Second)
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	if c.Events == "" {
		c.Events = "on"
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Handler receives what the Client reads that no action waits for.
type Handler interface {
	// Event is called from the read loop for every event, in the order
	// Asterisk sent them. It must not block: the read loop also carries
	// the keep-alive's answers.
	Event(m Message)
	// Connected is called in its own goroutine after every login; ctx
	// ends with that connection.
	Connected(ctx context.Context)
}

var (
	// ErrNotConnected: an action was asked for while the client has no
	// logged-in connection. Retry later.
	ErrNotConnected = errors.New("ami: not connected")
	// ErrConnectionLost: the connection closed before the action's reply.
	// Whether Asterisk acted is unknown.
	ErrConnectionLost = errors.New("ami: connection lost before the reply")
	// ErrTimeout: no reply within ActionTimeout.
	ErrTimeout = errors.New("ami: action timed out")
	// ErrLogin: Asterisk refused the username or secret.
	ErrLogin = errors.New("ami: login refused")
)

// ActionError is Asterisk's "Response: Error" to an action, with its
// Message ("Channel does not exist: PJSIP/1001-0000002a").
type ActionError struct {
	Action  string
	Message string
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("ami: %s: %s", e.Action, e.Message)
}

// LoginError is a refused login. errors.Is(err, ErrLogin).
type LoginError struct {
	Username string
	Message  string // Asterisk's, e.g. "Authentication failed"
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("ami: login as %q refused: %s (check the username and secret in manager.conf)", e.Username, e.Message)
}

func (e *LoginError) Is(target error) bool { return target == ErrLogin }

// State is what a Client last knew of its connection.
type State struct {
	Connected bool
	// LastError is why the last connection attempt or connection ended.
	LastError error
	// Logins counts successful logins since the client started.
	Logins int
}

// Client is one AMI connection to one Asterisk, kept up by Run.
type Client struct {
	cfg    Config
	h      Handler
	log    *slog.Logger
	prefix string // per client, so two clients on one Asterisk never share ActionIDs
	seq    atomic.Uint64

	mu    sync.Mutex
	sess  *session
	state State
	up    chan struct{} // closed while connected
}

// NewClient returns a client for cfg that reports to h.
func NewClient(cfg Config, h Handler, log *slog.Logger) *Client {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Client{cfg: cfg.withDefaults(), h: h, log: log, prefix: "sb-" + hex.EncodeToString(b[:]) + "-", up: make(chan struct{})}
}

// State returns the connection's state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitConnected blocks until the client is logged in or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run connects, logs in and reads until ctx ends, reconnecting with
// backoff after every failure. It returns nil when ctx ends.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for {
		loggedIn, err := c.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if loggedIn {
			backoff = c.cfg.MinBackoff
		}
		c.mu.Lock()
		c.state.LastError = err
		c.mu.Unlock()
		wait := backoff/2 + mrand.N(backoff/2+1)
		c.log.WarnContext(ctx, "ami connection failed", "address", c.cfg.Address, "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// session is one logged-in connection.
type session struct {
	conn net.Conn
	wmu  sync.Mutex
	pmu  sync.Mutex
	wait map[string]*pending
	done chan struct{}
	once sync.Once
	err  error
}

// pending is an action waiting for its reply.
type pending struct {
	listEnd string // the event that ends an event list; "" for one reply
	resp    Message
	list    []Message
	got     bool // the Response arrived
	done    chan struct{}
}

func (s *session) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
		s.conn.Close()
	})
}

// connect runs one connection: dial, banner, login, then the read loop
// until it fails. loggedIn tells Run to start its backoff over.
func (c *Client) connect(ctx context.Context) (loggedIn bool, err error) {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Address)
	if err != nil {
		return false, fmt.Errorf("ami: dial: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	r := NewReader(conn, c.cfg.Limits)
	_ = conn.SetDeadline(time.Now().Add(c.cfg.ActionTimeout))
	if _, err := r.ReadBanner(); err != nil {
		return false, fmt.Errorf("ami: banner: %w", err)
	}
	id := c.nextID()
	login := Act("Login", "ActionID", id, "Username", c.cfg.Username, "Secret", c.cfg.Secret, "Events", c.cfg.Events)
	if err := WriteAction(conn, login); err != nil {
		return false, fmt.Errorf("ami: login: %w", err)
	}
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return false, fmt.Errorf("ami: login: %w", err)
		}
		if m.Get("ActionID") != id || m.Get("Response") == "" {
			continue // an event before the reply
		}
		if !strings.EqualFold(m.Get("Response"), "Success") {
			return false, &LoginError{Username: c.cfg.Username, Message: m.Get("Message")}
		}
		break
	}
	_ = conn.SetDeadline(time.Time{})

	s := &session{conn: conn, wait: map[string]*pending{}, done: make(chan struct{})}
	sctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.sess = s
	c.state.Connected = true
	c.state.Logins++
	c.state.LastError = nil
	close(c.up)
	c.mu.Unlock()
	c.log.InfoContext(ctx, "ami connected", "address", c.cfg.Address)
	defer func() {
		cancel()
		c.mu.Lock()
		c.sess = nil
		c.state.Connected = false
		c.up = make(chan struct{})
		c.mu.Unlock()
	}()

	go c.h.Connected(sctx)
	go c.keepAlive(sctx, s)
	err = c.readLoop(s, r)
	s.fail(err)
	return true, s.err
}

func (c *Client) keepAlive(ctx context.Context, s *session) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		if _, err := c.do(ctx, s, Act("Ping"), ""); err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("ami: keep-alive: %w", err))
			}
			return
		}
	}
}

func (c *Client) readLoop(s *session, r *Reader) error {
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return err
		}
		if id := m.Get("ActionID"); id != "" && s.route(id, m) {
			continue
		}
		if m.Event() != "" {
			c.h.Event(m)
		}
	}
}

// route gives m to the action waiting for id; false if none is.
func (s *session) route(id string, m Message) bool {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p := s.wait[id]
	if p == nil {
		return false
	}
	if ev := m.Event(); ev != "" {
		if p.listEnd == "" || !p.got {
			return false // e.g. OriginateResponse: an event, not the reply
		}
		if strings.EqualFold(ev, p.listEnd) {
			delete(s.wait, id)
			close(p.done)
			return true
		}
		p.list = append(p.list, m)
		return true
	}
	p.resp, p.got = m, true
	if p.listEnd != "" && strings.EqualFold(m.Get("Response"), "Success") {
		return true // the list follows
	}
	delete(s.wait, id)
	close(p.done)
	return true
}

func (c *Client) nextID() string {
	return c.prefix + strconv.FormatUint(c.seq.Add(1), 10)
}

// Action sends a and returns Asterisk's reply; a reply of "Response:
// Error" is an *ActionError. An ActionID is added unless a has one.
func (c *Client) Action(ctx context.Context, a Message) (Message, error) {
	s := c.current()
	if s == nil {
		return Message{}, ErrNotConnected
	}
	m, err := c.do(ctx, s, a, "")
	return m.resp, err
}

// ActionList sends an action whose reply is a list of events ended by the
// event named complete (CoreShowChannels → CoreShowChannelsComplete) and
// returns the list.
func (c *Client) ActionList(ctx context.Context, a Message, complete string) ([]Message, error) {
	s := c.current()
	if s == nil {
		return nil, ErrNotConnected
	}
	p, err := c.do(ctx, s, a, complete)
	return p.list, err
}

func (c *Client) current() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *Client) do(ctx context.Context, s *session, a Message, listEnd string) (*pending, error) {
	name := a.Get("Action")
	id := a.Get("ActionID")
	if id == "" {
		id = c.nextID()
		a.Fields = append(a.Fields[:len(a.Fields):len(a.Fields)], Field{"ActionID", id})
	}
	p := &pending{listEnd: listEnd, done: make(chan struct{})}
	s.pmu.Lock()
	if _, dup := s.wait[id]; dup {
		s.pmu.Unlock()
		return p, fmt.Errorf("ami: %s: ActionID %q already in flight", name, id)
	}
	s.wait[id] = p
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		if s.wait[id] == p {
			delete(s.wait, id)
		}
		s.pmu.Unlock()
	}()

	s.wmu.Lock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(c.cfg.ActionTimeout))
	err := WriteAction(s.conn, a)
	s.wmu.Unlock()
	if errors.Is(err, ErrInjection) {
		return p, err
	} else if err != nil {
		s.fail(fmt.Errorf("ami: write: %w", err))
		return p, ErrConnectionLost
	}

	t := time.NewTimer(c.cfg.ActionTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-s.done:
		return p, ErrConnectionLost
	case <-t.C:
		return p, fmt.Errorf("%w: %s", ErrTimeout, name)
	case <-ctx.Done():
		return p, ctx.Err()
	}
	if !strings.EqualFold(p.resp.Get("Response"), "Success") {
		return p, &ActionError{Action: name, Message: p.resp.Get("Message")}
	}
	return p, nil
}
