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
	"github.com/switchboard-cc/switchboard/org"
)

// Assignment is routing's accept of an offer, made durable. Epoch and Holder
// are the routing lease the accepting engine believes it holds.
type Assignment struct {
	TenantID, ContactID, AgentID, OfferID uuid.UUID
	Epoch                                 int64
	Holder                                string
}

// Assign gives a queued contact to an agent in one conditional transaction:
// the lease must still be the caller's (else ErrFenced), the contact still
// queued and unassigned (else ErrNotQueued; another tenant's or a missing
// contact: ErrNotFound). The same offer accepted twice is a no-op.
func (s *Store) Assign(ctx context.Context, a Assignment) error {
	if a.TenantID == uuid.Nil || a.ContactID == uuid.Nil || a.AgentID == uuid.Nil || a.OfferID == uuid.Nil {
		return fmt.Errorf("assign: tenant, contact, agent and offer are required: %w", ErrInvalid)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// FOR SHARE makes a takeover's UPDATE of the lease wait until this
		// accept has committed, so no accept commits under a superseded epoch.
		var epoch int64
		var holder string
		err := tx.QueryRow(ctx, `SELECT epoch, holder FROM routing_lease WHERE tenant_id = $1 FOR SHARE`, a.TenantID).Scan(&epoch, &holder)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && (epoch != a.Epoch || holder != a.Holder) {
			return fmt.Errorf("assign %s: epoch %d: %w", a.ContactID, a.Epoch, ErrFenced)
		} else if err != nil {
			return fmt.Errorf("assign %s: lease: %w", a.ContactID, err)
		}
		if done, err := offerAssigned(ctx, tx, a); err != nil || done {
			return err
		}
		var queue uuid.UUID
		err = tx.QueryRow(ctx, `
			UPDATE contacts SET state = 'active', updated_at = now()
			WHERE tenant_id = $1 AND id = $2 AND state = 'queued'
			RETURNING queue_id`, a.TenantID, a.ContactID).Scan(&queue)
		if errors.Is(err, pgx.ErrNoRows) {
			// A concurrent copy of this very accept may have just committed:
			// this statement sees it, and the accept is then done.
			if done, err := offerAssigned(ctx, tx, a); err != nil || done {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2)`, a.TenantID, a.ContactID).Scan(&exists); err != nil {
				return fmt.Errorf("assign %s: %w", a.ContactID, err)
			} else if !exists {
				return fmt.Errorf("assign %s: %w", a.ContactID, ErrNotFound)
			}
			return fmt.Errorf("assign %s: %w", a.ContactID, ErrNotQueued)
		} else if err != nil {
			return fmt.Errorf("assign %s: %w", a.ContactID, err)
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO assignments (id, tenant_id, contact_id, agent_id, offer_id) VALUES ($1, $2, $3, $4, $5)`,
			dbid.New(), a.TenantID, a.ContactID, a.AgentID, a.OfferID)
		switch pgCode(err) {
		case "":
			if err != nil {
				return fmt.Errorf("assign %s: %w", a.ContactID, err)
			}
		case codeUniqueViolation:
			// assignments_open_contact: the database refuses a second agent.
			return fmt.Errorf("assign %s: already assigned: %w", a.ContactID, ErrNotQueued)
		case codeForeignKeyViolation:
			return fmt.Errorf("assign %s: agent %s: %w", a.ContactID, a.AgentID, ErrNotFound)
		default:
			return fmt.Errorf("assign %s: %w", a.ContactID, err)
		}
		return insertEvent(ctx, tx, a.TenantID, a.ContactID, "assigned", queue, a.AgentID, map[string]any{"offer_id": a.OfferID})
	})
	return err
}

// offerAssigned reports whether the offer's assignment already exists,
// which makes a repeated accept a no-op. An offer id reused for another
// contact or agent is a caller's bug.
func offerAssigned(ctx context.Context, tx pgx.Tx, a Assignment) (bool, error) {
	var contact, agent uuid.UUID
	err := tx.QueryRow(ctx, `SELECT contact_id, agent_id FROM assignments WHERE tenant_id = $1 AND offer_id = $2`,
		a.TenantID, a.OfferID).Scan(&contact, &agent)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("assign %s: offer %s: %w", a.ContactID, a.OfferID, err)
	case contact != a.ContactID || agent != a.AgentID:
		return false, fmt.Errorf("assign %s: offer %s was used for another assignment: %w", a.ContactID, a.OfferID, ErrInvalid)
	}
	return true, nil
}

