package crm

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// Reasons a pair of customers is suggested as one person. They name the
// kind of evidence only, never the shared value (that is personal data).
const (
	ReasonSharedPhone    = "shared_phone"
	ReasonSharedEmail    = "shared_email"
	ReasonSharedExternal = "shared_external"
	ReasonSharedChat     = "shared_chat"
	ReasonSharedWeChat   = "shared_wechat"
	ReasonSharedVehicle  = "shared_vehicle"
	// ReasonSimilarName comes only with a partial identity match: a similar
	// name alone (two Wang Weis) is no evidence in a dealer group.
	ReasonSimilarName  = "similar_name"
	ReasonPartialEmail = "partial_email" // same mailbox name at another provider
	ReasonPartialPhone = "partial_phone" // same last eight digits: a landline read with another area code
)

// DuplicateScore weighs each reason; a pair's score is the sum of its
// reasons'. An external id is another system's own customer key, so
// sharing one is near proof; a phone, e-mail or WeChat id is strong but a
// household shares them; a car is shared by families and fleets; a similar
// name counts only beside a partial match, and together they rank below any
// shared identity.
var DuplicateScore = map[string]int{
	ReasonSharedExternal: 100,
	ReasonSharedPhone:    60,
	ReasonSharedEmail:    60,
	ReasonSharedWeChat:   60,
	ReasonSharedChat:     40,
	ReasonSharedVehicle:  40,
	ReasonSimilarName:    15,
	ReasonPartialEmail:   10,
	ReasonPartialPhone:   10,
}

// nameSimilarity is the pg_trgm similarity from which two names count as
// similar. Equal names and equal pinyin keys (王伟 and 汪伟, whose trigrams
// pg_trgm does not see under LC_CTYPE=C) count too.
const nameSimilarity = 0.6

// Duplicate is a customer suggested as the same person as another.
type Duplicate struct {
	CustomerID uuid.UUID `json:"customer_id"`
	Name       string    `json:"name"`
	Score      int       `json:"score"`
	Reasons    []string  `json:"reasons"` // sorted
}

// DuplicatePair is a tenant-wide suggestion: A and B (A < B) may be one.
type DuplicatePair struct {
	A       Duplicate `json:"a"`
	B       Duplicate `json:"b"`
	Score   int       `json:"score"`
	Reasons []string  `json:"reasons"`
}

// duplicatePairs lists evidence rows (a, b, reason) for live and dead
// customers alike; the callers join customers to keep the live ones. pick
// restricts the left side: "a.customer_id = $2 AND b.customer_id <> $2"
// for one customer, "a.customer_id < b.customer_id" for the tenant. Every
// join is on an index of customer_identities, customer_vehicles or
// vehicles (00001, 00007, 00008).
func duplicatePairs(pick string) string {
	return `
	SELECT a.customer_id AS a, b.customer_id AS b, 'shared_' || a.kind AS reason
	FROM customer_identities a
	JOIN customer_identities b ON b.tenant_id = a.tenant_id AND b.kind = a.kind AND b.value = a.value AND b.system = a.system
	WHERE a.tenant_id = $1 AND ` + pick + `
	UNION ALL
	SELECT a.customer_id, b.customer_id, 'shared_vehicle'
	FROM customer_vehicles a
	JOIN customer_vehicles b ON b.tenant_id = a.tenant_id AND b.vehicle_id = a.vehicle_id
	WHERE a.tenant_id = $1 AND ` + pick + `
	UNION ALL
	-- Two vehicle rows with one VIN (fed by two systems) are one car.
	SELECT a.customer_id, b.customer_id, 'shared_vehicle'
	FROM customer_vehicles a
	JOIN vehicles va ON va.tenant_id = a.tenant_id AND va.id = a.vehicle_id AND va.vin <> ''
	JOIN vehicles vb ON vb.tenant_id = va.tenant_id AND upper(vb.vin) = upper(va.vin) AND vb.vin <> '' AND vb.id <> va.id
	JOIN customer_vehicles b ON b.tenant_id = vb.tenant_id AND b.vehicle_id = vb.id
	WHERE a.tenant_id = $1 AND ` + pick + `
	UNION ALL
	SELECT a.customer_id, b.customer_id, 'partial_email'
	FROM customer_identities a
	JOIN customer_identities b ON b.tenant_id = a.tenant_id AND b.kind = 'email'
	     AND split_part(b.value, '@', 1) = split_part(a.value, '@', 1) AND b.value <> a.value
	WHERE a.tenant_id = $1 AND a.kind = 'email' AND ` + pick + `
	UNION ALL
	SELECT a.customer_id, b.customer_id, 'partial_phone'
	FROM customer_identities a
	JOIN customer_identities b ON b.tenant_id = a.tenant_id AND b.kind = 'phone'
	     AND right(b.value, 8) = right(a.value, 8) AND b.value <> a.value
	WHERE a.tenant_id = $1 AND a.kind = 'phone' AND ` + pick
}

