package org

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PresenceChange is one entry of an agent's presence history.
type PresenceChange struct {
	AgentID  uuid.UUID
	Presence Presence
	At       time.Time
}

// PresenceHistory returns each agent's presence at since, dated since (from
// the last change before it), then every change at or after since, in time
// order: what occupancy's staffed time is measured from.
func (s *Store) PresenceHistory(ctx context.Context, tenant uuid.UUID, since time.Time) ([]PresenceChange, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT agent_id, state, at FROM (
			SELECT DISTINCT ON (agent_id) agent_id, state, $2::timestamptz AS at, 0::bigint AS id
			FROM agent_presence_history
			WHERE tenant_id = $1 AND at < $2
			ORDER BY agent_id, at DESC, id DESC
		) before
		UNION ALL
		SELECT agent_id, state, at FROM (
			SELECT agent_id, state, at, id FROM agent_presence_history WHERE tenant_id = $1 AND at >= $2
		) after
		ORDER BY at, agent_id`, tenant, since)
	if err != nil {
		return nil, fmt.Errorf("presence history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PresenceChange, error) {
		var c PresenceChange
		return c, r.Scan(&c.AgentID, &c.Presence, &c.At)
	})
	if err != nil {
		return nil, fmt.Errorf("presence history: %w", err)
	}
	return out, nil
}
