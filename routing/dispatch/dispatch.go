package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/lease"
	"github.com/switchboard-cc/switchboard/stats"
)

// NotifyChannel is the PostgreSQL channel that announces queued contacts.
const NotifyChannel = "switchboard_queued"

// Source reads what a rebuild and a sweep need from the system of record.
type Source interface {
	Tenants(ctx context.Context) ([]uuid.UUID, error)
	Queues(ctx context.Context, tenant uuid.UUID) ([]org.Queue, error)
	Agents(ctx context.Context, tenant uuid.UUID) ([]org.Agent, error)
	Queued(ctx context.Context, tenant uuid.UUID) ([]routing.Task, error)
	OpenAssignments(ctx context.Context, tenant uuid.UUID) ([]Assignment, error)
	// Zone is the tenant's default time zone: "today" starts at its midnight.
	Zone(ctx context.Context, tenant uuid.UUID) (*time.Location, error)
	// Events returns contact events at or after since that the cursor has
	// not seen, never skipping a transaction that commits late, and the next cursor.
	Events(ctx context.Context, tenant uuid.UUID, cursor string, since time.Time) ([]stats.Event, string, error)
	// PresenceHistory returns each agent's presence at since (dated since),
	// then every change after it, in time order: occupancy's staffed time.
	PresenceHistory(ctx context.Context, tenant uuid.UUID, since time.Time) ([]PresenceChange, error)
}

// Assignment is an open assignment read back on rebuild.
type Assignment struct {
	ContactID, AgentID uuid.UUID
	Channel            org.Channel
	WrapUpUntil        time.Time // in wrap-up until then (maybe past); zero while worked
}

// Connections tells which agents have a live console socket.
type Connections interface {
	Connected(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]bool, error)
}

// Errors an Assigner returns.
var (
	// ErrFenced: this node's lease epoch is no longer current.
	ErrFenced = errors.New("routing lease lost")
	// ErrGone: the contact is no longer queued or already assigned.
	ErrGone = errors.New("contact no longer waiting")
)

// Assigner commits an accept: one conditional transaction that checks the
// contact is still queued, has no open assignment, and that epoch is current.
// It is idempotent by offer id.
type Assigner interface {
	Assign(ctx context.Context, tenant, contact, agent, offer uuid.UUID, epoch int64, holder string) error
}

// Notifier tells people what routing decided. Calls for one tenant come in
// order from one goroutine; they may block briefly (a screen-pop query).
type Notifier interface {
	Offered(ctx context.Context, tenant uuid.UUID, o routing.Offer)
	Rescinded(ctx context.Context, tenant uuid.UUID, o routing.Offer, reason string)
	OffersReset(ctx context.Context, tenant, agent uuid.UUID)
	Assigned(ctx context.Context, tenant uuid.UUID, o routing.Offer)
	AcceptFailed(ctx context.Context, tenant, agent, offer uuid.UUID, reason string)
	Gauges(ctx context.Context, tenant uuid.UUID, g routing.Gauges, today Today)
	// PresenceForced tells an agent's consoles that routing changed their
	// presence (set away after missed offers).
	PresenceForced(ctx context.Context, tenant, agent uuid.UUID, p org.Presence, reason string)
	// Requeued tells a contact's customer side that it waits again.
	Requeued(ctx context.Context, tenant, contact uuid.UUID)
	// WrapUpEnded tells an agent's consoles that routing ended a wrap-up
	// whose time ran out.
	WrapUpEnded(ctx context.Context, tenant, agent, contact uuid.UUID)
}

// Today is a tenant's figures since its local midnight, per queue, with the
// thresholds they were counted against.
type Today struct {
	Since  time.Time
	Queues map[uuid.UUID]stats.Counts
	SLA    map[uuid.UUID]time.Duration
	Agents map[uuid.UUID]stats.AgentCounts // occupancy and contacts per agent, up to now
	// Arrivals: each queue's arrivals over the last stats.ArrivalWindow
	// (since its midnight when that is nearer), for Erlang C's arrival rate.
	Arrivals map[uuid.UUID]stats.Rate
}

// Requeuer puts a chat whose agent went away back in its queue, in one
// transaction, and returns it as a task with its original arrival time.
type Requeuer interface {
	Requeue(ctx context.Context, tenant, agent, contact uuid.UUID) (routing.Task, error)
}

// PresenceSetter records a presence that routing decided, so that it
// survives a rebuild and shows in the agent's history.
type PresenceSetter interface {
	SetPresence(ctx context.Context, tenant, agent uuid.UUID, p org.Presence, reason string) (org.Agent, error)
}

