package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// MergeRecord is one merge of others into a survivor, as the API shows it.
type MergeRecord struct {
	ID         uuid.UUID   `json:"id"`
	SurvivorID uuid.UUID   `json:"survivor_id"`
	MergedIDs  []uuid.UUID `json:"merged_ids"`
	ActorID    uuid.UUID   `json:"actor_id"`
	Reason     string      `json:"reason"`
	At         time.Time   `json:"at"`
	UndoneAt   *time.Time  `json:"undone_at,omitempty"`
	// Moved counts the rows that moved to the survivor, per kind.
	Moved map[string]int `json:"moved"`
}

// movedRow is a row that a merge gave the survivor: its id (for vehicle
// links, the vehicle's), the customer it came from, and the md5 of the row
// after the move. Undo moves it back only while the row still has that md5.
type movedRow struct {
	ID   uuid.UUID `json:"id"`
	From uuid.UUID `json:"from"`
	Sum  string    `json:"sum"`
}

// movedContact is a contact whose customer or candidates a merge rewrote,
// with what they were.
type movedContact struct {
	ID         uuid.UUID   `json:"id"`
	CustomerID *uuid.UUID  `json:"customer_id"`
	Candidates []uuid.UUID `json:"candidates"`
	Sum        string      `json:"sum"`
}

// survivorBefore is what undo needs to give the survivor its own fields
// back, without keeping personal data in the merge record: the name and
// language were empty when Filled (the merge took another's), the notes
// were their first NotesLen characters (the merge appended the others').
type survivorBefore struct {
	FilledName     bool       `json:"filled_name"`
	FilledLanguage bool       `json:"filled_language"`
	NotesLen       int        `json:"notes_len"`
	OwnerID        *uuid.UUID `json:"owner_id"`
	SiteID         *uuid.UUID `json:"site_id"`
	Tier           string     `json:"tier"`
	UpdatedAt      time.Time  `json:"updated_at"`
	After          string     `json:"after"` // md5 of the survivor's row after the merge
}

// mergeSnapshot is customer_merges.moved: exactly what the merge changed.
type mergeSnapshot struct {
	Survivor survivorBefore        `json:"survivor"`
	Rows     map[string][]movedRow `json:"rows"`
	Contacts []movedContact        `json:"contacts"`
}

// movable is a table whose rows belong to one customer by customer_id.
// distinct names the columns of which the survivor keeps one row per value
// (an identity the survivor already has stays with the merged customer,
// where nothing resolves to it); a row of its own otherwise.
type movable struct {
	kind, table, distinct string
}

// Everything that points at a customer moves, except the webhook outbox
// (events already told stay about whom they were told) and merge records
// themselves. Vehicle links and contacts are handled on their own.
var movables = []movable{
	{"identities", "customer_identities", "x.kind, x.system, x.value"},
	{"service_orders", "service_orders", "x.id"},
	{"deals", "deals", "x.id"},
	{"follow_ups", "follow_ups", "x.id"},
	{"callbacks", "callbacks", "x.id"},
	{"shares", "customer_shares", "x.site_id, x.team_id"},
}

// tierRank orders tiers for a merge: the survivor takes the best of them,
// so that merging never lowers a customer's routing priority before the
// tier job recomputes it from the combined revenue.
func tierRank(t string) int {
	switch t {
	case "vip", "platinum":
		return 4
	case "gold":
		return 3
	case "growth":
		return 2
	case "standard":
		return 1
	}
	return 0
}

type mergeCustomer struct {
	id                    uuid.UUID
	name, language, notes string
	owner, site           *uuid.UUID
	tier                  string
	deleted               bool
	mergedInto            *uuid.UUID
	purged                bool
	updatedAt             time.Time
	sum                   string
}

