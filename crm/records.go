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
	if areaCode != "" && (len(local) == 7 || len(local) == 8) && local[0] != '0' &&
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

// oneRecord reads the one row of kind (for errors: "order") with id that
// sql selects, given $1 tenant and $2 id. None is ErrNotFound.
func oneRecord[R any](ctx context.Context, q dbtx, kind, sql string, tenant, id uuid.UUID, scan pgx.RowToFunc[R]) (R, error) {
	var none R
	rows, err := q.Query(ctx, sql, tenant, id)
	if err != nil {
		return none, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return none, fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	} else if err != nil {
		return none, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return rec, nil
}

// recordsOfCustomer reads the rows sql selects for a live customer, given $1
// tenant and $2 customer; what names them in errors ("orders"). A deleted
// or unknown customer is ErrNotFound, not an empty list.
func recordsOfCustomer[R any](ctx context.Context, s *Store, what, sql string, tenant, customer uuid.UUID, scan pgx.RowToFunc[R]) ([]R, error) {
	if _, err := s.Customer(ctx, tenant, customer); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sql, tenant, customer)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, customer, err)
	}
	recs, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, customer, err)
	}
	return recs, nil
}

// updateInTx runs update, the unexported half of an Update method that
// upserts and merges call inside their own transactions, in a transaction
// of its own.
func updateInTx[R, F any](ctx context.Context, s *Store, tenant, id uuid.UUID, f F,
	update func(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, f F) (R, bool, error)) (rec R, changed bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		rec, changed, err = update(ctx, tx, tenant, id, f)
		return err
	})
	return rec, changed, err
}

// Service order statuses, in workshop order.
var orderStatuses = map[string]bool{"booked": true, "in_progress": true, "waiting_parts": true, "ready": true, "collected": true}

// Order kinds: a warranty order may carry the manufacturer's claim number.
var orderKinds = map[string]bool{"repair": true, "maintenance": true, "warranty": true}

// OrderRecord is a service (repair) order as the REST API reads it.
type OrderRecord struct {
	ID             uuid.UUID  `json:"id"`
	Number         string     `json:"number"`
	Kind           string     `json:"kind"`
	Status         string     `json:"status"`
	CustomerID     uuid.UUID  `json:"customer_id"`
	VehicleID      *uuid.UUID `json:"vehicle_id"`
	SiteID         *uuid.UUID `json:"site_id"`
	AdvisorID      *uuid.UUID `json:"advisor_id"`
	Description    string     `json:"description"`
	PromisedAt     *time.Time `json:"promised_at"`
	Amount         string     `json:"amount"`
	WarrantyClaim  string     `json:"warranty_claim,omitempty"`
	ExternalSystem string     `json:"external_system,omitempty"`
	ExternalID     string     `json:"external_id,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// OrderFields are an order's writable fields; nil leaves one as it is (or
// takes its default on create); ids pointing at uuid.Nil and a zero
// PromisedAt clear them.
type OrderFields struct {
	Number, Kind, Status, Description, Amount, WarrantyClaim *string
	VehicleID, SiteID, AdvisorID                             *uuid.UUID
	PromisedAt                                               *time.Time
}

func (f OrderFields) apply(o OrderRecord) (OrderRecord, error) {
	var err error
	if f.Number != nil {
		if o.Number, err = cleanText("number", *f.Number, 64); err != nil {
			return o, err
		}
	}
	if o.Number == "" {
		return o, invalid("number is required")
	}
	if f.Kind != nil {
		o.Kind = *f.Kind
	}
	if !orderKinds[o.Kind] {
		return o, invalid("kind must be repair, maintenance or warranty")
	}
	if f.Status != nil {
		o.Status = *f.Status
	}
	if !orderStatuses[o.Status] {
		return o, invalid("status must be booked, in_progress, waiting_parts, ready or collected")
	}
	if f.Description != nil {
		if o.Description, err = cleanText("description", *f.Description, 4000); err != nil {
			return o, err
		}
	}
	if f.Amount != nil {
		if o.Amount, err = canonicalAmount("amount", *f.Amount); err != nil {
			return o, err
		}
	}
	if f.WarrantyClaim != nil {
		if o.WarrantyClaim, err = cleanText("warranty_claim", *f.WarrantyClaim, 64); err != nil {
			return o, err
		}
	}
	if o.WarrantyClaim != "" && o.Kind != "warranty" {
		return o, invalid("warranty_claim is only for orders of kind warranty")
	}
	if f.VehicleID != nil {
		o.VehicleID = uuidPtr(f.VehicleID)
	}
	if f.SiteID != nil {
		o.SiteID = uuidPtr(f.SiteID)
	}
	if f.AdvisorID != nil {
		o.AdvisorID = uuidPtr(f.AdvisorID)
	}
	if f.PromisedAt != nil {
		o.PromisedAt = nil
		if !f.PromisedAt.IsZero() {
			t := f.PromisedAt.UTC().Truncate(time.Microsecond)
			o.PromisedAt = &t
		}
	}
	return o, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func (o OrderRecord) sameFields(p OrderRecord) bool {
	return o.Number == p.Number && o.Kind == p.Kind && o.Status == p.Status && o.Description == p.Description &&
		o.Amount == p.Amount && o.WarrantyClaim == p.WarrantyClaim && sameID(o.VehicleID, p.VehicleID) &&
		sameID(o.SiteID, p.SiteID) && sameID(o.AdvisorID, p.AdvisorID) && sameTime(o.PromisedAt, p.PromisedAt)
}

const orderSelect = `
SELECT id, number, kind, status, customer_id, vehicle_id, site_id, advisor_id, description, promised_at,
       amount::text, warranty_claim, external_system, external_id, created_at, updated_at
FROM service_orders`

func scanOrder(r pgx.CollectableRow) (OrderRecord, error) {
	var o OrderRecord
	err := r.Scan(&o.ID, &o.Number, &o.Kind, &o.Status, &o.CustomerID, &o.VehicleID, &o.SiteID, &o.AdvisorID,
		&o.Description, &o.PromisedAt, &o.Amount, &o.WarrantyClaim, &o.ExternalSystem, &o.ExternalID, &o.CreatedAt, &o.UpdatedAt)
	return o, err
}

func orderRecord(ctx context.Context, q dbtx, tenant, id uuid.UUID, lock bool) (OrderRecord, error) {
	sql := orderSelect + ` WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	return oneRecord(ctx, q, "order", sql, tenant, id, scanOrder)
}

