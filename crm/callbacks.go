package crm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Callback states as stored.
const (
	CallbackScheduled = "scheduled" // waiting for its due time
	CallbackQueued    = "queued"    // an attempt's contact waits for or is with an agent
	CallbackDone      = "done"
	CallbackFailed    = "failed"
	CallbackCancelled = "cancelled"
)

// Outcomes an agent reports for a callback attempt.
const (
	OutcomeReached     = "reached"
	OutcomeNoAnswer    = "no_answer"
	OutcomeBusy        = "busy"
	OutcomeWrongNumber = "wrong_number"
)

// Callback defaults: what an automatic callback gets, and what a scheduled
// one gets when the caller leaves a field out.
const (
	DefaultCallbackWindow   = 24 * time.Hour   // deadline after due
	DefaultCallbackAttempts = 3                // attempts before it fails
	DefaultCallbackRetry    = 10 * time.Minute // wait after no answer or busy
	maxCallbackAttempts     = 20
	maxCallbackRetry        = 7 * 24 * time.Hour
)

// ErrNoPhone: the customer has no phone number to call back. It is an
// ErrInvalid.
var ErrNoPhone = fmt.Errorf("no phone number to call back: %w", ErrInvalid)

// Callback is an outbound call owed to a customer.
type Callback struct {
	ID              uuid.UUID  `json:"id"`
	OriginContactID *uuid.UUID `json:"origin_contact_id"`
	CustomerID      uuid.UUID  `json:"customer_id"`
	QueueID         uuid.UUID  `json:"queue_id"`
	Phone           string     `json:"phone"` // E.164; personal data: never log it
	Priority        int        `json:"priority"`
	DueAt           time.Time  `json:"due_at"`
	Deadline        time.Time  `json:"deadline"`
	Attempts        int        `json:"attempts"`
	MaxAttempts     int        `json:"max_attempts"`
	State           string     `json:"state"`
	ContactID       *uuid.UUID `json:"contact_id"` // the current or last attempt's contact
	LastOutcome     string     `json:"last_outcome"`
	CreatedBy       *uuid.UUID `json:"created_by"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

const callbackSelect = `
SELECT id, origin_contact_id, customer_id, queue_id, phone, priority, due_at, deadline, attempts, max_attempts,
       state, contact_id, last_outcome, created_by, created_at, updated_at
FROM callbacks`

func scanCallback(r pgx.CollectableRow) (Callback, error) {
	var c Callback
	err := r.Scan(&c.ID, &c.OriginContactID, &c.CustomerID, &c.QueueID, &c.Phone, &c.Priority, &c.DueAt, &c.Deadline,
		&c.Attempts, &c.MaxAttempts, &c.State, &c.ContactID, &c.LastOutcome, &c.CreatedBy, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

func oneCallback(ctx context.Context, q dbtx, what string, sql string, args ...any) (Callback, error) {
	rows, err := q.Query(ctx, callbackSelect+sql, args...)
	if err != nil {
		return Callback{}, fmt.Errorf("%s: %w", what, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCallback)
	if errors.Is(err, pgx.ErrNoRows) {
		return Callback{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	} else if err != nil {
		return Callback{}, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

// NewCallback is a callback to schedule.
type NewCallback struct {
	CustomerID, QueueID uuid.UUID
	// OriginContactID is the contact the callback answers; uuid.Nil: none
	// (an agent's own idea). Scheduling twice for one origin returns the
	// live callback the first call made.
	OriginContactID uuid.UUID
	// Phone in E.164; empty takes the customer's newest phone identity.
	Phone string
	// DueAt zero: now. Deadline zero: DueAt + DefaultCallbackWindow; it must
	// be after DueAt and in the future.
	DueAt, Deadline time.Time
	MaxAttempts     int // zero: DefaultCallbackAttempts
	Priority        int
	CreatedBy       uuid.UUID // the user scheduling it; uuid.Nil: the system
}

// ScheduleCallback stores a callback due at n.DueAt. Another tenant's (or a
// missing) customer, queue or origin contact is ErrNotFound; a customer
// without a phone when none is given is ErrNoPhone; bad times, numbers or
// attempt counts are ErrInvalid. When the origin already has a live
// callback (scheduled or queued), that one is returned and nothing changes.
func (s *Store) ScheduleCallback(ctx context.Context, tenant uuid.UUID, n NewCallback) (Callback, error) {
	var c Callback
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scheduleCallback(ctx, tx, tenant, n, time.Now())
		return err
	})
	if err != nil {
		return Callback{}, err
	}
	return c, nil
}

func scheduleCallback(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, n NewCallback, now time.Time) (Callback, error) {
	if n.DueAt.IsZero() {
		n.DueAt = now
	}
	if n.Deadline.IsZero() {
		n.Deadline = n.DueAt.Add(DefaultCallbackWindow)
	}
	if n.MaxAttempts == 0 {
		n.MaxAttempts = DefaultCallbackAttempts
	}
	switch {
	case n.CustomerID == uuid.Nil || n.QueueID == uuid.Nil:
		return Callback{}, fmt.Errorf("schedule callback: customer and queue are required: %w", ErrInvalid)
	case !n.Deadline.After(n.DueAt):
		return Callback{}, fmt.Errorf("schedule callback: deadline must be after the due time: %w", ErrInvalid)
	case !n.Deadline.After(now):
		return Callback{}, fmt.Errorf("schedule callback: deadline has passed: %w", ErrInvalid)
	case n.MaxAttempts < 1 || n.MaxAttempts > maxCallbackAttempts:
		return Callback{}, fmt.Errorf("schedule callback: max attempts must be 1 to %d: %w", maxCallbackAttempts, ErrInvalid)
	case n.Priority < -1000 || n.Priority > 1000:
		return Callback{}, fmt.Errorf("schedule callback: priority out of range: %w", ErrInvalid)
	}
	// Existence checks first, so that another tenant's ids are a clear 404
	// rather than whichever constraint PostgreSQL happens to check first.
	var live bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL)`,
		tenant, n.CustomerID).Scan(&live)
	if err != nil {
		return Callback{}, fmt.Errorf("schedule callback: %w", err)
	} else if !live {
		return Callback{}, fmt.Errorf("schedule callback: customer %s: %w", n.CustomerID, ErrNotFound)
	}
	if err := queueExists(ctx, tx, tenant, n.QueueID); err != nil {
		return Callback{}, fmt.Errorf("schedule callback: %w", err)
	}
	if n.OriginContactID != uuid.Nil {
		if err := contactExists(ctx, tx, tenant, n.OriginContactID); err != nil {
			return Callback{}, fmt.Errorf("schedule callback: origin: %w", err)
		}
	}
	if n.Phone == "" {
		p, err := customerPhone(ctx, tx, tenant, n.CustomerID)
		if err != nil {
			return Callback{}, fmt.Errorf("schedule callback: %w", err)
		}
		n.Phone = p
	} else if !strings.HasPrefix(n.Phone, "+") {
		return Callback{}, fmt.Errorf("schedule callback: phone number must be in E.164 (+country…): %w", ErrInvalid)
	} else if p, err := NormalizePhone(n.Phone, ""); err != nil || p != n.Phone {
		return Callback{}, fmt.Errorf("schedule callback: phone number is not a valid E.164 number: %w", ErrInvalid)
	}

	id := dbid.New()
	err = tx.QueryRow(ctx, `
		INSERT INTO callbacks (id, tenant_id, origin_contact_id, customer_id, queue_id, phone, priority,
		                       due_at, deadline, max_attempts, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (tenant_id, origin_contact_id)
		    WHERE origin_contact_id IS NOT NULL AND state IN ('scheduled', 'queued') DO NOTHING
		RETURNING id`,
		id, tenant, dbid.Null(n.OriginContactID), n.CustomerID, n.QueueID, n.Phone, n.Priority,
		n.DueAt, n.Deadline, n.MaxAttempts, dbid.Null(n.CreatedBy)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		// The origin has a live callback already: the customer is owed one
		// call, not two.
		return oneCallback(ctx, tx, "schedule callback: existing", `
			WHERE tenant_id = $1 AND origin_contact_id = $2 AND state IN ('scheduled', 'queued')`, tenant, n.OriginContactID)
	} else if err != nil {
		return Callback{}, mapWriteError("schedule callback", err)
	}
	if n.OriginContactID != uuid.Nil {
		if err := insertEvent(ctx, tx, tenant, n.OriginContactID, "callback_scheduled", uuid.Nil, n.CreatedBy,
			map[string]any{"callback_id": id}); err != nil {
			return Callback{}, err
		}
	}
	return oneCallback(ctx, tx, "schedule callback", ` WHERE tenant_id = $1 AND id = $2`, tenant, id)
}