// lockHeld locks the contact row and then checks that agent holds an open
// assignment on it (else ErrNotHeld). Every writer of a contact locks its row
// first, so a line, a close and a transfer never interleave; the check runs
// as a statement of its own after the lock so that, under READ COMMITTED, it
// sees whatever the previous lock holder committed.
func lockHeld(ctx context.Context, tx pgx.Tx, tenant, contactID, agentID uuid.UUID) (queue uuid.UUID, err error) {
	var state string
	err = tx.QueryRow(ctx, `SELECT queue_id, state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
		tenant, contactID).Scan(&queue, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrNotHeld
	} else if err != nil {
		return uuid.Nil, err
	}
	if state != StateActive {
		return uuid.Nil, ErrNotHeld
	}
	var held bool
	err = tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM assignments
		               WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND ended_at IS NULL)`,
		tenant, contactID, agentID).Scan(&held)
	if err != nil {
		return uuid.Nil, err
	} else if !held {
		return uuid.Nil, ErrNotHeld
	}
	return queue, nil
}

// AppendAgentMessage stores an agent's line on a contact the agent holds
// (else ErrNotHeld, also for another tenant's or a missing contact). The
// same clientID on the same contact is stored once and returns the stored
// line, even after the contact closed.
func (s *Store) AppendAgentMessage(ctx context.Context, tenant, agentID, contactID uuid.UUID, clientID, body string) (Message, error) {
	if clientID == "" || len(clientID) > 64 || strings.TrimSpace(body) == "" {
		return Message{}, fmt.Errorf("agent message on %s: client id and body are required: %w", contactID, ErrInvalid)
	}
	key := agentMessageKey(agentID, contactID, clientID)
	var m Message
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if id, found, err := messageByKey(ctx, tx, tenant, key); err != nil || found {
			if found {
				m, err = messageByID(ctx, tx, tenant, id)
			}
			return err
		}
		queue, err := lockHeld(ctx, tx, tenant, contactID, agentID)
		if err != nil {
			return fmt.Errorf("agent message on %s by %s: %w", contactID, agentID, err)
		}
		var seq int
		if err := tx.QueryRow(ctx, `
			UPDATE contacts SET last_seq = last_seq + 1, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING last_seq`, tenant, contactID).Scan(&seq); err != nil {
			return fmt.Errorf("agent message on %s: %w", contactID, err)
		}
		var id uuid.UUID
		err = tx.QueryRow(ctx, `
			INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, author_id, body, idempotency_key)
			VALUES ($1, $2, $3, $4, 'agent', $5, $6, $7)
			ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
			RETURNING id`, dbid.New(), tenant, contactID, seq, agentID, body, key).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return errDuplicate
		} else if err != nil {
			return fmt.Errorf("agent message on %s: %w", contactID, err)
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "message_out", queue, agentID, map[string]any{"seq": seq}); err != nil {
			return err
		}
		m, err = messageByID(ctx, tx, tenant, id)
		return err
	})
	if errors.Is(err, errDuplicate) {
		// Unreachable while the contact row lock serialises the agent's
		// tabs, but a lost race must still answer with the stored line.
		id, found, err := messageByKey(ctx, s.pool, tenant, key)
		if err != nil || !found {
			return Message{}, fmt.Errorf("agent message on %s: concurrent copy vanished: %w", contactID, err)
		}
		return messageByID(ctx, s.pool, tenant, id)
	}
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

func messageByKey(ctx context.Context, q dbtx, tenant uuid.UUID, key string) (uuid.UUID, bool, error) {
	var id uuid.UUID
	err := q.QueryRow(ctx, `SELECT id FROM messages WHERE tenant_id = $1 AND idempotency_key = $2`, tenant, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	} else if err != nil {
		return uuid.Nil, false, fmt.Errorf("message by key: %w", err)
	}
	return id, true, nil
}

