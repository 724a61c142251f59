package crm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SetDisposition stores the agent's disposition code on a contact they hold,
// or whose wrap-up they are in or have ended (a Done sent after the wrap-up
// time ran out still counts). code must be one of the contact's queue's
// codes, else ErrInvalid. An empty code keeps what is stored; with required
// set it is ErrInvalid when the queue has codes and none is stored yet (the
// console's Done). An agent who never held the contact gets ErrNotHeld.
//
// Close and EndWrapUp copy the stored code into their events, so the
// console sets it first.
func (s *Store) SetDisposition(ctx context.Context, tenant, agentID, contactID uuid.UUID, code string, required bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var codes []string
		var stored *string
		var held bool
		err := tx.QueryRow(ctx, `
			SELECT q.dispositions, c.disposition,
			       EXISTS (SELECT 1 FROM assignments a
			               WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id AND a.agent_id = $3
			                 AND (a.ended_at IS NULL OR a.wrap_up_at IS NOT NULL))
			FROM contacts c JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
			WHERE c.tenant_id = $1 AND c.id = $2
			FOR UPDATE OF c`, tenant, contactID, agentID).Scan(&codes, &stored, &held)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && !held {
			return fmt.Errorf("disposition of %s by %s: %w", contactID, agentID, ErrNotHeld)
		} else if err != nil {
			return fmt.Errorf("disposition of %s: %w", contactID, err)
		}
		if code == "" {
			if required && len(codes) > 0 && stored == nil {
				return fmt.Errorf("%w: choose a disposition (one of the queue's %d codes)", ErrInvalid, len(codes))
			}
			return nil
		}
		if !slices.Contains(codes, code) {
			if len(codes) == 0 {
				return fmt.Errorf("%w: this contact's queue has no disposition codes", ErrInvalid)
			}
			return fmt.Errorf("%w: disposition %q is not one of the queue's codes", ErrInvalid, code)
		}
		if _, err := tx.Exec(ctx, `UPDATE contacts SET disposition = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenant, contactID, code); err != nil {
			return fmt.Errorf("disposition of %s: %w", contactID, err)
		}
		return nil
	})
}
