package crm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Preference is whom a waiting contact is offered to first, until when,
// and why: routing tries these agents alone until Until, then the queue's
// whole pool.
type Preference struct {
	Agents []uuid.UUID
	Until  time.Time
	// Reason holds one routing reason code per agent, comma separated:
	// advisor, salesperson, owner, last_agent, transfer.
	Reason string
}

// defaultPreferWindow applies to queues that do not set their own.
const defaultPreferWindow = 30 * time.Second

// maxPreferred bounds the agents one contact prefers (routing's
// notification carries them all).
const maxPreferred = 8

// preferFromHistory sets a new contact's preferred agents from what the
// group knows of its customer, most specific first: the service advisor
// on an open order, the salesperson on an open deal, the customer's owner,
// the agent who handled them last. Only agents qualify; routing offers to
// them only while they are present and have the queue's skills.
func preferFromHistory(ctx context.Context, tx pgx.Tx, tenant, contact, customer, queue uuid.UUID) (Preference, error) {
	if customer == uuid.Nil {
		return Preference{}, nil
	}
	rows, err := tx.Query(ctx, `
		WITH candidates AS (
			(SELECT so.advisor_id AS agent, 'advisor' AS why, 1 AS rank, so.updated_at AS at
			 FROM service_orders so
			 WHERE so.tenant_id = $1 AND so.customer_id = $2 AND so.status <> 'collected' AND so.advisor_id IS NOT NULL)
			UNION ALL
			(SELECT d.salesperson_id, 'salesperson', 2, d.created_at
			 FROM deals d
			 WHERE d.tenant_id = $1 AND d.customer_id = $2 AND d.stage NOT IN ('won', 'lost') AND d.salesperson_id IS NOT NULL)
			UNION ALL
			(SELECT cu.owner_id, 'owner', 3, cu.updated_at
			 FROM customers cu WHERE cu.tenant_id = $1 AND cu.id = $2 AND cu.owner_id IS NOT NULL)
			UNION ALL
			(SELECT a.agent_id, 'last_agent', 4, a.started_at
			 FROM assignments a JOIN contacts c ON c.tenant_id = a.tenant_id AND c.id = a.contact_id
			 WHERE a.tenant_id = $1 AND c.customer_id = $2
			 ORDER BY a.started_at DESC LIMIT 1)
		)
		SELECT agent, why FROM (
			SELECT DISTINCT ON (ca.agent) ca.agent, ca.why, ca.rank, ca.at
			FROM candidates ca JOIN agents ag ON ag.tenant_id = $1 AND ag.id = ca.agent
			ORDER BY ca.agent, ca.rank, ca.at DESC
		) best ORDER BY rank, at DESC, agent LIMIT $3`, tenant, customer, maxPreferred)
	if err != nil {
		return Preference{}, fmt.Errorf("preferred agents: %w", err)
	}
	type candidate struct {
		agent uuid.UUID
		why   string
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
		var c candidate
		return c, r.Scan(&c.agent, &c.why)
	})
	if err != nil {
		return Preference{}, fmt.Errorf("preferred agents: %w", err)
	}
	if len(cands) == 0 {
		return Preference{}, nil
	}
	p := Preference{}
	reasons := make([]string, len(cands))
	for i, c := range cands {
		p.Agents = append(p.Agents, c.agent)
		reasons[i] = c.why
	}
	p.Reason = strings.Join(reasons, ",")
	if p.Until, err = setPreference(ctx, tx, tenant, contact, queue, p); err != nil {
		return Preference{}, err
	}
	return p, nil
}

// setPreference stores p on the contact, for the queue's preference window
// from now, and returns the window's end.
func setPreference(ctx context.Context, tx pgx.Tx, tenant, contact, queue uuid.UUID, p Preference) (time.Time, error) {
	var until time.Time
	err := tx.QueryRow(ctx, `
		UPDATE contacts c SET preferred_agents = $3, prefer_reason = $4,
		       prefer_until = now() + make_interval(secs => COALESCE(NULLIF(q.prefer_window_seconds, 0), $5))
		FROM queues q
		WHERE c.tenant_id = $1 AND c.id = $2 AND q.tenant_id = c.tenant_id AND q.id = $6
		RETURNING c.prefer_until`,
		tenant, contact, p.Agents, p.Reason, int(defaultPreferWindow/time.Second), queue).Scan(&until)
	if err != nil {
		return time.Time{}, fmt.Errorf("set preferred agents of %s: %w", contact, err)
	}
	return until, nil
}

// TierPriority is how much a customer's tier raises their contacts'
// priority in every queue: the dealer's best customers (by revenue, the
// top "gold", then "growth") wait less. Other tiers add nothing.
var TierPriority = map[string]int{"gold": 2, "growth": 1}