// Overflower persists a move routing made on its own (routing.Overflow,
// or an arrival at a full queue): the contact, still queued in m.From,
// waits in m.To with its age. ErrGone when it no longer waits in m.From.
type Overflower interface {
	Overflow(ctx context.Context, tenant uuid.UUID, m routing.Move) error
}

// ClosedHandler carries out a queue's closed action for a contact that
// met a closed or full queue: tell the customer, or turn the contact into
// a callback at the next opening. waiting is false when the contact no
// longer waits (it became a callback, or closed meanwhile). Repeats, after
// a rebuild, must not tell the customer twice.
type ClosedHandler interface {
	Closed(ctx context.Context, tenant uuid.UUID, c routing.ClosedArrival) (waiting bool, err error)
}

// Subscriber is the bus, from which commands arrive.
type Subscriber interface {
	Subscribe(ctx context.Context, topic string, h bus.Handler) (func(), error)
}

// CommandTopic is the bus topic a tenant's commands travel on.
func CommandTopic(tenant uuid.UUID) string { return "routing:" + tenant.String() }

// Command kinds.
const (
	CmdPresence = "presence" // an agent's presence or connection changed: re-read it
	CmdAccept   = "accept"
	CmdReject   = "reject"
	CmdRelease  = "release" // an assignment ended
	CmdCancel   = "cancel"  // a waiting contact was closed or abandoned
	CmdResync   = "resync"  // an agent's console (re)connected: send its open offers again
	CmdRefresh  = "refresh" // queue settings changed: re-read them now
	CmdWrapUp   = "wrap_up" // the contact closed: its slot stays held until Until
	// CmdMissed: the agent accepted a call but their phone did not answer;
	// it counts as a missed offer (the call itself comes back by Release
	// with Requeue).
	CmdMissed = "missed"
	// CmdTaken: the agent holds a contact routing never offered (a call the
	// PBX put through in observe mode): their slot on Channel is held until
	// the contact is released or wrapped up.
	CmdTaken = "taken"
)

