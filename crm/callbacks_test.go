package crm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// Synthetic numbers in the CN mobile range; not anyone's.
const (
	callerPhone = "+8613912345678"
	otherPhone  = "+8613700001111"
)

// call is an inbound voice call from phone waiting in o's queue.
func (b bundle) call(t *testing.T, o tenantOrg, key, phone string) crm.InboundResult {
	t.Helper()
	return b.record(t, crm.Inbound{
		TenantID: o.ID, SiteID: o.SiteID, QueueID: o.QueueID, Channel: org.Voice,
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: phone}}, Name: "Caller",
		Body: "(call)", IdempotencyKey: key,
	})
}

func (b bundle) schedule(t *testing.T, o tenantOrg, n crm.NewCallback) crm.Callback {
	t.Helper()
	c, err := b.store.ScheduleCallback(context.Background(), o.ID, n)
	if err != nil {
		t.Fatalf("ScheduleCallback(%+v) = %v", n, err)
	}
	return c
}

func (b bundle) startDue(t *testing.T, now time.Time, limit int) crm.DueResult {
	t.Helper()
	res, err := b.store.StartDueCallbacks(context.Background(), now, limit)
	if err != nil {
		t.Fatalf("StartDueCallbacks(%s) = %v", now, err)
	}
	return res
}

