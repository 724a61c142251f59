package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

var (
	// ErrNotFound: no such row for this tenant. Another tenant's id is not found too.
	ErrNotFound = errors.New("not found")
	// ErrBadCredentials: unknown e-mail, wrong password or deactivated user;
	// deliberately one error so a login form cannot probe which.
	ErrBadCredentials = errors.New("wrong e-mail or password")
	// ErrNoSession: the session token is unknown, expired or revoked.
	ErrNoSession = errors.New("no valid session")
	// ErrInvalid: a value the caller passed is not acceptable.
	ErrInvalid = errors.New("invalid")
)

// Store reads and writes org's tables.
type Store struct {
	pool *pgxpool.Pool
	// dummyHash is checked for unknown e-mails so that a login takes the same
	// time whether or not the address exists.
	dummyHash string
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	h, err := HashPassword("not a real password")
	if err != nil {
		panic(err) // crypto/rand failing leaves nothing to run on
	}
	return &Store{pool: pool, dummyHash: h}
}

// CreateTenant adds a dealer group.
func (s *Store) CreateTenant(ctx context.Context, name, zone string) (Tenant, error) {
	t := Tenant{ID: dbid.New(), Name: name, DefaultZone: zone}
	if _, err := time.LoadLocation(zone); err != nil {
		return Tenant{}, fmt.Errorf("%w: time zone %q", ErrInvalid, zone)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tenants (id, name, default_zone) VALUES ($1, $2, $3)`, t.ID, t.Name, t.DefaultZone)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

// Tenants lists every tenant; the routing node runs one engine per tenant.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, default_zone FROM tenants ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) {
		var t Tenant
		return t, r.Scan(&t.ID, &t.Name, &t.DefaultZone)
	})
}

// Tenant returns one tenant.
func (s *Store) Tenant(ctx context.Context, id uuid.UUID) (Tenant, error) {
	var t Tenant
	err := s.pool.QueryRow(ctx, `SELECT id, name, default_zone FROM tenants WHERE id = $1`, id).Scan(&t.ID, &t.Name, &t.DefaultZone)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, ErrNotFound
	} else if err != nil {
		return Tenant{}, fmt.Errorf("tenant %s: %w", id, err)
	}
	return t, nil
}

// TenantByName finds a tenant by its exact name.
func (s *Store) TenantByName(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	err := s.pool.QueryRow(ctx, `SELECT id, name, default_zone FROM tenants WHERE name = $1`, name).Scan(&t.ID, &t.Name, &t.DefaultZone)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, ErrNotFound
	} else if err != nil {
		return Tenant{}, fmt.Errorf("tenant by name: %w", err)
	}
	return t, nil
}

// CreateSite adds a dealership. ChatKey is generated when empty.
func (s *Store) CreateSite(ctx context.Context, site Site) (Site, error) {
	site.ID = dbid.New()
	if site.ChatKey == "" {
		site.ChatKey = "site_" + randomToken(12)
	}
	if site.Zone == "" {
		site.Zone = "Asia/Shanghai"
	}
	if site.Country == "" {
		site.Country = "CN"
	}
	if site.AllowedOrigins == nil {
		site.AllowedOrigins = []string{}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sites (id, tenant_id, name, zone, country, area_code, chat_key, allowed_origins, chat_queue_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		site.ID, site.TenantID, site.Name, site.Zone, site.Country, site.AreaCode, site.ChatKey, site.AllowedOrigins, dbid.Null(site.ChatQueueID))
	if err != nil {
		return Site{}, fmt.Errorf("create site: %w", err)
	}
	return site, nil
}

const siteColumns = `id, tenant_id, name, zone, country, area_code, chat_key, allowed_origins, chat_queue_id`

func scanSite(r pgx.Row) (Site, error) {
	var st Site
	var q *uuid.UUID
	err := r.Scan(&st.ID, &st.TenantID, &st.Name, &st.Zone, &st.Country, &st.AreaCode, &st.ChatKey, &st.AllowedOrigins, &q)
	st.ChatQueueID = dbid.Deref(q)
	return st, err
}

// SiteByChatKey finds the site whose widget uses key. The key is the only
// thing that tells a visitor's tenant and site; the visitor's payload never does.
func (s *Store) SiteByChatKey(ctx context.Context, key string) (Site, error) {
	st, err := scanSite(s.pool.QueryRow(ctx, `SELECT `+siteColumns+` FROM sites WHERE chat_key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, ErrNotFound
	} else if err != nil {
		return Site{}, fmt.Errorf("site by chat key: %w", err)
	}
	return st, nil
}