// lockMergeCustomers takes the identity locks of every identity of ids (in
// Resolve's order, so a concurrent resolve waits rather than adding to a
// customer being merged), then the customers' rows in id order.
func lockMergeCustomers(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]mergeCustomer, error) {
	// Fingerprints are md5 of a row's text: fix the settings that shape it.
	if _, err := tx.Exec(ctx, `SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
		set_config('extra_float_digits', '3', true)`); err != nil {
		return nil, fmt.Errorf("merge: settings: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT kind, system, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = ANY ($2)`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("merge: identities: %w", err)
	}
	idents, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Identity, error) {
		var i Identity
		return i, r.Scan(&i.Kind, &i.System, &i.Value)
	})
	if err != nil {
		return nil, fmt.Errorf("merge: identities: %w", err)
	}
	slices.SortFunc(idents, compareIdentity)
	idents = slices.CompactFunc(idents, func(a, b Identity) bool { return compareIdentity(a, b) == 0 })
	if len(idents) > 0 {
		if err := lockIdentities(ctx, tx, tenant, idents); err != nil {
			return nil, err
		}
	}
	rows, err = tx.Query(ctx, `
		SELECT id, name, language, notes, owner_id, site_id, tier, deleted_at IS NOT NULL, merged_into,
		       purged_at IS NOT NULL, updated_at, md5(c::text)
		FROM customers c WHERE tenant_id = $1 AND id = ANY ($2) ORDER BY id FOR UPDATE`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("merge: lock customers: %w", err)
	}
	out := map[uuid.UUID]mergeCustomer{}
	var m mergeCustomer
	_, err = pgx.ForEachRow(rows, []any{&m.id, &m.name, &m.language, &m.notes, &m.owner, &m.site, &m.tier, &m.deleted,
		&m.mergedInto, &m.purged, &m.updatedAt, &m.sum}, func() error {
		out[m.id] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("merge: lock customers: %w", err)
	}
	return out, nil
}

