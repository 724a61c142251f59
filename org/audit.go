package org

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditEntry records who changed what: an admin's queue or agent settings,
// a supervisor's forced presence or move of a waiting contact.
type AuditEntry struct {
	ID         int64 // ascending in insertion order; the page cursor
	TenantID   uuid.UUID
	ActorID    uuid.UUID // the user who acted
	Action     string    // "queue.update", "agent.update", "presence.force", "contact.move"
	TargetKind string    // "queue", "agent", "contact"
	TargetID   uuid.UUID
	// Data holds ids and setting values only, never personal data: no
	// names, phone numbers, e-mail addresses or free text.
	Data map[string]any
	At   time.Time
}

var (
	auditAction = regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)
	auditKind   = regexp.MustCompile(`^[a-z_]+$`)
)

// WriteAudit adds e to the audit log inside tx, the transaction of the
// change it records: the entry and the change commit or roll back
// together. It is exported for the packages whose supervisor actions are
// audited (crm moves contacts), so that the log has one writer's shape;
// taking a pgx.Tx rather than the pool makes writing it on its own,
// outside the change's transaction, impossible.
func WriteAudit(ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	if e.TenantID == uuid.Nil || e.ActorID == uuid.Nil || e.TargetID == uuid.Nil ||
		!auditAction.MatchString(e.Action) || !auditKind.MatchString(e.TargetKind) {
		return fmt.Errorf("%w: audit entry needs tenant, actor, target and a dotted action", ErrInvalid)
	}
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO audit_log (tenant_id, actor_id, action, target_kind, target_id, data) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.TenantID, e.ActorID, e.Action, e.TargetKind, e.TargetID, b); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog returns a tenant's audit entries newest first: up to limit
// (1 to 200) of those older than the entry before; before 0 starts at the
// newest.
func (s *Store) AuditLog(ctx context.Context, tenant uuid.UUID, before int64, limit int) ([]AuditEntry, error) {
	if limit < 1 || limit > 200 {
		return nil, fmt.Errorf("%w: limit must be between 1 and 200", ErrInvalid)
	}
	if before < 0 {
		return nil, fmt.Errorf("%w: before must be an entry id", ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, tenant_id, actor_id, action, target_kind, target_id, data, at FROM audit_log
		WHERE tenant_id = $1 AND ($2::bigint = 0 OR id < $2::bigint)
		ORDER BY id DESC LIMIT $3`, tenant, before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		return e, r.Scan(&e.ID, &e.TenantID, &e.ActorID, &e.Action, &e.TargetKind, &e.TargetID, &e.Data, &e.At)
	})
}
