package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// MoveQueuedToAgent has a waiting contact offered to a named agent first (a
// supervisor's decision from the wallboard, audited): that agent is
// preferred for the queue's preference window, then the queue's pool takes
// over, as after a transfer to an agent. The contact keeps its queue and
// its age. ErrNotQueued when it no longer waits; ErrNotFound for an agent
// or contact that is not this tenant's.
func (s *Store) MoveQueuedToAgent(ctx context.Context, tenant, contactID, agent, by uuid.UUID) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var queue uuid.UUID
		err := tx.QueryRow(ctx, `SELECT queue_id FROM contacts WHERE tenant_id = $1 AND id = $2 AND state = 'queued' FOR UPDATE`,
			tenant, contactID).Scan(&queue)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := contactExists(ctx, tx, tenant, contactID); err != nil {
				return fmt.Errorf("move to agent: %w", err)
			}
			return fmt.Errorf("move %s to agent: %w", contactID, ErrNotQueued)
		} else if err != nil {
			return fmt.Errorf("move %s to agent: %w", contactID, err)
		}
		var isAgent bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2)`, tenant, agent).Scan(&isAgent); err != nil {
			return fmt.Errorf("move %s to agent: %w", contactID, err)
		} else if !isAgent {
			return fmt.Errorf("move %s: agent %s: %w", contactID, agent, ErrNotFound)
		}
		if _, err := setPreference(ctx, tx, tenant, contactID, queue, Preference{Agents: []uuid.UUID{agent}, Reason: "transfer"}); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "transferred_to_agent", queue, uuid.Nil,
			map[string]any{"to_agent": agent, "by": "supervisor"}); err != nil {
			return err
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: by, Action: "contact.move",
			TargetKind: "contact", TargetID: contactID, Data: map[string]any{"queue": queue, "to_agent": agent}}); err != nil {
			return fmt.Errorf("move %s to agent: %w", contactID, err)
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}
