package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-cc/switchboard/internal/netguard"
)

// Config tunes a Worker; zero fields take the defaults noted.
type Config struct {
	Interval    time.Duration // how often to look for due rows when idle (1s)
	Batch       int           // rows claimed per round (50)
	Parallel    int           // POSTs in flight per worker (8)
	Timeout     time.Duration // one POST, connection to response headers and body (10s)
	BaseBackoff time.Duration // wait after the first failure, doubled after each (10s)
	MaxBackoff  time.Duration // the longest wait between attempts (1h)
	MaxAge      time.Duration // give up on a row this old (72h)
	// AllowPrivate lets deliveries reach loopback, private, link-local and
	// CGNAT addresses (tests, single-network deployments); by default the
	// dialer refuses them, and multicast and unspecified ones always.
	AllowPrivate bool
	// Client sends the POSTs; its Timeout is ignored in favour of Timeout.
	// Default: a client that follows no redirects, uses no proxy, and whose
	// dialer checks every address it connects to (netguard). A Client
	// given here is used as it is: the address check is then its own.
	Client *http.Client
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, time.Second)
	def(&c.Timeout, 10*time.Second)
	def(&c.BaseBackoff, 10*time.Second)
	def(&c.MaxBackoff, time.Hour)
	def(&c.MaxAge, 72*time.Hour)
	if c.Batch <= 0 {
		c.Batch = 50
	}
	if c.Parallel <= 0 {
		c.Parallel = 8
	}
	if c.Client == nil {
		// The check sits in the dialer, on the address actually dialled:
		// a receiver's name that resolved to a public address when it was
		// registered and to 10.0.0.1 now (DNS rebinding) is refused here.
		// No proxy: it would make the dial, to wherever the URL says.
		guard := netguard.Policy{AllowPrivate: c.AllowPrivate}
		c.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           guard.Dialer(c.Timeout).DialContext,
				ForceAttemptHTTP2:     true,
				MaxIdleConns:          100,
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       90 * time.Second,
				TLSHandshakeTimeout:   c.Timeout,
				ExpectContinueTimeout: time.Second,
			},
			// A redirect is the receiver's misconfiguration: following it
			// would send the signed payload somewhere nobody registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c
}

// lease is how long a claim keeps other workers off a row: longer than a
// POST may take, so two workers never deliver one row at the same time.
func (c Config) lease() time.Duration { return 2*c.Timeout + 5*time.Second }

// Worker delivers due outbox rows. Any number of workers, on any number of
// nodes, may run on one database.
type Worker struct {
	pool *pgxpool.Pool
	cfg  Config
	log  *slog.Logger
}

// New returns a Worker on pool.
func New(pool *pgxpool.Pool, cfg Config, log *slog.Logger) *Worker {
	return &Worker{pool: pool, cfg: cfg.withDefaults(), log: log}
}

// Run delivers until ctx ends: a full batch is followed at once by the
// next, otherwise it waits Interval. Database errors are logged and
// retried; only ctx ends it.
func (w *Worker) Run(ctx context.Context) error {
	for {
		n, err := w.DeliverDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.WarnContext(ctx, "webhook delivery round failed", "error", err)
		}
		if err == nil && n >= w.cfg.Batch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.cfg.Interval):
		}
	}
}

type claimed struct {
	id, tenant, endpoint uuid.UUID
	event                string
	payload              json.RawMessage
	createdAt            time.Time
	attempts             int
	url, secret          string
}

// DeliverDue claims up to Batch due rows, delivers them and records each
// outcome; it returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	// The claim runs to its end even when ctx ends meanwhile: a claim that
	// commits after its caller gave up would leave rows leased for nobody.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
	rows, err := w.claim(cctx)
	cancel()
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	if ctx.Err() != nil {
		var errs []error
		for _, r := range rows {
			errs = append(errs, w.release(r))
		}
		return len(rows), errors.Join(errs...)
	}
	// A plain group: one row's failure to record must not cancel the
	// others' POSTs.
	var g errgroup.Group
	g.SetLimit(w.cfg.Parallel)
	for _, r := range rows {
		g.Go(func() error {
			status, failure := w.post(ctx, r)
			if ctx.Err() != nil {
				// Stopping: hand the row back at once rather than leave it
				// leased, whatever the receiver saw. It may get it again,
				// with the same delivery id.
				return w.release(r)
			}
			return w.record(ctx, r, status, failure)
		})
	}
	return len(rows), g.Wait()
}