func TestScheduleCallbackValidates(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	origin := b.call(t, b.a, "call-1", callerPhone)
	mail := b.record(t, inbound(b.a, "mail-1", "no.phone@example.cn")) // a customer without a phone
	otherCall := b.call(t, b.b, "call-b", otherPhone)
	now := time.Now()
	good := crm.NewCallback{CustomerID: origin.CustomerID, QueueID: b.a.QueueID, DueAt: now.Add(time.Hour), Deadline: now.Add(3 * time.Hour)}
	with := func(f func(*crm.NewCallback)) crm.NewCallback { n := good; f(&n); return n }

	for _, tc := range []struct {
		name string
		n    crm.NewCallback
		want error
	}{
		{"missing customer", with(func(n *crm.NewCallback) { n.CustomerID = uuid.New() }), crm.ErrNotFound},
		{"no customer at all", with(func(n *crm.NewCallback) { n.CustomerID = uuid.Nil }), crm.ErrInvalid},
		{"another tenant's customer", with(func(n *crm.NewCallback) { n.CustomerID = otherCall.CustomerID }), crm.ErrNotFound},
		{"another tenant's queue", with(func(n *crm.NewCallback) { n.QueueID = b.b.QueueID }), crm.ErrNotFound},
		{"another tenant's origin", with(func(n *crm.NewCallback) { n.OriginContactID = otherCall.ContactID }), crm.ErrNotFound},
		{"deadline before due", with(func(n *crm.NewCallback) { n.Deadline = n.DueAt.Add(-time.Minute) }), crm.ErrInvalid},
		{"deadline equal to due", with(func(n *crm.NewCallback) { n.Deadline = n.DueAt }), crm.ErrInvalid},
		{"deadline passed", with(func(n *crm.NewCallback) { n.DueAt, n.Deadline = now.Add(-2*time.Hour), now.Add(-time.Hour) }), crm.ErrInvalid},
		{"national number", with(func(n *crm.NewCallback) { n.Phone = "13912345678" }), crm.ErrInvalid},
		{"spaced number", with(func(n *crm.NewCallback) { n.Phone = "+86 139 1234 5678" }), crm.ErrInvalid},
		{"invalid number", with(func(n *crm.NewCallback) { n.Phone = "+86123" }), crm.ErrInvalid},
		{"too many attempts", with(func(n *crm.NewCallback) { n.MaxAttempts = 21 }), crm.ErrInvalid},
		{"negative attempts", with(func(n *crm.NewCallback) { n.MaxAttempts = -1 }), crm.ErrInvalid},
		{"customer without a phone", with(func(n *crm.NewCallback) { n.CustomerID = mail.CustomerID }), crm.ErrNoPhone},
	} {
		if _, err := b.store.ScheduleCallback(ctx, b.a.ID, tc.n); !errors.Is(err, tc.want) {
			t.Errorf("%s: ScheduleCallback = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM callbacks`); n != 0 {
		t.Fatalf("refused schedules left %d callbacks", n)
	}

	// The phone defaults to the customer's; attempts to three.
	c := b.schedule(t, b.a, good)
	if c.Phone != callerPhone || c.MaxAttempts != crm.DefaultCallbackAttempts || c.State != crm.CallbackScheduled || c.Attempts != 0 {
		t.Errorf("scheduled = phone %q max %d state %s attempts %d, want %s 3 scheduled 0", c.Phone, c.MaxAttempts, c.State, c.Attempts, callerPhone)
	}
	if !c.DueAt.Equal(good.DueAt.Truncate(time.Microsecond)) || c.OriginContactID != nil {
		t.Errorf("scheduled due %s origin %v, want %s and none", c.DueAt, c.OriginContactID, good.DueAt)
	}
	// An explicit number is kept as given.
	if c := b.schedule(t, b.a, with(func(n *crm.NewCallback) { n.Phone = otherPhone })); c.Phone != otherPhone {
		t.Errorf("explicit phone = %q, want %q", c.Phone, otherPhone)
	}

	// Per origin, scheduling is idempotent: the same callback, one event.
	withOrigin := with(func(n *crm.NewCallback) { n.OriginContactID = origin.ContactID })
	first := b.schedule(t, b.a, withOrigin)
	again := b.schedule(t, b.a, with(func(n *crm.NewCallback) {
		n.OriginContactID, n.DueAt = origin.ContactID, now.Add(2*time.Hour)
	}))
	if again.ID != first.ID || !again.DueAt.Equal(first.DueAt) {
		t.Errorf("second schedule for one origin = %s due %s, want the first %s due %s", again.ID, again.DueAt, first.ID, first.DueAt)
	}
	if n := b.count(t, `SELECT count(*) FROM callbacks WHERE origin_contact_id = $1`, origin.ContactID); n != 1 {
		t.Errorf("callbacks for the origin = %d, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'callback_scheduled'`, origin.ContactID); n != 1 {
		t.Errorf("callback_scheduled events = %d, want 1", n)
	}
	// Concurrent first schedules for one origin still make one.
	origin2 := b.call(t, b.a, "call-2", callerPhone)
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := b.store.ScheduleCallback(ctx, b.a.ID, crm.NewCallback{CustomerID: origin2.CustomerID, QueueID: b.a.QueueID, OriginContactID: origin2.ContactID})
			ids[i], errs[i] = c.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("concurrent schedule %d = %s, %v, want %s", i, ids[i], errs[i], ids[0])
		}
	}
}

func TestStartDueCallbacks(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	origin := b.call(t, b.a, "call-1", callerPhone)
	if err := b.store.Abandon(ctx, b.a.ID, origin.ContactID, "hung_up"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	due := b.schedule(t, b.a, crm.NewCallback{CustomerID: origin.CustomerID, QueueID: b.a.QueueID, OriginContactID: origin.ContactID,
		DueAt: now.Add(-time.Minute), Deadline: now.Add(2 * time.Hour), Priority: 5})
	later := b.schedule(t, b.a, crm.NewCallback{CustomerID: origin.CustomerID, QueueID: b.a.QueueID, DueAt: now.Add(time.Hour)})
	origin2 := b.call(t, b.a, "call-2", callerPhone)
	expiring := b.schedule(t, b.a, crm.NewCallback{CustomerID: origin.CustomerID, QueueID: b.a.QueueID, OriginContactID: origin2.ContactID,
		DueAt: now, Deadline: now.Add(5 * time.Minute)})
	// Tenant B's due callback is started by the same pass: the scheduler
	// serves every tenant.
	bCall := b.call(t, b.b, "call-b", otherPhone)
	bDue := b.schedule(t, b.b, crm.NewCallback{CustomerID: bCall.CustomerID, QueueID: b.b.QueueID, DueAt: now.Add(-time.Second)})

	at := now.Add(10 * time.Minute)
	res := b.startDue(t, at, 10)
	if len(res.Started) != 2 || len(res.Expired) != 1 || res.Expired[0].CallbackID != expiring.ID {
		t.Fatalf("StartDueCallbacks = %+v, want 2 started (A's and B's due ones) and %s expired", res, expiring.ID)
	}
	var st crm.StartedCallback
	for _, s := range res.Started {
		switch s.CallbackID {
		case due.ID:
			st = s
		case bDue.ID:
			if s.TenantID != b.b.ID {
				t.Errorf("B's callback started under tenant %s", s.TenantID)
			}
		default:
			t.Errorf("started %s, which was not due", s.CallbackID)
		}
	}
	if st.TenantID != b.a.ID || st.QueueID != b.a.QueueID || st.Attempt != 1 || st.Priority != 5 || !st.ArrivedAt.Equal(due.DueAt) {
		t.Errorf("started = %+v, want tenant A, queue %s, attempt 1, priority 5, arrived at the due time %s", st, b.a.QueueID, due.DueAt)
	}
	c, err := b.store.Contact(ctx, b.a.ID, st.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Channel != org.Voice || c.State != crm.StateQueued || c.CustomerID == nil || *c.CustomerID != origin.CustomerID || !c.ArrivedAt.Equal(due.DueAt) || c.Priority != 5 {
		t.Errorf("callback contact = %+v, want a queued voice contact of the customer arrived at %s, priority 5", c, due.DueAt)
	}
	var direction string
	var cbOfContact uuid.UUID
	if err := b.pool.QueryRow(ctx, `SELECT direction, callback_id FROM contacts WHERE id = $1`, st.ContactID).Scan(&direction, &cbOfContact); err != nil || direction != "outbound" || cbOfContact != due.ID {
		t.Errorf("contact direction %q callback %s (%v), want outbound, %s", direction, cbOfContact, err, due.ID)
	}
	got, err := b.store.Callback(ctx, b.a.ID, due.ID)
	if err != nil || got.State != crm.CallbackQueued || got.Attempts != 1 || got.ContactID == nil || *got.ContactID != st.ContactID {
		t.Errorf("callback after start = %+v, %v, want queued, 1 attempt, contact %s", got, err, st.ContactID)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'callback_due' AND data->>'callback_id' = $2`, st.ContactID, due.ID.String()); n != 1 {
		t.Errorf("callback_due events = %d, want 1", n)
	}
	// An outbound call is not an arrival: no 'created' event for statistics.
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'created'`, st.ContactID); n != 0 {
		t.Errorf("created events on the callback contact = %d, want 0", n)
	}
	// Routing's sweep sees it like any waiting contact.
	qs, err := b.store.Queued(ctx, b.a.ID)
	if err != nil || len(qs) != 2 { // the callback and origin2, still waiting
		t.Errorf("Queued = %+v, %v, want the callback contact and the second call", qs, err)
	}
	// The origin stays abandoned.
	if c, _ := b.store.Contact(ctx, b.a.ID, origin.ContactID); c.State != crm.StateAbandoned {
		t.Errorf("origin state = %s, want abandoned", c.State)
	}
	exp, _ := b.store.Callback(ctx, b.a.ID, expiring.ID)
	if exp.State != crm.CallbackFailed || exp.LastOutcome != "expired" || exp.Attempts != 0 {
		t.Errorf("expired callback = %s/%s attempts %d, want failed/expired 0", exp.State, exp.LastOutcome, exp.Attempts)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'callback_failed'`, origin2.ContactID); n != 1 {
		t.Errorf("callback_failed events on the origin = %d, want 1", n)
	}
	if l, _ := b.store.Callback(ctx, b.a.ID, later.ID); l.State != crm.CallbackScheduled {
		t.Errorf("callback due later = %s, want still scheduled", l.State)
	}

	// A second pass starts nothing again.
	if res := b.startDue(t, at, 10); len(res.Started) != 0 || len(res.Expired) != 0 {
		t.Errorf("second pass = %+v, want nothing", res)
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE callback_id IS NOT NULL`); n != 2 {
		t.Errorf("callback contacts = %d, want 2", n)
	}
	if _, err := b.store.StartDueCallbacks(ctx, at, 0); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("StartDueCallbacks(limit 0) = %v, want ErrInvalid", err)
	}
}

// TestStartDueCallbacksExactlyOnceAcrossSchedulers: several schedulers
// (nodes) at once start every due callback exactly once.
func TestStartDueCallbacksExactlyOnceAcrossSchedulers(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	caller := b.call(t, b.a, "call-1", callerPhone)
	now := time.Now()
	const n = 24
	for i := range n {
		b.schedule(t, b.a, crm.NewCallback{CustomerID: caller.CustomerID, QueueID: b.a.QueueID, DueAt: now.Add(-time.Duration(i) * time.Second)})
	}
	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := b.store.StartDueCallbacks(ctx, now, 3)
				if err != nil {
					t.Errorf("StartDueCallbacks = %v", err)
					return
				}
				mu.Lock()
				for _, s := range res.Started {
					seen[s.CallbackID]++
				}
				mu.Unlock()
				if len(res.Started) == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("started %d distinct callbacks, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("callback %s started %d times", id, k)
		}
	}
	if got := b.count(t, `SELECT count(*) FROM contacts WHERE direction = 'outbound'`); got != n {
		t.Errorf("outbound contacts = %d, want %d", got, n)
	}
	if got := b.count(t, `SELECT count(*) FROM callbacks WHERE state = 'queued' AND attempts = 1`); got != n {
		t.Errorf("queued callbacks with one attempt = %d, want %d", got, n)
	}
}

func TestCallbackOutcome(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	origin := b.call(t, b.a, "call-1", callerPhone)
	cb, err := b.store.AbandonToCallback(ctx, b.a.ID, origin.ContactID, time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// attempt starts the callback's next attempt and gives it to agent.
	attempt := func(at time.Time, agent uuid.UUID) uuid.UUID {
		t.Helper()
		res := b.startDue(t, at, 10)
		if len(res.Started) != 1 || res.Started[0].CallbackID != cb.ID {
			t.Fatalf("StartDueCallbacks(%s) = %+v, want callback %s", at, res, cb.ID)
		}
		b.assign(t, b.a, res.Started[0].ContactID, agent)
		return res.Started[0].ContactID
	}
	contact := attempt(time.Now(), b.a.Agent)

	// Refusals change nothing.
	for _, tc := range []struct {
		name          string
		tenant, agent uuid.UUID
		contact       uuid.UUID
		outcome       string
		retry         time.Duration
		want          error
	}{
		{"agent not holding it", b.a.ID, b.a.Agent2, contact, crm.OutcomeNoAnswer, 0, crm.ErrNotHeld},
		{"another tenant", b.b.ID, b.b.Agent, contact, crm.OutcomeNoAnswer, 0, crm.ErrNotHeld},
		{"A's agent under another tenant", b.b.ID, b.a.Agent, contact, crm.OutcomeNoAnswer, 0, crm.ErrNotHeld},
		{"missing contact", b.a.ID, b.a.Agent, uuid.New(), crm.OutcomeNoAnswer, 0, crm.ErrNotHeld},
		{"unknown outcome", b.a.ID, b.a.Agent, contact, "voicemail", 0, crm.ErrInvalid},
		{"retry too soon", b.a.ID, b.a.Agent, contact, crm.OutcomeBusy, time.Second, crm.ErrInvalid},
	} {
		if _, _, err := b.store.CallbackOutcome(ctx, tc.tenant, tc.agent, tc.contact, tc.outcome, tc.retry); !errors.Is(err, tc.want) {
			t.Errorf("%s: CallbackOutcome = %v, want %v", tc.name, err, tc.want)
		}
	}
	if c, _ := b.store.Callback(ctx, b.a.ID, cb.ID); c.State != crm.CallbackQueued || c.LastOutcome != "" {
		t.Fatalf("callback after refusals = %s/%q, want queued with no outcome", c.State, c.LastOutcome)
	}

	// No answer: rescheduled after the retry delay; the contact closes as
	// Close closes it.
	before := time.Now()
	got, closed, err := b.store.CallbackOutcome(ctx, b.a.ID, b.a.Agent, contact, crm.OutcomeNoAnswer, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != crm.CallbackScheduled || got.Attempts != 1 || got.LastOutcome != crm.OutcomeNoAnswer ||
		got.DueAt.Before(before.Add(15*time.Minute).Truncate(time.Microsecond)) || got.DueAt.After(time.Now().Add(15*time.Minute)) {
		t.Errorf("after no answer = %s attempts %d outcome %s due %s, want scheduled, 1, no_answer, due in 15 minutes", got.State, got.Attempts, got.LastOutcome, got.DueAt)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, contact); c.State != crm.StateClosed || c.WrapUp != "Callback: no answer" {
		t.Errorf("attempt contact = %s %q, want closed with the outcome as note", c.State, c.WrapUp)
	}
	if closed.ID != contact || closed.State != crm.StateClosed || closed.WrapUpUntil == nil {
		t.Errorf("returned contact = %s %s wrap-up until %v, want %s closed in its queue's wrap-up", closed.ID, closed.State, closed.WrapUpUntil, contact)
	}
	// Close's own rules apply: the agent's assignment is in (or past) wrap-up.
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND wrap_up_at IS NOT NULL`, contact); n != 1 {
		t.Errorf("assignments in or past wrap-up = %d, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'callback_outcome' AND data->>'outcome' = 'no_answer'`, contact); n != 1 {
		t.Errorf("callback_outcome events = %d, want 1", n)
	}
	// Holding it no more, the agent cannot report again.
	if _, _, err := b.store.CallbackOutcome(ctx, b.a.ID, b.a.Agent, contact, crm.OutcomeReached, 0); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("outcome on a closed attempt = %v, want ErrNotHeld", err)
	}
	// Not due before its new time.
	if res := b.startDue(t, time.Now(), 10); len(res.Started) != 0 {
		t.Errorf("started %+v before the retry time", res.Started)
	}

	// Busy on the second attempt, no answer on the third: out of attempts.
	contact2 := attempt(got.DueAt, b.a.Agent2)
	if got, _, err = b.store.CallbackOutcome(ctx, b.a.ID, b.a.Agent2, contact2, crm.OutcomeBusy, time.Minute); err != nil || got.State != crm.CallbackScheduled || got.Attempts != 2 {
		t.Fatalf("busy on attempt 2 = %+v, %v, want scheduled with 2 attempts", got, err)
	}
	contact3 := attempt(got.DueAt, b.a.Agent)
	if got, _, err = b.store.CallbackOutcome(ctx, b.a.ID, b.a.Agent, contact3, crm.OutcomeNoAnswer, time.Minute); err != nil || got.State != crm.CallbackFailed || got.Attempts != 3 {
		t.Fatalf("no answer on the last attempt = %+v, %v, want failed after 3", got, err)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, origin.ContactID); c.State != crm.StateAbandoned {
		t.Errorf("origin = %s, want still abandoned", c.State)
	}

	// Reached: done. Wrong number: failed at once. A retry past the
	// deadline: failed. A held contact that is no callback: not found.
	for _, tc := range []struct {
		outcome  string
		deadline time.Duration
		want     string
	}{
		{crm.OutcomeReached, time.Hour, crm.CallbackDone},
		{crm.OutcomeWrongNumber, time.Hour, crm.CallbackFailed},
		{crm.OutcomeBusy, 5 * time.Minute, crm.CallbackFailed}, // retry in 10 minutes is after the deadline
	} {
		c := b.schedule(t, b.a, crm.NewCallback{CustomerID: origin.CustomerID, QueueID: b.a.QueueID, DueAt: time.Now().Add(-time.Second), Deadline: time.Now().Add(tc.deadline)})
		cb = c
		k := attempt(time.Now(), b.a.Agent)
		got, _, err := b.store.CallbackOutcome(ctx, b.a.ID, b.a.Agent, k, tc.outcome, 0)
		if err != nil || got.State != tc.want || got.LastOutcome != tc.outcome {
			t.Errorf("%s: = %s/%s, %v, want %s", tc.outcome, got.State, got.LastOutcome, err, tc.want)
		}
	}
	chat := b.record(t, inbound(b.a, "mail-9", "someone@example.cn"))
	b.assign(t, b.a, chat.ContactID, b.a.Agent)
	if _, _, err := b.store.CallbackOutcome(ctx, b.a.ID, b.a.Agent, chat.ContactID, crm.OutcomeReached, 0); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("outcome on a contact that is no callback = %v, want ErrNotFound", err)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, chat.ContactID); c.State != crm.StateActive {
		t.Errorf("that contact = %s, want still active", c.State)
	}
}

