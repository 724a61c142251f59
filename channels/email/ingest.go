package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// Fetched is one message as fetched: its UID and raw bytes.
type Fetched struct {
	UID uint32
	Raw []byte
}

// MessageReceiver records fetched messages, given in UID order: parsed,
// stored with the checkpoint (mailbox, UIDVALIDITY, UID of the last one) in
// one transaction, announced to routing. nil means all of them are stored.
// An error means the stored checkpoint names the last message stored
// (none of msgs, or a prefix of them), so the ingester ends the session
// and resumes from the stored checkpoint. (*Receiver) implements it.
type MessageReceiver interface {
	Receive(ctx context.Context, mailbox org.Mailbox, uidValidity uint32, msgs []Fetched) error
}

// MessageRejecter records a message the ingester will not fetch (larger
// than Config.MaxMessageBytes) as rejected with a reason, advancing the
// checkpoint past it. A MessageReceiver that is not one gets such
// messages fetched and handed over like any other.
type MessageRejecter interface {
	Reject(ctx context.Context, mailbox org.Mailbox, uidValidity, uid uint32, reason string) error
}

// Mailboxes is what the ingester needs of org. org.Store implements it.
type Mailboxes interface {
	AllActiveMailboxes(ctx context.Context) ([]org.Mailbox, []uuid.UUID, error)
	MailboxCheckpoint(ctx context.Context, tenant, id uuid.UUID) (uidValidity, lastUID uint32, err error)
	ResetMailboxCheckpoint(ctx context.Context, tenant, id uuid.UUID, old, new uint32) (bool, error)
	ClaimMailbox(ctx context.Context, tenant, id uuid.UUID, holder string, ttl time.Duration) (bool, error)
	ReleaseMailbox(ctx context.Context, tenant, id uuid.UUID, holder string) error
	SetMailboxHealth(ctx context.Context, tenant, id uuid.UUID, errKind string) error
}

// Config tunes the ingester. Zero fields take the defaults in brackets.
type Config struct {
	// Holder names this node in the mailboxes' ingest leases.
	Holder string
	// Reload is how often the list of active mailboxes is re-read, and
	// workers started, stopped or restarted to match [1m].
	Reload time.Duration
	// Poll is how often a mailbox whose server lacks IDLE is checked [30s].
	Poll time.Duration
	// IdleRestart: IDLE is ended and re-issued at least this often; RFC
	// 2177 asks for less than 29 minutes [25m].
	IdleRestart time.Duration
	// DisableIdle polls even servers that have IDLE.
	DisableIdle bool
	// LeaseTTL is the mailbox lease's lifetime; it is renewed every third
	// of it, so IDLE is also re-issued that often [60s].
	LeaseTTL time.Duration
	// Batch is how many UIDs one UID FETCH of bodies asks for [100].
	Batch int
	// Commit is how many fetched messages the receiver gets at once, to
	// store in one transaction with the checkpoint at the last [50];
	// CommitBytes caps their total size [16 MiB] (a larger message goes
	// alone).
	Commit      int
	CommitBytes int
	// MinBackoff and MaxBackoff bound the wait before reconnecting after a
	// failure: doubled per failure, with full jitter [1s, 5m].
	MinBackoff, MaxBackoff time.Duration
	// MaxMessageBytes: larger messages are not fetched but rejected, when
	// the receiver can reject [50 MiB].
	MaxMessageBytes int64
	// DialTimeout bounds connecting [15s].
	DialTimeout time.Duration
	// TLSConfig for tls and starttls mailboxes (tests add their CA);
	// nil: the system's roots.
	TLSConfig *tls.Config
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.Reload, time.Minute)
	set(&c.Poll, 30*time.Second)
	set(&c.IdleRestart, 25*time.Minute)
	set(&c.LeaseTTL, time.Minute)
	set(&c.MinBackoff, time.Second)
	set(&c.MaxBackoff, 5*time.Minute)
	set(&c.DialTimeout, 15*time.Second)
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Commit <= 0 {
		c.Commit = 50
	}
	if c.CommitBytes <= 0 {
		c.CommitBytes = 16 << 20
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 50 << 20
	}
	if c.Holder == "" {
		c.Holder = "ingester-" + uuid.NewString()
	}
}