// Merge makes others one customer with survivor, in one transaction:
// identities (one of each: a value the survivor already has stays behind),
// vehicle links (likewise), contacts (and their candidate lists: a contact
// left with the survivor as its only candidate gets it as its customer),
// service orders, deals, follow-ups, callbacks and shares move to the
// survivor; the others' notes are appended to the survivor's.
//
// Fields: the survivor keeps its name, language, owner and site of record
// and takes the first other's (in the order given) only where its own is
// empty; its tier becomes the best of all (vip/platinum > gold > growth >
// standard), so a merge never lowers routing priority before the tier job
// recomputes it. The others are soft-deleted with merged_into = survivor.
//
// The merge record keeps exactly what moved, for UndoMerge; the audit log
// says who and when, with the merge's id and the counts; the reason stays
// in the merge record, since the audit log holds no free text.
func (s *Store) Merge(ctx context.Context, tenant, actor, survivor uuid.UUID, others []uuid.UUID, reason string) (MergeRecord, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case survivor == uuid.Nil, actor == uuid.Nil, len(others) == 0, len(others) > 50:
		return MergeRecord{}, fmt.Errorf("merge: a survivor, an actor and 1 to 50 others are required: %w", ErrInvalid)
	case len(reason) > 1000, !utf8.ValidString(reason), strings.ContainsRune(reason, 0):
		return MergeRecord{}, fmt.Errorf("merge: reason must be text of at most 1000 bytes: %w", ErrInvalid)
	}
	seen := map[uuid.UUID]bool{survivor: true}
	for _, o := range others {
		if o == uuid.Nil || seen[o] {
			return MergeRecord{}, fmt.Errorf("merge: others must be distinct and not the survivor: %w", ErrInvalid)
		}
		seen[o] = true
	}
	all := append([]uuid.UUID{survivor}, others...)
	rec := MergeRecord{ID: dbid.New(), SurvivorID: survivor, MergedIDs: others, ActorID: actor, Reason: reason, Moved: map[string]int{}}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cs, err := lockMergeCustomers(ctx, tx, tenant, all)
		if err != nil {
			return err
		}
		for _, id := range all {
			if c, ok := cs[id]; !ok || c.deleted {
				return fmt.Errorf("merge: customer %s: %w", id, ErrNotFound)
			}
		}
		sur := cs[survivor]
		snap := mergeSnapshot{Rows: map[string][]movedRow{}, Contacts: []movedContact{}}
		snap.Survivor = survivorBefore{NotesLen: utf8.RuneCountInString(sur.notes), OwnerID: sur.owner, SiteID: sur.site,
			Tier: sur.tier, UpdatedAt: sur.updatedAt}
		name, language, notes, owner, site, tier := sur.name, sur.language, sur.notes, sur.owner, sur.site, sur.tier
		for _, id := range others {
			o := cs[id]
			if name == "" && o.name != "" {
				name, snap.Survivor.FilledName = o.name, true
			}
			if language == "" && o.language != "" {
				language, snap.Survivor.FilledLanguage = o.language, true
			}
			if o.notes != "" {
				if notes != "" {
					notes += "\n\n"
				}
				notes += o.notes
			}
			if owner == nil {
				owner = o.owner
			}
			if site == nil {
				site = o.site
			}
			if tierRank(o.tier) > tierRank(tier) {
				tier = o.tier
			}
		}

		for _, m := range movables {
			moved, err := moveRows(ctx, tx, tenant, survivor, others, m)
			if err != nil {
				return err
			}
			snap.Rows[m.table], rec.Moved[m.kind] = moved, len(moved)
		}
		if snap.Rows["vehicles"], err = moveVehicleLinks(ctx, tx, tenant, survivor, others); err != nil {
			return err
		}
		rec.Moved["vehicles"] = len(snap.Rows["vehicles"])
		if snap.Contacts, err = moveContacts(ctx, tx, tenant, survivor, others); err != nil {
			return err
		}
		rec.Moved["contacts"] = len(snap.Contacts)

		pin, ini := nameKeys(name)
		err = tx.QueryRow(ctx, `
			UPDATE customers c SET name = $3, name_pinyin = $4, name_initials = $5, language = $6, notes = $7,
			       owner_id = $8, site_id = $9, tier = $10, updated_at = now()
			WHERE tenant_id = $1 AND id = $2
			RETURNING md5(c::text), updated_at`,
			tenant, survivor, name, pin, ini, language, notes, owner, site, tier).Scan(&snap.Survivor.After, new(time.Time))
		if err != nil {
			return mapWriteError("merge: survivor", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET deleted_at = now(), merged_into = $2 WHERE tenant_id = $1 AND id = ANY ($3)`,
			tenant, survivor, others); err != nil {
			return fmt.Errorf("merge: retire merged customers: %w", err)
		}
		moved, err := json.Marshal(snap)
		if err != nil {
			return fmt.Errorf("merge: snapshot: %w", err)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO customer_merges (id, tenant_id, survivor_id, merged_ids, actor_id, reason, moved)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING at`,
			rec.ID, tenant, survivor, others, actor, reason, moved).Scan(&rec.At); err != nil {
			return mapWriteError("merge: record", err)
		}
		data := map[string]any{"merge_id": rec.ID, "merged_ids": others, "moved": rec.Moved}
		if (owner == nil) != (sur.owner == nil) || (owner != nil && *owner != *sur.owner) {
			data["owner_from"], data["owner_to"] = sur.owner, owner
		}
		if tier != sur.tier {
			data["tier_from"], data["tier_to"] = sur.tier, tier
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "customer.merge",
			TargetKind: "customer", TargetID: survivor, Data: data}); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated, map[string]any{
			"customer_id": survivor, "change": "merged", "merge_id": rec.ID, "merged_ids": others})
	})
	if err != nil {
		return MergeRecord{}, err
	}
	return rec, nil
}

// moveRows gives the survivor m's rows of others, one per m.distinct value
// it lacks, the first other (in the order given) winning.
func moveRows(ctx context.Context, tx pgx.Tx, tenant, survivor uuid.UUID, others []uuid.UUID, m movable) ([]movedRow, error) {
	lacks := ""
	if m.distinct != "x.id" {
		var same []string
		for _, col := range strings.Split(m.distinct, ", ") {
			c := strings.TrimPrefix(col, "x.")
			same = append(same, "y."+c+" IS NOT DISTINCT FROM x."+c)
		}
		lacks = ` AND NOT EXISTS (SELECT 1 FROM ` + m.table + ` y WHERE y.tenant_id = x.tenant_id AND y.customer_id = $2 AND ` +
			strings.Join(same, " AND ") + `)`
	}
	rows, err := tx.Query(ctx, `
		UPDATE `+m.table+` t SET customer_id = $2
		FROM (SELECT DISTINCT ON (`+m.distinct+`) x.id, x.customer_id AS old
		      FROM `+m.table+` x
		      WHERE x.tenant_id = $1 AND x.customer_id = ANY ($3)`+lacks+`
		      ORDER BY `+m.distinct+`, array_position($3, x.customer_id), x.id) o
		WHERE t.tenant_id = $1 AND t.id = o.id
		RETURNING t.id, o.old, md5(t::text)`, tenant, survivor, others)
	if err != nil {
		return nil, fmt.Errorf("merge: move %s: %w", m.kind, err)
	}
	moved, err := pgx.CollectRows(rows, scanMovedRow)
	if err != nil {
		return nil, fmt.Errorf("merge: move %s: %w", m.kind, err)
	}
	return moved, nil
}