func TestAbandonToCallback(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	call := b.call(t, b.a, "call-1", callerPhone)
	due := time.Now().Add(8 * time.Hour).Truncate(time.Microsecond)
	cb, err := b.store.AbandonToCallback(ctx, b.a.ID, call.ContactID, due)
	if err != nil {
		t.Fatal(err)
	}
	if cb.State != crm.CallbackScheduled || cb.Phone != callerPhone || !cb.DueAt.Equal(due) || !cb.Deadline.Equal(due.Add(24*time.Hour)) ||
		cb.OriginContactID == nil || *cb.OriginContactID != call.ContactID || cb.CustomerID != call.CustomerID {
		t.Errorf("callback = %+v, want scheduled at %s to the caller's phone for a day, origin %s", cb, due, call.ContactID)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, call.ContactID); c.State != crm.StateAbandoned {
		t.Errorf("origin = %s, want abandoned", c.State)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'abandoned' AND data->>'reason' = 'closed'`, call.ContactID); n != 1 {
		t.Errorf("abandoned events with reason closed = %d, want 1", n)
	}
	if _, err := b.store.AbandonToCallback(ctx, b.a.ID, call.ContactID, due); !errors.Is(err, crm.ErrNotQueued) {
		t.Errorf("again = %v, want ErrNotQueued", err)
	}
	if _, err := b.store.AbandonToCallback(ctx, b.b.ID, call.ContactID, due); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("another tenant's contact = %v, want ErrNotFound", err)
	}
	// No phone to call: the contact stays queued, nothing is scheduled.
	mail := b.record(t, inbound(b.a, "mail-1", "no.phone@example.cn"))
	if _, err := b.store.AbandonToCallback(ctx, b.a.ID, mail.ContactID, due); !errors.Is(err, crm.ErrNoPhone) {
		t.Errorf("no phone = %v, want ErrNoPhone", err)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, mail.ContactID); c.State != crm.StateQueued {
		t.Errorf("contact without phone = %s, want still queued", c.State)
	}
	if n := b.count(t, `SELECT count(*) FROM callbacks`); n != 1 {
		t.Errorf("callbacks = %d, want 1", n)
	}
	// The callback's own attempt meeting a closed queue is not turned into
	// yet another callback: it waits.
	res := b.startDue(t, due, 10)
	if len(res.Started) != 1 {
		t.Fatalf("StartDueCallbacks = %+v, want the callback's attempt", res)
	}
	if _, err := b.store.AbandonToCallback(ctx, b.a.ID, res.Started[0].ContactID, due.Add(time.Hour)); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("a callback's own attempt = %v, want ErrInvalid", err)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, res.Started[0].ContactID); c.State != crm.StateQueued {
		t.Errorf("the attempt = %s, want still queued", c.State)
	}
}

// TestCallbackClosedWithoutOutcomeIsSettled: an agent who closes the
// attempt's contact the ordinary way leaves no callback stuck in 'queued'.
func TestCallbackClosedWithoutOutcomeIsSettled(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	call := b.call(t, b.a, "call-1", callerPhone)
	cb := b.schedule(t, b.a, crm.NewCallback{CustomerID: call.CustomerID, QueueID: b.a.QueueID, DueAt: time.Now().Add(-time.Second)})
	res := b.startDue(t, time.Now(), 10)
	b.assign(t, b.a, res.Started[0].ContactID, b.a.Agent)
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.Started[0].ContactID, ""); err != nil {
		t.Fatal(err)
	}
	if res := b.startDue(t, time.Now(), 10); res.Closed != 1 {
		t.Errorf("settled = %d, want 1", res.Closed)
	}
	if c, _ := b.store.Callback(ctx, b.a.ID, cb.ID); c.State != crm.CallbackDone || c.LastOutcome != "closed" {
		t.Errorf("callback = %s/%s, want done/closed", c.State, c.LastOutcome)
	}
	list, err := b.store.Callbacks(ctx, b.a.ID, crm.CallbackDone, 50)
	if err != nil || len(list) != 1 || list[0].ID != cb.ID {
		t.Errorf("Callbacks(done) = %+v, %v, want %s", list, err, cb.ID)
	}
	if list, err := b.store.Callbacks(ctx, b.b.ID, "", 50); err != nil || len(list) != 0 {
		t.Errorf("Callbacks of tenant B = %+v, %v, want none", list, err)
	}
	if _, err := b.store.Callbacks(ctx, b.a.ID, "sleeping", 50); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("Callbacks(unknown state) = %v, want ErrInvalid", err)
	}
	if _, err := b.store.CallbackOfContact(ctx, b.b.ID, res.Started[0].ContactID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("CallbackOfContact(tenant B) = %v, want ErrNotFound", err)
	}
}

// TestAutoCallbackOnAbandon: a queue with auto_callback owes every
// abandoned call with a known caller a callback, due now for a day with
// three attempts; chats, unknown callers and other queues get none.
func TestAutoCallbackOnAbandon(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	// Without auto_callback: nothing.
	plain := b.call(t, b.a, "call-0", callerPhone)
	if err := b.store.Abandon(ctx, b.a.ID, plain.ContactID, "hung_up"); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM callbacks`); n != 0 {
		t.Fatalf("callbacks without auto_callback = %d, want 0", n)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE queues SET auto_callback = true WHERE id = $1`, b.a.QueueID); err != nil {
		t.Fatal(err)
	}
	call := b.call(t, b.a, "call-1", callerPhone)
	before := time.Now()
	if err := b.store.Abandon(ctx, b.a.ID, call.ContactID, "hung_up"); err != nil {
		t.Fatal(err)
	}
	list, err := b.store.Callbacks(ctx, b.a.ID, crm.CallbackScheduled, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("Callbacks = %+v, %v, want one", list, err)
	}
	cb := list[0]
	if cb.OriginContactID == nil || *cb.OriginContactID != call.ContactID || cb.Phone != callerPhone || cb.MaxAttempts != 3 ||
		cb.CustomerID != call.CustomerID || cb.QueueID != b.a.QueueID || cb.CreatedBy != nil ||
		cb.DueAt.Before(before.Truncate(time.Microsecond)) || cb.DueAt.After(time.Now()) || cb.Deadline.Sub(cb.DueAt) != 24*time.Hour {
		t.Errorf("auto callback = %+v, want one to the caller due now for 24h, 3 attempts, origin %s", cb, call.ContactID)
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, call.ContactID); c.State != crm.StateAbandoned {
		t.Errorf("origin = %s, want abandoned", c.State)
	}
	// Abandoning again is refused and schedules nothing more.
	if err := b.store.Abandon(ctx, b.a.ID, call.ContactID, "hung_up"); !errors.Is(err, crm.ErrNotQueued) {
		t.Errorf("second Abandon = %v, want ErrNotQueued", err)
	}
	// A chat, and a call whose number several customers share (no single
	// customer to call), get none.
	chat := b.record(t, crm.Inbound{TenantID: b.a.ID, QueueID: b.a.QueueID, Channel: org.Chat,
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: otherPhone}}, Body: "hi", IdempotencyKey: "chat-1"})
	if err := b.store.Abandon(ctx, b.a.ID, chat.ContactID, "left"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+8613600002222"}}}); err != nil {
			t.Fatal(err)
		}
	}
	shared := b.call(t, b.a, "call-2", "+8613600002222")
	if shared.CustomerID != uuid.Nil {
		t.Fatalf("shared number resolved to one customer %s; the fixture needs candidates", shared.CustomerID)
	}
	if err := b.store.Abandon(ctx, b.a.ID, shared.ContactID, "hung_up"); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM callbacks`); n != 1 {
		t.Errorf("callbacks = %d, want only the first call's", n)
	}
}
