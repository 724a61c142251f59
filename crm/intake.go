package crm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// Inbound is one item that arrived from a customer, tied to its tenant, site
// and queue by its entry point.
type Inbound struct {
	TenantID, SiteID, QueueID uuid.UUID
	Channel                   org.Channel
	// ContactID is uuid.Nil to open a new contact; otherwise the item is
	// appended to this contact, which must be the tenant's and not closed or
	// abandoned (ErrClosed). A pending contact is reopened (queued again).
	ContactID uuid.UUID
	// Identities, already normalised, resolve the customer when a new
	// contact opens; on an existing contact they are ignored.
	Identities []Identity
	Name       string // for a customer created from these identities
	Subject    string
	Body       string
	// IdempotencyKey is required: the same key twice returns the first
	// result with Duplicate=true and writes nothing.
	IdempotencyKey string
	At             time.Time // arrival time; zero: now()
	// Announce, when set and the contact is queued after the write (or, for
	// a resent duplicate, still queued), gives the channel and payload of a
	// NOTIFY that is sent inside the transaction: PostgreSQL delivers it
	// exactly when the contact commits, and never for a write that rolls
	// back. crm does not know who listens; the caller does.
	Announce func(InboundResult) (channel, payload string)
	// lockedState: the caller has locked the contact row (FOR UPDATE) and
	// read this state, so recordInbound need not again.
	lockedState string
	// tail, when set, adds the caller's own writes to the message's round
	// trip; it sees the result as stored.
	tail func(*pgx.Batch, InboundResult)
}

// InboundResult is what RecordInbound made durable.
type InboundResult struct {
	ContactID, MessageID, CustomerID uuid.UUID
	Candidates                       []uuid.UUID // identities matched several customers (CustomerID is then uuid.Nil)
	Seq                              int
	// NewContact: this item opened the contact (on a duplicate: the first
	// copy did). NewCustomer: a customer was created for it (never on a
	// duplicate).
	NewContact, NewCustomer, Duplicate bool
	State                              string // contact state after the write
	QueueID                            uuid.UUID
	Channel                            org.Channel
	Priority                           int
	ArrivedAt                          time.Time
	AssignedAgent                      uuid.UUID // agent holding an open assignment on the contact, or uuid.Nil
	Message                            Message
	// Preference: whom routing offers a new contact to first (see
	// preferFromHistory); empty on an existing contact and on a duplicate.
	Preference Preference
}

// errDuplicate rolls back an intake that lost the race for its idempotency
// key to a concurrent copy; the caller then returns the winner's result.
var errDuplicate = errors.New("duplicate idempotency key")

// RecordInbound makes an inbound item durable in one transaction: customer
// resolved (new contacts only), contact opened as queued or found, message
// stored with the next seq, events 'created' and 'message_in' appended, the
// Announce NOTIFY sent. Only after it returns may the source be acknowledged.
func (s *Store) RecordInbound(ctx context.Context, in Inbound) (InboundResult, error) {
	switch {
	case in.TenantID == uuid.Nil, in.IdempotencyKey == "", len(in.IdempotencyKey) > 512, !in.Channel.Valid():
		return InboundResult{}, fmt.Errorf("record inbound: tenant, channel and idempotency key are required: %w", ErrInvalid)
	case in.ContactID == uuid.Nil && in.QueueID == uuid.Nil:
		return InboundResult{}, fmt.Errorf("record inbound: a new contact needs a queue: %w", ErrInvalid)
	}
	ids, err := cleanIdentities(in.Identities)
	if err != nil {
		return InboundResult{}, fmt.Errorf("record inbound: %w", err)
	}
	if in.ContactID != uuid.Nil {
		// The common case, a line on an open conversation, in two round
		// trips; anything else it cannot settle goes the general way below.
		res, err := s.appendInbound(ctx, in)
		if !errors.Is(err, errSlowPath) {
			return res, err
		}
	}
	var res InboundResult
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// The common resend is answered without writing anything; the race
		// between two first copies is settled by the insert below.
		r, found, err := inboundByKey(ctx, tx, in.TenantID, in.IdempotencyKey)
		if err != nil {
			return err
		}
		if found {
			// Announced again: the first announcement may be the one that was lost.
			res = r
			return announce(ctx, tx, in, res)
		}
		res, err = recordInbound(ctx, tx, in, ids)
		return err
	})
	if errors.Is(err, errDuplicate) {
		r, found, err := inboundByKey(ctx, s.pool, in.TenantID, in.IdempotencyKey)
		if err != nil {
			return InboundResult{}, fmt.Errorf("record inbound: %w", err)
		} else if !found {
			// The winner rolled back after all; the source will resend.
			return InboundResult{}, fmt.Errorf("record inbound: concurrent copy vanished; retry")
		}
		return r, nil
	}
	if err != nil {
		return InboundResult{}, err
	}
	return res, nil
}

