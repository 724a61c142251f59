package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm/webhook"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
)

const secret = "test-secret-0123456789"

// receiver is an httptest server that checks every delivery's signature
// and records what arrived. respond decides the status of each attempt.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	got       map[uuid.UUID][]time.Time // delivery id → arrival of each attempt
	inflight  map[uuid.UUID]bool
	overlap   int // a delivery id arriving while one of the same id is in flight
	badSig    int
	respond   func(id uuid.UUID, attempt int) int
	hold      time.Duration
	bodyEvent map[uuid.UUID]string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: map[uuid.UUID][]time.Time{}, inflight: map[uuid.UUID]bool{}, bodyEvent: map[uuid.UUID]string{},
		respond: func(uuid.UUID, int) int { return http.StatusNoContent }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get(webhook.HeaderTimestamp)
	sig := req.Header.Get(webhook.HeaderSignature)
	// Computed here by hand as a receiver in another language would, and
	// through Verify.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	var b webhook.Body
	id, idErr := uuid.Parse(req.Header.Get(webhook.HeaderDelivery))
	r.mu.Lock()
	if sig != want || webhook.Verify(secret, ts, sig, body, time.Now(), time.Minute) != nil ||
		json.Unmarshal(body, &b) != nil || idErr != nil || b.ID != id || b.Event != req.Header.Get(webhook.HeaderEvent) {
		r.badSig++
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.inflight[id] {
		r.overlap++
	}
	r.inflight[id] = true
	r.got[id] = append(r.got[id], time.Now())
	r.bodyEvent[id] = b.Event
	attempt := len(r.got[id])
	hold := r.hold
	r.mu.Unlock()
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-req.Context().Done():
		}
	}
	status := r.respond(id, attempt)
	r.mu.Lock()
	delete(r.inflight, id)
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) snapshot() (map[uuid.UUID][]time.Time, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := make(map[uuid.UUID][]time.Time, len(r.got))
	for k, v := range r.got {
		cp[k] = append([]time.Time(nil), v...)
	}
	return cp, r.overlap, r.badSig
}

type fixture struct {
	pool     *pgxpool.Pool
	tenant   uuid.UUID
	endpoint uuid.UUID
}

func setup(t *testing.T, url string) fixture {
	t.Helper()
	pool, _ := pgtest.New(t)
	f := fixture{pool: pool, tenant: uuid.New(), endpoint: uuid.New()}
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ($1, 'Webhook tenant')`, f.tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, $3, $4)`,
		f.endpoint, f.tenant, url, secret); err != nil {
		t.Fatal(err)
	}
	return f
}

