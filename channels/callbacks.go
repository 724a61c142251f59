package channels

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// DueCallbacks starts the callbacks whose time has come, across tenants,
// each attempt exactly once however many callers run. crm.Store implements it.
type DueCallbacks interface {
	StartDueCallbacks(ctx context.Context, now time.Time, limit int) (crm.DueResult, error)
}

// CallbackScheduler turns due callbacks into queued outbound voice contacts
// and tells routing of each. Every node runs one: the claim in
// StartDueCallbacks (FOR UPDATE SKIP LOCKED, then the state change) makes
// them share the work without ever starting an attempt twice, and the due
// times live in PostgreSQL, so a restart loses none.
type CallbackScheduler struct {
	store    DueCallbacks
	queue    Enqueuer
	log      *slog.Logger
	interval time.Duration
	batch    int
	now      func() time.Time
}

// NewCallbackScheduler returns a scheduler that looks for due callbacks
// every interval (zero: one second).
func NewCallbackScheduler(store DueCallbacks, q Enqueuer, interval time.Duration, log *slog.Logger) *CallbackScheduler {
	if interval <= 0 {
		interval = time.Second
	}
	return &CallbackScheduler{store: store, queue: q, log: log, interval: interval, batch: 50, now: time.Now}
}

// Run polls until ctx ends. A failing pass is logged and retried at the
// next tick: a database that is briefly away must not stop the server.
func (s *CallbackScheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick starts every callback due now, batch by batch, and returns how many
// it started.
func (s *CallbackScheduler) Tick(ctx context.Context) int {
	started := 0
	for ctx.Err() == nil {
		res, err := s.store.StartDueCallbacks(ctx, s.now(), s.batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "start due callbacks", "err", err)
			}
			return started
		}
		for _, e := range res.Expired {
			s.log.InfoContext(ctx, "callback expired", "tenant_id", e.TenantID, "callback_id", e.CallbackID, "attempts", e.Attempts)
		}
		if res.Closed > 0 {
			s.log.InfoContext(ctx, "callbacks closed without an outcome settled as done", "count", res.Closed)
		}
		for _, c := range res.Started {
			s.announce(ctx, c)
		}
		started += len(res.Started)
		if len(res.Started) < s.batch {
			return started
		}
	}
	return started
}

// announce tells routing of a started attempt. The contact is committed as
// queued already, so a failure only delays it until routing's next sweep.
func (s *CallbackScheduler) announce(ctx context.Context, c crm.StartedCallback) {
	s.log.InfoContext(ctx, "callback started", "tenant_id", c.TenantID, "callback_id", c.CallbackID,
		"contact_id", c.ContactID, "attempt", c.Attempt)
	t := routing.Task{ContactID: c.ContactID, QueueID: c.QueueID, Channel: org.Voice, Priority: c.Priority, ArrivedAt: c.ArrivedAt}
	if err := s.queue.Enqueue(ctx, c.TenantID, t); err != nil {
		s.log.WarnContext(ctx, "enqueue callback failed; the routing sweep will pick the contact up",
			"tenant_id", c.TenantID, "contact_id", c.ContactID, "err", err)
	}
}
