package crm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// FollowUp is one agent's task about a customer: call them back, remember
// something. Unlike a callback it is never routed.
type FollowUp struct {
	ID         uuid.UUID  `json:"id"`
	CustomerID uuid.UUID  `json:"customer_id"`
	ContactID  *uuid.UUID `json:"contact_id"`
	AssignedTo uuid.UUID  `json:"assigned_to"`
	Kind       string     `json:"kind"` // callback, reminder
	DueAt      time.Time  `json:"due_at"`
	DoneAt     *time.Time `json:"done_at"`
	Note       string     `json:"note"`
	CreatedBy  *uuid.UUID `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
}

// NewFollowUp is a follow-up to create. ContactID (uuid.Nil: none) must be
// a contact of the same customer.
type NewFollowUp struct {
	ContactID  uuid.UUID
	AssignedTo uuid.UUID
	Kind       string
	DueAt      time.Time
	Note       string
}

const followUpSelect = `
SELECT id, customer_id, contact_id, assigned_to, kind, due_at, done_at, note, created_by, created_at FROM follow_ups`

func scanFollowUp(r pgx.CollectableRow) (FollowUp, error) {
	var f FollowUp
	err := r.Scan(&f.ID, &f.CustomerID, &f.ContactID, &f.AssignedTo, &f.Kind, &f.DueAt, &f.DoneAt, &f.Note, &f.CreatedBy, &f.CreatedAt)
	return f, err
}

// CreateFollowUp adds a follow-up for customer, assigned to one of the
// tenant's agents; creator is the user who asked (uuid.Nil: a system).
func (s *Store) CreateFollowUp(ctx context.Context, tenant, customer, creator uuid.UUID, n NewFollowUp) (FollowUp, error) {
	if n.Kind != "callback" && n.Kind != "reminder" {
		return FollowUp{}, invalid("kind must be callback or reminder")
	}
	if n.DueAt.IsZero() {
		return FollowUp{}, invalid("due_at is required")
	}
	if n.AssignedTo == uuid.Nil {
		return FollowUp{}, invalid("assigned_to is required")
	}
	note, err := cleanText("note", n.Note, 4000)
	if err != nil {
		return FollowUp{}, err
	}
	var f FollowUp
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := customerRecord(ctx, tx, tenant, customer, false); err != nil {
			return err
		}
		if err := checkRef(ctx, tx, tenant, &n.AssignedTo, "agent", "assigned_to"); err != nil {
			return err
		}
		if n.ContactID != uuid.Nil {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2 AND customer_id = $3)`,
				tenant, n.ContactID, customer).Scan(&ok); err != nil {
				return fmt.Errorf("follow-up contact: %w", err)
			}
			if !ok {
				return invalid("contact_id is not a contact of this customer")
			}
		}
		rows, err := tx.Query(ctx, `
			INSERT INTO follow_ups (id, tenant_id, customer_id, contact_id, assigned_to, kind, due_at, note, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING id, customer_id, contact_id, assigned_to, kind, due_at, done_at, note, created_by, created_at`,
			dbid.New(), tenant, customer, dbid.Null(n.ContactID), n.AssignedTo, n.Kind, n.DueAt, note, dbid.Null(creator))
		if err != nil {
			return mapWriteError("create follow-up", err)
		}
		f, err = pgx.CollectExactlyOneRow(rows, scanFollowUp)
		if err != nil {
			return mapWriteError("create follow-up", err)
		}
		return enqueueWebhook(ctx, tx, tenant, EventFollowUpCreated, followUpWebhook(f))
	})
	return f, err
}

// FollowUps returns a customer's follow-ups by due time: the open ones
// only, or all.
func (s *Store) FollowUps(ctx context.Context, tenant, customer uuid.UUID, openOnly bool) ([]FollowUp, error) {
	if _, err := s.Customer(ctx, tenant, customer); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, followUpSelect+`
		WHERE tenant_id = $1 AND customer_id = $2 AND (NOT $3 OR done_at IS NULL) ORDER BY due_at, id`, tenant, customer, openOnly)
	if err != nil {
		return nil, fmt.Errorf("follow-ups of %s: %w", customer, err)
	}
	fs, err := pgx.CollectRows(rows, scanFollowUp)
	if err != nil {
		return nil, fmt.Errorf("follow-ups of %s: %w", customer, err)
	}
	return fs, nil
}