// Command is what the agent desk asks of the tenant's routing engine. It
// carries absolute facts, never toggles, so a repeat is harmless.
type Command struct {
	Kind      string       `json:"kind"`
	AgentID   uuid.UUID    `json:"agent_id,omitzero"`
	ContactID uuid.UUID    `json:"contact_id,omitzero"`
	OfferID   uuid.UUID    `json:"offer_id,omitzero"`
	Presence  org.Presence `json:"presence,omitempty"`
	Connected bool         `json:"connected,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	// Requeue, with CmdRelease: the contact waits again (a transfer), so
	// read the queued contacts now; its NOTIFY may have come before the
	// release and been refused as still assigned.
	Requeue bool `json:"requeue,omitempty"`
	// Until, with CmdWrapUp: when the wrap-up ends (absolute, so a repeat
	// or a late copy cannot extend it by its own delay).
	Until time.Time `json:"until,omitzero"`
	// Channel, with CmdTaken: the channel whose slot the contact holds.
	Channel org.Channel `json:"channel,omitempty"`
}

// Config tunes a Dispatcher.
type Config struct {
	Holder    string // this node's name in routing_lease
	MaxMissed int    // offers in a row an agent may miss before being set away; default 3
	// Grace is how long an agent's chats wait for their console to come
	// back before they return to the queue; default 60s.
	Grace         time.Duration
	LeaseTTL      time.Duration // default 10s
	SweepInterval time.Duration // default 2s
	GaugeInterval time.Duration // default 1s: wallboard pushes are coalesced to this
	DisableListen bool          // tests: learn of contacts by sweep only
}

// Deps are what a Dispatcher reads, writes and tells; all are required.
type Deps struct {
	Pool        *pgxpool.Pool
	Source      Source
	Connections Connections
	Assigner    Assigner
	Notifier    Notifier
	Subscriber  Subscriber
	Presence    PresenceSetter
	Requeuer    Requeuer
	Overflower  Overflower
	Closed      ClosedHandler
	WrapUps     WrapUpEnder
	Log         *slog.Logger
	// Waits, optional, tells waiting chats their place in the queue (waits.go).
	Waits WaitNotifier
}

// Dispatcher runs the engines of the tenants whose lease this node holds.
type Dispatcher struct {
	cfg      Config
	pool     *pgxpool.Pool
	src      Source
	conns    Connections
	assign   Assigner
	notify   Notifier
	sub      Subscriber
	pres     PresenceSetter
	requeue  Requeuer
	overflow Overflower
	closed   ClosedHandler
	wrapUps  WrapUpEnder
	waits    WaitNotifier
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	tenants map[uuid.UUID]*tenantRun
}

// New returns a Dispatcher; Run starts it.
func New(cfg Config, deps Deps) *Dispatcher {
	if cfg.Grace <= 0 {
		cfg.Grace = 60 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 2 * time.Second
	}
	if cfg.GaugeInterval <= 0 {
		cfg.GaugeInterval = time.Second
	}
	return &Dispatcher{cfg: cfg, pool: deps.Pool, src: deps.Source, conns: deps.Connections, assign: deps.Assigner, notify: deps.Notifier,
		sub: deps.Subscriber, pres: deps.Presence, requeue: deps.Requeuer, overflow: deps.Overflower, closed: deps.Closed, wrapUps: deps.WrapUps, log: deps.Log,
		waits: deps.Waits, now: time.Now, tenants: map[uuid.UUID]*tenantRun{}}
}

// Run acquires leases, runs engines and listens for queued contacts until
// ctx ends; then it releases its leases so another node takes over at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	listenDone := make(chan struct{})
	if !d.cfg.DisableListen {
		go func() { defer close(listenDone); d.listen(ctx) }()
	} else {
		close(listenDone)
	}
	var wg sync.WaitGroup
	tick := time.NewTicker(d.cfg.LeaseTTL / 4)
	defer tick.Stop()
	for {
		d.claim(ctx, &wg)
		select {
		case <-ctx.Done():
			wg.Wait()
			<-listenDone
			return nil
		case <-tick.C:
		}
	}
}

// claim starts an engine for every tenant whose lease is free.
func (d *Dispatcher) claim(ctx context.Context, wg *sync.WaitGroup) {
	ids, err := d.src.Tenants(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("routing: list tenants", "err", err)
		}
		return
	}
	for _, id := range ids {
		d.mu.Lock()
		_, running := d.tenants[id]
		d.mu.Unlock()
		if running {
			continue
		}
		l, err := lease.Acquire(ctx, d.pool, id, d.cfg.Holder, d.cfg.LeaseTTL)
		if errors.Is(err, lease.ErrHeld) {
			continue
		} else if err != nil {
			if ctx.Err() == nil {
				d.log.Error("routing: acquire lease", "tenant_id", id, "err", err)
			}
			continue
		}
		tr := d.newTenantRun(l)
		d.mu.Lock()
		d.tenants[id] = tr
		d.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tr.run(ctx)
			d.mu.Lock()
			delete(d.tenants, id)
			d.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				d.log.Warn("routing engine stopped", "tenant_id", id, "epoch", l.Epoch, "err", err)
			}
		}()
	}
}

// listen forwards NOTIFY payloads to the tenant engines, reconnecting with
// backoff. After every (re)connect each engine sweeps, because notifications
// sent while nobody listened are gone.
func (d *Dispatcher) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("routing: LISTEN connection lost", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context) error {
	pooled, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A LISTEN connection must not go back to the pool with its state.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	d.forEach(func(tr *tenantRun) { tr.poke(tr.sweepNow) })
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		t, tenant, err := ParseNotification(n.Payload)
		if err != nil {
			d.log.Warn("routing: bad notification payload", "err", err)
			continue
		}
		d.mu.Lock()
		tr := d.tenants[tenant]
		d.mu.Unlock()
		if tr != nil {
			tr.poke(func(ctx context.Context) { tr.enqueue(t) })
		}
	}
}

func (d *Dispatcher) forEach(fn func(*tenantRun)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, tr := range d.tenants {
		fn(tr)
	}
}

// Holding reports whether this node runs tenant's engine now.
func (d *Dispatcher) Holding(tenant uuid.UUID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.tenants[tenant]
	return ok
}

// NotificationPayload encodes a queued contact for NOTIFY: everything the
// engine needs, so no query follows the notification. Six fields, space
// separated; a contact with preferred agents adds three: the end of the
// preference window, the agents' ids separated by commas, and the reason
// code (routing.Prefer...).
func NotificationPayload(tenant uuid.UUID, t routing.Task) string {
	f := []string{tenant.String(), t.ContactID.String(), t.QueueID.String(), string(t.Channel),
		strconv.Itoa(t.Priority), strconv.FormatInt(t.ArrivedAt.UnixMicro(), 10)}
	if len(t.Preferred) > 0 {
		ids := make([]string, len(t.Preferred))
		for i, id := range t.Preferred {
			ids[i] = id.String()
		}
		reason := t.PreferReason
		if !validReasonCode(reason) {
			reason = "-"
		}
		f = append(f, strconv.FormatInt(t.PreferUntil.UnixMicro(), 10), strings.Join(ids, ","), reason)
	}
	return strings.Join(f, " ")
}

// maxPreferred bounds the agents one notification may name.
const maxPreferred = 16

// validReasonCode: one reason code, or one per preferred agent separated
// by commas (routing.Task.PreferReason).
func validReasonCode(s string) bool {
	if s == "" || len(s) > 32*maxPreferred {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' && r != ',' {
			return false
		}
	}
	return true
}

// ParseNotification decodes NotificationPayload.
func ParseNotification(s string) (routing.Task, uuid.UUID, error) {
	f := strings.Fields(s)
	if len(f) != 6 && len(f) != 9 {
		return routing.Task{}, uuid.Nil, fmt.Errorf("want 6 or 9 fields, got %d", len(f))
	}
	tenant, err1 := uuid.Parse(f[0])
	contact, err2 := uuid.Parse(f[1])
	queue, err3 := uuid.Parse(f[2])
	prio, err4 := strconv.Atoi(f[4])
	at, err5 := strconv.ParseInt(f[5], 10, 64)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return routing.Task{}, uuid.Nil, err
	}
	ch := org.Channel(f[3])
	if !ch.Valid() {
		return routing.Task{}, uuid.Nil, fmt.Errorf("unknown channel %q", f[3])
	}
	t := routing.Task{ContactID: contact, QueueID: queue, Channel: ch, Priority: prio, ArrivedAt: time.UnixMicro(at)}
	if len(f) == 9 {
		until, err := strconv.ParseInt(f[6], 10, 64)
		if err != nil {
			return routing.Task{}, uuid.Nil, fmt.Errorf("prefer until: %w", err)
		}
		ids := strings.Split(f[7], ",")
		if len(ids) > maxPreferred {
			return routing.Task{}, uuid.Nil, fmt.Errorf("%d preferred agents, at most %d", len(ids), maxPreferred)
		}
		for _, s := range ids {
			id, err := uuid.Parse(s)
			if err != nil {
				return routing.Task{}, uuid.Nil, fmt.Errorf("preferred agent: %w", err)
			}
			t.Preferred = append(t.Preferred, id)
		}
		if f[8] != "-" && !validReasonCode(f[8]) {
			return routing.Task{}, uuid.Nil, fmt.Errorf("bad preference reason %q", f[8])
		}
		if f[8] != "-" {
			t.PreferReason = f[8]
		}
		t.PreferUntil = time.UnixMicro(until)
	}
	return t, tenant, nil
}

// Enqueuer announces queued contacts to the routing node by NOTIFY. It is
// the fast path only: the sweep finds what it misses (a notification sent
// while the LISTEN connection was down, or dropped by a full inbox).
type Enqueuer struct{ pool *pgxpool.Pool }

// NewEnqueuer returns an Enqueuer on pool.
func NewEnqueuer(pool *pgxpool.Pool) *Enqueuer { return &Enqueuer{pool: pool} }

// Notification is the NOTIFY that announces t, for a writer to send inside
// the transaction that queues the contact: PostgreSQL then delivers it at
// commit, which saves the round trip of a NOTIFY sent after the commit and
// cannot announce a contact that rolled back.
func (e *Enqueuer) Notification(tenant uuid.UUID, t routing.Task) (channel, payload string) {
	return NotifyChannel, NotificationPayload(tenant, t)
}

// Enqueue sends the notification on its own, for a contact queued by a
// transaction that could not carry it.
func (e *Enqueuer) Enqueue(ctx context.Context, tenant uuid.UUID, t routing.Task) error {
	if _, err := e.pool.Exec(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, NotificationPayload(tenant, t)); err != nil {
		return fmt.Errorf("notify queued contact: %w", err)
	}
	return nil
}

// EncodeCommand is how the agent desk puts a Command on the bus.
func EncodeCommand(c Command) []byte {
	b, _ := json.Marshal(c)
	return b
}

// DecodeCommand parses a Command strictly.
func DecodeCommand(p []byte) (Command, error) {
	var c Command
	dec := json.NewDecoder(strings.NewReader(string(p)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	return c, nil
}
