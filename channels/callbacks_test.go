package channels_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// recorder is a hand-written Enqueuer that remembers what it was told.
type recorder struct {
	mu    sync.Mutex
	tasks map[uuid.UUID][]routing.Task // by tenant
	fail  bool
}

func (r *recorder) Enqueue(_ context.Context, tenant uuid.UUID, t routing.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tasks == nil {
		r.tasks = map[uuid.UUID][]routing.Task{}
	}
	r.tasks[tenant] = append(r.tasks[tenant], t)
	if r.fail {
		return errors.New("routing unreachable")
	}
	return nil
}

func (r *recorder) all() []routing.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []routing.Task
	for _, ts := range r.tasks {
		out = append(out, ts...)
	}
	return out
}

type fixture struct {
	store           *crm.Store
	tenant, queue   uuid.UUID
	customer        uuid.UUID
	countOutbound   func() int
	countByCallback func(uuid.UUID) int
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	orgs, people := org.NewStore(pool), crm.NewStore(pool)
	tn, err := orgs.CreateTenant(ctx, "Callback Group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	q, err := orgs.CreateQueue(ctx, org.Queue{TenantID: tn.ID, Name: "Service"})
	if err != nil {
		t.Fatal(err)
	}
	// A synthetic CN mobile number.
	cust, err := people.CreateCustomer(ctx, tn.ID, crm.NewCustomer{Name: "Caller", Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+8613912345678"}}})
	if err != nil {
		t.Fatal(err)
	}
	count := func(sql string, args ...any) int {
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	return fixture{store: people, tenant: tn.ID, queue: q.ID, customer: cust,
		countOutbound:   func() int { return count(`SELECT count(*) FROM contacts WHERE direction = 'outbound'`) },
		countByCallback: func(id uuid.UUID) int { return count(`SELECT count(*) FROM contacts WHERE callback_id = $1`, id) },
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSchedulerAnnouncesDueCallbacks(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	due := time.Now().Add(-time.Second)
	cb, err := f.store.ScheduleCallback(ctx, f.tenant, crm.NewCallback{CustomerID: f.customer, QueueID: f.queue, DueAt: due, Priority: 2})
	if err != nil {
		t.Fatal(err)
	}
	later, err := f.store.ScheduleCallback(ctx, f.tenant, crm.NewCallback{CustomerID: f.customer, QueueID: f.queue, DueAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := channels.NewCallbackScheduler(f.store, rec, 20*time.Millisecond, quiet())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a few more ticks: nothing more may start
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	tasks := rec.tasks[f.tenant]
	if len(tasks) != 1 {
		t.Fatalf("announced %d tasks, want 1: %+v", len(tasks), tasks)
	}
	got, err := f.store.Callback(ctx, f.tenant, cb.ID)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[0]
	if got.ContactID == nil || task.ContactID != *got.ContactID || task.QueueID != f.queue || task.Channel != org.Voice ||
		task.Priority != 2 || !task.ArrivedAt.Equal(cb.DueAt) {
		t.Errorf("task = %+v, want the callback's contact %v in queue %s, voice, priority 2, arrived at %s", task, got.ContactID, f.queue, cb.DueAt)
	}
	if l, _ := f.store.Callback(ctx, f.tenant, later.ID); l.State != crm.CallbackScheduled {
		t.Errorf("callback due in an hour = %s, want scheduled", l.State)
	}
}

// TestSchedulersOnManyNodesStartEachCallbackOnce: three schedulers (three
// nodes) poll the same database; every callback is started and announced
// exactly once, even with routing unreachable (the contact stays queued for
// routing's sweep and the callback is not started again).
func TestSchedulersOnManyNodesStartEachCallbackOnce(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 30
	ids := make([]uuid.UUID, n)
	for i := range n {
		cb, err := f.store.ScheduleCallback(ctx, f.tenant, crm.NewCallback{CustomerID: f.customer, QueueID: f.queue, DueAt: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = cb.ID
	}
	recs := []*recorder{{}, {}, {fail: true}}
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	for _, r := range recs {
		s := channels.NewCallbackScheduler(f.store, r, 5*time.Millisecond, quiet())
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(runCtx) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.countOutbound() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	wg.Wait()
	seen := map[uuid.UUID]int{}
	for _, r := range recs {
		for _, task := range r.all() {
			seen[task.ContactID]++
		}
	}
	if len(seen) != n {
		t.Errorf("announced %d distinct contacts, want %d", len(seen), n)
	}
	for c, k := range seen {
		if k != 1 {
			t.Errorf("contact %s announced %d times", c, k)
		}
	}
	for _, id := range ids {
		if k := f.countByCallback(id); k != 1 {
			t.Errorf("callback %s has %d contacts, want 1", id, k)
		}
	}
}