// identityPrint is SQL for the fingerprint of a customer's identities: the
// md5 of every (kind, system, value), sorted. Only ever compared, never
// shown: it carries no value a reader could recover.
func identityPrint(tenant, customer string) string {
	return `(SELECT md5(COALESCE(string_agg(i.kind || chr(31) || i.system || chr(31) || i.value, chr(30)
	                ORDER BY i.kind, i.system, i.value), ''))
	 FROM customer_identities i WHERE i.tenant_id = ` + tenant + ` AND i.customer_id = ` + customer + `)`
}

// duplicateScoring ranks grouped evidence g (a, b, reasons) of live
// customers ca and cb; it adds similar_name and drops pairs whose only
// evidence is partial without a similar name, and pairs dismissed since
// their identities last changed.
var duplicateScoring = `
	s AS (
		SELECT g.a, g.b, ca.name AS a_name, cb.name AS b_name,
		       g.reasons || CASE WHEN ca.name <> '' AND cb.name <> '' AND (
		                        lower(ca.name) = lower(cb.name)
		                        OR (ca.name_pinyin <> '' AND ca.name_pinyin = cb.name_pinyin)
		                        OR similarity(lower(ca.name), lower(cb.name)) >= $3)
		                    THEN ARRAY['similar_name'] ELSE ARRAY[]::text[] END AS reasons
		FROM g
		JOIN customers ca ON ca.tenant_id = $1 AND ca.id = g.a AND ca.deleted_at IS NULL
		JOIN customers cb ON cb.tenant_id = $1 AND cb.id = g.b AND cb.deleted_at IS NULL
		-- A dismissed pair stays out while neither side's identities
		-- changed since (the fingerprints still match).
		WHERE NOT EXISTS (
			SELECT 1 FROM duplicate_dismissals d
			WHERE d.tenant_id = $1 AND d.customer_a = least(g.a, g.b) AND d.customer_b = greatest(g.a, g.b)
			  AND d.identities_a = ` + identityPrint("d.tenant_id", "d.customer_a") + `
			  AND d.identities_b = ` + identityPrint("d.tenant_id", "d.customer_b") + `)),
	r AS (
		SELECT s.*, (SELECT sum(w.score) FROM unnest(s.reasons) x JOIN unnest($4::text[], $5::int[]) w (reason, score)
		             ON w.reason = x)::int AS score
		FROM s
		WHERE EXISTS (SELECT 1 FROM unnest(s.reasons) x WHERE x LIKE 'shared\_%')
		   OR 'similar_name' = ANY (s.reasons))
	SELECT a, b, a_name, b_name, (SELECT array_agg(x ORDER BY x) FROM unnest(reasons) x), score
	FROM r`

func scoreArgs() ([]string, []int) {
	var reasons []string
	var scores []int
	for r, s := range DuplicateScore {
		reasons, scores = append(reasons, r), append(scores, s)
	}
	return reasons, scores
}

