package crm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// ConflictError is the ErrConflict of a write that would give a record
// something that already belongs to another one (an identity, an order
// number); nothing was written. It says which other record holds it. It names the field and the other record's id, never the value
// (a phone number or an e-mail address is personal data).
type ConflictError struct {
	Field   string    // "phone", "email", "external", "number", …
	Other   string    // what OtherID is: "customer", "order", "vehicle", "deal"
	OtherID uuid.UUID // the record that has it
	// Deleted is set when the other record is in the recycle bin.
	Deleted bool
}

func (e *ConflictError) Error() string {
	if e.Deleted {
		return fmt.Sprintf("%s belongs to %s %s, which is deleted", e.Field, e.Other, e.OtherID)
	}
	return fmt.Sprintf("%s already belongs to %s %s", e.Field, e.Other, e.OtherID)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// invalid is ErrInvalid with a message a client can act on. The message
// names the field, never the value.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

// cleanText trims s and checks what PostgreSQL text and the API accept.
func cleanText(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", invalid("%s is not valid text", field)
	}
	if utf8.RuneCountInString(s) > max {
		return "", invalid("%s is longer than %d characters", field, max)
	}
	return s, nil
}

var (
	languageTag = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$`)
	tierName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	amountText  = regexp.MustCompile(`^[0-9]{1,10}(\.[0-9]{1,2})?$`)
	dateText    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// canonicalAmount turns a decimal ("860", "860.5") into the form
// numeric(12,2)::text gives back ("860.00", "860.50"), so that an unchanged
// amount compares equal.
func canonicalAmount(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if !amountText.MatchString(s) {
		return "", invalid("%s must be a decimal number like 860.00", field)
	}
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	return whole + "." + (frac + "00")[:2], nil
}

// checkDate wants YYYY-MM-DD, a real calendar date.
func checkDate(field, s string) error {
	if !dateText.MatchString(s) {
		return invalid("%s must be a date like 2026-05-01", field)
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return invalid("%s is not a calendar date", field)
	}
	return nil
}

// refTables are the tables a body may point into, with what must hold of
// the row. Constants only: the name goes into SQL text.
var refTables = map[string]string{
	"user":     `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 AND active)`,
	"agent":    `SELECT EXISTS (SELECT 1 FROM agents a JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.id WHERE a.tenant_id = $1 AND a.id = $2 AND u.active)`,
	"site":     `SELECT EXISTS (SELECT 1 FROM sites WHERE tenant_id = $1 AND id = $2)`,
	"vehicle":  `SELECT EXISTS (SELECT 1 FROM vehicles WHERE tenant_id = $1 AND id = $2)`,
	"customer": `SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL)`,
}

// checkRef tells a client which id in its body does not name a record of
// the tenant (another tenant's id included), rather than letting a foreign
// key fail with a less precise error. Nil ids pass.
func checkRef(ctx context.Context, q dbtx, tenant uuid.UUID, id *uuid.UUID, what, field string) error {
	if id == nil || *id == uuid.Nil {
		return nil
	}
	var ok bool
	if err := q.QueryRow(ctx, refTables[what], tenant, *id).Scan(&ok); err != nil {
		return fmt.Errorf("check %s: %w", field, err)
	}
	if !ok {
		return invalid("%s is not a%s %s of this tenant", field, map[bool]string{true: "n", false: ""}[strings.ContainsRune("aeiou", rune(what[0]))], what)
	}
	return nil
}

// IdentityInput is an identity as a person or a system gives it: phones in
// any usual format, e-mails in any case. Consent says where and when the
// customer agreed to be contacted this way (PIPL).
type IdentityInput struct {
	Kind          string     `json:"kind"`
	System        string     `json:"system,omitempty"`
	Value         string     `json:"value"`
	ConsentSource string     `json:"consent_source,omitempty"`
	ConsentAt     *time.Time `json:"consent_at,omitempty"`
}

// IdentityRecord is a stored identity.
type IdentityRecord struct {
	ID            uuid.UUID  `json:"id"`
	Kind          string     `json:"kind"`
	System        string     `json:"system,omitempty"`
	Value         string     `json:"value"`
	ConsentSource string     `json:"consent_source,omitempty"`
	ConsentAt     *time.Time `json:"consent_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// NormalizePhoneAt is NormalizePhone with a site's dialling rules: in a