// Sites lists a tenant's sites.
func (s *Store) Sites(ctx context.Context, tenant uuid.UUID) ([]Site, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+siteColumns+` FROM sites WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sites: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Site, error) { return scanSite(r) })
}

// SetSiteChat sets the queue that a site's chats go to and the origins allowed to embed its widget.
func (s *Store) SetSiteChat(ctx context.Context, tenant, site, queue uuid.UUID, origins []string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sites SET chat_queue_id = $3, allowed_origins = $4 WHERE tenant_id = $1 AND id = $2`,
		tenant, site, queue, origins)
	if err != nil {
		return fmt.Errorf("site chat: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// CreateQueue adds a queue; zero durations take the defaults.
func (s *Store) CreateQueue(ctx context.Context, q Queue) (Queue, error) {
	q.ID = dbid.New()
	if q.Strategy == "" {
		q.Strategy = "longest_idle"
	}
	if q.SLA <= 0 {
		q.SLA = 20 * time.Second
	}
	if q.OfferTimeout <= 0 {
		q.OfferTimeout = 20 * time.Second
	}
	if q.Skills == nil {
		q.Skills = map[string]int{}
	}
	skills, _ := json.Marshal(q.Skills)
	_, err := s.pool.Exec(ctx, `
		INSERT INTO queues (id, tenant_id, site_id, name, skills, strategy, priority, sla_seconds, offer_timeout_seconds, wrap_up_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		q.ID, q.TenantID, dbid.Null(q.SiteID), q.Name, skills, q.Strategy, q.Priority,
		int(q.SLA/time.Second), int(q.OfferTimeout/time.Second), int(q.WrapUp/time.Second))
	if err != nil {
		return Queue{}, fmt.Errorf("create queue: %w", err)
	}
	return q, nil
}

// QueueSettings are the parts of a queue an admin edits. Nil fields stay.
type QueueSettings struct {
	Strategy     *string
	Priority     *int
	Skills       map[string]int // nil: unchanged
	SLA          *time.Duration
	OfferTimeout *time.Duration
	WrapUp       *time.Duration
}

// UpdateQueue changes a queue's settings; strategies must be ones that
// routing knows (the caller passes them), durations whole seconds in range.
func (s *Store) UpdateQueue(ctx context.Context, tenant, id uuid.UUID, set QueueSettings, strategies []string) (Queue, error) {
	if set.Strategy != nil && !slices.Contains(strategies, *set.Strategy) {
		return Queue{}, fmt.Errorf("%w: strategy %q (known: %s)", ErrInvalid, *set.Strategy, strings.Join(strategies, ", "))
	}
	secs := func(d *time.Duration, min, max time.Duration, name string) (*int, error) {
		if d == nil {
			return nil, nil
		}
		if *d < min || *d > max {
			return nil, fmt.Errorf("%w: %s must be between %v and %v", ErrInvalid, name, min, max)
		}
		n := int(*d / time.Second)
		return &n, nil
	}
	sla, err := secs(set.SLA, time.Second, time.Hour, "service-level threshold")
	if err != nil {
		return Queue{}, err
	}
	offer, err := secs(set.OfferTimeout, 5*time.Second, 10*time.Minute, "offer timeout")
	if err != nil {
		return Queue{}, err
	}
	wrap, err := secs(set.WrapUp, 0, time.Hour, "wrap-up time")
	if err != nil {
		return Queue{}, err
	}
	var skills []byte
	if set.Skills != nil {
		for k, lvl := range set.Skills {
			if k == "" || len(k) > 64 || lvl < 1 || lvl > 10 {
				return Queue{}, fmt.Errorf("%w: skill %q level %d (levels are 1 to 10)", ErrInvalid, k, lvl)
			}
		}
		skills, _ = json.Marshal(set.Skills)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE queues SET strategy = coalesce($3, strategy), priority = coalesce($4, priority),
		       skills = coalesce($5::jsonb, skills), sla_seconds = coalesce($6, sla_seconds),
		       offer_timeout_seconds = coalesce($7, offer_timeout_seconds), wrap_up_seconds = coalesce($8, wrap_up_seconds)
		WHERE tenant_id = $1 AND id = $2`, tenant, id, set.Strategy, set.Priority, skills, sla, offer, wrap)
	if err != nil {
		return Queue{}, fmt.Errorf("update queue %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return Queue{}, ErrNotFound
	}
	qs, err := s.Queues(ctx, tenant)
	if err != nil {
		return Queue{}, err
	}
	for _, q := range qs {
		if q.ID == id {
			return q, nil
		}
	}
	return Queue{}, ErrNotFound
}

// Queues lists a tenant's queues.
func (s *Store) Queues(ctx context.Context, tenant uuid.UUID) ([]Queue, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, tenant_id, site_id, name, skills, strategy, priority, sla_seconds, offer_timeout_seconds, wrap_up_seconds
		FROM queues WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Queue, error) {
		var q Queue
		var site *uuid.UUID
		var sla, timeout, wrap int
		err := r.Scan(&q.ID, &q.TenantID, &site, &q.Name, &q.Skills, &q.Strategy, &q.Priority, &sla, &timeout, &wrap)
		q.SiteID = dbid.Deref(site)
		q.SLA, q.OfferTimeout, q.WrapUp = time.Duration(sla)*time.Second, time.Duration(timeout)*time.Second, time.Duration(wrap)*time.Second
		return q, err
	})
}

// NewUser is what CreateUser needs.
type NewUser struct {
	TenantID    uuid.UUID
	SiteID      uuid.UUID
	Email       string
	DisplayName string
	Password    string
	Role        Role
}

// CreateUser adds a user with an argon2id password hash.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if nu.Role.rank() == 0 {
		return User{}, fmt.Errorf("%w: role %q", ErrInvalid, nu.Role)
	}
	if len(nu.Password) < 8 {
		return User{}, fmt.Errorf("%w: password shorter than 8 characters", ErrInvalid)
	}
	hash, err := HashPassword(nu.Password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: dbid.New(), TenantID: nu.TenantID, SiteID: nu.SiteID, Email: strings.TrimSpace(nu.Email), DisplayName: nu.DisplayName, Role: nu.Role, Active: true}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO users (id, tenant_id, site_id, email, display_name, password_hash, role)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.TenantID, dbid.Null(u.SiteID), u.Email, u.DisplayName, hash, string(u.Role))
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