func scanMovedRow(r pgx.CollectableRow) (movedRow, error) {
	var m movedRow
	return m, r.Scan(&m.ID, &m.From, &m.Sum)
}

// moveVehicleLinks gives the survivor the others' links to vehicles it is
// not linked to yet; a movedRow's ID is the vehicle's.
func moveVehicleLinks(ctx context.Context, tx pgx.Tx, tenant, survivor uuid.UUID, others []uuid.UUID) ([]movedRow, error) {
	rows, err := tx.Query(ctx, `
		UPDATE customer_vehicles t SET customer_id = $2
		FROM (SELECT DISTINCT ON (x.vehicle_id) x.vehicle_id, x.customer_id AS old
		      FROM customer_vehicles x
		      WHERE x.tenant_id = $1 AND x.customer_id = ANY ($3)
		        AND NOT EXISTS (SELECT 1 FROM customer_vehicles y
		                        WHERE y.tenant_id = x.tenant_id AND y.customer_id = $2 AND y.vehicle_id = x.vehicle_id)
		      ORDER BY x.vehicle_id, array_position($3, x.customer_id)) o
		WHERE t.tenant_id = $1 AND t.customer_id = o.old AND t.vehicle_id = o.vehicle_id
		RETURNING t.vehicle_id, o.old, md5(t::text)`, tenant, survivor, others)
	if err != nil {
		return nil, fmt.Errorf("merge: move vehicles: %w", err)
	}
	moved, err := pgx.CollectRows(rows, scanMovedRow)
	if err != nil {
		return nil, fmt.Errorf("merge: move vehicles: %w", err)
	}
	return moved, nil
}

// contactSum is the md5 of what a merge changes on a contact; the rest of
// the contact (state, messages) goes on living and does not block undo.
const contactSum = `md5(json_build_array(c.customer_id, c.candidates)::text)`

// moveContacts points the others' contacts at the survivor and rewrites
// candidate lists that name them.
func moveContacts(ctx context.Context, tx pgx.Tx, tenant, survivor uuid.UUID, others []uuid.UUID) ([]movedContact, error) {
	rows, err := tx.Query(ctx, `
		UPDATE contacts c SET customer_id = n.new_customer, candidates = n.new_candidates
		FROM (
			SELECT o.id, o.customer_id AS old_customer, o.candidates AS old_candidates,
			       CASE WHEN o.customer_id = ANY ($3) THEN $2::uuid
			            WHEN o.customer_id IS NULL AND cardinality(nc.c) = 1 THEN nc.c[1]
			            ELSE o.customer_id END AS new_customer,
			       CASE WHEN o.customer_id IS NULL AND cardinality(nc.c) = 1 THEN '{}'::uuid[] ELSE nc.c END AS new_candidates
			FROM contacts o
			CROSS JOIN LATERAL (
				SELECT COALESCE(array_agg(DISTINCT CASE WHEN x = ANY ($3) THEN $2::uuid ELSE x END), '{}'::uuid[]) AS c
				FROM unnest(o.candidates) x) nc
			WHERE o.tenant_id = $1 AND (o.customer_id = ANY ($3) OR (o.candidates <> '{}' AND o.candidates && $3::uuid[]))
		) n
		WHERE c.tenant_id = $1 AND c.id = n.id
		RETURNING c.id, n.old_customer, n.old_candidates, `+contactSum, tenant, survivor, others)
	if err != nil {
		return nil, fmt.Errorf("merge: move contacts: %w", err)
	}
	moved, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (movedContact, error) {
		var m movedContact
		err := r.Scan(&m.ID, &m.CustomerID, &m.Candidates, &m.Sum)
		if m.Candidates == nil {
			m.Candidates = []uuid.UUID{}
		}
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("merge: move contacts: %w", err)
	}
	return moved, nil
}