// country with area codes (CN), a bare local fixed-line number of 7 or 8
// digits is in the site's area ("12345678" at a Shanghai site, area code
// 21, is +862112345678). Mobile numbers, numbers with a trunk prefix or an
// international prefix are read as NormalizePhone reads them.
func NormalizePhoneAt(raw, country, areaCode string) (string, error) {
	local := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')':
			return -1
		}
		return r
	}, strings.TrimSpace(raw))
	if areaCode != "" && (len(local) == 7 || len(local) == 8) && local[0] >= '2' && local[0] <= '9' &&
		strings.Trim(local, "0123456789") == "" && (country == "" || strings.EqualFold(country, "CN")) {
		raw = "0" + areaCode + local
	}
	return NormalizePhone(raw, country)
}

// dialRules returns the country and area code phones are read with for a
// customer of site (uuid.Nil: China without an area code).
func dialRules(ctx context.Context, q dbtx, tenant, site uuid.UUID) (country, area string, err error) {
	if site == uuid.Nil {
		return "CN", "", nil
	}
	err = q.QueryRow(ctx, `SELECT country, area_code FROM sites WHERE tenant_id = $1 AND id = $2`, tenant, site).Scan(&country, &area)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", invalid("site_id is not a site of this tenant")
	} else if err != nil {
		return "", "", fmt.Errorf("site %s: %w", site, err)
	}
	return country, area, nil
}

var externalSystem = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// normalizeIdentity checks one identity and puts its value in stored form.
// Errors say which identity (by position and kind) and never repeat it.
func normalizeIdentity(i int, in IdentityInput, country, area string) (IdentityInput, error) {
	var err error
	in.Kind = strings.TrimSpace(in.Kind)
	switch in.Kind {
	case KindPhone:
		in.Value, err = NormalizePhoneAt(in.Value, country, area)
		if err != nil {
			return in, invalid("identities[%d]: not a valid phone number", i)
		}
		in.System = ""
	case KindEmail:
		in.Value, err = NormalizeEmail(in.Value)
		if err != nil {
			return in, invalid("identities[%d]: not a valid e-mail address", i)
		}
		in.System = ""
	case KindExternal:
		if in.System = strings.ToLower(strings.TrimSpace(in.System)); !externalSystem.MatchString(in.System) {
			return in, invalid("identities[%d]: an external id needs a system of lower-case letters, digits, '.', '_' or '-'", i)
		}
		in.Value = strings.TrimSpace(in.Value)
	case KindWeChat, KindChat:
		in.Value = strings.TrimSpace(in.Value)
	default:
		return in, invalid("identities[%d]: kind must be phone, email, wechat, chat or external", i)
	}
	if !(Identity{Kind: in.Kind, System: in.System, Value: in.Value}).valid() {
		return in, invalid("identities[%d]: empty or malformed value", i)
	}
	if in.ConsentSource, err = cleanText(fmt.Sprintf("identities[%d].consent_source", i), in.ConsentSource, 200); err != nil {
		return in, err
	}
	if in.ConsentAt != nil {
		t := in.ConsentAt.UTC().Truncate(time.Microsecond)
		in.ConsentAt = &t
	}
	return in, nil
}