// Order returns one service order.
func (s *Store) Order(ctx context.Context, tenant, id uuid.UUID) (OrderRecord, error) {
	return orderRecord(ctx, s.pool, tenant, id, false)
}

// CustomerOrders returns a customer's service orders, newest first.
func (s *Store) CustomerOrders(ctx context.Context, tenant, customer uuid.UUID) ([]OrderRecord, error) {
	return recordsOfCustomer(ctx, s, "orders", orderSelect+` WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC`,
		tenant, customer, scanOrder)
}

// writeOrder checks what o points at and stores it. The advisor must be
// one of the tenant's agents (the routing prefers them for the customer).
func writeOrder(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, o *OrderRecord, insert bool) error {
	if err := checkRef(ctx, tx, tenant, o.AdvisorID, "agent", "advisor_id"); err != nil {
		return err
	}
	if err := checkRef(ctx, tx, tenant, o.VehicleID, "vehicle", "vehicle_id"); err != nil {
		return err
	}
	if err := checkRef(ctx, tx, tenant, o.SiteID, "site", "site_id"); err != nil {
		return err
	}
	// Order numbers are unique per tenant: name the order that has it.
	var other uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM service_orders WHERE tenant_id = $1 AND number = $2 AND id <> $3`, tenant, o.Number, o.ID).Scan(&other)
	if err == nil {
		return &ConflictError{Field: "number", Other: "order", OtherID: other}
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("order number: %w", err)
	}
	if insert {
		err = tx.QueryRow(ctx, `
			INSERT INTO service_orders (id, tenant_id, site_id, number, kind, customer_id, vehicle_id, status, advisor_id,
			                            description, promised_at, amount, warranty_claim, external_system, external_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::numeric, $13, $14, $15)
			RETURNING created_at, updated_at`,
			o.ID, tenant, o.SiteID, o.Number, o.Kind, o.CustomerID, o.VehicleID, o.Status, o.AdvisorID,
			o.Description, o.PromisedAt, o.Amount, o.WarrantyClaim, o.ExternalSystem, o.ExternalID).Scan(&o.CreatedAt, &o.UpdatedAt)
	} else {
		err = tx.QueryRow(ctx, `
			UPDATE service_orders SET site_id = $3, number = $4, kind = $5, vehicle_id = $6, status = $7, advisor_id = $8,
			       description = $9, promised_at = $10, amount = $11::numeric, warranty_claim = $12, updated_at = now()
			WHERE tenant_id = $1 AND id = $2
			RETURNING created_at, updated_at`,
			tenant, o.ID, o.SiteID, o.Number, o.Kind, o.VehicleID, o.Status, o.AdvisorID,
			o.Description, o.PromisedAt, o.Amount, o.WarrantyClaim).Scan(&o.CreatedAt, &o.UpdatedAt)
	}
	if err != nil {
		return mapWriteError("write order", err)
	}
	return nil
}

func orderEvent(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, event string, o OrderRecord) error {
	return enqueueWebhook(ctx, tx, tenant, event, map[string]any{"customer_id": o.CustomerID, "order_id": o.ID, "order": o})
}

// CreateOrder adds a service order for customer: kind defaults to repair,
// status to booked, amount to 0.
func (s *Store) CreateOrder(ctx context.Context, tenant, customer uuid.UUID, f OrderFields) (OrderRecord, error) {
	o, err := f.apply(OrderRecord{ID: dbid.New(), CustomerID: customer, Kind: "repair", Status: "booked", Amount: "0.00"})
	if err != nil {
		return OrderRecord{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := customerRecord(ctx, tx, tenant, customer, true); err != nil {
			return err
		}
		if err := writeOrder(ctx, tx, tenant, &o, true); err != nil {
			return err
		}
		return orderEvent(ctx, tx, tenant, EventOrderCreated, o)
	})
	if err != nil {
		return OrderRecord{}, err
	}
	return o, nil
}

// UpdateOrder changes the fields f sets; when nothing changes nothing is
// written (updated_at stays, no webhook).
func (s *Store) UpdateOrder(ctx context.Context, tenant, id uuid.UUID, f OrderFields) (OrderRecord, bool, error) {
	return updateInTx(ctx, s, tenant, id, f, updateOrder)
}

func updateOrder(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, f OrderFields) (OrderRecord, bool, error) {
	cur, err := orderRecord(ctx, tx, tenant, id, true)
	if err != nil {
		return OrderRecord{}, false, err
	}
	next, err := f.apply(cur)
	if err != nil {
		return OrderRecord{}, false, err
	}
	if next.sameFields(cur) {
		return cur, false, nil
	}
	if err := writeOrder(ctx, tx, tenant, &next, false); err != nil {
		return OrderRecord{}, false, err
	}
	return next, true, orderEvent(ctx, tx, tenant, EventOrderUpdated, next)
}

// Deal stages, in sales order.
var dealStages = map[string]bool{"lead": true, "qualified": true, "test_drive": true, "offer": true, "won": true, "lost": true}

// DealRecord is a sales deal as the REST API reads it.
type DealRecord struct {
	ID             uuid.UUID  `json:"id"`
	CustomerID     uuid.UUID  `json:"customer_id"`
	Stage          string     `json:"stage"`
	VehicleID      *uuid.UUID `json:"vehicle_id"` // a known vehicle of interest
	VehicleDesc    string     `json:"vehicle_desc"`
	SalespersonID  *uuid.UUID `json:"salesperson_id"`
	Value          string     `json:"value"`
	ExpectedClose  *string    `json:"expected_close"` // YYYY-MM-DD
	ContractRef    string     `json:"contract_ref"`
	ExternalSystem string     `json:"external_system,omitempty"`
	ExternalID     string     `json:"external_id,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// DealFields are a deal's writable fields; nil leaves one as it is (or
// takes its default on create); ids pointing at uuid.Nil and an empty
// ExpectedClose clear them.
type DealFields struct {
	Stage, VehicleDesc, Value, ExpectedClose, ContractRef *string
	VehicleID, SalespersonID                              *uuid.UUID
}

func (f DealFields) apply(d DealRecord) (DealRecord, error) {
	var err error
	if f.Stage != nil {
		d.Stage = *f.Stage
	}
	if !dealStages[d.Stage] {
		return d, invalid("stage must be lead, qualified, test_drive, offer, won or lost")
	}
	if f.VehicleDesc != nil {
		if d.VehicleDesc, err = cleanText("vehicle_desc", *f.VehicleDesc, 200); err != nil {
			return d, err
		}
	}
	if f.Value != nil {
		if d.Value, err = canonicalAmount("value", *f.Value); err != nil {
			return d, err
		}
	}
	if f.ExpectedClose != nil {
		d.ExpectedClose = nil
		if c := strings.TrimSpace(*f.ExpectedClose); c != "" {
			if err := checkDate("expected_close", c); err != nil {
				return d, err
			}
			d.ExpectedClose = &c
		}
	}
	if f.ContractRef != nil {
		if d.ContractRef, err = cleanText("contract_ref", *f.ContractRef, 64); err != nil {
			return d, err
		}
	}
	if f.VehicleID != nil {
		d.VehicleID = uuidPtr(f.VehicleID)
	}
	if f.SalespersonID != nil {
		d.SalespersonID = uuidPtr(f.SalespersonID)
	}
	return d, nil
}

func (d DealRecord) sameFields(e DealRecord) bool {
	return d.Stage == e.Stage && d.VehicleDesc == e.VehicleDesc && d.Value == e.Value && sameStr(d.ExpectedClose, e.ExpectedClose) &&
		d.ContractRef == e.ContractRef && sameID(d.VehicleID, e.VehicleID) && sameID(d.SalespersonID, e.SalespersonID)
}

const dealSelect = `
SELECT id, customer_id, stage, vehicle_id, vehicle_desc, salesperson_id, value::text, expected_close::text,
       contract_ref, external_system, external_id, created_at, updated_at
FROM deals`

func scanDeal(r pgx.CollectableRow) (DealRecord, error) {
	var d DealRecord
	err := r.Scan(&d.ID, &d.CustomerID, &d.Stage, &d.VehicleID, &d.VehicleDesc, &d.SalespersonID, &d.Value,
		&d.ExpectedClose, &d.ContractRef, &d.ExternalSystem, &d.ExternalID, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

func dealRecord(ctx context.Context, q dbtx, tenant, id uuid.UUID, lock bool) (DealRecord, error) {
	sql := dealSelect + ` WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	return oneRecord(ctx, q, "deal", sql, tenant, id, scanDeal)
}

// DealRecord returns one deal.
func (s *Store) DealRecord(ctx context.Context, tenant, id uuid.UUID) (DealRecord, error) {
	return dealRecord(ctx, s.pool, tenant, id, false)
}

// CustomerDeals returns a customer's deals, newest first.
func (s *Store) CustomerDeals(ctx context.Context, tenant, customer uuid.UUID) ([]DealRecord, error) {
	return recordsOfCustomer(ctx, s, "deals", dealSelect+` WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC`,
		tenant, customer, scanDeal)
}

func writeDeal(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, d *DealRecord, insert bool) error {
	if err := checkRef(ctx, tx, tenant, d.SalespersonID, "user", "salesperson_id"); err != nil {
		return err
	}
	if err := checkRef(ctx, tx, tenant, d.VehicleID, "vehicle", "vehicle_id"); err != nil {
		return err
	}
	var err error
	if insert {
		err = tx.QueryRow(ctx, `
			INSERT INTO deals (id, tenant_id, customer_id, stage, vehicle_id, vehicle_desc, salesperson_id, value,
			                   expected_close, contract_ref, external_system, external_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9::date, $10, $11, $12)
			RETURNING created_at, updated_at`,
			d.ID, tenant, d.CustomerID, d.Stage, d.VehicleID, d.VehicleDesc, d.SalespersonID, d.Value,
			d.ExpectedClose, d.ContractRef, d.ExternalSystem, d.ExternalID).Scan(&d.CreatedAt, &d.UpdatedAt)
	} else {
		err = tx.QueryRow(ctx, `
			UPDATE deals SET stage = $3, vehicle_id = $4, vehicle_desc = $5, salesperson_id = $6, value = $7::numeric,
			       expected_close = $8::date, contract_ref = $9, updated_at = now()
			WHERE tenant_id = $1 AND id = $2
			RETURNING created_at, updated_at`,
			tenant, d.ID, d.Stage, d.VehicleID, d.VehicleDesc, d.SalespersonID, d.Value, d.ExpectedClose, d.ContractRef).Scan(&d.CreatedAt, &d.UpdatedAt)
	}
	if err != nil {
		return mapWriteError("write deal", err)
	}
	return nil
}

func dealEvent(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, event string, d DealRecord) error {
	return enqueueWebhook(ctx, tx, tenant, event, map[string]any{"customer_id": d.CustomerID, "deal_id": d.ID, "deal": d})
}

// CreateDeal adds a deal for customer: stage defaults to lead, value to 0.
func (s *Store) CreateDeal(ctx context.Context, tenant, customer uuid.UUID, f DealFields) (DealRecord, error) {
	d, err := f.apply(DealRecord{ID: dbid.New(), CustomerID: customer, Stage: "lead", Value: "0.00"})
	if err != nil {
		return DealRecord{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := customerRecord(ctx, tx, tenant, customer, true); err != nil {
			return err
		}
		if err := writeDeal(ctx, tx, tenant, &d, true); err != nil {
			return err
		}
		return dealEvent(ctx, tx, tenant, EventDealCreated, d)
	})
	if err != nil {
		return DealRecord{}, err
	}
	return d, nil
}

// UpdateDeal changes the fields f sets; when nothing changes nothing is
// written (updated_at stays, no webhook).
func (s *Store) UpdateDeal(ctx context.Context, tenant, id uuid.UUID, f DealFields) (DealRecord, bool, error) {
	return updateInTx(ctx, s, tenant, id, f, updateDeal)
}

func updateDeal(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, f DealFields) (DealRecord, bool, error) {
	cur, err := dealRecord(ctx, tx, tenant, id, true)
	if err != nil {
		return DealRecord{}, false, err
	}
	next, err := f.apply(cur)
	if err != nil {
		return DealRecord{}, false, err
	}
	if next.sameFields(cur) {
		return cur, false, nil
	}
	if err := writeDeal(ctx, tx, tenant, &next, false); err != nil {
		return DealRecord{}, false, err
	}
	return next, true, dealEvent(ctx, tx, tenant, EventDealUpdated, next)
}