// errChanged rolls an undo back when something it would restore changed
// after the merge.
func errChanged(what string) error {
	return fmt.Errorf("undo merge: %s changed since the merge: %w", what, ErrConflict)
}

// UndoMerge puts everything a merge moved back where it was and brings the
// merged customers back, in one transaction, and marks the merge undone.
// It refuses with ErrConflict, changing nothing, when the merge was undone
// already or a later change conflicts: the survivor's record changed
// (edited, deleted, merged again), a merged customer was restored, merged
// elsewhere or purged, or any moved row changed or moved again since (for
// contacts: their customer or candidates; their state and messages go on).
// Rows added to the survivor after the merge stay with the survivor.
func (s *Store) UndoMerge(ctx context.Context, tenant, actor, mergeID uuid.UUID) (MergeRecord, error) {
	var rec MergeRecord
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `
			SELECT survivor_id, merged_ids, actor_id, reason, at, undone_at, moved
			FROM customer_merges WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, mergeID).Scan(
			&rec.SurvivorID, &rec.MergedIDs, &rec.ActorID, &rec.Reason, &rec.At, &rec.UndoneAt, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("undo merge %s: %w", mergeID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("undo merge %s: %w", mergeID, err)
		}
		rec.ID = mergeID
		if rec.UndoneAt != nil {
			return fmt.Errorf("undo merge %s: already undone: %w", mergeID, ErrConflict)
		}
		var snap mergeSnapshot
		if err := json.Unmarshal(raw, &snap); err != nil {
			return fmt.Errorf("undo merge %s: snapshot: %w", mergeID, err)
		}
		cs, err := lockMergeCustomers(ctx, tx, tenant, append([]uuid.UUID{rec.SurvivorID}, rec.MergedIDs...))
		if err != nil {
			return err
		}
		if sur := cs[rec.SurvivorID]; sur.deleted || sur.sum != snap.Survivor.After {
			return errChanged("the surviving customer")
		}
		for _, id := range rec.MergedIDs {
			if c := cs[id]; !c.deleted || c.purged || c.mergedInto == nil || *c.mergedInto != rec.SurvivorID {
				return errChanged("a merged customer")
			}
		}
		rec.Moved = map[string]int{}
		for _, m := range movables {
			if err := moveBack(ctx, tx, tenant, m.table, `t.id = m.id`, snap.Rows[m.table]); err != nil {
				return err
			}
			rec.Moved[m.kind] = len(snap.Rows[m.table])
		}
		if err := moveBack(ctx, tx, tenant, "customer_vehicles", `t.customer_id = $5 AND t.vehicle_id = m.id`,
			snap.Rows["vehicles"], rec.SurvivorID); err != nil {
			return err
		}
		rec.Moved["vehicles"] = len(snap.Rows["vehicles"])
		contacts, err := json.Marshal(snap.Contacts)
		if err != nil {
			return fmt.Errorf("undo merge: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE contacts c SET customer_id = m.customer_id, candidates = m.candidates
			FROM jsonb_to_recordset($2::jsonb) AS m (id uuid, customer_id uuid, candidates uuid[], sum text)
			WHERE c.tenant_id = $1 AND c.id = m.id AND `+contactSum+` = m.sum`, tenant, contacts)
		if err != nil {
			return mapUndoError("contacts", err)
		}
		if int(tag.RowsAffected()) != len(snap.Contacts) {
			return errChanged("a moved contact")
		}
		rec.Moved["contacts"] = len(snap.Contacts)

		b := snap.Survivor
		pin, ini := nameKeys("")
		if _, err := tx.Exec(ctx, `
			UPDATE customers SET
			       name = CASE WHEN $3 THEN '' ELSE name END,
			       name_pinyin = CASE WHEN $3 THEN $4 ELSE name_pinyin END,
			       name_initials = CASE WHEN $3 THEN $5 ELSE name_initials END,
			       language = CASE WHEN $6 THEN '' ELSE language END,
			       notes = left(notes, $7), owner_id = $8, site_id = $9, tier = $10, updated_at = $11
			WHERE tenant_id = $1 AND id = $2`,
			tenant, rec.SurvivorID, b.FilledName, pin, ini, b.FilledLanguage, b.NotesLen, b.OwnerID, b.SiteID, b.Tier, b.UpdatedAt); err != nil {
			return mapUndoError("survivor", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET deleted_at = NULL, merged_into = NULL WHERE tenant_id = $1 AND id = ANY ($2)`,
			tenant, rec.MergedIDs); err != nil {
			return mapUndoError("merged customers", err)
		}
		if err := tx.QueryRow(ctx, `UPDATE customer_merges SET undone_at = now(), undone_by = $3 WHERE tenant_id = $1 AND id = $2 RETURNING undone_at`,
			tenant, mergeID, actor).Scan(&rec.UndoneAt); err != nil {
			return mapWriteError("undo merge: record", err)
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "customer.merge_undo",
			TargetKind: "customer", TargetID: rec.SurvivorID,
			Data: map[string]any{"merge_id": mergeID, "merged_ids": rec.MergedIDs, "moved": rec.Moved}}); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated, map[string]any{
			"customer_id": rec.SurvivorID, "change": "merge_undone", "merge_id": mergeID, "merged_ids": rec.MergedIDs})
	})
	if err != nil {
		return MergeRecord{}, err
	}
	return rec, nil
}

// moveBack returns moved rows of table to the customers they came from,
// each only while its md5 is what the merge left; one that changed fails
// the undo. match joins t to m (id, from_, sum); extra are $5 on.
func moveBack(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, table, match string, rows []movedRow, extra ...any) error {
	if len(rows) == 0 {
		return nil
	}
	ids, froms, sums := make([]uuid.UUID, len(rows)), make([]uuid.UUID, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		ids[i], froms[i], sums[i] = r.ID, r.From, r.Sum
	}
	tag, err := tx.Exec(ctx, `
		UPDATE `+table+` t SET customer_id = m.from_
		FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS m (id, from_, sum)
		WHERE t.tenant_id = $1 AND `+match+` AND md5(t::text) = m.sum`,
		append([]any{tenant, ids, froms, sums}, extra...)...)
	if err != nil {
		return mapUndoError(table, err)
	}
	if int(tag.RowsAffected()) != len(rows) {
		return errChanged("a moved row of " + table)
	}
	return nil
}

// mapUndoError: a row added since the merge that now collides with one
// moving back (the same identity given to the merged customer again) is a
// conflict like any other change.
func mapUndoError(what string, err error) error {
	if pgCode(err) == codeUniqueViolation {
		return errChanged("a row of " + what)
	}
	return fmt.Errorf("undo merge: %s: %w", what, err)
}

// Merges returns the merges into survivor, newest first (uuid.Nil: the
// tenant's), at most 100.
func (s *Store) Merges(ctx context.Context, tenant, survivor uuid.UUID) ([]MergeRecord, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, survivor_id, merged_ids, actor_id, reason, at, undone_at, moved
		FROM customer_merges
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR survivor_id = $2)
		ORDER BY at DESC, id DESC LIMIT 100`, tenant, dbid.Null(survivor))
	if err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MergeRecord, error) {
		var m MergeRecord
		var raw []byte
		if err := r.Scan(&m.ID, &m.SurvivorID, &m.MergedIDs, &m.ActorID, &m.Reason, &m.At, &m.UndoneAt, &raw); err != nil {
			return m, err
		}
		var snap mergeSnapshot
		if err := json.Unmarshal(raw, &snap); err != nil {
			return m, err
		}
		m.Moved = map[string]int{"contacts": len(snap.Contacts)}
		for _, mv := range movables {
			m.Moved[mv.kind] = len(snap.Rows[mv.table])
		}
		m.Moved["vehicles"] = len(snap.Rows["vehicles"])
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	return out, nil
}
