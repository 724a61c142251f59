package org

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// QueueThresholds are where a queue's figures change colour on the
// wallboard, set by a supervisor (migration 00021). The service level is
// amber below SLGoal, which is also the goal the agents needed are
// computed for, and red below SLRed; the longest wait is amber from
// WaitAmber and red from WaitRed.
type QueueThresholds struct {
	SLGoal, SLRed      float64
	WaitAmber, WaitRed time.Duration
}

// DefaultQueueThresholds apply to a queue nobody has set: the usual 80/20
// target's 80%, red at 60%, amber after 30 s of waiting, red after 60 s.
var DefaultQueueThresholds = QueueThresholds{SLGoal: 0.8, SLRed: 0.6, WaitAmber: 30 * time.Second, WaitRed: 60 * time.Second}

// AuditQueueThresholds is the audit action of SetQueueThresholds.
const AuditQueueThresholds = "queue.thresholds"

// Validate checks the thresholds make sense together: shares strictly
// between 0 and 1 with red at or below the goal, and whole-second waits
// from 1 s to a day with red at or after amber.
func (t QueueThresholds) Validate() error {
	switch {
	case !(t.SLGoal > 0 && t.SLGoal < 1) || !(t.SLRed > 0 && t.SLRed <= t.SLGoal):
		return fmt.Errorf("%w: service-level thresholds are shares with 0 < red ≤ goal < 1", ErrInvalid)
	case t.WaitAmber < time.Second || t.WaitRed < t.WaitAmber || t.WaitRed > 24*time.Hour ||
		t.WaitAmber%time.Second != 0 || t.WaitRed%time.Second != 0:
		return fmt.Errorf("%w: wait thresholds are whole seconds with 1 s ≤ amber ≤ red ≤ 1 day", ErrInvalid)
	}
	return nil
}

// QueueThresholds returns the thresholds supervisors have set on tenant's
// queues; a queue missing from the map uses DefaultQueueThresholds.
func (s *Store) QueueThresholds(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]QueueThresholds, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT queue_id, sl_goal, sl_red, wait_amber_seconds, wait_red_seconds
		FROM queue_thresholds WHERE tenant_id = $1`, tenant)
	if err != nil {
		return nil, fmt.Errorf("queue thresholds: %w", err)
	}
	type row struct {
		queue uuid.UUID
		t     QueueThresholds
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		var amber, red int
		err := r.Scan(&x.queue, &x.t.SLGoal, &x.t.SLRed, &amber, &red)
		x.t.WaitAmber, x.t.WaitRed = time.Duration(amber)*time.Second, time.Duration(red)*time.Second
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("queue thresholds: %w", err)
	}
	out := make(map[uuid.UUID]QueueThresholds, len(list))
	for _, x := range list {
		out[x.queue] = x.t
	}
	return out, nil
}

// SetQueueThresholds sets one queue's thresholds on actor's behalf,
// audited with the old and new values in the same transaction. A queue
// that is not tenant's is ErrNotFound; thresholds that fail Validate are
// ErrInvalid.
func (s *Store) SetQueueThresholds(ctx context.Context, tenant, queue, actor uuid.UUID, t QueueThresholds) (QueueThresholds, error) {
	if err := t.Validate(); err != nil {
		return QueueThresholds{}, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE tenant_id = $1 AND id = $2)`, tenant, queue).Scan(&exists); err != nil {
			return fmt.Errorf("thresholds of queue %s: %w", queue, err)
		} else if !exists {
			return fmt.Errorf("queue %s: %w", queue, ErrNotFound)
		}
		old := DefaultQueueThresholds
		var amber, red int
		err := tx.QueryRow(ctx, `
			SELECT sl_goal, sl_red, wait_amber_seconds, wait_red_seconds FROM queue_thresholds
			WHERE tenant_id = $1 AND queue_id = $2 FOR UPDATE`, tenant, queue).Scan(&old.SLGoal, &old.SLRed, &amber, &red)
		if err == nil {
			old.WaitAmber, old.WaitRed = time.Duration(amber)*time.Second, time.Duration(red)*time.Second
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("thresholds of queue %s: %w", queue, err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO queue_thresholds (tenant_id, queue_id, sl_goal, sl_red, wait_amber_seconds, wait_red_seconds, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, queue_id) DO UPDATE SET sl_goal = $3, sl_red = $4, wait_amber_seconds = $5,
				wait_red_seconds = $6, updated_by = $7, updated_at = now()`,
			tenant, queue, t.SLGoal, t.SLRed, int(t.WaitAmber/time.Second), int(t.WaitRed/time.Second), actor); err != nil {
			return fmt.Errorf("thresholds of queue %s: %w", queue, err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: AuditQueueThresholds,
			TargetKind: "queue", TargetID: queue, Data: map[string]any{
				"from": thresholdsData(old), "to": thresholdsData(t)}})
	})
	if err != nil {
		return QueueThresholds{}, err
	}
	return t, nil
}

func thresholdsData(t QueueThresholds) map[string]any {
	return map[string]any{"sl_goal": t.SLGoal, "sl_red": t.SLRed,
		"wait_amber_seconds": int(t.WaitAmber / time.Second), "wait_red_seconds": int(t.WaitRed / time.Second)}
}

// AgentSites maps each of tenant's agents to their user's site; agents who
// work for the whole group are left out. The wallboard filters by it.
func (s *Store) AgentSites(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, u.site_id FROM agents a JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.id
		WHERE a.tenant_id = $1 AND u.site_id IS NOT NULL`, tenant)
	if err != nil {
		return nil, fmt.Errorf("agent sites: %w", err)
	}
	out := map[uuid.UUID]uuid.UUID{}
	var agent, site uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&agent, &site}, func() error { out[agent] = site; return nil })
	if err != nil {
		return nil, fmt.Errorf("agent sites: %w", err)
	}
	return out, nil
}