// Ingester reads every active mailbox over IMAP, one goroutine each, and
// hands new mail to the receiver exactly once: the receiver commits each
// message with its checkpoint, and the ingester only ever resumes from the
// committed checkpoint.
type Ingester struct {
	cfg   Config
	boxes Mailboxes
	recv  MessageReceiver
	log   *slog.Logger

	mu      sync.Mutex
	workers map[uuid.UUID]*worker
}

// NewIngester returns an Ingester; Run starts it.
func NewIngester(cfg Config, boxes Mailboxes, recv MessageReceiver, log *slog.Logger) *Ingester {
	cfg.defaults()
	return &Ingester{cfg: cfg, boxes: boxes, recv: recv, log: log, workers: map[uuid.UUID]*worker{}}
}

// Run supervises the workers until ctx ends, then stops them all and gives
// their leases up.
func (in *Ingester) Run(ctx context.Context) error {
	defer in.stopAll()
	t := time.NewTicker(in.cfg.Reload)
	defer t.Stop()
	for {
		in.reload(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reload starts a worker for each active mailbox without one, stops the
// workers of mailboxes gone or deactivated, and restarts those whose
// settings changed. A failed read keeps the running workers.
func (in *Ingester) reload(ctx context.Context) {
	ms, skipped, err := in.boxes.AllActiveMailboxes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			in.log.ErrorContext(ctx, "e-mail: reading mailboxes failed; keeping the running workers", "err", err)
		}
		return
	}
	for _, id := range skipped {
		in.log.ErrorContext(ctx, "e-mail: a mailbox's password does not open with this server's secret; it is not read", "mailbox_id", id)
	}
	want := map[uuid.UUID]org.Mailbox{}
	for _, m := range ms {
		want[m.ID] = m
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for id, w := range in.workers {
		if m, ok := want[id]; !ok || !sameSettings(m, w.mailbox) {
			w.stop()
			delete(in.workers, id)
		}
	}
	for id, m := range want {
		if _, ok := in.workers[id]; !ok {
			in.workers[id] = in.start(ctx, m)
		}
	}
}

// sameSettings compares what a worker was started with, leaving out the
// checkpoint and health, which change under it all the time.
func sameSettings(a, b org.Mailbox) bool {
	a.UIDValidity, a.LastUID, a.LastError, a.LastErrorAt, a.LastOKAt = 0, 0, "", time.Time{}, time.Time{}
	b.UIDValidity, b.LastUID, b.LastError, b.LastErrorAt, b.LastOKAt = 0, 0, "", time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func (in *Ingester) stopAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for id, w := range in.workers {
		w.stop()
		delete(in.workers, id)
	}
}

// Workers says which mailboxes have a worker now, for tests and health.
func (in *Ingester) Workers() []uuid.UUID {
	in.mu.Lock()
	defer in.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(in.workers))
	for id := range in.workers {
		ids = append(ids, id)
	}
	return ids
}

type worker struct {
	mailbox org.Mailbox
	cancel  context.CancelFunc
	done    chan struct{}
}

func (w *worker) stop() {
	w.cancel()
	<-w.done
}

func (in *Ingester) start(parent context.Context, m org.Mailbox) *worker {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	w := &worker{mailbox: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		in.runMailbox(ctx, m)
	}()
	return w
}

// errNotHolder: another node holds the mailbox's lease.
var errNotHolder = errors.New("another node reads this mailbox")

// runMailbox keeps a session to one mailbox going until ctx ends,
// reconnecting after failures with exponential backoff and full jitter.
func (in *Ingester) runMailbox(ctx context.Context, m org.Mailbox) {
	log := in.log.With("tenant_id", m.TenantID, "mailbox_id", m.ID)
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := in.boxes.ReleaseMailbox(rctx, m.TenantID, m.ID, in.cfg.Holder); err != nil {
			log.WarnContext(rctx, "e-mail: releasing the mailbox lease failed; it expires on its own", "err", err)
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		healthy, err := in.session(ctx, m, log)
		if ctx.Err() != nil {
			return
		}
		if healthy {
			failures = 0
		}
		wait := in.cfg.LeaseTTL / 3
		if errors.Is(err, errNotHolder) {
			log.DebugContext(ctx, "e-mail: another node reads this mailbox")
		} else {
			failures++
			wait = backoff(in.cfg.MinBackoff, in.cfg.MaxBackoff, failures)
			kind := "other"
			var se *sessionError
			if errors.As(err, &se) {
				kind = string(se.kind)
			}
			// err carries no password: the client's debug output is off
			// and login errors keep only the IMAP response code.
			log.WarnContext(ctx, "e-mail: mailbox session failed; reconnecting", "kind", kind, "err", err,
				"failures", failures, "retry_in", wait.Round(time.Millisecond))
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			in.boxes.SetMailboxHealth(hctx, m.TenantID, m.ID, kind)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// backoff is the wait after n consecutive failures: min doubled n-1 times,
// capped at max, with full jitter so that many mailboxes of one failed
// server do not reconnect in step.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// session is one connection's life: claim the lease, log in, reconcile the
// checkpoint with the folder's UIDVALIDITY, then fetch and wait in turn.
// healthy reports that it got as far as a selected folder.
func (in *Ingester) session(ctx context.Context, m org.Mailbox, log *slog.Logger) (healthy bool, err error) {
	ok, err := in.boxes.ClaimMailbox(ctx, m.TenantID, m.ID, in.cfg.Holder, in.cfg.LeaseTTL)
	if err != nil {
		return false, err
	} else if !ok {
		return false, errNotHolder
	}
	leaseAt := time.Now()
	s, err := dialIMAP(ctx, m, in.cfg)
	if err != nil {
		return false, err
	}
	defer s.close()
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()

	validity, last, err := in.boxes.MailboxCheckpoint(ctx, m.TenantID, m.ID)
	if err != nil {
		return false, err
	}
	if validity != s.uidValidity {
		// New folder, or the server renumbered it (restored, migrated,
		// recreated): the stored UIDs mean nothing now. Start over at UID
		// 1; the receiver's Message-ID de-duplication inserts only mail it
		// has not seen, and mail deleted from the server is not fetched,
		// so not resurrected.
		if validity != 0 {
			log.InfoContext(ctx, "e-mail: UIDVALIDITY changed; re-scanning the folder", "old", validity, "new", s.uidValidity)
		}
		if _, err := in.boxes.ResetMailboxCheckpoint(ctx, m.TenantID, m.ID, validity, s.uidValidity); err != nil {
			return false, err
		}
		if validity, last, err = in.boxes.MailboxCheckpoint(ctx, m.TenantID, m.ID); err != nil {
			return false, err
		}
		if validity != s.uidValidity {
			return false, errors.New("checkpoint moved under this session")
		}
	}
	in.boxes.SetMailboxHealth(ctx, m.TenantID, m.ID, "")
	log.DebugContext(ctx, "e-mail: mailbox session started", "idle", s.idle, "uid_validity", validity, "last_uid", last)

	wakeEvery := min(in.cfg.IdleRestart, in.cfg.LeaseTTL/3)
	for {
		if last, err = in.catchUp(ctx, s, m, last); err != nil {
			return true, err
		}
		if time.Since(leaseAt) >= in.cfg.LeaseTTL/3 {
			ok, err := in.boxes.ClaimMailbox(ctx, m.TenantID, m.ID, in.cfg.Holder, in.cfg.LeaseTTL)
			if err != nil {
				return true, err
			} else if !ok {
				return true, errNotHolder
			}
			leaseAt = time.Now()
		}
		if s.idle {
			if _, err := s.waitIdle(ctx, wakeEvery); err != nil {
				return true, err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(min(in.cfg.Poll, wakeEvery)):
		}
		if err := s.noop(); err != nil {
			return true, err
		}
	}
}

// catchUp records every message above last, in UID order and in batches
// (fetched Batch at a time, handed to the receiver Commit at a time), and
// returns the new last UID. It stops at the first failure: the checkpoint
// then names the last message recorded, and the next session resumes right
// after it.
func (in *Ingester) catchUp(ctx context.Context, s *imapSession, m org.Mailbox, last uint32) (uint32, error) {
	for {
		news, err := s.newUIDs(last)
		if err != nil || len(news) == 0 {
			return last, err
		}
		rej, canReject := in.recv.(MessageRejecter)
		for len(news) > 0 {
			n := min(len(news), in.cfg.Batch)
			batch := news[:n]
			news = news[n:]
			// Runs of ordinary messages are fetched together; an oversized
			// one in between is rejected in its place, keeping UID order.
			var run []uint32
			var pending []Fetched
			pendingBytes := 0
			// One commit at a time runs beside the fetch (the next batch
			// is read from the server while the last one is being
			// stored); the next commit starts only when it has ended, so
			// commits, and the checkpoint, stay in UID order.
			var inflight chan error
			var inflightEnd uint32
			wait := func() error {
				if inflight == nil {
					return nil
				}
				err := <-inflight
				inflight = nil
				if err == nil {
					last = inflightEnd
				}
				return err
			}
			deliver := func() error {
				if err := wait(); err != nil {
					return err
				}
				if len(pending) == 0 {
					return nil
				}
				msgs := pending
				pending, pendingBytes = nil, 0
				first, end := msgs[0].UID, msgs[len(msgs)-1].UID
				inflight, inflightEnd = make(chan error, 1), end
				go func(done chan<- error) {
					if err := in.recv.Receive(ctx, m, s.uidValidity, msgs); err != nil {
						done <- failed(kindRecord, fmt.Errorf("UIDs %d–%d: %w", first, end, err))
						return
					}
					done <- nil
				}(inflight)
				return nil
			}
			flush := func() error {
				if len(run) == 0 {
					return wait()
				}
				err := s.fetchBodies(run, func(uid uint32, raw []byte) error {
					if len(pending) > 0 && pendingBytes+len(raw) > in.cfg.CommitBytes {
						if err := deliver(); err != nil {
							return err
						}
					}
					pending = append(pending, Fetched{UID: uid, Raw: raw})
					pendingBytes += len(raw)
					if len(pending) >= in.cfg.Commit {
						return deliver()
					}
					return nil
				})
				run = run[:0]
				if err != nil {
					// What was fetched but not stored is fetched again by
					// the next session; a commit in flight ends first, so
					// that last is true.
					if werr := wait(); werr != nil {
						return werr
					}
					return err
				}
				if err := deliver(); err != nil {
					return err
				}
				return wait()
			}
			for _, u := range batch {
				if canReject && u.size > in.cfg.MaxMessageBytes {
					if err := flush(); err != nil {
						return last, err
					}
					reason := fmt.Sprintf("message of %d bytes is over the limit of %d", u.size, in.cfg.MaxMessageBytes)
					if err := rej.Reject(ctx, m, s.uidValidity, u.uid, reason); err != nil {
						return last, failed(kindRecord, fmt.Errorf("UID %d: %w", u.uid, err))
					}
					last = u.uid
					continue
				}
				run = append(run, u.uid)
			}
			if err := flush(); err != nil {
				return last, err
			}
		}
		// Mail may have arrived during the batches: look again before
		// waiting, so nothing sits until the next wake-up.
	}
}