// FollowUp returns one follow-up.
func (s *Store) FollowUp(ctx context.Context, tenant, id uuid.UUID) (FollowUp, error) {
	rows, err := s.pool.Query(ctx, followUpSelect+` WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return FollowUp{}, fmt.Errorf("follow-up %s: %w", id, err)
	}
	f, err := pgx.CollectExactlyOneRow(rows, scanFollowUp)
	if errors.Is(err, pgx.ErrNoRows) {
		return FollowUp{}, fmt.Errorf("follow-up %s: %w", id, ErrNotFound)
	} else if err != nil {
		return FollowUp{}, fmt.Errorf("follow-up %s: %w", id, err)
	}
	return f, nil
}

// CompleteFollowUp marks a follow-up done. Completing it again keeps the
// first time: a retried request changes nothing (and sends no webhook).
func (s *Store) CompleteFollowUp(ctx context.Context, tenant, id uuid.UUID) (FollowUp, error) {
	done := true
	f, _, err := s.UpdateFollowUp(ctx, tenant, id, FollowUpFields{Done: &done})
	return f, err
}

// FollowUpFields are a follow-up's writable fields; nil leaves one as it
// is. Done true completes it (keeping the first completion time), false
// opens it again.
type FollowUpFields struct {
	AssignedTo *uuid.UUID
	Kind       *string
	DueAt      *time.Time
	Note       *string
	Done       *bool
}

// UpdateFollowUp changes the fields f sets; when nothing changes nothing is
// written and no webhook goes out. A follow-up that becomes done sends
// follow_up.done; any other change follow_up.updated.
func (s *Store) UpdateFollowUp(ctx context.Context, tenant, id uuid.UUID, f FollowUpFields) (FollowUp, bool, error) {
	if f.Kind != nil && *f.Kind != "callback" && *f.Kind != "reminder" {
		return FollowUp{}, false, invalid("kind must be callback or reminder")
	}
	if f.DueAt != nil && f.DueAt.IsZero() {
		return FollowUp{}, false, invalid("due_at cannot be cleared")
	}
	if f.AssignedTo != nil && *f.AssignedTo == uuid.Nil {
		return FollowUp{}, false, invalid("assigned_to cannot be cleared")
	}
	var note *string
	if f.Note != nil {
		n, err := cleanText("note", *f.Note, 4000)
		if err != nil {
			return FollowUp{}, false, err
		}
		note = &n
	}
	var out FollowUp
	var changed bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, followUpSelect+` WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id)
		if err != nil {
			return fmt.Errorf("follow-up %s: %w", id, err)
		}
		cur, err := pgx.CollectExactlyOneRow(rows, scanFollowUp)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("follow-up %s: %w", id, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("follow-up %s: %w", id, err)
		}
		next := cur
		if f.AssignedTo != nil && *f.AssignedTo != cur.AssignedTo {
			if err := checkRef(ctx, tx, tenant, f.AssignedTo, "agent", "assigned_to"); err != nil {
				return err
			}
			next.AssignedTo = *f.AssignedTo
		}
		if f.Kind != nil {
			next.Kind = *f.Kind
		}
		if f.DueAt != nil {
			next.DueAt = f.DueAt.UTC().Truncate(time.Microsecond)
		}
		if note != nil {
			next.Note = *note
		}
		becameDone := false
		if f.Done != nil {
			switch {
			case *f.Done && cur.DoneAt == nil:
				becameDone = true
			case !*f.Done:
				next.DoneAt = nil
			}
		}
		if !becameDone && next.AssignedTo == cur.AssignedTo && next.Kind == cur.Kind && next.DueAt.Equal(cur.DueAt) &&
			next.Note == cur.Note && sameTime(next.DoneAt, cur.DoneAt) {
			out = cur
			return nil
		}
		rows, err = tx.Query(ctx, `
			UPDATE follow_ups SET assigned_to = $3, kind = $4, due_at = $5, note = $6,
			       done_at = CASE WHEN $7 THEN now() ELSE $8::timestamptz END
			WHERE tenant_id = $1 AND id = $2
			RETURNING id, customer_id, contact_id, assigned_to, kind, due_at, done_at, note, created_by, created_at`,
			tenant, id, next.AssignedTo, next.Kind, next.DueAt, next.Note, becameDone, next.DoneAt)
		if err != nil {
			return mapWriteError("update follow-up", err)
		}
		if out, err = pgx.CollectExactlyOneRow(rows, scanFollowUp); err != nil {
			return mapWriteError("update follow-up", err)
		}
		changed = true
		event := EventFollowUpUpdated
		if becameDone {
			event = EventFollowUpDone
		}
		return enqueueWebhook(ctx, tx, tenant, event, followUpWebhook(out))
	})
	if err != nil {
		return FollowUp{}, false, err
	}
	return out, changed, nil
}

// DeleteFollowUp removes a follow-up (made by mistake, no longer wanted);
// receivers hear follow_up.deleted with it as it was.
func (s *Store) DeleteFollowUp(ctx context.Context, tenant, id uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			DELETE FROM follow_ups WHERE tenant_id = $1 AND id = $2
			RETURNING id, customer_id, contact_id, assigned_to, kind, due_at, done_at, note, created_by, created_at`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete follow-up %s: %w", id, err)
		}
		f, err := pgx.CollectExactlyOneRow(rows, scanFollowUp)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("follow-up %s: %w", id, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("delete follow-up %s: %w", id, err)
		}
		return enqueueWebhook(ctx, tx, tenant, EventFollowUpDeleted, followUpWebhook(f))
	})
}