// Close ends the agent's work on a contact and starts its wrap-up, in one
// transaction: the contact is closed (no more lines), event 'closed'. The
// assignment stays open with wrap_up_at set, holding the agent's slot until
// EndWrapUp or until the queue's wrap-up time runs out; the returned
// contact's WrapUpUntil says when. A queue without wrap-up time ends the
// assignment at once ('wrap_up_ended' too, so statistics see one shape).
// An agent not holding the contact, or closing it twice, gets ErrNotHeld.
func (s *Store) Close(ctx context.Context, tenant, agentID, contactID uuid.UUID, wrapUp string) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		queue, err := lockHeld(ctx, tx, tenant, contactID, agentID)
		if err != nil {
			return fmt.Errorf("close %s by %s: %w", contactID, agentID, err)
		}
		var secs int
		var until time.Time
		var disposition *string
		if err := tx.QueryRow(ctx, `
			UPDATE contacts c SET state = 'closed', closed_at = now(), wrap_up = $3, updated_at = now()
			FROM queues q
			WHERE c.tenant_id = $1 AND c.id = $2 AND q.tenant_id = c.tenant_id AND q.id = c.queue_id
			RETURNING q.wrap_up_seconds, now() + make_interval(secs => q.wrap_up_seconds), c.disposition`,
			tenant, contactID, wrapUp).Scan(&secs, &until, &disposition); err != nil {
			return fmt.Errorf("close %s: %w", contactID, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE assignments SET wrap_up_at = now()
			WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND ended_at IS NULL`, tenant, contactID, agentID); err != nil {
			return fmt.Errorf("close %s: start wrap-up: %w", contactID, err)
		}
		// The note stays in the contact row; events feed statistics and
		// carry no free text (a disposition is one of the queue's codes).
		data := map[string]any{"end_reason": "completed", "wrap_up_seconds": secs}
		if disposition != nil {
			data["disposition"] = *disposition
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "closed", queue, agentID, data); err != nil {
			return err
		}
		if secs == 0 {
			if err := endWrapUp(ctx, tx, tenant, contactID, agentID, queue, time.Time{}, "none"); err != nil {
				return fmt.Errorf("close %s: %w", contactID, err)
			}
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		if err == nil {
			err = enqueueWebhook(ctx, tx, tenant, EventContactClosed, contactWebhook(c))
		}
		if secs > 0 {
			c.WrapUpUntil = &until
		}
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// Why a wrap-up ended, in the 'wrap_up_ended' event.
const (
	WrapUpDone    = "done"    // the agent said so
	WrapUpTimeout = "timeout" // the queue's wrap-up time ran out
)

// EndWrapUp ends the agent's wrap-up of a closed contact: the assignment
// ends ('completed') and event 'wrap_up_ended' records why. at is when it
// ended: zero for now (the agent pressed Done), or the deadline when the
// wrap-up time ran out, however late that was noticed. A non-empty note
// replaces the contact's wrap-up note, even when the wrap-up has already
// ended (the agent's note outlives a timeout). Ending it again is a no-op;
// an agent who never wrapped up this contact gets ErrNotHeld.
func (s *Store) EndWrapUp(ctx context.Context, tenant, agentID, contactID uuid.UUID, note string, at time.Time) (Contact, error) {
	reason := WrapUpDone
	if !at.IsZero() {
		reason = WrapUpTimeout
	}
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The contact row lock serialises Done against the timeout.
		var queue uuid.UUID
		var state string
		err := tx.QueryRow(ctx, `SELECT queue_id, state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			tenant, contactID).Scan(&queue, &state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("end wrap-up of %s: %w", contactID, ErrNotHeld)
		} else if err != nil {
			return fmt.Errorf("end wrap-up of %s: %w", contactID, err)
		}
		var open, ended bool
		if err := tx.QueryRow(ctx, `
			SELECT COALESCE(bool_or(ended_at IS NULL), false), COALESCE(bool_or(ended_at IS NOT NULL), false)
			FROM assignments
			WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND wrap_up_at IS NOT NULL`,
			tenant, contactID, agentID).Scan(&open, &ended); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("end wrap-up of %s: %w", contactID, err)
		}
		if !open && !ended || state != StateClosed {
			return fmt.Errorf("end wrap-up of %s by %s: %w", contactID, agentID, ErrNotHeld)
		}
		if open {
			if err := endWrapUp(ctx, tx, tenant, contactID, agentID, queue, at, reason); err != nil {
				return fmt.Errorf("end wrap-up of %s: %w", contactID, err)
			}
		}
		if note != "" {
			if _, err := tx.Exec(ctx, `UPDATE contacts SET wrap_up = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
				tenant, contactID, note); err != nil {
				return fmt.Errorf("end wrap-up of %s: note: %w", contactID, err)
			}
		}
		c, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// endWrapUp ends the agent's open assignment in wrap-up at at (zero: now;
// never before the wrap-up began) and records 'wrap_up_ended' at the same
// moment, so statistics measure the wrap-up to its real end.
func endWrapUp(ctx context.Context, tx pgx.Tx, tenant, contactID, agentID, queue uuid.UUID, at time.Time, reason string) error {
	var ended time.Time
	err := tx.QueryRow(ctx, `
		UPDATE assignments SET ended_at = GREATEST(COALESCE($4, now()), wrap_up_at), end_reason = 'completed'
		WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND ended_at IS NULL AND wrap_up_at IS NOT NULL
		RETURNING ended_at`, tenant, contactID, agentID, nullTime(at)).Scan(&ended)
	if err != nil {
		return fmt.Errorf("end assignment: %w", err)
	}
	// The contact's disposition, when the agent gave one, rides along so
	// reports count codes from events alone.
	_, err = tx.Exec(ctx, `
		INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, data, at)
		SELECT $1, $2, 'wrap_up_ended', $3, $4,
		       $5::jsonb || CASE WHEN c.disposition IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('disposition', c.disposition) END, $6
		FROM contacts c WHERE c.tenant_id = $1 AND c.id = $2`,
		tenant, contactID, queue, agentID, map[string]any{"reason": reason}, ended)
	if err != nil {
		return fmt.Errorf("event wrap_up_ended on %s: %w", contactID, err)
	}
	return nil
}

// Abandon records that a queued contact's customer went away (hung up, left
// the chat). A contact no longer queued is ErrNotQueued. A voice call whose
// queue has auto_callback gets a callback in the same transaction (see
// autoCallback); the contact itself stays abandoned.
func (s *Store) Abandon(ctx context.Context, tenant, contactID uuid.UUID, reason string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var queue uuid.UUID
		err := tx.QueryRow(ctx, `
			UPDATE contacts SET state = 'abandoned', closed_at = now(), updated_at = now()
			WHERE tenant_id = $1 AND id = $2 AND state = 'queued'
			RETURNING queue_id`, tenant, contactID).Scan(&queue)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := contactExists(ctx, tx, tenant, contactID); err != nil {
				return fmt.Errorf("abandon: %w", err)
			}
			return fmt.Errorf("abandon %s: %w", contactID, ErrNotQueued)
		} else if err != nil {
			return fmt.Errorf("abandon %s: %w", contactID, err)
		}
		if err := insertEvent(ctx, tx, tenant, contactID, "abandoned", queue, uuid.Nil, map[string]any{"reason": reason}); err != nil {
			return err
		}
		// A queue with auto_callback owes every abandoned caller a call back.
		return autoCallback(ctx, tx, tenant, contactID)
	})
}

func contactExists(ctx context.Context, q dbtx, tenant, contactID uuid.UUID) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2)`, tenant, contactID).Scan(&ok); err != nil {
		return fmt.Errorf("contact %s: %w", contactID, err)
	} else if !ok {
		return fmt.Errorf("contact %s: %w", contactID, ErrNotFound)
	}
	return nil
}