// enqueue writes n outbox rows directly, as crm's enqueueWebhook does.
func (f fixture) enqueue(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
		_, err := f.pool.Exec(context.Background(), `
			INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, payload) VALUES ($1, $2, $3, 'contact.created', $4)`,
			ids[i], f.tenant, f.endpoint, map[string]any{"contact_id": uuid.New(), "seq": i})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (f fixture) count(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_outbox WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a worker until the returned stop is called; stop waits for Run
// to return.
func start(t *testing.T, pool *pgxpool.Pool, cfg webhook.Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- webhook.New(pool, cfg, quietLog()).Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fast delivers to the tests' 127.0.0.1 receivers: AllowPrivate, as
// SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE does.
var fast = webhook.Config{Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, BaseBackoff: 100 * time.Millisecond,
	MaxBackoff: 400 * time.Millisecond, AllowPrivate: true}

func TestDeliverySignedAndMarked(t *testing.T) {
	rc := newReceiver(t)
	f := setup(t, rc.srv.URL)
	ids := f.enqueue(t, 3)
	n, err := webhook.New(f.pool, fast, quietLog()).DeliverDue(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("DeliverDue = %d, %v; want 3, nil", n, err)
	}
	got, _, bad := rc.snapshot()
	if bad != 0 {
		t.Fatalf("%d deliveries failed the signature or header checks", bad)
	}
	for _, id := range ids {
		if len(got[id]) != 1 {
			t.Errorf("delivery %s arrived %d times, want 1", id, len(got[id]))
		}
	}
	if d := f.count(t, `delivered_at IS NOT NULL AND last_status = 204 AND attempts = 1`); d != 3 {
		t.Errorf("%d rows marked delivered with status 204 after one attempt, want 3", d)
	}
	// Nothing is due any more.
	if n, err := webhook.New(f.pool, fast, quietLog()).DeliverDue(context.Background()); err != nil || n != 0 {
		t.Errorf("second DeliverDue = %d, %v; want 0, nil", n, err)
	}
}

func TestRetriesWithBackoffUntil2xx(t *testing.T) {
	rc := newReceiver(t)
	rc.respond = func(_ uuid.UUID, attempt int) int {
		if attempt < 4 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	f := setup(t, rc.srv.URL)
	ids := f.enqueue(t, 2)
	start(t, f.pool, fast)
	waitFor(t, "delivery after three failures", 15*time.Second, func() bool {
		return f.count(t, `delivered_at IS NOT NULL`) == 2
	})
	got, _, _ := rc.snapshot()
	for _, id := range ids {
		at := got[id]
		if len(at) != 4 {
			t.Fatalf("delivery %s: %d attempts, want 4", id, len(at))
		}
		// Equal jitter: the wait after failure k is at least half of
		// base·2^(k-1), capped: 50ms, 100ms, 200ms.
		for k := 1; k < len(at); k++ {
			min := webhook.Backoff(k, fast.BaseBackoff, fast.MaxBackoff, 0)
			if gap := at[k].Sub(at[k-1]); gap < min {
				t.Errorf("delivery %s: attempt %d came %v after the previous, want ≥ %v", id, k+1, gap, min)
			}
		}
	}
	if n := f.count(t, `attempts = 4 AND last_status = 200 AND last_error = ''`); n != 2 {
		t.Errorf("%d rows with 4 attempts and status 200, want 2", n)
	}
}

func TestBackoffCapsAndJitters(t *testing.T) {
	base, max := 10*time.Second, time.Hour
	for _, c := range []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 5 * time.Second}, {1, 0.999999, 10 * time.Second}, {2, 0, 10 * time.Second},
		{3, 0.5, 30 * time.Second}, {20, 0, 30 * time.Minute}, {1000, 0.999999, time.Hour},
	} {
		got := webhook.Backoff(c.attempt, base, max, c.jitter).Round(time.Second)
		if got != c.want {
			t.Errorf("Backoff(%d, jitter %v) = %v, want %v", c.attempt, c.jitter, got, c.want)
		}
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	rc := newReceiver(t)
	rc.respond = func(uuid.UUID, int) int { return http.StatusBadGateway }
	f := setup(t, rc.srv.URL)
	f.enqueue(t, 1)
	cfg := fast
	cfg.MaxAge = 300 * time.Millisecond
	start(t, f.pool, cfg)
	waitFor(t, "the row to fail for good", 10*time.Second, func() bool {
		return f.count(t, `failed_at IS NOT NULL AND last_status = 502 AND last_error = 'status 502'`) == 1
	})
	got, _, _ := rc.snapshot()
	before := 0
	for _, at := range got {
		before = len(at)
	}
	time.Sleep(500 * time.Millisecond)
	got, _, _ = rc.snapshot()
	for _, at := range got {
		if len(at) != before {
			t.Errorf("attempts went on after failing for good: %d then %d", before, len(at))
		}
	}
}

// TestRestartLosesNone stops a worker while its POSTs are in flight, starts
// another, and then simulates a worker that died holding claims: every row
// is delivered at least once, always under its own delivery id.
func TestRestartLosesNone(t *testing.T) {
	rc := newReceiver(t)
	rc.hold = 100 * time.Millisecond
	f := setup(t, rc.srv.URL)
	ids := f.enqueue(t, 60)
	cfg := fast
	cfg.Batch, cfg.Parallel = 10, 4
	stop := start(t, f.pool, cfg)
	waitFor(t, "some deliveries", 10*time.Second, func() bool { return f.count(t, `delivered_at IS NOT NULL`) >= 10 })
	stop()
	if left := f.count(t, `delivered_at IS NULL`); left == 0 {
		t.Fatal("the first worker delivered everything; the test stopped it too late")
	}
	// Rows it was POSTing when stopped were handed back, not left leased.
	if n := f.count(t, `delivered_at IS NULL AND next_attempt_at > now() + interval '1 second'`); n != 0 {
		t.Errorf("%d rows still leased after a graceful stop", n)
	}

	// A worker that died mid-way: it claimed rows (next attempt moved past a
	// lease) and never came back.
	more := f.enqueue(t, 5)
	if _, err := f.pool.Exec(context.Background(), `
		UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = now() + interval '1 second'
		WHERE id = ANY ($1)`, more); err != nil {
		t.Fatal(err)
	}
	start(t, f.pool, cfg)
	waitFor(t, "every row delivered", 20*time.Second, func() bool { return f.count(t, `delivered_at IS NULL`) == 0 })

	got, overlap, bad := rc.snapshot()
	if bad != 0 || overlap != 0 {
		t.Errorf("%d bad signatures, %d concurrent deliveries of one row; want 0, 0", bad, overlap)
	}
	dups := 0
	for _, id := range append(ids, more...) {
		switch n := len(got[id]); {
		case n == 0:
			t.Errorf("delivery %s never arrived", id)
		case n > 1:
			dups++
		}
	}
	if len(got) != len(ids)+len(more) {
		t.Errorf("receiver saw %d delivery ids, want %d (no new ids on retry)", len(got), len(ids)+len(more))
	}
	t.Logf("%d rows, %d arrived more than once (at least once, same delivery id)", len(ids)+len(more), dups)
}

// TestWorkersNeverOverlap runs three workers on one outbox: no row is ever
// in flight twice, and with every receiver answering 2xx, each arrives once.
func TestWorkersNeverOverlap(t *testing.T) {
	rc := newReceiver(t)
	rc.hold = 5 * time.Millisecond
	f := setup(t, rc.srv.URL)
	ids := f.enqueue(t, 300)
	cfg := fast
	cfg.Batch, cfg.Parallel = 20, 4
	for range 3 {
		start(t, f.pool, cfg)
	}
	waitFor(t, "every row delivered", 30*time.Second, func() bool { return f.count(t, `delivered_at IS NULL`) == 0 })
	got, overlap, bad := rc.snapshot()
	if bad != 0 || overlap != 0 {
		t.Errorf("%d bad signatures, %d concurrent deliveries of one row; want 0, 0", bad, overlap)
	}
	for _, id := range ids {
		if len(got[id]) != 1 {
			t.Errorf("delivery %s arrived %d times, want 1", id, len(got[id]))
		}
	}
}

// TestRefusesPrivateAddressesByDefault: without AllowPrivate the worker's
// dialer refuses the receiver on 127.0.0.1, both by address and by a name
// that resolves there at delivery time ("localhost": what a rebinding name
// does); the receiver sees nothing and the rows record the refusal, to be
// retried.
func TestRefusesPrivateAddressesByDefault(t *testing.T) {
	rc := newReceiver(t)
	f := setup(t, rc.srv.URL)
	_, port, _ := net.SplitHostPort(rc.srv.Listener.Addr().String())
	byName := uuid.New()
	if _, err := f.pool.Exec(context.Background(), `INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, $3, $4)`,
		byName, f.tenant, "http://localhost:"+port+"/hook", secret); err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, 2)
	if _, err := f.pool.Exec(context.Background(), `
		INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, payload) VALUES ($1, $2, $3, 'contact.created', '{}')`,
		uuid.New(), f.tenant, byName); err != nil {
		t.Fatal(err)
	}
	cfg := fast
	cfg.AllowPrivate = false
	if n, err := webhook.New(f.pool, cfg, quietLog()).DeliverDue(context.Background()); err != nil || n != 3 {
		t.Fatalf("DeliverDue = %d, %v; want 3, nil", n, err)
	}
	if got, _, _ := rc.snapshot(); len(got) != 0 {
		t.Errorf("the receiver on 127.0.0.1 got %d deliveries through the guard, want 0", len(got))
	}
	if n := f.count(t, `delivered_at IS NULL AND failed_at IS NULL AND last_status = 0 AND last_error = 'forbidden address' AND attempts = 1`); n != 3 {
		t.Errorf("%d rows recorded as refused (forbidden address, to retry), want 3", n)
	}
}
