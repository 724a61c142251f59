package crm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// Ownership ("customer protection"): a customer may have an owning
// salesperson or advisor, whom routing prefers for their contacts. Anyone
// who sees the customer sees the owner, but only supervisors and admins
// move a customer away from an owner; an agent may claim an unowned
// customer and give up their own. Every change is audited.

// SetOwner makes owner (uuid.Nil: nobody) the customer's owner on actor's
// behalf and returns the previous owner. Rules by actorRole:
//   - agent: claim an unowned customer for themselves, or release their own;
//     anything else is ErrForbidden;
//   - supervisor, admin: any active user of the tenant, or nobody.
//
// Setting the current owner again changes nothing and writes no audit row.
// The caller checks visibility first (VisibleTo): SetOwner only knows roles.
func (s *Store) SetOwner(ctx context.Context, tenant, actor uuid.UUID, actorRole org.Role, customer, owner uuid.UUID) (uuid.UUID, error) {
	var previous uuid.UUID
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var cur *uuid.UUID
		err := tx.QueryRow(ctx, `
			SELECT owner_id FROM customers WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE`,
			tenant, customer).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("customer %s: %w", customer, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("owner of %s: %w", customer, err)
		}
		previous = deref(cur)
		if previous == owner {
			return nil
		}
		if !actorRole.Allows(org.RoleSupervisor) {
			claim := previous == uuid.Nil && owner == actor
			release := previous == actor && owner == uuid.Nil
			if !actorRole.Allows(org.RoleAgent) || !(claim || release) {
				return fmt.Errorf("set owner of %s: %w", customer, ErrForbidden)
			}
		}
		if owner != uuid.Nil {
			var active bool
			err := tx.QueryRow(ctx, `SELECT active FROM users WHERE tenant_id = $1 AND id = $2`, tenant, owner).Scan(&active)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && !active) {
				return fmt.Errorf("owner must be an active user of the tenant: %w", ErrInvalid)
			} else if err != nil {
				return fmt.Errorf("owner of %s: %w", customer, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET owner_id = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenant, customer, dbid.Null(owner)); err != nil {
			return mapWriteError("set owner", err)
		}
		if err := org.WriteAudit(ctx, tx, org.AuditEntry{
			TenantID: tenant, ActorID: actor, Action: AuditOwner, TargetKind: "customer", TargetID: customer,
			Data: map[string]any{"from": nullID(previous), "to": nullID(owner)},
		}); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventCustomerUpdated,
			map[string]any{"customer_id": customer, "owner_id": nullID(owner)})
	})
	if err != nil {
		return uuid.Nil, err
	}
	return previous, nil
}

// Share makes a customer visible to a site or a team beyond its site of
// record (under the tenant's 'site' visibility; under 'group' everyone sees
// it anyway).
type Share struct {
	ID         uuid.UUID  `json:"id"`
	CustomerID uuid.UUID  `json:"customer_id"`
	SiteID     *uuid.UUID `json:"site_id,omitempty"`
	TeamID     *uuid.UUID `json:"team_id,omitempty"`
	CreatedBy  uuid.UUID  `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
}

// ShareCustomer shares a customer with exactly one of site and team. The
// customer's owner and supervisors and admins may share (sharing hands
// personal data to another dealership, which may be another legal entity);
// others get ErrForbidden. Sharing again with the same site or team
// returns the existing share and writes no audit row. A site or team of
// another tenant is ErrNotFound.
func (s *Store) ShareCustomer(ctx context.Context, tenant, actor uuid.UUID, actorRole org.Role, customer, site, team uuid.UUID) (Share, error) {
	if (site == uuid.Nil) == (team == uuid.Nil) {
		return Share{}, fmt.Errorf("share: give exactly one of site and team: %w", ErrInvalid)
	}
	var sh Share
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var owner *uuid.UUID
		err := tx.QueryRow(ctx, `
			SELECT owner_id FROM customers WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE`,
			tenant, customer).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("customer %s: %w", customer, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("share %s: %w", customer, err)
		}
		if !actorRole.Allows(org.RoleSupervisor) && deref(owner) != actor {
			return fmt.Errorf("share customer %s: %w", customer, ErrForbidden)
		}
		rows, err := tx.Query(ctx, `
			SELECT id, customer_id, site_id, team_id, created_by, created_at FROM customer_shares
			WHERE tenant_id = $1 AND customer_id = $2 AND (site_id = $3 OR team_id = $4)`,
			tenant, customer, dbid.Null(site), dbid.Null(team))
		if err != nil {
			return fmt.Errorf("share %s: %w", customer, err)
		}
		existing, err := pgx.CollectRows(rows, scanShare)
		if err != nil {
			return fmt.Errorf("share %s: %w", customer, err)
		}
		if len(existing) > 0 {
			sh = existing[0]
			return nil
		}
		rows, err = tx.Query(ctx, `
			INSERT INTO customer_shares (id, tenant_id, customer_id, site_id, team_id, created_by)
			VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING id, customer_id, site_id, team_id, created_by, created_at`,
			dbid.New(), tenant, customer, dbid.Null(site), dbid.Null(team), actor)
		if err != nil {
			return mapWriteError("share customer", err)
		}
		if sh, err = pgx.CollectExactlyOneRow(rows, scanShare); err != nil {
			return mapWriteError("share customer", err)
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{
			TenantID: tenant, ActorID: actor, Action: AuditShare, TargetKind: "customer", TargetID: customer,
			Data: map[string]any{"share_id": sh.ID, "site_id": nullID(site), "team_id": nullID(team)},
		})
	})
	if err != nil {
		return Share{}, err
	}
	return sh, nil
}

func scanShare(r pgx.CollectableRow) (Share, error) {
	var sh Share
	return sh, r.Scan(&sh.ID, &sh.CustomerID, &sh.SiteID, &sh.TeamID, &sh.CreatedBy, &sh.CreatedAt)
}
