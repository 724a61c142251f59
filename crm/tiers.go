package crm

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Tiers computed from revenue (the 20/80 rule). The rule, exactly:
//
//   - a customer's revenue is the sum of their service orders' amounts
//     (orders created in the window, any status) and of their won deals'
//     values (won in the window: deals.won_at);
//   - among the tenant's customers with revenue above zero (N of them),
//     ranked by revenue, highest first, the top 20% (rank ≤ ceil(0.2·N))
//     are gold, the next up to half of them (rank ≤ ceil(0.5·N)) growth;
//     everyone else, including every customer without revenue, standard;
//   - ties share a rank (SQL rank()), so two customers with the same
//     revenue always get the same tier, even across a boundary;
//   - only customers whose tier is gold, growth or standard are computed:
//     a tier set by hand or by an import (e.g. "vip") is left alone, as are
//     deleted customers.
//
// Routing reads the tier as priority (TierPriority: gold +2, growth +1).
const (
	TierGold     = "gold"
	TierGrowth   = "growth"
	TierStandard = "standard"
)

// TierRun is what one recomputation did; counts only.
type TierRun struct {
	TenantID    uuid.UUID
	RanAt       time.Time
	WindowStart time.Time
	WindowEnd   time.Time
	Customers   int // computed customers (gold + growth + standard)
	Gold        int
	Growth      int
	Standard    int
	Changed     int    // customers whose tier or revenue changed
	Revenue     string // the total, decimal
	// Retiered is how many customers changed tier: each got a
	// customer.updated webhook with its id and new tier.
	Retiered int
}

// recomputeTiersQuery ranks and updates in one statement and returns the
// counts, and the ids and new tiers of the customers whose tier changed
// (for their webhooks). Only rows whose tier or revenue changed are
// written (most customers keep their tier from one day to the next);
// tier_computed_at is when the job last changed the customer.
const recomputeTiersQuery = `
WITH orders AS (
    SELECT customer_id, sum(amount) AS amount FROM service_orders
    WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
    GROUP BY customer_id),
won AS (
    SELECT customer_id, sum(value) AS amount FROM deals
    WHERE tenant_id = $1 AND stage = 'won' AND won_at >= $2 AND won_at < $3
    GROUP BY customer_id),
rev AS (
    SELECT c.id, c.tier AS old_tier, (COALESCE(o.amount, 0) + COALESCE(w.amount, 0))::numeric(14, 2) AS revenue
    FROM customers c
    LEFT JOIN orders o ON o.customer_id = c.id
    LEFT JOIN won w ON w.customer_id = c.id
    WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.tier IN ('gold', 'growth', 'standard')),
ranked AS (
    SELECT id, old_tier, revenue,
           CASE WHEN revenue <= 0 THEN 'standard'
                WHEN rank() OVER (ORDER BY revenue DESC) <= ceil(0.2 * n) THEN 'gold'
                WHEN rank() OVER (ORDER BY revenue DESC) <= ceil(0.5 * n) THEN 'growth'
                ELSE 'standard' END AS tier
    FROM rev, (SELECT count(*) FILTER (WHERE revenue > 0) AS n FROM rev) counts),
updated AS (
    UPDATE customers c SET tier = r.tier, revenue = r.revenue, tier_computed_at = $4
    FROM ranked r
    WHERE c.tenant_id = $1 AND c.id = r.id AND (c.tier <> r.tier OR c.revenue <> r.revenue)
    RETURNING c.id, r.tier, r.old_tier)
SELECT count(*),
       count(*) FILTER (WHERE tier = 'gold'),
       count(*) FILTER (WHERE tier = 'growth'),
       count(*) FILTER (WHERE tier = 'standard'),
       (SELECT count(*) FROM updated),
       COALESCE(sum(revenue), 0)::text,
       ARRAY(SELECT id FROM updated WHERE tier <> old_tier ORDER BY id),
       ARRAY(SELECT tier FROM updated WHERE tier <> old_tier ORDER BY id)
FROM ranked`

// RecomputeTiers sets the tiers of tenant's customers from their revenue
// in [now-window, now), in one transaction, and records the run in
// tier_runs. Each customer whose tier changed gets a customer.updated
// webhook in the same transaction, carrying its id and new tier only (a
// change of revenue alone sends none). Concurrent runs for one tenant (two
// nodes) take turns.
func (s *Store) RecomputeTiers(ctx context.Context, tenant uuid.UUID, window time.Duration, now time.Time) (TierRun, error) {
	if window <= 0 {
		return TierRun{}, fmt.Errorf("tier window must be positive: %w", ErrInvalid)
	}
	run := TierRun{TenantID: tenant, RanAt: now, WindowStart: now.Add(-window), WindowEnd: now}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return recomputeTiers(ctx, tx, &run)
	})
	if err != nil {
		return TierRun{}, err
	}
	return run, nil
}