// customerPhone is the customer's newest phone identity, or ErrNoPhone.
func customerPhone(ctx context.Context, q dbtx, tenant, customer uuid.UUID) (string, error) {
	var p string
	err := q.QueryRow(ctx, `
		SELECT value FROM customer_identities
		WHERE tenant_id = $1 AND customer_id = $2 AND kind = 'phone'
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenant, customer).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("customer %s: %w", customer, ErrNoPhone)
	} else if err != nil {
		return "", fmt.Errorf("phone of customer %s: %w", customer, err)
	}
	return p, nil
}

// autoCallback schedules a callback for an abandoned voice contact when its
// queue asks for one (queues.auto_callback): due now, for a day, three
// attempts, to the customer's phone. A contact without a known customer or
// a customer without a phone gets none. It runs in Abandon's transaction.
func autoCallback(ctx context.Context, tx pgx.Tx, tenant, contactID uuid.UUID) error {
	var customer *uuid.UUID
	var queue uuid.UUID
	var want bool
	err := tx.QueryRow(ctx, `
		SELECT c.customer_id, c.queue_id, c.channel = 'voice' AND c.direction = 'inbound' AND q.auto_callback
		FROM contacts c JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
		WHERE c.tenant_id = $1 AND c.id = $2`, tenant, contactID).Scan(&customer, &queue, &want)
	if err != nil {
		return fmt.Errorf("auto callback for %s: %w", contactID, err)
	}
	if !want || customer == nil {
		return nil
	}
	_, err = scheduleCallback(ctx, tx, tenant, NewCallback{CustomerID: *customer, QueueID: queue, OriginContactID: contactID}, time.Now())
	if errors.Is(err, ErrNoPhone) {
		return nil
	}
	return err
}

// AbandonToCallback is a queue's closed action "callback": in one
// transaction the queued contact is abandoned (reason "closed") and a
// callback to its customer's phone is scheduled, due at due (the queue's
// next opening), for DefaultCallbackWindow and DefaultCallbackAttempts. A
// contact without a known customer, or whose customer has no phone, is
// ErrNoPhone and stays queued, so the caller can fall back to another
// action. A contact no longer queued is ErrNotQueued.
func (s *Store) AbandonToCallback(ctx context.Context, tenant, contactID uuid.UUID, due time.Time) (Callback, error) {
	var c Callback
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var customer *uuid.UUID
		var queue uuid.UUID
		var state, direction string
		err := tx.QueryRow(ctx, `SELECT customer_id, queue_id, state, direction FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			tenant, contactID).Scan(&customer, &queue, &state, &direction)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("abandon to callback %s: %w", contactID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("abandon to callback %s: %w", contactID, err)
		}
		if state != StateQueued {
			return fmt.Errorf("abandon to callback %s: %w", contactID, ErrNotQueued)
		}
		if direction == "outbound" {
			// A callback that meets a closed queue waits for the opening;
			// turning it into another callback would loop.
			return fmt.Errorf("abandon to callback %s: it is a callback itself: %w", contactID, ErrInvalid)
		}
		if customer == nil {
			return fmt.Errorf("abandon to callback %s: customer unknown: %w", contactID, ErrNoPhone)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE contacts SET state = 'abandoned', closed_at = now(), updated_at = now()
			WHERE tenant_id = $1 AND id = $2`, tenant, contactID); err != nil {
			return fmt.Errorf("abandon to callback %s: %w", contactID, err)
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "abandoned", queue, uuid.Nil, map[string]any{"reason": "closed"}); err != nil {
			return err
		}
		c, err = scheduleCallback(ctx, tx, tenant, NewCallback{CustomerID: *customer, QueueID: queue, OriginContactID: contactID, DueAt: due}, time.Now())
		return err
	})
	if err != nil {
		return Callback{}, err
	}
	return c, nil
}

// StartedCallback is an attempt StartDueCallbacks began: a queued outbound
// voice contact routing must hear of.
type StartedCallback struct {
	CallbackID, TenantID, ContactID, QueueID uuid.UUID
	Priority                                 int
	ArrivedAt                                time.Time // the callback's due time: its age in the queue
	Attempt                                  int       // 1 for the first
}

// ExpiredCallback is a callback StartDueCallbacks failed because its
// deadline passed before another attempt could start.
type ExpiredCallback struct {
	CallbackID, TenantID uuid.UUID
	Attempts             int
}

// DueResult is what one StartDueCallbacks pass did.
type DueResult struct {
	Started []StartedCallback
	Expired []ExpiredCallback
	// Closed counts queued callbacks whose contact an agent closed without
	// reporting an outcome; they are done (last outcome "closed").
	Closed int
}

// StartDueCallbacks starts up to limit callbacks of any tenant that are due
// at now, each in a transaction of its own: the callback row is claimed
// with FOR UPDATE SKIP LOCKED, an outbound voice contact is queued in the
// callback's queue (arrived at the due time, so it keeps its age), the
// callback becomes queued with attempts+1, and the contact gets a
// 'callback_due' event. Concurrent callers on any number of nodes therefore
// start each attempt exactly once. Callbacks past their deadline fail
// (last outcome "expired", event 'callback_failed'). The caller announces
// the started contacts to routing; one it fails to tell is found by
// routing's sweep.
func (s *Store) StartDueCallbacks(ctx context.Context, now time.Time, limit int) (DueResult, error) {
	var res DueResult
	if limit <= 0 {
		return res, fmt.Errorf("start due callbacks: limit must be positive: %w", ErrInvalid)
	}
	var err error
	if res.Expired, err = s.expireCallbacks(ctx, now, limit); err != nil {
		return res, err
	}
	if res.Closed, err = s.closeAbandonedAttempts(ctx); err != nil {
		return res, err
	}
	for len(res.Started) < limit {
		started, ok, err := s.startOne(ctx, now)
		if err != nil {
			return res, err
		} else if !ok {
			break
		}
		res.Started = append(res.Started, started)
	}
	return res, nil
}

func (s *Store) startOne(ctx context.Context, now time.Time) (StartedCallback, bool, error) {
	var st StartedCallback
	found := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var customer uuid.UUID
		err := tx.QueryRow(ctx, `
			SELECT id, tenant_id, customer_id, queue_id, priority, due_at, attempts FROM callbacks
			WHERE state = 'scheduled' AND due_at <= $1 AND deadline > $1
			ORDER BY due_at, id LIMIT 1
			FOR UPDATE SKIP LOCKED`, now).Scan(&st.CallbackID, &st.TenantID, &customer, &st.QueueID, &st.Priority, &st.ArrivedAt, &st.Attempt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("claim due callback: %w", err)
		}
		found = true
		st.Attempt++
		st.ContactID = dbid.New()
		// Outbound contacts get no 'created' event: inbound service levels
		// count arrivals, and a call we place is not one.
		if _, err := tx.Exec(ctx, `
			INSERT INTO contacts (id, tenant_id, site_id, channel, direction, queue_id, customer_id, state,
			                      priority, subject, arrived_at, callback_id)
			SELECT $1, q.tenant_id, q.site_id, 'voice', 'outbound', q.id, $4, 'queued', $5, 'Callback', $6, $7
			FROM queues q WHERE q.tenant_id = $2 AND q.id = $3`,
			st.ContactID, st.TenantID, st.QueueID, customer, st.Priority, st.ArrivedAt, st.CallbackID); err != nil {
			return fmt.Errorf("start callback %s: contact: %w", st.CallbackID, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE callbacks SET state = 'queued', contact_id = $3, attempts = attempts + 1, updated_at = now()
			WHERE tenant_id = $1 AND id = $2`, st.TenantID, st.CallbackID, st.ContactID); err != nil {
			return fmt.Errorf("start callback %s: %w", st.CallbackID, err)
		}
		return insertEvent(ctx, tx, st.TenantID, st.ContactID, "callback_due", st.QueueID, uuid.Nil,
			map[string]any{"callback_id": st.CallbackID, "attempt": st.Attempt})
	})
	if err != nil {
		return StartedCallback{}, false, err
	}
	return st, found, nil
}

