package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// Full views. People see identities masked (MaskIdentities); the full values
// go out only through Reveal, to roles at or above the tenant's reveal_role
// (default supervisor: agents work from masked numbers, and the phone
// connector dials for them), and to the agent holding a callback, who must
// dial it (AuditCallbackDial). Every full view writes an audit row naming
// who, when and which customer, never the values.

// Audit actions of this file and ownership.go.
const (
	AuditReveal = "customer.reveal"
	// AuditRevealRefused: a reveal refused for the actor's role (who
	// tried, when, which customer; never the values).
	AuditRevealRefused = "customer.reveal_refused"
	AuditOwner         = "customer.owner"
	AuditShare         = "customer.share"
)

// placesOfContactQuery reads the places of a contact's customer and
// candidates, for ScreenPopFor.
const placesOfContactQuery = `SELECT ` + placeColumns + `
FROM contacts c
JOIN customers k ON k.tenant_id = c.tenant_id AND (k.id = c.customer_id OR k.id = ANY (c.candidates))
WHERE c.tenant_id = $1 AND c.id = $2`

// ScreenPopFor is the screen-pop as viewer may see it, in one round trip
// (the screen-pop, the viewer's scope and the customers' places go as one
// batch): identities masked, and a customer outside the viewer's scope
// reduced to its id with Restricted set and no vehicles, orders, deals or
// history. The offer still reaches the agent (routing does not know
// visibility); they see what their scope allows. Candidates outside the
// scope are reduced the same way.
func (s *Store) ScreenPopFor(ctx context.Context, tenant, contact, viewer uuid.UUID) (ScreenPop, error) {
	var (
		p          ScreenPop
		visibility string
		role       org.Role
		site       *uuid.UUID
		teams      []uuid.UUID
	)
	b := &pgx.Batch{}
	b.Queue(screenPopQuery, screenPopArgs(tenant, contact)...).QueryRow(func(r pgx.Row) error {
		return scanScreenPop(r, &p)
	})
	b.Queue(viewerQuery, tenant, viewer).QueryRow(func(r pgx.Row) error {
		return r.Scan(&visibility, &role, &site, &teams)
	})
	var places []customerPlace
	b.Queue(placesOfContactQuery, tenant, contact).Query(func(rows pgx.Rows) error {
		var err error
		places, err = pgx.CollectRows(rows, scanPlace)
		return err
	})
	err := s.pool.SendBatch(ctx, b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return ScreenPop{}, fmt.Errorf("screen-pop of %s for %s: %w", contact, viewer, ErrNotFound)
	} else if err != nil {
		return ScreenPop{}, fmt.Errorf("screen-pop of %s: %w", contact, err)
	}
	return viewPop(p, scopeRule(visibility, viewer, role, deref(site), teams), places), nil
}

// viewPop masks p's identities and restricts the customers of p that sc
// may not see. A customer without a place (deleted meanwhile) is left as
// the screen-pop read it.
func viewPop(p ScreenPop, sc Scope, places []customerPlace) ScreenPop {
	hidden := make(map[uuid.UUID]bool, len(places))
	for _, pl := range places {
		if !sc.sees(pl) {
			hidden[pl.ID] = true
		}
	}
	for i, c := range p.Candidates {
		if hidden[c.ID] {
			p.Candidates[i] = CustomerSummary{ID: c.ID, Restricted: true}
		}
	}
	if p.Customer != nil && hidden[p.Customer.ID] {
		return ScreenPop{
			Customer:   &CustomerSummary{ID: p.Customer.ID, Restricted: true},
			Candidates: p.Candidates, Identities: []Identity{}, Vehicles: []Vehicle{},
			ServiceOrders: []ServiceOrder{}, Deals: []Deal{}, Recent: []Interaction{},
			FollowUps: []FollowUp{}, History: []HistoryLine{},
		}
	}
	p.Identities = MaskIdentities(p.Identities)
	return p
}

// MayReveal reports whether role may see full identities in tenant.
func (s *Store) MayReveal(ctx context.Context, tenant uuid.UUID, role org.Role) (bool, error) {
	var need org.Role
	err := s.pool.QueryRow(ctx, `SELECT reveal_role FROM tenants WHERE id = $1`, tenant).Scan(&need)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("tenant %s: %w", tenant, ErrNotFound)
	} else if err != nil {
		return false, fmt.Errorf("reveal role of %s: %w", tenant, err)
	}
	return role.Allows(need), nil
}

