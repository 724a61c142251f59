package crm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// Tenant settings of customer_visibility (migration 00010).
const (
	// VisibilityGroup: every user of the tenant sees every customer.
	VisibilityGroup = "group"
	// VisibilitySite: a user sees the customers of their own site, those
	// with no site of record, those they own, and those shared with their
	// site or one of their teams. Each dealership may be its own legal
	// entity under PIPL, and this keeps its customers to itself.
	VisibilitySite = "site"
)

// Scope is what one viewer may see of a tenant's customers: the whole group
// (AllSites), or the customers whose site of record is one of Sites, plus
// those without a site of record, those the viewer (User) owns, and those
// shared with one of Sites or Teams. ScopeFor computes it once per request;
// reads take it (VisibleTo, Search, ScreenPopFor). The zero Scope sees only
// customers without a site of record.
type Scope struct {
	AllSites bool
	Sites    []uuid.UUID
	// Teams the viewer belongs to: customers shared with them are visible.
	Teams []uuid.UUID
	// User is the viewer: the customers they own are visible wherever they
	// are.
	User uuid.UUID
}

// scopeRule is the one place that decides a viewer's scope from the
// tenant's setting and the viewer's role, site and teams. Under 'site',
// admins and supervisors who work for the whole group (no site) see the
// whole group; everyone else sees their site's customers.
func scopeRule(visibility string, user uuid.UUID, role org.Role, site uuid.UUID, teams []uuid.UUID) Scope {
	sc := Scope{User: user, Teams: teams}
	switch {
	case visibility != VisibilitySite, role == org.RoleAdmin, role == org.RoleSupervisor && site == uuid.Nil:
		sc.AllSites = true
	case site != uuid.Nil:
		sc.Sites = []uuid.UUID{site}
	}
	return sc
}

// ScopeFor returns what user (with role, working at userSite; uuid.Nil
// when they work for the whole group) may see in tenant. One round trip:
// the tenant's setting and the user's teams.
func (s *Store) ScopeFor(ctx context.Context, tenant, user uuid.UUID, role org.Role, userSite uuid.UUID) (Scope, error) {
	var visibility string
	var teams []uuid.UUID
	err := s.pool.QueryRow(ctx, `
		SELECT t.customer_visibility,
		       ARRAY(SELECT m.team_id FROM team_members m WHERE m.tenant_id = t.id AND m.user_id = $2 ORDER BY m.team_id)
		FROM tenants t WHERE t.id = $1`, tenant, user).Scan(&visibility, &teams)
	if errors.Is(err, pgx.ErrNoRows) {
		return Scope{}, fmt.Errorf("scope: tenant %s: %w", tenant, ErrNotFound)
	} else if err != nil {
		return Scope{}, fmt.Errorf("scope of user %s: %w", user, err)
	}
	return scopeRule(visibility, user, role, userSite, teams), nil
}

// ScopeOfUser is ScopeFor for a user known by id only (an agent being
// offered a contact): their role and site are read with the setting.
func (s *Store) ScopeOfUser(ctx context.Context, tenant, user uuid.UUID) (Scope, error) {
	return scopeOfUser(ctx, s.pool, tenant, user)
}

func scopeOfUser(ctx context.Context, q dbtx, tenant, user uuid.UUID) (Scope, error) {
	var visibility string
	var role org.Role
	var site *uuid.UUID
	var teams []uuid.UUID
	err := q.QueryRow(ctx, viewerQuery, tenant, user).Scan(&visibility, &role, &site, &teams)
	if errors.Is(err, pgx.ErrNoRows) {
		return Scope{}, fmt.Errorf("scope: user %s: %w", user, ErrNotFound)
	} else if err != nil {
		return Scope{}, fmt.Errorf("scope of user %s: %w", user, err)
	}
	return scopeRule(visibility, user, role, deref(site), teams), nil
}

// viewerQuery reads what scopeRule needs of an active user ($2) of tenant $1.
const viewerQuery = `
SELECT t.customer_visibility, u.role, u.site_id,
       ARRAY(SELECT m.team_id FROM team_members m WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id ORDER BY m.team_id)
FROM users u JOIN tenants t ON t.id = u.tenant_id
WHERE u.tenant_id = $1 AND u.id = $2 AND u.active`