// expireCallbacks fails scheduled callbacks whose deadline has passed.
func (s *Store) expireCallbacks(ctx context.Context, now time.Time, limit int) ([]ExpiredCallback, error) {
	var out []ExpiredCallback
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE callbacks cb SET state = 'failed', last_outcome = 'expired', updated_at = now()
			FROM (SELECT id FROM callbacks
			      WHERE state = 'scheduled' AND due_at <= $1 AND deadline <= $1
			      ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
			WHERE cb.id = due.id
			RETURNING cb.id, cb.tenant_id, cb.attempts, cb.queue_id, COALESCE(cb.contact_id, cb.origin_contact_id)`, now, limit)
		if err != nil {
			return fmt.Errorf("expire callbacks: %w", err)
		}
		type expired struct {
			ExpiredCallback
			queue   uuid.UUID
			contact *uuid.UUID
		}
		es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (expired, error) {
			var e expired
			return e, r.Scan(&e.CallbackID, &e.TenantID, &e.Attempts, &e.queue, &e.contact)
		})
		if err != nil {
			return fmt.Errorf("expire callbacks: %w", err)
		}
		out = out[:0]
		for _, e := range es {
			out = append(out, e.ExpiredCallback)
			// The event goes on the last attempt's contact, or the origin;
			// a callback with neither has only its own row to say it failed.
			if e.contact == nil {
				continue
			}
			if err := insertEvent(ctx, tx, e.TenantID, *e.contact, "callback_failed", e.queue, uuid.Nil,
				map[string]any{"callback_id": e.CallbackID, "reason": "expired", "attempts": e.Attempts}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// closeAbandonedAttempts settles queued callbacks whose attempt's contact
// was closed (or abandoned) without CallbackOutcome: the agent ended the
// call some other way, so the callback is done rather than stuck.
func (s *Store) closeAbandonedAttempts(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE callbacks cb SET state = 'done', last_outcome = 'closed', updated_at = now()
		FROM contacts c
		WHERE cb.state = 'queued' AND c.tenant_id = cb.tenant_id AND c.id = cb.contact_id
		  AND c.state IN ('closed', 'abandoned')`)
	if err != nil {
		return 0, fmt.Errorf("settle closed callback attempts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// CallbackOutcome records how the agent's callback attempt went and ends
// the agent's contact the way Close does. reached: done. no_answer, busy:
// scheduled again at now+retryAfter (zero: DefaultCallbackRetry) while
// attempts remain and that is before the deadline, else failed.
// wrong_number: failed. The agent must hold the contact (else ErrNotHeld,
// also for another tenant's or a missing contact); a contact that is not a
// callback attempt is ErrNotFound. Repeating the same outcome after a
// failure between the two steps finishes the close; a different outcome
// for an attempt already settled is ErrInvalid. It returns the callback and
// the closed contact as Close returned it (with its WrapUpUntil).
func (s *Store) CallbackOutcome(ctx context.Context, tenant, agentID, contactID uuid.UUID, outcome string, retryAfter time.Duration) (Callback, Contact, error) {
	switch outcome {
	case OutcomeReached, OutcomeNoAnswer, OutcomeBusy, OutcomeWrongNumber:
	default:
		return Callback{}, Contact{}, fmt.Errorf("callback outcome: unknown outcome: %w", ErrInvalid)
	}
	if retryAfter == 0 {
		retryAfter = DefaultCallbackRetry
	}
	if retryAfter < time.Minute || retryAfter > maxCallbackRetry {
		return Callback{}, Contact{}, fmt.Errorf("callback outcome: retry after must be 1 minute to 7 days: %w", ErrInvalid)
	}
	var cb Callback
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Contact row first, as every writer of a contact does (lockHeld),
		// then the callback row.
		queue, err := lockHeld(ctx, tx, tenant, contactID, agentID)
		if err != nil {
			return fmt.Errorf("callback outcome on %s by %s: %w", contactID, agentID, err)
		}
		cb, err = oneCallback(ctx, tx, "callback outcome", `
			WHERE tenant_id = $1 AND id = (SELECT callback_id FROM contacts WHERE tenant_id = $1 AND id = $2)
			FOR UPDATE`, tenant, contactID)
		if err != nil {
			return err
		}
		if cb.State != CallbackQueued || cb.ContactID == nil || *cb.ContactID != contactID {
			if cb.LastOutcome == outcome && cb.ContactID != nil && *cb.ContactID == contactID {
				return nil // recorded before; only the close is left to do
			}
			return fmt.Errorf("callback outcome: attempt already settled: %w", ErrInvalid)
		}
		now := time.Now()
		next, due := CallbackDone, cb.DueAt
		switch outcome {
		case OutcomeNoAnswer, OutcomeBusy:
			due = now.Add(retryAfter)
			if cb.Attempts < cb.MaxAttempts && due.Before(cb.Deadline) {
				next = CallbackScheduled
			} else {
				next, due = CallbackFailed, cb.DueAt
			}
		case OutcomeWrongNumber:
			next = CallbackFailed
		}
		if _, err := tx.Exec(ctx, `
			UPDATE callbacks SET state = $3, last_outcome = $4, due_at = $5, updated_at = now()
			WHERE tenant_id = $1 AND id = $2`, tenant, cb.ID, next, outcome, due); err != nil {
			return fmt.Errorf("callback outcome %s: %w", cb.ID, err)
		}
		data := map[string]any{"callback_id": cb.ID, "outcome": outcome, "attempt": cb.Attempts, "next": next}
		if next == CallbackScheduled {
			data["due_at"] = due
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "callback_outcome", queue, agentID, data); err != nil {
			return err
		}
		cb.State, cb.LastOutcome, cb.DueAt = next, outcome, due
		return nil
	})
	if err != nil {
		return Callback{}, Contact{}, err
	}
	// The contact ends exactly as a close ends it; the note says how.
	ct, err := s.Close(ctx, tenant, agentID, contactID, "Callback: "+strings.ReplaceAll(outcome, "_", " "))
	if err != nil {
		return Callback{}, Contact{}, fmt.Errorf("callback outcome: close %s: %w", contactID, err)
	}
	cb, err = s.Callback(ctx, tenant, cb.ID)
	if err != nil {
		return Callback{}, Contact{}, err
	}
	return cb, ct, nil
}

// Callback returns one callback of tenant.
func (s *Store) Callback(ctx context.Context, tenant, id uuid.UUID) (Callback, error) {
	return oneCallback(ctx, s.pool, "callback "+id.String(), ` WHERE tenant_id = $1 AND id = $2`, tenant, id)
}

// CallbackOfContact returns the callback a contact is an attempt of, or
// ErrNotFound when it is none's.
func (s *Store) CallbackOfContact(ctx context.Context, tenant, contactID uuid.UUID) (Callback, error) {
	return oneCallback(ctx, s.pool, "callback of contact "+contactID.String(), `
		WHERE tenant_id = $1 AND id = (SELECT callback_id FROM contacts WHERE tenant_id = $1 AND id = $2)`, tenant, contactID)
}

// Callbacks lists the tenant's callbacks in state (all states when empty),
// soonest due first, at most limit (1 to 500).
func (s *Store) Callbacks(ctx context.Context, tenant uuid.UUID, state string, limit int) ([]Callback, error) {
	switch state {
	case "", CallbackScheduled, CallbackQueued, CallbackDone, CallbackFailed, CallbackCancelled:
	default:
		return nil, fmt.Errorf("callbacks: unknown state: %w", ErrInvalid)
	}
	if limit < 1 || limit > 500 {
		return nil, fmt.Errorf("callbacks: limit must be 1 to 500: %w", ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, callbackSelect+`
		WHERE tenant_id = $1 AND ($2 = '' OR state = $2)
		ORDER BY due_at, id LIMIT $3`, tenant, state, limit)
	if err != nil {
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	cs, err := pgx.CollectRows(rows, scanCallback)
	if err != nil {
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	return cs, nil
}

// Unreturned counts, per queue, the callbacks owed for missed contacts
// (an origin) that no agent has made yet: the wallboard's "missed, not
// called back".
func (s *Store) Unreturned(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT queue_id, count(*) FROM callbacks
		WHERE tenant_id = $1 AND state IN ('scheduled', 'queued') AND origin_contact_id IS NOT NULL
		GROUP BY queue_id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("unreturned callbacks: %w", err)
	}
	out := map[uuid.UUID]int{}
	for rows.Next() {
		var q uuid.UUID
		var n int
		if err := rows.Scan(&q, &n); err != nil {
			return nil, fmt.Errorf("unreturned callbacks: %w", err)
		}
		out[q] = n
	}
	return out, rows.Err()
}
