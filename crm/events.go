package crm

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// Event is one row of a contact's append-only event log.
type Event struct {
	Kind      string
	ContactID uuid.UUID
	QueueID   uuid.UUID
	AgentID   uuid.UUID
	Channel   org.Channel
	At        time.Time
	// Call: on 'created', the contact is a phone connector's call, answered
	// when the agent's leg answers ('call_answered'), not at the accept.
	Call bool
}

// EventCursor is where a follower of the event log stands: a transaction
// id below which every transaction has ended. The empty cursor starts at the
// beginning.
type EventCursor string

// EventsSince returns the tenant's events written at or after since by
// transactions at or above cursor that have all ended, in commit-safe order,
// and the cursor to pass next time.
//
// Event ids are taken at insert, not at commit, so following by id would
// skip a row whose transaction commits after a later one's. Following
// pg_snapshot_xmin instead never returns a row before every transaction
// that could still write a lower one has ended.
func (s *Store) EventsSince(ctx context.Context, tenant uuid.UUID, cursor EventCursor, since time.Time) ([]Event, EventCursor, error) {
	from := string(cursor)
	if from == "" {
		from = "0"
	}
	var out []Event
	var next string
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		// One snapshot for both statements: the rows read are exactly those
		// below the xmin returned.
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&next); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT e.kind, e.contact_id, coalesce(e.queue_id, c.queue_id), coalesce(e.agent_id, '00000000-0000-0000-0000-000000000000'),
			       c.channel, e.at, e.kind = 'created' AND COALESCE(e.data->>'call', '') = 'true'
			FROM contact_events e
			JOIN contacts c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id
			WHERE e.tenant_id = $1 AND e.xact_id >= $2::text::xid8 AND e.xact_id < $3::text::xid8 AND e.at >= $4
			ORDER BY e.xact_id, e.id`, tenant, from, next, since)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
			var e Event
			err := r.Scan(&e.Kind, &e.ContactID, &e.QueueID, &e.AgentID, &e.Channel, &e.At, &e.Call)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, cursor, fmt.Errorf("events since: %w", err)
	}
	return out, EventCursor(next), nil
}
