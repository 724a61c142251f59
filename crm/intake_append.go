package crm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// errSlowPath: appendInbound wrote nothing and could not settle the item
// (a resent or concurrent duplicate, a closed, abandoned or unknown
// contact); RecordInbound's general path decides what it is.
var errSlowPath = errors.New("append inbound: take the general path")

// appendLineSQL appends a customer's line to an open contact in one
// statement. The sub-select's FOR UPDATE takes the contact's row lock first
// (waiting for a concurrent writer and then reading its committed row), so
// the state checked and returned as old_state is the one the UPDATE
// changes: seq stays gap-free and in commit order, as the general path's
// separate SELECT … FOR UPDATE made it. Nothing is written when the contact
// is not open or a line with this idempotency key is already committed;
// a concurrent first copy still in flight is caught by the insert's ON
// CONFLICT (msg empty), and the caller rolls back. The two events are one
// INSERT so that 'reopened' gets the lower id, as before. The stored line is
// returned from here rather than read back through messageSelect, whose
// joins on a tenant's tables without statistics yet were planned as scans
// of all the tenant's contacts and customers (most of the backend's time
// per line in BenchmarkChatInbound); an attachment is linked before its
// line is sent, so this statement's snapshot sees it.
const appendLineSQL = `
WITH upd AS (
	UPDATE contacts c SET last_seq = c.last_seq + 1, updated_at = now(),
	       state = CASE WHEN c.state = 'pending' THEN 'queued' ELSE c.state END,
	       arrived_at = CASE WHEN c.state = 'pending' THEN COALESCE($3, now()) ELSE c.arrived_at END
	FROM (SELECT id, state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE) AS old
	WHERE c.tenant_id = $1 AND c.id = old.id AND old.state IN ('queued', 'active', 'pending')
	  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = $1 AND m.idempotency_key = $4)
	RETURNING c.last_seq, c.state, c.queue_id, c.channel, c.priority, c.arrived_at, c.customer_id, c.candidates,
	          old.state AS old_state
), msg AS (
	INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, body, idempotency_key, created_at)
	SELECT $5, $1, $2, upd.last_seq, 'customer', $6, $4, COALESCE($3, now()) FROM upd
	ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING id, created_at
), ev AS (
	INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, data)
	SELECT $1, $2, k.kind, upd.queue_id,
	       CASE k.kind WHEN 'message_in' THEN jsonb_build_object('seq', upd.last_seq) ELSE '{}'::jsonb END
	FROM upd, msg, (VALUES (1, 'reopened'), (2, 'message_in')) AS k (ord, kind)
	WHERE k.kind = 'message_in' OR upd.old_state = 'pending'
	ORDER BY k.ord
)
SELECT upd.last_seq, upd.state, upd.queue_id, upd.channel, upd.priority, upd.arrived_at, upd.customer_id,
       upd.candidates, msg.id, msg.created_at,
       COALESCE((SELECT cu.name FROM customers cu
                 WHERE cu.tenant_id = $1 AND cu.id = upd.customer_id AND cu.deleted_at IS NULL), ''),
       ca.id, COALESCE(ca.name, ''), COALESCE(ca.content_type, ''), COALESCE(ca.size, 0)
FROM upd
LEFT JOIN msg ON true
LEFT JOIN chat_attachments ca ON ca.tenant_id = $1 AND ca.message_key = $4`

// appendInbound records in (ContactID set, no caller's lock or tail) in two
// round trips: BEGIN, the line's statement and the read of the contact's
// agent in one pipelined batch; then COMMIT, with the Announce NOTIFY ahead of it
// when the contact is queued. The transaction is managed by hand because
// pgx.Tx would spend a round trip on BEGIN alone. It returns errSlowPath,
// having written nothing, when the item is anything but a new line on an
// open contact.
func (s *Store) appendInbound(ctx context.Context, in Inbound) (InboundResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return InboundResult{}, fmt.Errorf("record inbound: %w", err)
	}
	// pgxpool closes, rather than reuses, a connection released inside a
	// transaction, so an error path that could not roll back leaks nothing.
	defer conn.Release()

	res := InboundResult{ContactID: in.ContactID, Candidates: []uuid.UUID{}}
	msgID := dbid.New()
	var (
		customer, agent, stored, attID *uuid.UUID
		candidates                     []uuid.UUID
		found                          bool
		att                            AttachmentInfo
		at                             *time.Time
	)
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(appendLineSQL, in.TenantID, in.ContactID, nullTime(in.At), in.IdempotencyKey, msgID, in.Body).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				found = true
				if err := rows.Scan(&res.Seq, &res.State, &res.QueueID, &res.Channel, &res.Priority, &res.ArrivedAt,
					&customer, &candidates, &stored, &at, &res.Message.AuthorName,
					&attID, &att.Name, &att.ContentType, &att.Size); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	// Read under the row lock, in a snapshot taken after it was granted: an
	// accept that committed while this line waited for the lock is seen.
	b.Queue(`SELECT (SELECT agent_id FROM assignments WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL)`,
		in.TenantID, in.ContactID).QueryRow(func(r pgx.Row) error { return r.Scan(&agent) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return InboundResult{}, rollback(conn, fmt.Errorf("record inbound: line on %s: %w", in.ContactID, err))
	}
	if !found || stored == nil {
		// Nothing to keep: not open, or a duplicate (an in-flight copy's
		// conflict left the contact's seq raised, which the rollback undoes).
		if err := rollback(conn, nil); err != nil {
			return InboundResult{}, err
		}
		return InboundResult{}, errSlowPath
	}
	res.MessageID, res.CustomerID, res.AssignedAgent = *stored, dbid.Deref(customer), dbid.Deref(agent)
	if candidates != nil {
		res.Candidates = candidates
	}
	m := &res.Message
	m.ID, m.ContactID, m.Seq, m.AuthorKind, m.Body, m.ClientID = *stored, in.ContactID, res.Seq, "customer", in.Body, clientIDFromKey(in.IdempotencyKey)
	if at != nil {
		m.At = *at
	}
	if attID != nil {
		att.ID = *attID
		m.Attachment = &att
	}

	end := &pgx.Batch{}
	queueAnnouncement(end, in, res)
	committed := false
	end.Queue(`COMMIT`).Exec(func(tag pgconn.CommandTag) error {
		// COMMIT of a failed transaction answers ROLLBACK, not an error.
		committed = tag.String() == "COMMIT"
		return nil
	})
	if err := conn.SendBatch(ctx, end).Close(); err != nil {
		return InboundResult{}, rollback(conn, fmt.Errorf("record inbound: commit line on %s: %w", in.ContactID, err))
	} else if !committed {
		return InboundResult{}, fmt.Errorf("record inbound: line on %s: %w", in.ContactID, pgx.ErrTxCommitRollback)
	}
	return res, nil
}

// rollback ends conn's transaction after cause (nil: on purpose). When the
// ROLLBACK itself fails the connection is closed, so that the pool never
// hands out one left inside a transaction.
func rollback(conn *pgxpool.Conn, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn.Conn().IsClosed() {
		return cause
	}
	if _, err := conn.Exec(ctx, `ROLLBACK`); err != nil {
		conn.Conn().Close(ctx)
		if cause == nil {
			return fmt.Errorf("record inbound: rollback: %w", err)
		}
	}
	return cause
}
