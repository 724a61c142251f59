package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// AuditUnshare: a share of a customer withdrawn (ownership.go's Share).
const AuditUnshare = "customer.unshare"

// UnshareCustomer withdraws one share of a customer (ShareCustomer): the
// site or team stops seeing the customer through it. The HTTP API lets
// admins do it (the caller checks the role); the audit row
// (customer.unshare) names the share and its site or team. A share that is
// not the customer's, or a customer that is missing, deleted or another
// tenant's, is ErrNotFound.
func (s *Store) UnshareCustomer(ctx context.Context, tenant, actor, customer, share uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var live bool
		err := tx.QueryRow(ctx, `
			SELECT deleted_at IS NULL FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, customer).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
			return fmt.Errorf("customer %s: %w", customer, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("unshare %s: %w", customer, err)
		}
		var site, team *uuid.UUID
		err = tx.QueryRow(ctx, `
			DELETE FROM customer_shares WHERE tenant_id = $1 AND customer_id = $2 AND id = $3
			RETURNING site_id, team_id`, tenant, customer, share).Scan(&site, &team)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("share %s of customer %s: %w", share, customer, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("unshare %s: %w", customer, err)
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{
			TenantID: tenant, ActorID: actor, Action: AuditUnshare, TargetKind: "customer", TargetID: customer,
			Data: map[string]any{"share_id": share, "site_id": site, "team_id": team},
		})
	})
}