const userColumns = `id, tenant_id, site_id, email, display_name, role, active`

func scanUser(r pgx.Row, extra ...any) (User, error) {
	var u User
	var site *uuid.UUID
	var role string
	err := r.Scan(append([]any{&u.ID, &u.TenantID, &site, &u.Email, &u.DisplayName, &role, &u.Active}, extra...)...)
	u.SiteID, u.Role = dbid.Deref(site), Role(role)
	return u, err
}

// User returns a tenant's user.
func (s *Store) User(ctx context.Context, tenant, id uuid.UUID) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// Authenticate checks an e-mail and password.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	var hash string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`,
		strings.TrimSpace(email)), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		checkPassword(s.dummyHash, password)
		return User{}, ErrBadCredentials
	} else if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return User{}, fmt.Errorf("authenticate user %s: %w", u.ID, err)
	}
	if !ok || !u.Active {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// Session is a logged-in user's server-side session.
type Session struct {
	User      User
	CSRF      string
	ExpiresAt time.Time
}

// CreateSession starts a session and returns its secret token. Only the
// token's SHA-256 is stored, so a database leak does not leak live sessions.
func (s *Store) CreateSession(ctx context.Context, u User, ttl time.Duration) (string, Session, error) {
	token := randomToken(32)
	sess := Session{User: u, CSRF: randomToken(24), ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Microsecond)}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, tenant_id, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		tokenHash(token), u.TenantID, u.ID, sess.CSRF, sess.ExpiresAt)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

// SessionByToken returns the live session for token.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 128 {
		return Session{}, ErrNoSession
	}
	var sess Session
	u, err := scanUser(s.pool.QueryRow(ctx, `
		SELECT u.id, u.tenant_id, u.site_id, u.email, u.display_name, u.role, u.active, s.csrf_token, s.expires_at
		FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.active`,
		tokenHash(token)), &sess.CSRF, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	} else if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	sess.User = u
	return sess, nil
}

