package crm

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// EndPending is an assignment's end_reason when its agent set the thread
// pending (ARCHITECTURE.md: waiting for the customer, no capacity held,
// owner kept).
const EndPending = "pending"

// SetPending puts an e-mail thread the agent holds in state pending: the
// agent waits for the customer's answer. In one transaction the agent's
// assignment ends (end_reason pending), so the agent's e-mail slot is no
// longer held once routing is told (the caller sends it a release), and
// event 'pending' records it; the agent stays the thread's owner: the last
// assignment names them, so they may still answer it (QueueReply) and the
// customer's next mail reopens it with them preferred (RecordEmail).
// Setting a thread pending that is pending already, with the agent as its
// owner, is a no-op that returns it (a double click, a retried request).
// A contact of another tenant, or none, is ErrNotFound; one the agent does
// not hold, ErrNotHeld; a closed one the agent wraps up, ErrInWrapUp; a
// contact that is not an e-mail thread, ErrInvalid.
func (s *Store) SetPending(ctx context.Context, tenant, agent, contact uuid.UUID) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		done, err := setPending(ctx, tx, tenant, agent, contact)
		if err != nil || done {
			if err == nil {
				c, err = contactByID(ctx, tx, tenant, contact)
			}
			return err
		}
		c, err = contactByID(ctx, tx, tenant, contact)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// setPending is SetPending inside tx; it reports already when the thread
// was pending with agent as its owner and nothing was written.
func setPending(ctx context.Context, tx pgx.Tx, tenant, agent, contact uuid.UUID) (already bool, err error) {
	ch, err := contactChannel(ctx, tx, tenant, contact)
	if err != nil {
		return false, err
	}
	queue, state, err := lockReplyable(ctx, tx, tenant, contact, agent)
	if err != nil {
		return false, fmt.Errorf("set %s pending by %s: %w", contact, agent, err)
	}
	if ch != "email" {
		return false, fmt.Errorf("set %s pending: only an e-mail thread waits for its customer: %w", contact, ErrInvalid)
	}
	if state == StatePending {
		return true, nil
	}
	if _, err := tx.Exec(ctx, `
		UPDATE assignments SET ended_at = now(), end_reason = $4
		WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND ended_at IS NULL`,
		tenant, contact, agent, EndPending); err != nil {
		return false, fmt.Errorf("set %s pending: end the assignment: %w", contact, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'pending', updated_at = now() WHERE tenant_id = $1 AND id = $2`,
		tenant, contact); err != nil {
		return false, fmt.Errorf("set %s pending: %w", contact, err)
	}
	if err := insertEvent(ctx, tx, tenant, contact, "pending", queue, agent, nil); err != nil {
		return false, err
	}
	return false, nil
}
