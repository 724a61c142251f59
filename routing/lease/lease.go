// Package lease keeps the one-engine-per-tenant rule across nodes: a row in
// routing_lease names the holder and an epoch. Taking a lease over bumps the
// epoch and commits before the new holder rebuilds, and every durable
// routing write checks the epoch in its own transaction, so a paused old
// holder can no longer commit anything. Times are the database's, never the
// nodes' clocks.
//
// It imports none of Switchboard's packages.
package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Lease is a held lease.
type Lease struct {
	TenantID  uuid.UUID
	Holder    string
	Epoch     int64
	ExpiresAt time.Time
}

var (
	// ErrHeld: another holder's lease has not expired.
	ErrHeld = errors.New("routing lease held by another node")
	// ErrLost: the lease is no longer ours (expired and taken, or released).
	ErrLost = errors.New("routing lease lost")
)

// Acquire takes the tenant's lease if it is free, expired, or already ours.
// It always increments the epoch, so whatever a previous incarnation of the
// same holder had in flight is fenced off too.
func Acquire(ctx context.Context, pool *pgxpool.Pool, tenant uuid.UUID, holder string, ttl time.Duration) (Lease, error) {
	l := Lease{TenantID: tenant, Holder: holder}
	err := pool.QueryRow(ctx, `
		INSERT INTO routing_lease AS l (tenant_id, holder, epoch, expires_at)
		VALUES ($1, $2, 1, now() + $3::interval)
		ON CONFLICT (tenant_id) DO UPDATE
		   SET holder = excluded.holder, epoch = l.epoch + 1, expires_at = excluded.expires_at
		 WHERE l.expires_at < now() OR l.holder = excluded.holder
		RETURNING epoch, expires_at`, tenant, holder, ttl.String()).Scan(&l.Epoch, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Lease{}, ErrHeld
	} else if err != nil {
		return Lease{}, fmt.Errorf("acquire routing lease: %w", err)
	}
	return l, nil
}

// Renew extends a lease that is still ours at the same epoch.
func Renew(ctx context.Context, pool *pgxpool.Pool, l Lease, ttl time.Duration) (Lease, error) {
	err := pool.QueryRow(ctx, `
		UPDATE routing_lease SET expires_at = now() + $4::interval
		 WHERE tenant_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()
		RETURNING expires_at`, l.TenantID, l.Holder, l.Epoch, ttl.String()).Scan(&l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Lease{}, ErrLost
	} else if err != nil {
		return Lease{}, fmt.Errorf("renew routing lease: %w", err)
	}
	return l, nil
}

// Release expires a lease that is still ours, so another node takes over at
// once instead of waiting out the TTL.
func Release(ctx context.Context, pool *pgxpool.Pool, l Lease) error {
	tag, err := pool.Exec(ctx, `
		UPDATE routing_lease SET expires_at = now()
		 WHERE tenant_id = $1 AND holder = $2 AND epoch = $3`, l.TenantID, l.Holder, l.Epoch)
	if err != nil {
		return fmt.Errorf("release routing lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLost
	}
	return nil
}