// Reveal returns a customer's identities in full to actor and audits the
// view in the same transaction: no audit row, no values. A customer outside
// scope is ErrNotFound (checked first, so that a refusal does not confirm
// that the customer exists; not audited, since it is indistinguishable
// from a missing customer); a role below the tenant's reveal_role is
// ErrForbidden, and the refusal is audited (AuditRevealRefused: the actor,
// their role and the role needed).
func (s *Store) Reveal(ctx context.Context, tenant, actor uuid.UUID, role org.Role, scope Scope, customer uuid.UUID) ([]Identity, error) {
	var ids []Identity
	refused := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := visibleTo(ctx, tx, tenant, scope, customer); err != nil {
			return err
		}
		var need org.Role
		if err := tx.QueryRow(ctx, `SELECT reveal_role FROM tenants WHERE id = $1`, tenant).Scan(&need); err != nil {
			return fmt.Errorf("reveal role: %w", err)
		}
		if !role.Allows(need) {
			// The refusal commits its audit row; the caller gets ErrForbidden.
			refused = true
			return org.WriteAudit(ctx, tx, org.AuditEntry{
				TenantID: tenant, ActorID: actor, Action: AuditRevealRefused, TargetKind: "customer", TargetID: customer,
				Data: map[string]any{"role": role, "reveal_role": need},
			})
		}
		var err error
		if ids, err = identitiesOf(ctx, tx, tenant, customer); err != nil {
			return err
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{
			TenantID: tenant, ActorID: actor, Action: AuditReveal, TargetKind: "customer", TargetID: customer,
			Data: map[string]any{"reason": "reveal", "identities": len(ids)},
		})
	})
	if err != nil {
		return nil, err
	}
	if refused {
		return nil, fmt.Errorf("reveal customer %s: %w", customer, ErrForbidden)
	}
	return ids, nil
}

func identitiesOf(ctx context.Context, q dbtx, tenant, customer uuid.UUID) ([]Identity, error) {
	rows, err := q.Query(ctx, `
		SELECT kind, system, value FROM customer_identities
		WHERE tenant_id = $1 AND customer_id = $2 ORDER BY kind, system, value`, tenant, customer)
	if err != nil {
		return nil, fmt.Errorf("identities of %s: %w", customer, err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Identity, error) {
		var id Identity
		return id, r.Scan(&id.Kind, &id.System, &id.Value)
	})
	if err != nil {
		return nil, fmt.Errorf("identities of %s: %w", customer, err)
	}
	return ids, nil
}

// AuditCallbackDial records that agent, holding contact (a callback
// attempt), is shown the number to dial: a legitimate full view, audited
// like a reveal (reason "callback") once per agent and contact, however
// often the console reloads. A contact the agent does not hold is
// ErrNotHeld; one without a customer needs no audit.
func (s *Store) AuditCallbackDial(ctx context.Context, tenant, agent, contact uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var customer *uuid.UUID
		var held, seen bool
		err := tx.QueryRow(ctx, `
			SELECT c.customer_id,
			       EXISTS (SELECT 1 FROM assignments a WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id
			                 AND a.agent_id = $3 AND a.ended_at IS NULL),
			       EXISTS (SELECT 1 FROM audit_log l WHERE l.tenant_id = c.tenant_id AND l.target_kind = 'customer'
			                 AND l.target_id = c.customer_id AND l.action = $4 AND l.actor_id = $3
			                 AND l.data->>'contact_id' = c.id::text)
			FROM contacts c WHERE c.tenant_id = $1 AND c.id = $2`,
			tenant, contact, agent, AuditReveal).Scan(&customer, &held, &seen)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("contact %s: %w", contact, ErrNotFound)
		case err != nil:
			return fmt.Errorf("callback dial audit of %s: %w", contact, err)
		case !held:
			return fmt.Errorf("contact %s: %w", contact, ErrNotHeld)
		case customer == nil || seen:
			return nil
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{
			TenantID: tenant, ActorID: agent, Action: AuditReveal, TargetKind: "customer", TargetID: *customer,
			Data: map[string]any{"reason": "callback", "contact_id": contact},
		})
	})
}