// RecordEvent appends an event that changes no state, such as routing's
// asynchronous 'offered', 'offer_timeout' and 'offer_rejected' for
// statistics. queueID uuid.Nil means the contact's own queue; agentID
// uuid.Nil means none. data must not carry personal data.
func (s *Store) RecordEvent(ctx context.Context, tenant, contactID uuid.UUID, kind string, queueID, agentID uuid.UUID, data map[string]any) error {
	if kind == "" || len(kind) > 64 {
		return fmt.Errorf("record event: kind: %w", ErrInvalid)
	}
	if data == nil {
		data = map[string]any{}
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, data)
		SELECT c.tenant_id, c.id, $3, COALESCE($4, c.queue_id), $5, $6
		FROM contacts c WHERE c.tenant_id = $1 AND c.id = $2`,
		tenant, contactID, kind, dbid.Null(queueID), dbid.Null(agentID), data)
	if err != nil {
		return fmt.Errorf("record event %s on %s: %w", kind, contactID, err)
	} else if tag.RowsAffected() == 0 {
		return fmt.Errorf("record event %s on %s: %w", kind, contactID, ErrNotFound)
	}
	return nil
}

// QueuedContact is a contact waiting for an agent, as routing needs it.
type QueuedContact struct {
	ContactID, QueueID uuid.UUID
	Channel            org.Channel
	Priority           int
	ArrivedAt          time.Time
	Preference         Preference
}

// Queued lists the tenant's waiting contacts, oldest first: routing's
// rebuild and sweep input.
func (s *Store) Queued(ctx context.Context, tenant uuid.UUID) ([]QueuedContact, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, queue_id, channel, priority, arrived_at, preferred_agents, prefer_until, prefer_reason
		FROM contacts WHERE tenant_id = $1 AND state = 'queued' ORDER BY arrived_at, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("queued: %w", err)
	}
	qs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QueuedContact, error) {
		var q QueuedContact
		var until *time.Time
		err := r.Scan(&q.ContactID, &q.QueueID, &q.Channel, &q.Priority, &q.ArrivedAt,
			&q.Preference.Agents, &until, &q.Preference.Reason)
		if until != nil {
			q.Preference.Until = *until
		}
		if len(q.Preference.Agents) == 0 {
			q.Preference.Agents = nil // as for a contact that never had any
		}
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("queued: %w", err)
	}
	return qs, nil
}

// OpenAssignment is a contact an agent holds, for rebuilding agents' loads.
type OpenAssignment struct {
	ContactID, AgentID uuid.UUID
	Channel            org.Channel
	// WrapUpUntil is, for an assignment in wrap-up, when its wrap-up time
	// runs out (possibly already past); zero while the contact is worked.
	WrapUpUntil time.Time
}

// wrapUpUntil is an open assignment's wrap-up deadline: when it began plus
// the queue's wrap-up time (a change of the queue's setting moves the
// deadlines of wrap-ups in progress, seen at the next rebuild).
const wrapUpUntil = `a.wrap_up_at + make_interval(secs => q.wrap_up_seconds)`

// OpenAssignments lists the tenant's assignments not yet ended.
func (s *Store) OpenAssignments(ctx context.Context, tenant uuid.UUID) ([]OpenAssignment, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.contact_id, a.agent_id, c.channel, `+wrapUpUntil+`
		FROM assignments a
		JOIN contacts c ON c.tenant_id = a.tenant_id AND c.id = a.contact_id
		JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
		WHERE a.tenant_id = $1 AND a.ended_at IS NULL
		ORDER BY a.started_at, a.id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("open assignments: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenAssignment, error) {
		var a OpenAssignment
		var until *time.Time
		err := r.Scan(&a.ContactID, &a.AgentID, &a.Channel, &until)
		if until != nil {
			a.WrapUpUntil = *until
		}
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("open assignments: %w", err)
	}
	return as, nil
}

// HeldContacts lists the contacts the agent holds open assignments on, in
// the order they were taken: the console's snapshot. Contacts in wrap-up
// are among them, closed, with their WrapUpUntil.
func (s *Store) HeldContacts(ctx context.Context, tenant, agentID uuid.UUID) ([]Contact, error) {
	rows, err := s.pool.Query(ctx, contactSelect+`
		JOIN assignments a ON a.tenant_id = c.tenant_id AND a.contact_id = c.id AND a.ended_at IS NULL
		WHERE c.tenant_id = $1 AND a.agent_id = $2
		ORDER BY a.started_at, a.id`, tenant, agentID)
	if err != nil {
		return nil, fmt.Errorf("held contacts of %s: %w", agentID, err)
	}
	cs, err := pgx.CollectRows(rows, scanContact)
	if err != nil {
		return nil, fmt.Errorf("held contacts of %s: %w", agentID, err)
	}
	rows, err = s.pool.Query(ctx, `
		SELECT a.contact_id, `+wrapUpUntil+`
		FROM assignments a
		JOIN contacts c ON c.tenant_id = a.tenant_id AND c.id = a.contact_id
		JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
		WHERE a.tenant_id = $1 AND a.agent_id = $2 AND a.ended_at IS NULL AND a.wrap_up_at IS NOT NULL`, tenant, agentID)
	if err != nil {
		return nil, fmt.Errorf("held contacts of %s: wrap-ups: %w", agentID, err)
	}
	until := map[uuid.UUID]time.Time{}
	var id uuid.UUID
	var t time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &t}, func() error { until[id] = t; return nil }); err != nil {
		return nil, fmt.Errorf("held contacts of %s: wrap-ups: %w", agentID, err)
	}
	for i := range cs {
		if t, ok := until[cs[i].ID]; ok {
			cs[i].WrapUpUntil = &t
		}
	}
	return cs, nil
}

// Holder returns the agent with the open assignment on a contact, or
// ErrNotFound when nobody holds it.
func (s *Store) Holder(ctx context.Context, tenant, contactID uuid.UUID) (uuid.UUID, error) {
	var agent uuid.UUID
	err := s.pool.QueryRow(ctx, `
		SELECT agent_id FROM assignments WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL`,
		tenant, contactID).Scan(&agent)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("holder of %s: %w", contactID, ErrNotFound)
	} else if err != nil {
		return uuid.Nil, fmt.Errorf("holder of %s: %w", contactID, err)
	}
	return agent, nil
}
