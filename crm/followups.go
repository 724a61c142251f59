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
		return nil
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
// first time: a retried request changes nothing.
func (s *Store) CompleteFollowUp(ctx context.Context, tenant, id uuid.UUID) (FollowUp, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE follow_ups SET done_at = COALESCE(done_at, now()) WHERE tenant_id = $1 AND id = $2
		RETURNING id, customer_id, contact_id, assigned_to, kind, due_at, done_at, note, created_by, created_at`, tenant, id)
	if err != nil {
		return FollowUp{}, fmt.Errorf("complete follow-up %s: %w", id, err)
	}
	f, err := pgx.CollectExactlyOneRow(rows, scanFollowUp)
	if errors.Is(err, pgx.ErrNoRows) {
		return FollowUp{}, fmt.Errorf("follow-up %s: %w", id, ErrNotFound)
	} else if err != nil {
		return FollowUp{}, fmt.Errorf("complete follow-up %s: %w", id, err)
	}
	return f, nil
}
