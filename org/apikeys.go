package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// API key roles: what a system calling the REST API may do.
const (
	KeyRead  = "read"  // GET only
	KeyWrite = "write" // also creates, updates and upserts
)

// API key scopes: what a key may do beyond its role.
const (
	// ScopeTimeline lets a key read customers' timelines: contacts with
	// their messages' text, which the records a system feeds do not need.
	ScopeTimeline = "timeline"
)

// HasScope tells whether k was given scope.
func (k APIKey) HasScope(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// ErrNoKey: the API key is malformed, unknown or revoked. One error for all
// three, so a caller learns nothing about which.
var ErrNoKey = errors.New("no valid API key")

// APIKey is a system's credential as admins list it; the secret is never
// stored, only its SHA-256.
type APIKey struct {
	ID         uuid.UUID  `json:"id"`
	TenantID   uuid.UUID  `json:"-"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  uuid.UUID  `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// keyPrefix is the public, lookup part of a key: 12 hex digits.
var keyPrefix = regexp.MustCompile(`^[0-9a-f]{12}$`)

// The token is "sbk_<prefix>_<secret>": the prefix finds the row, the
// secret (32 random bytes, base64url) is checked against its SHA-256. The
// secret has full entropy, so a fast hash is enough: no slow hash per
// request, just one indexed lookup and a constant-time compare.
const keyScheme = "sbk_"

// CreateAPIKey makes a key for tenant and returns it with the token, which
// is shown this once. The creation is audited (ids, role and scopes only).
func (s *Store) CreateAPIKey(ctx context.Context, tenant, actor uuid.UUID, name, role string, scopes ...string) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return APIKey{}, "", fmt.Errorf("%w: name must be 1 to 200 characters", ErrInvalid)
	}
	if role != KeyRead && role != KeyWrite {
		return APIKey{}, "", fmt.Errorf("%w: role must be read or write", ErrInvalid)
	}
	clean := []string{}
	for _, sc := range scopes {
		if sc != ScopeTimeline {
			return APIKey{}, "", fmt.Errorf("%w: scopes may only hold %q", ErrInvalid, ScopeTimeline)
		}
		if len(clean) == 0 {
			clean = append(clean, sc)
		}
	}
	p := make([]byte, 6)
	if _, err := rand.Read(p); err != nil {
		return APIKey{}, "", err
	}
	prefix := hex.EncodeToString(p)
	secret := randomToken(32)
	sum := sha256.Sum256([]byte(secret))
	k := APIKey{ID: dbid.New(), TenantID: tenant, Name: name, Prefix: prefix, Role: role, Scopes: clean, CreatedBy: actor}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, role, scopes, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at`,
			k.ID, tenant, name, prefix, sum[:], role, clean, actor).Scan(&k.CreatedAt)
		if err != nil {
			return fmt.Errorf("create API key: %w", err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "api_key.create", TargetKind: "api_key",
			TargetID: k.ID, Data: map[string]any{"role": role, "prefix": prefix, "scopes": clean}})
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, keyScheme + prefix + "_" + secret, nil
}

const apiKeyColumns = `id, tenant_id, name, prefix, role, scopes, created_by, created_at, last_used_at, revoked_at`

func scanAPIKey(r pgx.CollectableRow) (APIKey, error) {
	var k APIKey
	err := r.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Role, &k.Scopes, &k.CreatedBy, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}

// APIKeys lists a tenant's keys, newest first, revoked ones included.
func (s *Store) APIKeys(ctx context.Context, tenant uuid.UUID) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC`, tenant)
	if err != nil {
		return nil, fmt.Errorf("API keys: %w", err)
	}
	ks, err := pgx.CollectRows(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("API keys: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey ends a key at once; revoking it again changes nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, tenant, actor, id uuid.UUID) (APIKey, error) {
	var k APIKey
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE tenant_id = $1 AND id = $2
			RETURNING `+apiKeyColumns, tenant, id)
		if err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		k, err = pgx.CollectExactlyOneRow(rows, scanAPIKey)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("API key %s: %w", id, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "api_key.revoke", TargetKind: "api_key", TargetID: id})
	})
	return k, err
}

// VerifyAPIKey returns the live key behind token, or ErrNoKey. It stamps
// last_used_at at most once a minute, so that a busy integration does not
// write a row per request.
func (s *Store) VerifyAPIKey(ctx context.Context, token string) (APIKey, error) {
	rest, ok := strings.CutPrefix(token, keyScheme)
	if !ok || len(token) > 200 {
		return APIKey{}, ErrNoKey
	}
	prefix, secret, ok := strings.Cut(rest, "_")
	if !ok || !keyPrefix.MatchString(prefix) || secret == "" {
		return APIKey{}, ErrNoKey
	}
	var hash []byte
	row := s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+`, secret_hash FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL`, prefix)
	var k APIKey
	err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Role, &k.Scopes, &k.CreatedBy, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrNoKey
	} else if err != nil {
		return APIKey{}, fmt.Errorf("API key: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 {
		return APIKey{}, ErrNoKey
	}
	if k.LastUsedAt == nil || time.Since(*k.LastUsedAt) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, k.ID); err != nil {
			return APIKey{}, fmt.Errorf("API key: last used: %w", err)
		}
	}
	return k, nil
}
