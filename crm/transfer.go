package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// Transfer hands a contact the agent holds to another queue: the
// assignment ends ('transferred'), the contact waits again in the target
// queue with its original arrival time, and the events say where it went.
// One transaction. A queue that is not this tenant's is ErrNotFound; the
// same queue is ErrInvalid.
func (s *Store) Transfer(ctx context.Context, tenant, agentID, contactID, toQueue uuid.UUID) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		from, err := lockHeld(ctx, tx, tenant, contactID, agentID)
		if err != nil {
			return fmt.Errorf("transfer %s by %s: %w", contactID, agentID, err)
		}
		if from == toQueue {
			return fmt.Errorf("transfer %s: already in that queue: %w", contactID, ErrInvalid)
		}
		if err := queueExists(ctx, tx, tenant, toQueue); err != nil {
			return fmt.Errorf("transfer %s: %w", contactID, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE contacts SET state = 'queued', queue_id = $3, updated_at = now()
			WHERE tenant_id = $1 AND id = $2`, tenant, contactID, toQueue); err != nil {
			return fmt.Errorf("transfer %s: %w", contactID, err)
		}
		if err := endAssignment(ctx, tx, tenant, contactID, agentID, "transferred"); err != nil {
			return fmt.Errorf("transfer %s: %w", contactID, err)
		}
		if err := transferEvents(ctx, tx, tenant, contactID, from, toQueue, agentID, "agent"); err != nil {
			return err
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// Requeue puts a chat back in its queue because its agent went away (their
// console stayed disconnected past the grace period): the assignment ends
// ('agent_disconnected') and the contact waits again with its original
// arrival time, so it goes ahead of newer contacts. ErrNotHeld when that
// agent no longer holds it.
func (s *Store) Requeue(ctx context.Context, tenant, agentID, contactID uuid.UUID, reason string) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		queue, err := lockHeld(ctx, tx, tenant, contactID, agentID)
		if err != nil {
			return fmt.Errorf("requeue %s: %w", contactID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'queued', updated_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenant, contactID); err != nil {
			return fmt.Errorf("requeue %s: %w", contactID, err)
		}
		if err := endAssignment(ctx, tx, tenant, contactID, agentID, reason); err != nil {
			return fmt.Errorf("requeue %s: %w", contactID, err)
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "requeued", queue, agentID, map[string]any{"reason": reason}); err != nil {
			return err
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// MoveQueued moves a waiting contact to another queue (a supervisor's
// decision, audited), keeping its arrival time. ErrNotQueued when it no longer waits.
func (s *Store) MoveQueued(ctx context.Context, tenant, contactID, toQueue, by uuid.UUID) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := queueExists(ctx, tx, tenant, toQueue); err != nil {
			return fmt.Errorf("move %s: %w", contactID, err)
		}
		var from uuid.UUID
		err := tx.QueryRow(ctx, `
			UPDATE contacts c SET queue_id = $3, updated_at = now()
			FROM (SELECT queue_id FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE) old
			WHERE c.tenant_id = $1 AND c.id = $2 AND c.state = 'queued'
			RETURNING old.queue_id`, tenant, contactID, toQueue).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := contactExists(ctx, tx, tenant, contactID); err != nil {
				return fmt.Errorf("move: %w", err)
			}
			return fmt.Errorf("move %s: %w", contactID, ErrNotQueued)
		} else if err != nil {
			return fmt.Errorf("move %s: %w", contactID, err)
		}
		if err := transferEvents(ctx, tx, tenant, contactID, from, toQueue, by, "supervisor"); err != nil {
			return err
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: by, Action: "contact.move",
			TargetKind: "contact", TargetID: contactID, Data: map[string]any{"from_queue": from, "to_queue": toQueue}}); err != nil {
			return fmt.Errorf("move %s: %w", contactID, err)
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// endAssignment ends the agent's open assignment on a contact.
func endAssignment(ctx context.Context, tx pgx.Tx, tenant, contactID, agentID uuid.UUID, reason string) error {
	_, err := tx.Exec(ctx, `
		UPDATE assignments SET ended_at = now(), end_reason = $4
		WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND ended_at IS NULL`, tenant, contactID, agentID, reason)
	if err != nil {
		return fmt.Errorf("end assignment: %w", err)
	}
	return nil
}

// queueExists is ErrNotFound for a queue that is not this tenant's.
func queueExists(ctx context.Context, q dbtx, tenant, queue uuid.UUID) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE tenant_id = $1 AND id = $2)`, tenant, queue).Scan(&ok); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("queue %s: %w", queue, ErrNotFound)
	}
	return nil
}

// transferEvents records a move between queues as a pair of events, so each
// queue's statistics see its side: out of one, into the other.
func transferEvents(ctx context.Context, tx pgx.Tx, tenant, contactID, from, to, by uuid.UUID, byRole string) error {
	if err := insertEvent(ctx, tx, tenant, contactID, "transferred_out", from, by, map[string]any{"to_queue": to, "by": byRole}); err != nil {
		return err
	}
	return insertEvent(ctx, tx, tenant, contactID, "transferred_in", to, uuid.Nil, map[string]any{"from_queue": from})
}