// prioritiseByTier sets a new contact's priority from its customer's tier
// and returns it.
func prioritiseByTier(ctx context.Context, tx pgx.Tx, tenant, contact, customer uuid.UUID) (int, error) {
	if customer == uuid.Nil {
		return 0, nil
	}
	var tier string
	err := tx.QueryRow(ctx, `SELECT tier FROM customers WHERE tenant_id = $1 AND id = $2`, tenant, customer).Scan(&tier)
	if err != nil {
		return 0, fmt.Errorf("tier of %s: %w", customer, err)
	}
	p := TierPriority[tier]
	if p == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE contacts SET priority = $3 WHERE tenant_id = $1 AND id = $2`, tenant, contact, p); err != nil {
		return 0, fmt.Errorf("priority of %s: %w", contact, err)
	}
	return p, nil
}

// TransferToAgent hands a contact the agent holds to another agent: the
// assignment ends ('transferred'), the contact waits again with its
// original arrival time, in toQueue (uuid.Nil: its own queue), offered to
// the target alone for the queue's preference window and then to the
// queue's pool, so a colleague who is busy or away never strands it. One
// transaction. A target that is not the tenant's agent is ErrNotFound;
// transferring to oneself is ErrInvalid.
func (s *Store) TransferToAgent(ctx context.Context, tenant, agentID, contactID, target, toQueue uuid.UUID) (Contact, Preference, error) {
	if target == agentID {
		return Contact{}, Preference{}, fmt.Errorf("transfer %s: to yourself: %w", contactID, ErrInvalid)
	}
	var c Contact
	var p Preference
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		from, err := lockHeld(ctx, tx, tenant, contactID, agentID)
		if err != nil {
			return fmt.Errorf("transfer %s by %s: %w", contactID, agentID, err)
		}
		to := from
		if toQueue != uuid.Nil {
			if err := queueExists(ctx, tx, tenant, toQueue); err != nil {
				return fmt.Errorf("transfer %s: %w", contactID, err)
			}
			to = toQueue
		}
		var isAgent bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2)`, tenant, target).Scan(&isAgent); err != nil {
			return fmt.Errorf("transfer %s: %w", contactID, err)
		} else if !isAgent {
			return fmt.Errorf("transfer %s: agent %s: %w", contactID, target, ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE contacts SET state = 'queued', queue_id = $3, updated_at = now()
			WHERE tenant_id = $1 AND id = $2`, tenant, contactID, to); err != nil {
			return fmt.Errorf("transfer %s: %w", contactID, err)
		}
		p = Preference{Agents: []uuid.UUID{target}, Reason: "transfer"}
		if p.Until, err = setPreference(ctx, tx, tenant, contactID, to, p); err != nil {
			return err
		}
		if err := endAssignment(ctx, tx, tenant, contactID, agentID, "transferred"); err != nil {
			return fmt.Errorf("transfer %s: %w", contactID, err)
		}
		if to != from {
			if err := transferEvents(ctx, tx, tenant, contactID, from, to, agentID, "agent"); err != nil {
				return err
			}
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "transferred_to_agent", to, agentID, map[string]any{"to_agent": target}); err != nil {
			return err
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return Contact{}, Preference{}, err
	}
	return c, p, nil
}

// Overflow moves a contact that still waits in from to to, keeping its
// age: routing's decision when the contact waited past from's maximum wait
// or arrived when from was full. ErrNotQueued when it no longer waits in
// from (taken, closed, or moved meanwhile).
func (s *Store) Overflow(ctx context.Context, tenant, contactID, from, to uuid.UUID, reason string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE contacts SET queue_id = $4, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 AND state = 'queued' AND queue_id = $3`, tenant, contactID, from, to)
		if pgCode(err) == codeForeignKeyViolation {
			return fmt.Errorf("overflow %s: queue %s: %w", contactID, to, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("overflow %s: %w", contactID, err)
		} else if tag.RowsAffected() == 0 {
			if err := contactExists(ctx, tx, tenant, contactID); err != nil {
				return fmt.Errorf("overflow: %w", err)
			}
			return fmt.Errorf("overflow %s: %w", contactID, ErrNotQueued)
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "transferred_out", from, uuid.Nil, map[string]any{"to_queue": to, "by": "overflow", "reason": reason}); err != nil {
			return err
		}
		return insertEvent(ctx, tx, tenant, contactID, "transferred_in", to, uuid.Nil, map[string]any{"from_queue": from})
	})
}

// AppendSystemMessage stores a line from Switchboard itself on a waiting
// or active contact (such as "we are closed, we answer from 08:00"), once
// per key: a repeat with the same key returns the stored line and false.
func (s *Store) AppendSystemMessage(ctx context.Context, tenant, contactID uuid.UUID, key, body string) (Message, bool, error) {
	if key == "" || len(key) > 128 || strings.TrimSpace(body) == "" {
		return Message{}, false, fmt.Errorf("system message on %s: key and body are required: %w", contactID, ErrInvalid)
	}
	idem := "system:" + contactID.String() + ":" + key
	var m Message
	created := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, contactID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("system message on %s: %w", contactID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("system message on %s: %w", contactID, err)
		}
		if id, found, err := messageByKey(ctx, tx, tenant, idem); err != nil || found {
			if found {
				m, err = messageByID(ctx, tx, tenant, id)
			}
			return err
		}
		if slices.Contains([]string{StateClosed, StateAbandoned}, state) {
			return fmt.Errorf("system message on %s: %w", contactID, ErrClosed)
		}
		var seq int
		if err := tx.QueryRow(ctx, `
			UPDATE contacts SET last_seq = last_seq + 1, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING last_seq`, tenant, contactID).Scan(&seq); err != nil {
			return fmt.Errorf("system message on %s: %w", contactID, err)
		}
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `
			INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, body, idempotency_key)
			VALUES ($1, $2, $3, $4, 'system', $5, $6) RETURNING id`,
			dbid.New(), tenant, contactID, seq, body, idem).Scan(&id); err != nil {
			return fmt.Errorf("system message on %s: %w", contactID, err)
		}
		created = true
		m, err = messageByID(ctx, tx, tenant, id)
		return err
	})
	if err != nil {
		return Message{}, false, err
	}
	return m, created, nil
}
