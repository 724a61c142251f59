package ami

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// ErrUnknownCall: the connector has no open call with that CallID (it
// ended, or was never seen on this Asterisk).
var ErrUnknownCall = errors.New("ami: no such open call")

// Options are a PBX's settings beyond its phone.Connector.
type Options struct {
	// Client's timeouts, backoff and limits; Address, Username and
	// Secret come from the phone.Connector.
	Client  Config
	Tracker TrackerOptions
	// KeyTTL is how long a Connect or Cancel key is remembered as done
	// (1 h): a repeat within it does nothing.
	KeyTTL time.Duration
}

// PBX is one Asterisk followed over AMI: the client, the call tracker
// and, in control mode, the phone.Controller.
type PBX struct {
	conn    phone.Connector
	client  *Client
	tracker *Tracker
	log     *slog.Logger
	keyTTL  time.Duration

	mu   sync.Mutex
	keys map[string]*keyed
}

// keyed is one Connect or Cancel by idempotency key.
type keyed struct {
	done chan struct{}
	err  error
	at   time.Time
}

// New returns the PBX of connector c, reporting calls to sink.
func New(c phone.Connector, sink Sink, opt Options, log *slog.Logger) *PBX {
	log = log.With("connector_id", c.ID.String())
	cfg := opt.Client
	cfg.Address, cfg.Username, cfg.Secret = c.Address, c.Username, c.Secret
	if opt.KeyTTL <= 0 {
		opt.KeyTTL = time.Hour
	}
	p := &PBX{conn: c, log: log, keyTTL: opt.KeyTTL, keys: map[string]*keyed{}}
	p.tracker = NewTracker(sink, opt.Tracker, log)
	p.client = NewClient(cfg, p, log)
	return p
}

// Client is the PBX's AMI client.
func (p *PBX) Client() *Client { return p.client }

// Tracker is the PBX's call tracker.
func (p *PBX) Tracker() *Tracker { return p.tracker }

// Run keeps the AMI connection and delivers call events until ctx ends.
func (p *PBX) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.client.Run(ctx) })
	g.Go(func() error { return p.tracker.Run(ctx) })
	return g.Wait()
}

// Event implements Handler.
func (p *PBX) Event(m Message) { p.tracker.Event(m) }

// Connected implements Handler: every (re)connect resyncs the calls.
func (p *PBX) Connected(ctx context.Context) {
	if err := p.tracker.Resync(ctx, p.client); err != nil && ctx.Err() == nil {
		p.log.WarnContext(ctx, "ami resync failed", "error", err)
	}
}

// Connect moves the waiting caller to the agent's extension: Redirect of
// the caller's channel to Extension, priority 1, in the connector's
// Context. A repeat of a key that succeeded sends nothing.
func (p *PBX) Connect(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	if err := p.check(c); err != nil {
		return err
	}
	if a.Extension == "" {
		return fmt.Errorf("ami: connect call %s: agent %s has no extension", call.CallID, a.AgentID)
	}
	if c.Context == "" {
		return fmt.Errorf("ami: connect call %s: the connector has no dialplan context", call.CallID)
	}
	return p.once(ctx, "connect", key, func() error {
		ch, ok := p.tracker.CallerChannel(call.CallID)
		if !ok {
			return fmt.Errorf("ami: connect call %s: %w", call.CallID, ErrUnknownCall)
		}
		_, err := p.client.Action(ctx, Act("Redirect",
			"ActionID", actionID("connect", key),
			"Channel", ch, "Context", c.Context, "Exten", a.Extension, "Priority", "1"))
		return err
	})
}

// Cancel hangs up the agent's ringing channel in the call, if there is
// one; otherwise it does nothing.
func (p *PBX) Cancel(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	if err := p.check(c); err != nil {
		return err
	}
	return p.once(ctx, "cancel", key, func() error {
		ch, ok := p.tracker.RingingChannel(call.CallID, a.Extension)
		if !ok {
			return nil
		}
		_, err := p.client.Action(ctx, Act("Hangup", "ActionID", actionID("cancel", key), "Channel", ch))
		return err
	})
}

func (p *PBX) check(c phone.Connector) error {
	if c.ID != uuid.Nil && c.ID != p.conn.ID {
		return fmt.Errorf("ami: connector %s asked of the PBX of connector %s", c.ID, p.conn.ID)
	}
	return nil
}

// actionID derives the ActionID from the idempotency key, hashed so that
// nothing of the key reaches the wire and its length is fixed.
func actionID(op, key string) string {
	h := sha256.Sum256([]byte(op + "\x00" + key))
	return "sb-" + op + "-" + hex.EncodeToString(h[:10])
}

// once runs f for key unless it already succeeded (or is running: then it
// waits for that run). A failed key may be tried again.
func (p *PBX) once(ctx context.Context, op, key string, f func() error) error {
	k := op + "\x00" + key
	p.mu.Lock()
	now := time.Now()
	for kk, e := range p.keys {
		select {
		case <-e.done:
			if now.Sub(e.at) > p.keyTTL {
				delete(p.keys, kk)
			}
		default:
		}
	}
	if e := p.keys[k]; e != nil {
		p.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if e.err == nil {
			return nil
		}
		p.mu.Lock()
		if p.keys[k] == e {
			delete(p.keys, k)
		}
		p.mu.Unlock()
		return p.once(ctx, op, key, f)
	}
	e := &keyed{done: make(chan struct{})}
	p.keys[k] = e
	p.mu.Unlock()
	e.err = f()
	e.at = time.Now()
	close(e.done)
	if e.err != nil {
		p.mu.Lock()
		if p.keys[k] == e {
			delete(p.keys, k)
		}
		p.mu.Unlock()
	}
	return e.err
}