// Duplicates returns the live customers of tenant that may be the same
// person as customer, best first (score, then id), each with its reasons.
// A missing or deleted customer is ErrNotFound.
func (s *Store) Duplicates(ctx context.Context, tenant, customer uuid.UUID) ([]Duplicate, error) {
	if _, err := s.Customer(ctx, tenant, customer); err != nil {
		return nil, fmt.Errorf("duplicates: %w", err)
	}
	reasons, scores := scoreArgs()
	rows, err := s.pool.Query(ctx, `
	WITH p AS (`+duplicatePairs(`a.customer_id = $2 AND b.customer_id <> $2`)+`),
	g AS (SELECT a, b, array_agg(DISTINCT reason) AS reasons FROM p GROUP BY a, b),
	`+duplicateScoring+`
	ORDER BY score DESC, b
	LIMIT 100`, tenant, customer, nameSimilarity, reasons, scores)
	if err != nil {
		return nil, fmt.Errorf("duplicates of %s: %w", customer, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Duplicate, error) {
		var a uuid.UUID
		var aName string
		var d Duplicate
		err := r.Scan(&a, &d.CustomerID, &aName, &d.Name, &d.Reasons, &d.Score)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("duplicates of %s: %w", customer, err)
	}
	return out, nil
}

// DuplicateSuggestions returns the tenant's likeliest duplicate pairs, best
// first, at most limit (1..500; 0 or less: 50).
func (s *Store) DuplicateSuggestions(ctx context.Context, tenant uuid.UUID, limit int) ([]DuplicatePair, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	reasons, scores := scoreArgs()
	rows, err := s.pool.Query(ctx, `
	WITH p AS (`+duplicatePairs(`a.customer_id < b.customer_id`)+`),
	g AS (SELECT a, b, array_agg(DISTINCT reason) AS reasons FROM p GROUP BY a, b),
	`+duplicateScoring+`
	ORDER BY score DESC, a, b
	LIMIT $2`, tenant, limit, nameSimilarity, reasons, scores)
	if err != nil {
		return nil, fmt.Errorf("duplicate suggestions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DuplicatePair, error) {
		var p DuplicatePair
		err := r.Scan(&p.A.CustomerID, &p.B.CustomerID, &p.A.Name, &p.B.Name, &p.Reasons, &p.Score)
		p.A.Score, p.B.Score, p.A.Reasons, p.B.Reasons = p.Score, p.Score, p.Reasons, p.Reasons
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("duplicate suggestions: %w", err)
	}
	return out, nil
}

// DismissDuplicate records that customer and other are not one person
// (reason: the dismisser's words, 1 to 500 characters): the pair is left
// out of Duplicates and DuplicateSuggestions until an identity of either
// changes. Dismissing it again replaces the reason and takes the current
// identities. Both must be live customers of tenant (else ErrNotFound);
// the audit log records who, which pair, and that a reason was given (not
// its text).
func (s *Store) DismissDuplicate(ctx context.Context, tenant, actor, customer, other uuid.UUID, reason string) error {
	reason, err := cleanText("reason", reason, 500)
	if err != nil {
		return err
	}
	if reason == "" {
		return invalid("reason is required")
	}
	if customer == other {
		return invalid("other_id must be another customer")
	}
	if actor == uuid.Nil {
		return invalid("a dismissal needs a user")
	}
	a, b := customer, other
	if b.String() < a.String() {
		a, b = b, a
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// Locked in id order, so two dismissals of one pair queue up.
		for _, id := range []uuid.UUID{a, b} {
			if _, err := customerRecord(ctx, tx, tenant, id, true); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO duplicate_dismissals (tenant_id, customer_a, customer_b, reason, identities_a, identities_b, dismissed_by)
			VALUES ($1, $2, $3, $4, `+identityPrint("$1::uuid", "$2::uuid")+`, `+identityPrint("$1::uuid", "$3::uuid")+`, $5)
			ON CONFLICT (tenant_id, customer_a, customer_b) DO UPDATE
			SET reason = EXCLUDED.reason, identities_a = EXCLUDED.identities_a, identities_b = EXCLUDED.identities_b,
			    dismissed_by = EXCLUDED.dismissed_by, dismissed_at = now()`,
			tenant, a, b, reason, actor)
		if err != nil {
			return mapWriteError("dismiss duplicate", err)
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "customer.duplicate_dismissed",
			TargetKind: "customer", TargetID: customer, Data: map[string]any{"other_id": other}})
	})
}
