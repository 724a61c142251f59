package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// DefaultPurgeAfter is how long a deleted customer stays in the recycle bin
// before Purge erases their personal data.
const DefaultPurgeAfter = 30 * 24 * time.Hour

// Delete moves a live customer to the recycle bin (soft delete): they stop
// resolving and stop showing in screen-pops, and Restore brings them back
// until the purge. A missing, other tenant's or already deleted customer is
// ErrNotFound.
func (s *Store) Delete(ctx context.Context, tenant, actor, customer uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE customers SET deleted_at = now(), updated_at = now()
			WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, tenant, customer)
		if err != nil {
			return fmt.Errorf("delete customer %s: %w", customer, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("delete customer %s: %w", customer, ErrNotFound)
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "customer.delete",
			TargetKind: "customer", TargetID: customer}); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated, map[string]any{"customer_id": customer, "change": "deleted"})
	})
}

// Restore takes a customer out of the recycle bin. A customer that is not
// in it is ErrNotFound when missing (or another tenant's) and ErrConflict
// when live, merged into another (undo the merge instead) or purged.
func (s *Store) Restore(ctx context.Context, tenant, actor, customer uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var deleted, merged, purged bool
		err := tx.QueryRow(ctx, `
			SELECT deleted_at IS NOT NULL, merged_into IS NOT NULL, purged_at IS NOT NULL
			FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, customer).Scan(&deleted, &merged, &purged)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("restore customer %s: %w", customer, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("restore customer %s: %w", customer, err)
		}
		switch {
		case !deleted:
			return fmt.Errorf("restore customer %s: not deleted: %w", customer, ErrConflict)
		case purged:
			return fmt.Errorf("restore customer %s: purged: %w", customer, ErrConflict)
		case merged:
			return fmt.Errorf("restore customer %s: merged; undo the merge instead: %w", customer, ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET deleted_at = NULL, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenant, customer); err != nil {
			return fmt.Errorf("restore customer %s: %w", customer, err)
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "customer.restore",
			TargetKind: "customer", TargetID: customer}); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated, map[string]any{"customer_id": customer, "change": "restored"})
	})
}

// BinEntry is a deleted customer waiting for the purge.
type BinEntry struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	DeletedAt  time.Time  `json:"deleted_at"`
	MergedInto *uuid.UUID `json:"merged_into,omitempty"` // restored by undoing the merge
}

// RecycleBin lists the tenant's deleted, not yet purged customers, most
// recently deleted first, deleted before before (zero: now); limit is
// clamped to 1..200 (0 or less: 50). Page on with the last DeletedAt.
func (s *Store) RecycleBin(ctx context.Context, tenant uuid.UUID, before time.Time, limit int) ([]BinEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	rows, err := s.pool.Query(ctx, `
		SELECT id, name, kind, deleted_at, merged_into FROM customers
		WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND purged_at IS NULL AND deleted_at < COALESCE($2::timestamptz, 'infinity')
		ORDER BY deleted_at DESC, id DESC LIMIT $3`, tenant, nullTime(before), limit)
	if err != nil {
		return nil, fmt.Errorf("recycle bin: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BinEntry, error) {
		var e BinEntry
		return e, r.Scan(&e.ID, &e.Name, &e.Kind, &e.DeletedAt, &e.MergedInto)
	})
	if err != nil {
		return nil, fmt.Errorf("recycle bin: %w", err)
	}
	return out, nil
}

// Purge erases the personal data of the tenant's customers deleted more
// than olderThan ago, each in a transaction of its own, and returns how
// many it purged. Rows another node is purging are skipped.
//
// What a purge erases, and what it keeps so that reports do not change:
//   - the customer row stays as an anonymous tombstone (kind, tier, site,
//     owner, revenue) with name, notes, language and the search columns
//     emptied and purged_at set; orders, deals and merge records keep
//     pointing at it;
//   - identities and shares are deleted; vehicle links are deleted, and a
//     vehicle nobody else is linked to loses VIN, plate and external id
//     (make, model and year stay; orders may still point at it);
//   - contacts of the customer keep channel, queue, state, times, direction
//     and every contact event (which carry ids, never personal data) but
//     lose subject, wrap-up note, customer and candidates; a contact that
//     only listed the customer among its candidates loses that candidate;
//   - messages of those contacts keep their rows, seq, author and time but
//     their body is emptied (purged = true) and the idempotency key (which
//     carries a chat visitor id) removed: keeping the rows keeps every
//     contact's seq gap-free and message counts what they were;
//   - service orders lose their description, deals their vehicle
//     description and contract reference, follow-ups their note; amounts,
//     stages and statuses stay;
//   - chat attachments of those contacts (names and bytes) are deleted;
//   - e-mail messages of those contacts or the customer, and mail without a
//     contact from or bouncing at one of the customer's addresses, keep
//     their rows (direction, mailbox, message ids for de-duplication, times,
//     the contact's line seq) but lose every address, display name,
//     subject, text, HTML and the bounce recipient; their attachments are
//     deleted, as are the agents' pending uploads and the e-mail outbox
//     rows (replies and transcripts: recipients, subject, bodies) of those
//     contacts, sent or not;
//   - callbacks (a phone number) are deleted, their contacts unlinked;
//   - webhook outbox rows about the customer are deleted, delivered or not;
//   - merge reasons that involve the customer are emptied.
//
// Recording links have no table yet; the channel that adds them adds their
// erasure here (and to TestPurgeKeepsStatisticsAndLeavesNoPersonalData).
func (s *Store) Purge(ctx context.Context, tenant uuid.UUID, olderThan time.Duration) (int, error) {
	if olderThan < 0 {
		return 0, fmt.Errorf("purge: negative retention: %w", ErrInvalid)
	}
	n := 0
	for {
		purged, err := s.purgeOne(ctx, tenant, olderThan)
		if err != nil {
			return n, err
		}
		if !purged {
			return n, nil
		}
		n++
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}

// purgeOne purges the oldest due customer of tenant, if any.
func (s *Store) purgeOne(ctx context.Context, tenant uuid.UUID, olderThan time.Duration) (bool, error) {
	var found bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var c uuid.UUID
		err := tx.QueryRow(ctx, `
			SELECT id FROM customers
			WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND purged_at IS NULL
			  AND deleted_at <= now() - make_interval(secs => $2)
			ORDER BY deleted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`, tenant, olderThan.Seconds()).Scan(&c)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		found = true
		return purgeCustomer(ctx, tx, tenant, c)
	})
	return found, err
}

// purgedEmails selects the e-mails a purge of customer $2 of tenant $1
// erases: those of the customer or of their contacts, and those without a
// contact (noise: auto-replies, bounces) from one of their addresses or
// bouncing at one. It reads contacts and identities, so the steps that use
// it run before those lose the customer.
const purgedEmails = `
		SELECT e.id FROM email_messages e
		WHERE e.tenant_id = $1 AND (e.customer_id = $2
		   OR e.contact_id IN (SELECT id FROM contacts WHERE tenant_id = $1 AND customer_id = $2)
		   OR (e.contact_id IS NULL AND (e.from_addr <> '' OR e.bounce_recipient <> '') AND EXISTS (
		       SELECT 1 FROM customer_identities i
		       WHERE i.tenant_id = $1 AND i.customer_id = $2 AND i.kind = 'email'
		         AND lower(i.value) IN (lower(e.from_addr), lower(e.bounce_recipient)))))`

// purgeSteps erase one customer ($2) of tenant ($1), in this order (the
// contacts' messages, attachments and e-mail before the contacts lose
// their customer, e-mail before the identities that find its noise).
var purgeSteps = []struct{ what, sql string }{
	{"messages", `
		UPDATE messages m SET body = '', purged = true, idempotency_key = NULL
		FROM contacts c
		WHERE c.tenant_id = $1 AND c.customer_id = $2 AND m.tenant_id = c.tenant_id AND m.contact_id = c.id`},
	{"chat attachments", `
		DELETE FROM chat_attachments a USING contacts c
		WHERE c.tenant_id = $1 AND c.customer_id = $2 AND a.tenant_id = c.tenant_id AND a.contact_id = c.id`},
	{"e-mail uploads", `
		DELETE FROM email_uploads u USING contacts c
		WHERE c.tenant_id = $1 AND c.customer_id = $2 AND u.tenant_id = c.tenant_id AND u.contact_id = c.id`},
	{"e-mail outbox", `
		DELETE FROM email_outbox o USING contacts c
		WHERE c.tenant_id = $1 AND c.customer_id = $2 AND o.tenant_id = c.tenant_id AND o.contact_id = c.id`},
	{"e-mail attachments", `
		DELETE FROM email_attachments a
		WHERE a.tenant_id = $1 AND (a.email_id IN (` + purgedEmails + `)
		   OR a.contact_id IN (SELECT id FROM contacts WHERE tenant_id = $1 AND customer_id = $2))`},
	{"e-mail messages", `
		UPDATE email_messages SET from_addr = '', from_name = '', reply_to_addrs = '{}', to_addrs = '{}', cc_addrs = '{}',
		       subject = '', subject_key = '', text_body = '', html_sanitized = '', html_original = '', quoted_folded = '',
		       bounce_recipient = ''
		WHERE tenant_id = $1 AND id IN (` + purgedEmails + `)`},
	{"calls", `
		UPDATE calls k SET from_number = '', recording_url = '', transferred_to = '', customer_id = NULL, candidates = '{}'
		WHERE k.tenant_id = $1 AND (k.customer_id = $2 OR k.candidates @> ARRAY[$2::uuid]
		   OR k.contact_id IN (SELECT id FROM contacts WHERE tenant_id = $1 AND customer_id = $2))`},
	{"callback links", `
		UPDATE contacts SET callback_id = NULL
		WHERE tenant_id = $1 AND callback_id IN (SELECT id FROM callbacks WHERE tenant_id = $1 AND customer_id = $2)`},
	{"callbacks", `DELETE FROM callbacks WHERE tenant_id = $1 AND customer_id = $2`},
	{"contacts", `
		UPDATE contacts SET subject = '', wrap_up = '', customer_id = NULL, candidates = '{}'
		WHERE tenant_id = $1 AND customer_id = $2`},
	{"candidates", `
		UPDATE contacts SET candidates = array_remove(candidates, $2::uuid)
		WHERE tenant_id = $1 AND candidates <> '{}' AND candidates @> ARRAY[$2::uuid]`},
	{"identities", `DELETE FROM customer_identities WHERE tenant_id = $1 AND customer_id = $2`},
	{"shares", `DELETE FROM customer_shares WHERE tenant_id = $1 AND customer_id = $2`},
	{"vehicles", `
		WITH gone AS (
			DELETE FROM customer_vehicles WHERE tenant_id = $1 AND customer_id = $2 RETURNING vehicle_id)
		UPDATE vehicles v SET vin = '', plate = '', external_system = '', external_id = '', updated_at = now()
		FROM gone
		WHERE v.tenant_id = $1 AND v.id = gone.vehicle_id
		  AND NOT EXISTS (SELECT 1 FROM customer_vehicles o
		                  WHERE o.tenant_id = v.tenant_id AND o.vehicle_id = v.id AND o.customer_id <> $2)`},
	{"service orders", `UPDATE service_orders SET description = '' WHERE tenant_id = $1 AND customer_id = $2`},
	{"deals", `UPDATE deals SET vehicle_desc = '', contract_ref = '' WHERE tenant_id = $1 AND customer_id = $2`},
	{"follow-ups", `UPDATE follow_ups SET note = '' WHERE tenant_id = $1 AND customer_id = $2`},
	{"outbox", `DELETE FROM webhook_outbox WHERE tenant_id = $1 AND customer_id = $2`},
	{"duplicate dismissals", `
		UPDATE duplicate_dismissals SET reason = '-'
		WHERE tenant_id = $1 AND (customer_a = $2 OR customer_b = $2)`},
	{"merge reasons", `
		UPDATE customer_merges SET reason = ''
		WHERE tenant_id = $1 AND reason <> '' AND (survivor_id = $2 OR merged_ids @> ARRAY[$2::uuid])`},
	{"customer", `
		UPDATE customers SET name = '', notes = '', language = '', name_pinyin = '', name_initials = '',
		       purged_at = now(), updated_at = now()
		WHERE tenant_id = $1 AND id = $2`},
}

func purgeCustomer(ctx context.Context, tx pgx.Tx, tenant, customer uuid.UUID) error {
	for _, st := range purgeSteps {
		if _, err := tx.Exec(ctx, st.sql, tenant, customer); err != nil {
			return fmt.Errorf("purge customer %s: %s: %w", customer, st.what, err)
		}
	}
	return nil
}

// Purger runs Purge for every tenant with customers due, now and then.
type Purger struct {
	store    *Store
	after    time.Duration
	interval time.Duration
	log      *slog.Logger
}

// NewPurger returns a Purger erasing customers deleted more than after ago
// (0: DefaultPurgeAfter), looking every interval (0: an hour).
func NewPurger(store *Store, after, interval time.Duration, log *slog.Logger) *Purger {
	if after <= 0 {
		after = DefaultPurgeAfter
	}
	if interval <= 0 {
		interval = time.Hour
	}
	return &Purger{store: store, after: after, interval: interval, log: log}
}

// Run purges until ctx ends. Several nodes may run it: purgeOne skips the
// rows another node holds. A failed round is logged and retried next time.
func (p *Purger) Run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		if err := p.Once(ctx); err != nil && ctx.Err() == nil {
			p.log.ErrorContext(ctx, "purge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Once purges every tenant's due customers and returns the first error.
func (p *Purger) Once(ctx context.Context) error {
	rows, err := p.store.pool.Query(ctx, `
		SELECT DISTINCT tenant_id FROM customers
		WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND deleted_at <= now() - make_interval(secs => $1)`,
		p.after.Seconds())
	if err != nil {
		return fmt.Errorf("purge: tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("purge: tenants: %w", err)
	}
	for _, t := range tenants {
		n, err := p.store.Purge(ctx, t, p.after)
		if n > 0 {
			p.log.InfoContext(ctx, "customers purged", "tenant_id", t, "count", n)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