func recomputeTiers(ctx context.Context, tx pgx.Tx, run *TierRun) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('crm.tiers'), hashtext($1::text))`, run.TenantID); err != nil {
		return fmt.Errorf("tiers of %s: lock: %w", run.TenantID, err)
	}
	var retiered []uuid.UUID
	var tiers []string
	err := tx.QueryRow(ctx, recomputeTiersQuery, run.TenantID, run.WindowStart, run.WindowEnd, run.RanAt).Scan(
		&run.Customers, &run.Gold, &run.Growth, &run.Standard, &run.Changed, &run.Revenue, &retiered, &tiers)
	if err != nil {
		return fmt.Errorf("tiers of %s: %w", run.TenantID, err)
	}
	run.Retiered = len(retiered)
	for i, id := range retiered {
		if err := enqueueWebhook(ctx, tx, run.TenantID, EventCustomerUpdated,
			map[string]any{"customer_id": id, "tier": tiers[i], "change": "tier"}); err != nil {
			return fmt.Errorf("tiers of %s: %w", run.TenantID, err)
		}
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO tier_runs (tenant_id, ran_at, window_start, window_end, customers, gold, growth, standard, revenue)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		run.TenantID, run.RanAt, run.WindowStart, run.WindowEnd, run.Customers, run.Gold, run.Growth, run.Standard, run.Revenue)
	if err != nil {
		return fmt.Errorf("tiers of %s: record run: %w", run.TenantID, err)
	}
	return nil
}

// TierJob recomputes every tenant's tiers once per Every, on whichever node
// gets there first: each tenant's run checks, under the tenant's lock, when
// the last run was, so several nodes running the job recompute once.
type TierJob struct {
	Store  *Store
	Window time.Duration // revenue window; default 365 days
	Every  time.Duration // how often a tenant is recomputed; default 24h
	Check  time.Duration // how often the job looks for due tenants; default 1h (Every if shorter)
	Log    *slog.Logger
	Now    func() time.Time // default time.Now
}

// Run recomputes due tenants every Check until ctx ends. The first check
// comes after Check, not at start: a node that restarts does no heavy
// work while it starts, and a fresh database (the demo, end-to-end tests)
// keeps its tiers until then. A failing tenant is logged and retried at
// the next check; it never stops the others.
func (j *TierJob) Run(ctx context.Context) error {
	j.defaults()
	t := time.NewTicker(j.Check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		j.RunDue(ctx)
	}
}

func (j *TierJob) defaults() {
	if j.Window <= 0 {
		j.Window = 365 * 24 * time.Hour
	}
	if j.Every <= 0 {
		j.Every = 24 * time.Hour
	}
	if j.Check <= 0 {
		j.Check = min(time.Hour, j.Every)
	}
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.Log == nil {
		j.Log = slog.New(slog.DiscardHandler)
	}
}

// RunDue recomputes each tenant whose last run is older than Every and
// returns how many it recomputed. Progress is logged with ids and counts
// only.
func (j *TierJob) RunDue(ctx context.Context) int {
	j.defaults()
	rows, err := j.Store.pool.Query(ctx, `SELECT id FROM tenants ORDER BY id`)
	if err != nil {
		j.Log.ErrorContext(ctx, "tiers: list tenants", "err", err)
		return 0
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		j.Log.ErrorContext(ctx, "tiers: list tenants", "err", err)
		return 0
	}
	done := 0
	for _, tenant := range tenants {
		if ctx.Err() != nil {
			return done
		}
		start := time.Now()
		now := j.Now()
		run := TierRun{TenantID: tenant, RanAt: now, WindowStart: now.Add(-j.Window), WindowEnd: now}
		ran := false
		err := j.Store.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('crm.tiers'), hashtext($1::text))`, tenant); err != nil {
				return err
			}
			var due bool
			err := tx.QueryRow(ctx, `
				SELECT NOT EXISTS (SELECT 1 FROM tier_runs WHERE tenant_id = $1 AND ran_at > $2)`,
				tenant, now.Add(-j.Every)).Scan(&due)
			if err != nil || !due {
				return err
			}
			ran = true
			return recomputeTiers(ctx, tx, &run)
		})
		if err != nil {
			j.Log.ErrorContext(ctx, "tiers: recompute failed", "tenant_id", tenant, "err", err)
			continue
		}
		if ran {
			done++
			j.Log.InfoContext(ctx, "tiers recomputed", "tenant_id", tenant, "customers", run.Customers,
				"gold", run.Gold, "growth", run.Growth, "standard", run.Standard, "changed", run.Changed, "retiered", run.Retiered,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
	return done
}