// RevokeSession ends the session for token.
func (s *Store) RevokeSession(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash(token))
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// CreateAgent lets user take contacts with the given skills and capacity.
func (s *Store) CreateAgent(ctx context.Context, tenant, user uuid.UUID, capacity map[Channel]int, skills map[string]int) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cap := func(c Channel, def int) int {
			if n, ok := capacity[c]; ok {
				return n
			}
			return def
		}
		if _, err := tx.Exec(ctx, `INSERT INTO agents (id, tenant_id, capacity_voice, capacity_chat, capacity_email) VALUES ($1, $2, $3, $4, $5)`,
			user, tenant, cap(Voice, 1), cap(Chat, 3), cap(Email, 5)); err != nil {
			return fmt.Errorf("create agent: %w", err)
		}
		for skill, level := range skills {
			if _, err := tx.Exec(ctx, `INSERT INTO agent_skills (tenant_id, agent_id, skill, level) VALUES ($1, $2, $3, $4)`,
				tenant, user, skill, level); err != nil {
				return fmt.Errorf("agent skill: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO agent_presence (tenant_id, agent_id, state) VALUES ($1, $2, 'offline')`, tenant, user)
		return err
	})
}

// Agents lists a tenant's agents with skills, capacity and chosen presence.
func (s *Store) Agents(ctx context.Context, tenant uuid.UUID) ([]Agent, error) {
	return s.agents(ctx, tenant, uuid.Nil)
}

// Agent returns one of a tenant's agents.
func (s *Store) Agent(ctx context.Context, tenant, id uuid.UUID) (Agent, error) {
	as, err := s.agents(ctx, tenant, id)
	if err != nil {
		return Agent{}, err
	}
	if len(as) == 0 {
		return Agent{}, ErrNotFound
	}
	return as[0], nil
}

func (s *Store) agents(ctx context.Context, tenant, only uuid.UUID) ([]Agent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, u.display_name, a.capacity_voice, a.capacity_chat, a.capacity_email,
		       coalesce(p.state, 'offline'), coalesce(p.reason, ''), coalesce(p.since, u.created_at),
		       coalesce((SELECT jsonb_object_agg(k.skill, k.level) FROM agent_skills k
		                 WHERE k.tenant_id = a.tenant_id AND k.agent_id = a.id), '{}')
		FROM agents a
		JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.id
		LEFT JOIN agent_presence p ON p.tenant_id = a.tenant_id AND p.agent_id = a.id
		WHERE a.tenant_id = $1 AND u.active AND ($2::uuid IS NULL OR a.id = $2)
		ORDER BY u.display_name, a.id`, tenant, dbid.Null(only))
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agent, error) {
		a := Agent{TenantID: tenant, Capacity: map[Channel]int{}}
		var v, c, e int
		var presence string
		err := r.Scan(&a.ID, &a.Name, &v, &c, &e, &presence, &a.Reason, &a.Since, &a.Skills)
		a.Capacity[Voice], a.Capacity[Chat], a.Capacity[Email] = v, c, e
		a.Presence = Presence(presence)
		return a, err
	})
}

// SetPresence records what an agent chose, with history.
func (s *Store) SetPresence(ctx context.Context, tenant, agent uuid.UUID, p Presence, reason string) (Agent, error) {
	if !p.Valid() {
		return Agent{}, fmt.Errorf("%w: presence %q", ErrInvalid, p)
	}
	if p != Away {
		reason = ""
	}
	if len(reason) > 64 {
		return Agent{}, fmt.Errorf("%w: reason longer than 64 bytes", ErrInvalid)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE agent_presence SET state = $3, reason = $4, since = now()
			WHERE tenant_id = $1 AND agent_id = $2 AND (state, reason) IS DISTINCT FROM ($3, $4)`, tenant, agent, string(p), reason)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // unchanged, or no such agent: Agent below tells which
		}
		_, err = tx.Exec(ctx, `INSERT INTO agent_presence_history (tenant_id, agent_id, state, reason) VALUES ($1, $2, $3, $4)`,
			tenant, agent, string(p), reason)
		return err
	})
	if err != nil {
		return Agent{}, fmt.Errorf("set presence: %w", err)
	}
	return s.Agent(ctx, tenant, agent)
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