func recordInbound(ctx context.Context, tx pgx.Tx, in Inbound, ids []Identity) (InboundResult, error) {
	res := InboundResult{Channel: in.Channel}
	var customer *uuid.UUID
	if in.ContactID == uuid.Nil {
		res.NewContact = true
		res.Candidates = []uuid.UUID{}
		if len(ids) > 0 {
			r, err := resolve(ctx, tx, in.TenantID, ids, in.Name, in.SiteID)
			if err != nil {
				return InboundResult{}, fmt.Errorf("record inbound: %w", err)
			}
			res.CustomerID, res.Candidates, res.NewCustomer = r.CustomerID, r.Candidates, r.Created
		}
		res.ContactID, res.Seq, res.State, res.QueueID = dbid.New(), 1, StateQueued, in.QueueID
		err := tx.QueryRow(ctx, `
			INSERT INTO contacts (id, tenant_id, site_id, channel, queue_id, customer_id, candidates, state, subject, arrived_at, last_seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, COALESCE($9, now()), 1)
			RETURNING priority, arrived_at`,
			res.ContactID, in.TenantID, dbid.Null(in.SiteID), in.Channel, in.QueueID, dbid.Null(res.CustomerID),
			res.Candidates, in.Subject, nullTime(in.At)).Scan(&res.Priority, &res.ArrivedAt)
		if pgCode(err) == codeForeignKeyViolation {
			return InboundResult{}, fmt.Errorf("record inbound: queue %s or site %s is not the tenant's: %w", in.QueueID, in.SiteID, ErrInvalid)
		} else if err != nil {
			return InboundResult{}, fmt.Errorf("record inbound: open contact: %w", err)
		}
		if err := enqueueWebhook(ctx, tx, in.TenantID, EventContactCreated, inboundWebhook(in, res)); err != nil {
			return InboundResult{}, err
		}
		if res.Preference, err = preferFromHistory(ctx, tx, in.TenantID, res.ContactID, res.CustomerID, in.QueueID); err != nil {
			return InboundResult{}, fmt.Errorf("record inbound: %w", err)
		}
		if res.Priority, err = prioritiseByTier(ctx, tx, in.TenantID, res.ContactID, res.CustomerID); err != nil {
			return InboundResult{}, fmt.Errorf("record inbound: %w", err)
		}
	} else {
		// Locking the contact row serialises every writer of this
		// conversation, so seq is gap-free and in commit order.
		state := in.lockedState
		if state == "" {
			err := tx.QueryRow(ctx, `SELECT state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, in.TenantID, in.ContactID).Scan(&state)
			if errors.Is(err, pgx.ErrNoRows) {
				return InboundResult{}, fmt.Errorf("record inbound: contact %s: %w", in.ContactID, ErrNotFound)
			} else if err != nil {
				return InboundResult{}, fmt.Errorf("record inbound: contact %s: %w", in.ContactID, err)
			}
		}
		if state == StateClosed || state == StateAbandoned {
			return InboundResult{}, fmt.Errorf("record inbound: contact %s: %w", in.ContactID, ErrClosed)
		}
		var agent *uuid.UUID
		// A reply to a pending thread (waiting for the customer) puts it
		// back in the queue as a new wait.
		err := tx.QueryRow(ctx, `
			UPDATE contacts SET last_seq = last_seq + 1, updated_at = now(),
			       state = CASE WHEN state = 'pending' THEN 'queued' ELSE state END,
			       arrived_at = CASE WHEN state = 'pending' THEN COALESCE($3, now()) ELSE arrived_at END
			WHERE tenant_id = $1 AND id = $2
			RETURNING last_seq, state, queue_id, channel, priority, arrived_at, customer_id, candidates,
			          (SELECT a.agent_id FROM assignments a
			           WHERE a.tenant_id = contacts.tenant_id AND a.contact_id = contacts.id AND a.ended_at IS NULL)`,
			in.TenantID, in.ContactID, nullTime(in.At)).Scan(&res.Seq, &res.State, &res.QueueID, &res.Channel,
			&res.Priority, &res.ArrivedAt, &customer, &res.Candidates, &agent)
		if err != nil {
			return InboundResult{}, fmt.Errorf("record inbound: contact %s: %w", in.ContactID, err)
		}
		res.ContactID, res.CustomerID, res.AssignedAgent = in.ContactID, dbid.Deref(customer), dbid.Deref(agent)
		if state == StatePending {
			if err := insertEvent(ctx, tx, in.TenantID, res.ContactID, "reopened", res.QueueID, uuid.Nil, nil); err != nil {
				return InboundResult{}, err
			}
		}
	}

	// The contact's NOTIFY, the message_in event and the stored line's read
	// ride in the message's round trip, so announcing it costs intake
	// nothing; a duplicate rolls them all back.
	msgID := dbid.New()
	b := &pgx.Batch{}
	if res.NewContact {
		queueEvent(b, in.TenantID, res.ContactID, "created", in.QueueID, uuid.Nil, map[string]any{"channel": in.Channel})
	}
	b.Queue(`
		INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, body, idempotency_key, created_at)
		VALUES ($1, $2, $3, $4, 'customer', $5, $6, COALESCE($7, now()))
		ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING id`,
		msgID, in.TenantID, res.ContactID, res.Seq, in.Body, in.IdempotencyKey, nullTime(in.At),
	).QueryRow(func(r pgx.Row) error { return r.Scan(&res.MessageID) })
	queueAnnouncement(b, in, res)
	queueEvent(b, in.TenantID, res.ContactID, "message_in", res.QueueID, uuid.Nil, map[string]any{"seq": res.Seq})
	b.Queue(messageSelect+` WHERE m.tenant_id = $1 AND m.id = $2`, in.TenantID, msgID).Query(func(rows pgx.Rows) error {
		m, err := pgx.CollectExactlyOneRow(rows, scanMessage)
		res.Message = m
		return err
	})
	if in.tail != nil {
		r := res
		r.MessageID = msgID
		in.tail(b, r)
	}
	err := tx.SendBatch(ctx, b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return InboundResult{}, errDuplicate
	} else if err != nil {
		return InboundResult{}, fmt.Errorf("record inbound: message, event or notification on %s: %w", res.ContactID, err)
	}
	if res.Candidates == nil {
		res.Candidates = []uuid.UUID{}
	}
	return res, nil
}

// announce sends in's NOTIFY on its own, if it has one and the contact
// waits in a queue. A NOTIFY that fails fails the transaction, so the source
// is not acknowledged and sends again.
func announce(ctx context.Context, tx pgx.Tx, in Inbound, res InboundResult) error {
	b := &pgx.Batch{}
	if queueAnnouncement(b, in, res); b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record inbound: notify %s: %w", res.ContactID, err)
	}
	return nil
}

// queueAnnouncement adds in's NOTIFY to b, if it has one and the contact
// waits in a queue.
func queueAnnouncement(b *pgx.Batch, in Inbound, res InboundResult) {
	if in.Announce == nil || res.State != StateQueued {
		return
	}
	channel, payload := in.Announce(res)
	b.Queue(`SELECT pg_notify($1, $2)`, channel, payload)
}

// inboundByKey returns the stored result of the item with this idempotency
// key, if any.
func inboundByKey(ctx context.Context, q dbtx, tenant uuid.UUID, key string) (InboundResult, bool, error) {
	res := InboundResult{Duplicate: true}
	var customer, agent *uuid.UUID
	err := q.QueryRow(ctx, `
		SELECT m.id, m.seq, c.id, c.state, c.queue_id, c.channel, c.priority, c.arrived_at, c.customer_id, c.candidates,
		       (SELECT a.agent_id FROM assignments a
		        WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id AND a.ended_at IS NULL)
		FROM messages m
		JOIN contacts c ON c.tenant_id = m.tenant_id AND c.id = m.contact_id
		WHERE m.tenant_id = $1 AND m.idempotency_key = $2`, tenant, key).Scan(
		&res.MessageID, &res.Seq, &res.ContactID, &res.State, &res.QueueID, &res.Channel, &res.Priority,
		&res.ArrivedAt, &customer, &res.Candidates, &agent)
	if errors.Is(err, pgx.ErrNoRows) {
		return InboundResult{}, false, nil
	} else if err != nil {
		return InboundResult{}, false, fmt.Errorf("inbound by key: %w", err)
	}
	res.CustomerID, res.AssignedAgent = dbid.Deref(customer), dbid.Deref(agent)
	// Contacts are opened with their first line, so seq 1 means the first
	// copy opened the contact.
	res.NewContact = res.Seq == 1
	if res.Candidates == nil {
		res.Candidates = []uuid.UUID{}
	}
	if res.Message, err = messageByID(ctx, q, tenant, res.MessageID); err != nil {
		return InboundResult{}, false, fmt.Errorf("inbound by key: %w", err)
	}
	return res, true, nil
}

// Resolution is who a set of identities belongs to.
type Resolution struct {
	CustomerID uuid.UUID   // uuid.Nil when the identities matched several customers
	Candidates []uuid.UUID // the customers matched, sorted, when several
	Created    bool        // no customer had any of the identities; this one was made for them
}

// Resolve finds the customer having any of ids (none: creates one named name
// with them; one: adds the ids it lacks; several: returns them as
// candidates), in a transaction of its own.
func (s *Store) Resolve(ctx context.Context, tenant uuid.UUID, ids []Identity, name string) (Resolution, error) {
	clean, err := cleanIdentities(ids)
	if err != nil {
		return Resolution{}, fmt.Errorf("resolve: %w", err)
	}
	if len(clean) == 0 {
		return Resolution{}, fmt.Errorf("resolve: no identities: %w", ErrInvalid)
	}
	var r Resolution
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r, err = resolve(ctx, tx, tenant, clean, name, uuid.Nil)
		return err
	})
	if err != nil {
		return Resolution{}, err
	}
	return r, nil
}

// resolve runs inside the caller's transaction; ids are cleaned (sorted,
// unique) and not empty.
func resolve(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, ids []Identity, name string, site uuid.UUID) (Resolution, error) {
	return resolveAfter(ctx, tx, &pgx.Batch{}, tenant, ids, name, site)
}

// resolveAfter is resolve with the caller's own statements queued in b
// ahead of its locks and look-up, in the same round trip.
func resolveAfter(ctx context.Context, tx pgx.Tx, b *pgx.Batch, tenant uuid.UUID, ids []Identity, name string, site uuid.UUID) (Resolution, error) {
	// The locks and the look-up share one round trip; the statements of a
	// batch run in order.
	queueLockIdentities(b, tenant, ids)
	kinds, systems, values := identityColumns(ids)
	// Under the locks, a customer created by a concurrent first contact has
	// committed before this statement's snapshot, so it is seen here.
	var found []uuid.UUID
	b.Queue(`
		SELECT DISTINCT ci.customer_id
		FROM customer_identities ci
		JOIN customers cu ON cu.tenant_id = ci.tenant_id AND cu.id = ci.customer_id AND cu.deleted_at IS NULL
		JOIN unnest($2::text[], $3::text[], $4::text[]) AS q (kind, system, value)
		  ON ci.kind = q.kind AND ci.system = q.system AND ci.value = q.value
		WHERE ci.tenant_id = $1`, tenant, kinds, systems, values,
	).Query(func(rows pgx.Rows) error {
		var err error
		found, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Resolution{}, fmt.Errorf("resolve: %w", err)
	}
	switch len(found) {
	case 0:
		// The customer and its identities in one round trip.
		id := dbid.New()
		pinyinKey, initials := nameKeys(name)
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO customers (id, tenant_id, name, site_id, name_pinyin, name_initials) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, tenant, name, dbid.Null(site), pinyinKey, initials)
		queueAddIdentities(b, tenant, id, ids)
		err := tx.SendBatch(ctx, b).Close()
		if pgCode(err) == codeForeignKeyViolation {
			return Resolution{}, fmt.Errorf("resolve: site %s is not the tenant's: %w", site, ErrInvalid)
		} else if err != nil {
			return Resolution{}, fmt.Errorf("resolve: create customer: %w", err)
		}
		return Resolution{CustomerID: id, Candidates: []uuid.UUID{}, Created: true}, nil
	case 1:
		id := found[0]
		if err := addIdentities(ctx, tx, tenant, id, ids); err != nil {
			return Resolution{}, err
		}
		// A customer first known by, say, a phone number alone gets the
		// name the customer gave later.
		if name != "" {
			if _, err := tx.Exec(ctx, `UPDATE customers SET name = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 AND name = ''`,
				tenant, id, name); err != nil {
				return Resolution{}, fmt.Errorf("resolve: name customer %s: %w", id, err)
			}
		}
		return Resolution{CustomerID: id, Candidates: []uuid.UUID{}}, nil
	default:
		slices.SortFunc(found, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		return Resolution{Candidates: found}, nil
	}
}

// lockIdentities takes one transaction-scoped advisory lock per identity,
// in the sorted order of ids, so that concurrent resolutions of overlapping
// identities queue behind each other instead of deadlocking. The batch sends
// them in one round trip and runs them in order.
func lockIdentities(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, ids []Identity) error {
	b := &pgx.Batch{}
	queueLockIdentities(b, tenant, ids)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("lock identities: %w", err)
	}
	return nil
}

// queueLockIdentities adds lockIdentities' statements to b.
func queueLockIdentities(b *pgx.Batch, tenant uuid.UUID, ids []Identity) {
	for _, id := range ids {
		b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, id.lockKey(tenant))
	}
}

func identityColumns(ids []Identity) (kinds, systems, values []string) {
	for _, id := range ids {
		kinds, systems, values = append(kinds, id.Kind), append(systems, id.System), append(values, id.Value)
	}
	return kinds, systems, values
}

// addIdentities gives customer the identities it lacks.
func addIdentities(ctx context.Context, q dbtx, tenant, customer uuid.UUID, ids []Identity) error {
	if len(ids) == 0 {
		return nil
	}
	sql, args := addIdentitiesStmt(tenant, customer, ids)
	_, err := q.Exec(ctx, sql, args...)
	if pgCode(err) == codeForeignKeyViolation {
		return fmt.Errorf("identities of customer %s: %w", customer, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("identities of customer %s: %w", customer, err)
	}
	return nil
}

// queueAddIdentities adds addIdentities' statement to b.
func queueAddIdentities(b *pgx.Batch, tenant, customer uuid.UUID, ids []Identity) {
	sql, args := addIdentitiesStmt(tenant, customer, ids)
	b.Queue(sql, args...)
}

func addIdentitiesStmt(tenant, customer uuid.UUID, ids []Identity) (string, []any) {
	kinds, systems, values := identityColumns(ids)
	rowIDs := make([]uuid.UUID, len(ids))
	for i := range rowIDs {
		rowIDs[i] = dbid.New()
	}
	return `
		INSERT INTO customer_identities (id, tenant_id, customer_id, kind, system, value)
		SELECT u.id, $1, $2, u.kind, u.system, u.value
		FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[]) AS u (id, kind, system, value)
		ON CONFLICT (tenant_id, customer_id, kind, system, value) DO NOTHING`,
		[]any{tenant, customer, rowIDs, kinds, systems, values}
}
