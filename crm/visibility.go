package crm

import (
	"context"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// Scope is what one viewer may see of a tenant's customers: the whole group,
// or the customers whose site of record is one of Sites (plus those shared
// with the viewer's sites or teams, which VisibleTo checks). It is computed
// once per request by ScopeFor and passed to reads (VisibleTo, Search).
type Scope struct {
	AllSites bool
	Sites    []uuid.UUID
}

// ScopeFor returns what user (with role, working at userSite; uuid.Nil when
// none) may see in tenant.
//
// First version: everyone sees the whole group. The tenant setting
// customer_visibility replaces this (migration 00010).
func (s *Store) ScopeFor(ctx context.Context, tenant, user uuid.UUID, role org.Role, userSite uuid.UUID) (Scope, error) {
	return Scope{AllSites: true}, nil
}

// VisibleTo returns nil when scope may see customer, and ErrNotFound when it
// may not (or when the customer does not exist in tenant), so that an
// invisible customer is indistinguishable from a missing one.
//
// First version: permissive.
func (s *Store) VisibleTo(ctx context.Context, tenant uuid.UUID, scope Scope, customer uuid.UUID) error {
	return nil
}