// claim takes due rows by moving their next attempt past the lease, in one
// statement: SKIP LOCKED keeps concurrent claimers off each other's rows,
// and the moved time keeps them off once this commits.
func (w *Worker) claim(ctx context.Context) ([]claimed, error) {
	rows, err := w.pool.Query(ctx, `
		WITH due AS (
			SELECT o.id
			FROM webhook_outbox o
			JOIN webhook_endpoints e ON e.tenant_id = o.tenant_id AND e.id = o.endpoint_id
			WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= now() AND e.active
			ORDER BY o.next_attempt_at
			LIMIT $1
			FOR UPDATE OF o SKIP LOCKED)
		UPDATE webhook_outbox o
		SET next_attempt_at = now() + $2::bigint * interval '1 microsecond', attempts = o.attempts + 1
		FROM due, webhook_endpoints e
		WHERE o.id = due.id AND e.tenant_id = o.tenant_id AND e.id = o.endpoint_id
		RETURNING o.id, o.tenant_id, o.endpoint_id, o.event, o.payload, o.created_at, o.attempts, e.url, e.secret`,
		w.cfg.Batch, w.cfg.lease().Microseconds())
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.id, &c.tenant, &c.endpoint, &c.event, &c.payload, &c.createdAt, &c.attempts, &c.url, &c.secret)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return out, nil
}

// Body is what every delivery POSTs. It is the same on every attempt of a
// row; only the timestamp header and the signature change.
type Body struct {
	ID        uuid.UUID       `json:"id"` // equals the X-Switchboard-Delivery header
	Event     string          `json:"event"`
	TenantID  uuid.UUID       `json:"tenant_id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// post sends one row and returns the receiver's status (0 for none) and a
// failure class for last_error: never the URL or anything of the payload.
func (w *Worker) post(ctx context.Context, r claimed) (int, string) {
	body, err := json.Marshal(Body{ID: r.id, Event: r.event, TenantID: r.tenant, CreatedAt: r.createdAt.UTC(), Data: r.payload})
	if err != nil {
		return 0, "payload"
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return 0, "bad url"
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhook/1")
	req.Header.Set(HeaderEvent, r.event)
	req.Header.Set(HeaderDelivery, r.id.String())
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(r.secret, ts, body))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, failureClass(err)
	}
	// Drain a little so the connection can be reused; the body itself is
	// the receiver's business and is not stored.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, "status " + strconv.Itoa(resp.StatusCode)
}

func failureClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, netguard.ErrForbidden):
		// Retried like any failure: the name may resolve elsewhere later.
		return "forbidden address"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "connection: " + oe.Op
	}
	return "request failed"
}

// record stores the outcome of an attempt. The attempts check fences it: a
// worker whose lease ran out (and whose row another worker claimed since)
// records nothing.
func (w *Worker) record(ctx context.Context, r claimed, status int, failure string) error {
	if failure == "" {
		_, err := w.pool.Exec(ctx, `
			UPDATE webhook_outbox SET delivered_at = now(), last_status = $2, last_error = ''
			WHERE id = $1 AND attempts = $3`, r.id, status, r.attempts)
		if err != nil {
			return fmt.Errorf("webhook %s delivered: %w", r.id, err)
		}
		return nil
	}
	wait := Backoff(r.attempts, w.cfg.BaseBackoff, w.cfg.MaxBackoff, rand.Float64())
	// Past the maximum age the row fails for good rather than wait again.
	_, err := w.pool.Exec(ctx, `
		UPDATE webhook_outbox
		SET last_status = $2, last_error = $3,
		    next_attempt_at = now() + $4::bigint * interval '1 microsecond',
		    failed_at = CASE WHEN now() + $4::bigint * interval '1 microsecond'
		                          > created_at + $5::bigint * interval '1 microsecond' THEN now() END
		WHERE id = $1 AND attempts = $6`, r.id, status, failure, wait.Microseconds(), w.cfg.MaxAge.Microseconds(), r.attempts)
	if err != nil {
		return fmt.Errorf("webhook %s failed attempt: %w", r.id, err)
	}
	w.log.InfoContext(ctx, "webhook delivery failed", "delivery_id", r.id, "tenant_id", r.tenant,
		"endpoint_id", r.endpoint, "attempt", r.attempts, "status", status, "failure", failure, "retry_in", wait)
	return nil
}

// release makes a row due again at once, for a worker that stops mid-way.
func (w *Worker) release(r claimed) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := w.pool.Exec(ctx, `
		UPDATE webhook_outbox SET next_attempt_at = now()
		WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL`, r.id, r.attempts)
	if err != nil {
		return fmt.Errorf("webhook %s release: %w", r.id, err)
	}
	return nil
}

// Backoff is the wait after attempt (1-based) failed: base doubled per
// earlier attempt, capped at max, with "equal jitter": half of it fixed,
// half scaled by jitter in [0, 1), so that receivers coming back up are not
// hit by every sender at once while a retry never comes much sooner than
// planned.
func Backoff(attempt int, base, max time.Duration, jitter float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(jitter*float64(d/2))
}