// CustomerRecord is a customer as the REST API reads it.
type CustomerRecord struct {
	ID         uuid.UUID        `json:"id"`
	Kind       string           `json:"kind"`
	Name       string           `json:"name"`
	Language   string           `json:"language"`
	Notes      string           `json:"notes"`
	Tier       string           `json:"tier"`
	OwnerID    *uuid.UUID       `json:"owner_id"`
	SiteID     *uuid.UUID       `json:"site_id"`
	Identities []IdentityRecord `json:"identities"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
}

// CustomerFields are a customer's writable fields. Nil leaves a field as it
// is (PATCH, upsert) or takes its default (create). OwnerID and SiteID
// pointing at uuid.Nil clear them.
type CustomerFields struct {
	Kind     *string
	Name     *string
	Language *string
	Notes    *string
	Tier     *string
	OwnerID  *uuid.UUID
	SiteID   *uuid.UUID
}

func uuidPtr(id *uuid.UUID) *uuid.UUID {
	if id == nil || *id == uuid.Nil {
		return nil
	}
	v := *id
	return &v
}

func sameID(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// apply validates f and returns c with f's fields set.
func (f CustomerFields) apply(c CustomerRecord) (CustomerRecord, error) {
	var err error
	if f.Kind != nil {
		if c.Kind = *f.Kind; c.Kind != "person" && c.Kind != "company" {
			return c, invalid("kind must be person or company")
		}
	}
	if f.Name != nil {
		if c.Name, err = cleanText("name", *f.Name, 200); err != nil {
			return c, err
		}
	}
	if f.Language != nil {
		if c.Language = strings.TrimSpace(*f.Language); c.Language != "" && !languageTag.MatchString(c.Language) {
			return c, invalid("language must be a language tag like zh-CN or en")
		}
	}
	if f.Notes != nil {
		if c.Notes, err = cleanText("notes", *f.Notes, 10000); err != nil {
			return c, err
		}
	}
	if f.Tier != nil {
		if c.Tier = strings.TrimSpace(*f.Tier); !tierName.MatchString(c.Tier) {
			return c, invalid("tier must be a lower-case word like gold, growth or standard")
		}
	}
	if f.OwnerID != nil {
		c.OwnerID = uuidPtr(f.OwnerID)
	}
	if f.SiteID != nil {
		c.SiteID = uuidPtr(f.SiteID)
	}
	return c, nil
}

// sameFields tells whether a write would change nothing.
func (c CustomerRecord) sameFields(d CustomerRecord) bool {
	return c.Kind == d.Kind && c.Name == d.Name && c.Language == d.Language && c.Notes == d.Notes &&
		c.Tier == d.Tier && sameID(c.OwnerID, d.OwnerID) && sameID(c.SiteID, d.SiteID)
}

const customerRecordSelect = `
SELECT id, kind, name, language, notes, tier, owner_id, site_id, created_at, updated_at
FROM customers WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`

func customerRecord(ctx context.Context, q dbtx, tenant, id uuid.UUID, lock bool) (CustomerRecord, error) {
	sql := customerRecordSelect
	if lock {
		sql += ` FOR UPDATE`
	}
	var c CustomerRecord
	err := q.QueryRow(ctx, sql, tenant, id).Scan(&c.ID, &c.Kind, &c.Name, &c.Language, &c.Notes, &c.Tier,
		&c.OwnerID, &c.SiteID, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return CustomerRecord{}, fmt.Errorf("customer %s: %w", id, ErrNotFound)
	} else if err != nil {
		return CustomerRecord{}, fmt.Errorf("customer %s: %w", id, err)
	}
	rows, err := q.Query(ctx, `
		SELECT id, kind, system, value, consent_source, consent_at, created_at FROM customer_identities
		WHERE tenant_id = $1 AND customer_id = $2 ORDER BY kind, system, value`, tenant, id)
	if err != nil {
		return CustomerRecord{}, fmt.Errorf("identities of %s: %w", id, err)
	}
	c.Identities, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (IdentityRecord, error) {
		var i IdentityRecord
		var at *time.Time
		err := r.Scan(&i.ID, &i.Kind, &i.System, &i.Value, &i.ConsentSource, &at, &i.CreatedAt)
		i.ConsentAt = at
		return i, err
	})
	if err != nil {
		return CustomerRecord{}, fmt.Errorf("identities of %s: %w", id, err)
	}
	return c, nil
}

// CustomerRecord returns a customer with its identities. A deleted
// customer, or another tenant's, is ErrNotFound.
func (s *Store) CustomerRecord(ctx context.Context, tenant, id uuid.UUID) (CustomerRecord, error) {
	return customerRecord(ctx, s.pool, tenant, id, false)
}

// writeCustomer stores c's fields on a new (insert) or existing row, with
// the name's search keys (see nameKeys), and returns the stored times.
func writeCustomer(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, c *CustomerRecord, insert bool) error {
	pinyin, initials := nameKeys(c.Name)
	var err error
	if insert {
		err = tx.QueryRow(ctx, `
			INSERT INTO customers (id, tenant_id, kind, name, language, notes, tier, owner_id, site_id, name_pinyin, name_initials)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			RETURNING created_at, updated_at`,
			c.ID, tenant, c.Kind, c.Name, c.Language, c.Notes, c.Tier, c.OwnerID, c.SiteID, pinyin, initials).Scan(&c.CreatedAt, &c.UpdatedAt)
	} else {
		err = tx.QueryRow(ctx, `
			UPDATE customers SET kind = $3, name = $4, language = $5, notes = $6, tier = $7, owner_id = $8, site_id = $9,
			       name_pinyin = $10, name_initials = $11, updated_at = now()
			WHERE tenant_id = $1 AND id = $2
			RETURNING created_at, updated_at`,
			tenant, c.ID, c.Kind, c.Name, c.Language, c.Notes, c.Tier, c.OwnerID, c.SiteID, pinyin, initials).Scan(&c.CreatedAt, &c.UpdatedAt)
	}
	if err != nil {
		return mapWriteError("write customer", err)
	}
	return nil
}

// checkCustomerRefs checks the ids c points at.
func checkCustomerRefs(ctx context.Context, q dbtx, tenant uuid.UUID, c CustomerRecord) error {
	if err := checkRef(ctx, q, tenant, c.OwnerID, "user", "owner_id"); err != nil {
		return err
	}
	return checkRef(ctx, q, tenant, c.SiteID, "site", "site_id")
}

func siteOf(c CustomerRecord) uuid.UUID {
	if c.SiteID == nil {
		return uuid.Nil
	}
	return *c.SiteID
}

// NewCustomerRecord creates a customer from f and ids (phones read with the
// dialling rules of the customer's site of record). Identities another
// customer has too are allowed here (a household's landline): an agent
// creating a record means it. actor (uuid.Nil for a system) is audited as
// the owner's first assignment.
func (s *Store) NewCustomerRecord(ctx context.Context, tenant, actor uuid.UUID, f CustomerFields, ids []IdentityInput) (CustomerRecord, error) {
	c, err := f.apply(CustomerRecord{ID: dbid.New(), Kind: "person", Tier: "standard"})
	if err != nil {
		return CustomerRecord{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkCustomerRefs(ctx, tx, tenant, c); err != nil {
			return err
		}
		norm, err := normalizeIdentities(ctx, tx, tenant, siteOf(c), ids)
		if err != nil {
			return err
		}
		if err := lockIdentities(ctx, tx, tenant, lockList(norm)); err != nil {
			return err
		}
		if err := refuseTakenExternal(ctx, tx, tenant, c.ID, norm); err != nil {
			return err
		}
		if err := writeCustomer(ctx, tx, tenant, &c, true); err != nil {
			return err
		}
		if _, err := insertIdentities(ctx, tx, tenant, c.ID, norm); err != nil {
			return err
		}
		if c.OwnerID != nil && actor != uuid.Nil {
			if err := auditOwner(ctx, tx, tenant, actor, c.ID, nil, c.OwnerID); err != nil {
				return err
			}
		}
		if c, err = customerRecord(ctx, tx, tenant, c.ID, false); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventCustomerCreated, map[string]any{"customer_id": c.ID, "customer": c})
	})
	if err != nil {
		return CustomerRecord{}, err
	}
	return c, nil
}

// UpdateCustomer changes the fields f sets. When nothing changes, nothing is
// written: updated_at stays and no webhook goes out. changed tells which.
func (s *Store) UpdateCustomer(ctx context.Context, tenant, actor, id uuid.UUID, f CustomerFields) (c CustomerRecord, changed bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		c, changed, err = updateCustomer(ctx, tx, tenant, actor, id, f)
		return err
	})
	return c, changed, err
}

func updateCustomer(ctx context.Context, tx pgx.Tx, tenant, actor, id uuid.UUID, f CustomerFields) (CustomerRecord, bool, error) {
	cur, err := customerRecord(ctx, tx, tenant, id, true)
	if err != nil {
		return CustomerRecord{}, false, err
	}
	next, err := f.apply(cur)
	if err != nil {
		return CustomerRecord{}, false, err
	}
	if next.sameFields(cur) {
		return cur, false, nil
	}
	if err := checkCustomerRefs(ctx, tx, tenant, next); err != nil {
		return CustomerRecord{}, false, err
	}
	if err := writeCustomer(ctx, tx, tenant, &next, false); err != nil {
		return CustomerRecord{}, false, err
	}
	if !sameID(cur.OwnerID, next.OwnerID) && actor != uuid.Nil {
		if err := auditOwner(ctx, tx, tenant, actor, id, cur.OwnerID, next.OwnerID); err != nil {
			return CustomerRecord{}, false, err
		}
	}
	if err := enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated, map[string]any{"customer_id": id, "customer": next}); err != nil {
		return CustomerRecord{}, false, err
	}
	return next, true, nil
}

// auditOwner records an ownership change ("customer protection"): ids only.
func auditOwner(ctx context.Context, tx pgx.Tx, tenant, actor, customer uuid.UUID, from, to *uuid.UUID) error {
	return org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "customer.owner",
		TargetKind: "customer", TargetID: customer, Data: map[string]any{"from": from, "to": to}})
}

// normalizeIdentities normalises ids with the dialling rules of site and
// drops repeats (the last consent given wins).
func normalizeIdentities(ctx context.Context, q dbtx, tenant, site uuid.UUID, ids []IdentityInput) ([]IdentityInput, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > 50 {
		return nil, invalid("at most 50 identities at once")
	}
	country, area, err := dialRules(ctx, q, tenant, site)
	if err != nil {
		return nil, err
	}
	out := make([]IdentityInput, 0, len(ids))
	seen := map[Identity]int{}
	for i, in := range ids {
		n, err := normalizeIdentity(i, in, country, area)
		if err != nil {
			return nil, err
		}
		k := Identity{Kind: n.Kind, System: n.System, Value: n.Value}
		if j, ok := seen[k]; ok {
			out[j] = n
			continue
		}
		seen[k] = len(out)
		out = append(out, n)
	}
	return out, nil
}

// lockList is ids as Identities, sorted for lockIdentities.
func lockList(ids []IdentityInput) []Identity {
	l := make([]Identity, len(ids))
	for i, in := range ids {
		l[i] = Identity{Kind: in.Kind, System: in.System, Value: in.Value}
	}
	l, _ = cleanIdentities(l) // already validated: only sorts and dedups
	return l
}

// refuseTakenExternal: an external id names one customer (a unique index
// says so too); giving it to a second one is a conflict, never a merge.
func refuseTakenExternal(ctx context.Context, q dbtx, tenant, customer uuid.UUID, ids []IdentityInput) error {
	for _, in := range ids {
		if in.Kind != KindExternal {
			continue
		}
		if err := refuseTaken(ctx, q, tenant, customer, in); err != nil {
			return err
		}
	}
	return nil
}

// refuseTaken returns a *ConflictError when another customer has in.
func refuseTaken(ctx context.Context, q dbtx, tenant, customer uuid.UUID, in IdentityInput) error {
	var other uuid.UUID
	var deleted bool
	err := q.QueryRow(ctx, `
		SELECT i.customer_id, c.deleted_at IS NOT NULL FROM customer_identities i
		JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
		WHERE i.tenant_id = $1 AND i.kind = $2 AND i.system = $3 AND i.value = $4 AND i.customer_id <> $5
		ORDER BY c.deleted_at NULLS FIRST, c.created_at LIMIT 1`,
		tenant, in.Kind, in.System, in.Value, customer).Scan(&other, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("identity owner: %w", err)
	}
	return &ConflictError{Field: in.Kind, Other: "customer", OtherID: other, Deleted: deleted}
}

// insertIdentities gives customer the identities it lacks, and updates the
// consent of those it has when the input says something new. It returns how
// many rows it inserted or changed.
func insertIdentities(ctx context.Context, tx pgx.Tx, tenant, customer uuid.UUID, ids []IdentityInput) (int64, error) {
	var n int64
	for _, in := range ids {
		tag, err := tx.Exec(ctx, `
			INSERT INTO customer_identities (id, tenant_id, customer_id, kind, system, value, consent_source, consent_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (tenant_id, customer_id, kind, system, value) DO UPDATE
			SET consent_source = CASE WHEN EXCLUDED.consent_source = '' THEN customer_identities.consent_source ELSE EXCLUDED.consent_source END,
			    consent_at = COALESCE(EXCLUDED.consent_at, customer_identities.consent_at)
			WHERE (EXCLUDED.consent_source <> '' AND EXCLUDED.consent_source IS DISTINCT FROM customer_identities.consent_source)
			   OR (EXCLUDED.consent_at IS NOT NULL AND EXCLUDED.consent_at IS DISTINCT FROM customer_identities.consent_at)`,
			dbid.New(), tenant, customer, in.Kind, in.System, in.Value, in.ConsentSource, in.ConsentAt)
		if pgCode(err) == codeUniqueViolation {
			// Another customer took this external id meanwhile: report it.
			if cerr := refuseTaken(ctx, tx, tenant, customer, in); cerr != nil {
				return 0, cerr
			}
		}
		if err != nil {
			return 0, mapWriteError("add identity", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// AddIdentity gives a customer one more identity (a phone read with the
// dialling rules of the customer's site of record) or updates its consent.
// A phone or e-mail another customer has too is allowed (a household
// landline); an external id another customer has is a *ConflictError.
func (s *Store) AddIdentity(ctx context.Context, tenant, customer uuid.UUID, in IdentityInput) (IdentityRecord, error) {
	var rec IdentityRecord
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := customerRecord(ctx, tx, tenant, customer, true)
		if err != nil {
			return err
		}
		norm, err := normalizeIdentities(ctx, tx, tenant, siteOf(c), []IdentityInput{in})
		if err != nil {
			return err
		}
		if err := lockIdentities(ctx, tx, tenant, lockList(norm)); err != nil {
			return err
		}
		if err := refuseTakenExternal(ctx, tx, tenant, customer, norm); err != nil {
			return err
		}
		n, err := insertIdentities(ctx, tx, tenant, customer, norm)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			SELECT id, kind, system, value, consent_source, consent_at, created_at FROM customer_identities
			WHERE tenant_id = $1 AND customer_id = $2 AND kind = $3 AND system = $4 AND value = $5`,
			tenant, customer, norm[0].Kind, norm[0].System, norm[0].Value).Scan(
			&rec.ID, &rec.Kind, &rec.System, &rec.Value, &rec.ConsentSource, &rec.ConsentAt, &rec.CreatedAt)
		if err != nil {
			return fmt.Errorf("read identity: %w", err)
		}
		if n == 0 {
			return nil
		}
		return touchCustomer(ctx, tx, tenant, customer)
	})
	return rec, err
}

// RemoveIdentity takes an identity from a customer.
func (s *Store) RemoveIdentity(ctx context.Context, tenant, customer, identity uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := customerRecord(ctx, tx, tenant, customer, true); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM customer_identities WHERE tenant_id = $1 AND customer_id = $2 AND id = $3`,
			tenant, customer, identity)
		if err != nil {
			return fmt.Errorf("remove identity: %w", err)
		} else if tag.RowsAffected() == 0 {
			return fmt.Errorf("identity %s: %w", identity, ErrNotFound)
		}
		return touchCustomer(ctx, tx, tenant, customer)
	})
}

// touchCustomer marks a customer changed after its identities changed, and
// tells webhook receivers.
func touchCustomer(ctx context.Context, tx pgx.Tx, tenant, customer uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE customers SET updated_at = now() WHERE tenant_id = $1 AND id = $2`, tenant, customer); err != nil {
		return fmt.Errorf("touch customer %s: %w", customer, err)
	}
	c, err := customerRecord(ctx, tx, tenant, customer, false)
	if err != nil {
		return err
	}
	return enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated, map[string]any{"customer_id": customer, "customer": c})
}