func deref(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

// customerPlace is what visibility depends on of one customer.
type customerPlace struct {
	ID          uuid.UUID
	Site        uuid.UUID // uuid.Nil: no site of record
	Owner       uuid.UUID
	SharedSites []uuid.UUID
	SharedTeams []uuid.UUID
}

// placeColumns reads a customerPlace of the customers row aliased k.
const placeColumns = `k.id, k.site_id, k.owner_id,
       ARRAY(SELECT sh.site_id FROM customer_shares sh WHERE sh.tenant_id = k.tenant_id AND sh.customer_id = k.id AND sh.site_id IS NOT NULL),
       ARRAY(SELECT sh.team_id FROM customer_shares sh WHERE sh.tenant_id = k.tenant_id AND sh.customer_id = k.id AND sh.team_id IS NOT NULL)`

func scanPlace(r pgx.CollectableRow) (customerPlace, error) {
	var p customerPlace
	var site, owner *uuid.UUID
	err := r.Scan(&p.ID, &site, &owner, &p.SharedSites, &p.SharedTeams)
	p.Site, p.Owner = deref(site), deref(owner)
	return p, err
}

// sees is the visibility rule in Go; scopeFilter is the same rule in SQL
// (TestScopeFilterAgreesWithSees holds them together).
func (sc Scope) sees(p customerPlace) bool {
	if sc.AllSites || p.Site == uuid.Nil || (sc.User != uuid.Nil && p.Owner == sc.User) || slices.Contains(sc.Sites, p.Site) {
		return true
	}
	for _, s := range p.SharedSites {
		if slices.Contains(sc.Sites, s) {
			return true
		}
	}
	for _, t := range p.SharedTeams {
		if slices.Contains(sc.Teams, t) {
			return true
		}
	}
	return false
}

// scopeFilter returns a SQL condition on the customers row aliased alias
// that holds for the customers sc may see, with its arguments numbered
// from $next. Search and lists AND it into their WHERE; with AllSites it
// is "TRUE" and takes no arguments, so group-wide tenants pay nothing.
// The share lookups use customer_shares' (tenant, site|team, customer)
// indexes.
func scopeFilter(sc Scope, alias string, next int) (string, []any) {
	if sc.AllSites {
		return "TRUE", nil
	}
	p := func(i int) string { return "$" + strconv.Itoa(next+i) }
	sites, teams := sc.Sites, sc.Teams
	if sites == nil {
		sites = []uuid.UUID{}
	}
	if teams == nil {
		teams = []uuid.UUID{}
	}
	a := alias
	cond := "(" + a + ".site_id IS NULL OR " + a + ".site_id = ANY (" + p(0) + "::uuid[])" +
		" OR " + a + ".owner_id = " + p(1) + "::uuid" +
		" OR EXISTS (SELECT 1 FROM customer_shares sh WHERE sh.tenant_id = " + a + ".tenant_id AND sh.customer_id = " + a + ".id" +
		" AND (sh.site_id = ANY (" + p(0) + "::uuid[]) OR sh.team_id = ANY (" + p(2) + "::uuid[]))))"
	return cond, []any{sites, sc.User, teams}
}

// VisibleTo returns nil when scope may see customer, and ErrNotFound when it
// may not, or when the customer does not exist in tenant or is deleted: an
// invisible customer is indistinguishable from a missing one.
func (s *Store) VisibleTo(ctx context.Context, tenant uuid.UUID, scope Scope, customer uuid.UUID) error {
	return visibleTo(ctx, s.pool, tenant, scope, customer)
}

func visibleTo(ctx context.Context, q dbtx, tenant uuid.UUID, scope Scope, customer uuid.UUID) error {
	rows, err := q.Query(ctx, `SELECT `+placeColumns+` FROM customers k
		WHERE k.tenant_id = $1 AND k.id = $2 AND k.deleted_at IS NULL`, tenant, customer)
	if err != nil {
		return fmt.Errorf("visibility of customer %s: %w", customer, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPlace)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("customer %s: %w", customer, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("visibility of customer %s: %w", customer, err)
	}
	if !scope.sees(p) {
		return fmt.Errorf("customer %s: %w", customer, ErrNotFound)
	}
	return nil
}

// VisibleCustomers returns those of ids that scope may see (not deleted,
// in tenant), in the order given. It applies scopeFilter, the SQL form of
// the rule that lists and search use.
func (s *Store) VisibleCustomers(ctx context.Context, tenant uuid.UUID, scope Scope, ids []uuid.UUID) ([]uuid.UUID, error) {
	cond, args := scopeFilter(scope, "k", 3)
	rows, err := s.pool.Query(ctx, `
		SELECT k.id FROM unnest($2::uuid[]) WITH ORDINALITY AS x (id, n)
		JOIN customers k ON k.tenant_id = $1 AND k.id = x.id AND k.deleted_at IS NULL
		WHERE `+cond+` ORDER BY x.n`, append([]any{tenant, ids}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("visible customers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("visible customers: %w", err)
	}
	return out, nil
}
