package org

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PhonesOfAgent lists how agent is reached, on every active connector.
func (s *Store) PhonesOfAgent(ctx context.Context, tenant, agent uuid.UUID) ([]AgentPhone, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT p.tenant_id, p.agent_id, p.connector_id, p.extension, p.dial, p.number
		FROM agent_phones p JOIN phone_connectors c ON c.tenant_id = p.tenant_id AND c.id = p.connector_id AND c.active
		WHERE p.tenant_id = $1 AND p.agent_id = $2 ORDER BY c.created_at, c.id`, tenant, agent)
	if err != nil {
		return nil, fmt.Errorf("agent phones: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentPhone, error) { return scanAgentPhone(r) })
}
