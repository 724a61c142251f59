package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	// sealer opens and seals mailbox passwords (WithSealer); nil: none.
	sealer *Sealer
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	h, err := HashPassword("not a real password")
	if err != nil {
		panic(err) // crypto/rand failing leaves nothing to run on
	}
	s := &Store{pool: pool, dummyHash: h}
	for _, o := range opts {
		o(s)
	}
	return s
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

// CreateQueue adds a queue; zero durations take the defaults. The routing
// settings are checked as UpdateQueue checks them.
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
	if q.WidenedSkills == nil {
		q.WidenedSkills = map[string]int{}
	}
	if q.Calendar != nil && alwaysOpen(*q.Calendar) {
		q.Calendar = nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkQueue(ctx, tx, &q); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO queues (id, tenant_id, site_id, name, skills, strategy, priority, sla_seconds, offer_timeout_seconds, wrap_up_seconds,
			                    calendar, closed_action, closed_message, max_wait_seconds, overflow_queue_id, widen_after_seconds,
			                    widened_skills, max_length, ageing_step_seconds, ageing_max, prefer_window_seconds, auto_callback, dispositions)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
			append([]any{q.ID, q.TenantID, dbid.Null(q.SiteID), q.Name}, queueValues(q)...)...)
		if err != nil {
			return fmt.Errorf("create queue: %w", err)
		}
		// The zone is derived (site, else tenant): read it as Queues does.
		created, err := scanQueue(tx.QueryRow(ctx, `SELECT `+queueColumns+` FROM queues WHERE tenant_id = $1 AND id = $2`, q.TenantID, q.ID))
		if err != nil {
			return fmt.Errorf("create queue: %w", err)
		}
		q.Zone = created.Zone
		return nil
	})
	if err != nil {
		return Queue{}, err
	}
	return q, nil
}

// queueValues are a queue's settings in the column order of queueColumns
// after id, tenant_id, site_id and name.
func queueValues(q Queue) []any {
	var cal *Calendar
	if q.Calendar != nil && !alwaysOpen(*q.Calendar) {
		cal = q.Calendar
	}
	codes := q.Dispositions
	if codes == nil {
		codes = []string{} // the column is NOT NULL
	}
	return []any{q.Skills, q.Strategy, q.Priority, seconds(q.SLA), seconds(q.OfferTimeout), seconds(q.WrapUp),
		cal, string(q.ClosedAction), q.ClosedMessage, seconds(q.MaxWait), dbid.Null(q.OverflowQueueID), seconds(q.WidenAfter),
		q.WidenedSkills, q.MaxLength, seconds(q.AgeingStep), q.AgeingMax, seconds(q.PreferWindow), q.AutoCallback, codes}
}

func seconds(d time.Duration) int { return int(d / time.Second) }

// alwaysOpen: a calendar without hours or exceptions never closes, so it
// is stored as NULL, like no calendar at all.
func alwaysOpen(c Calendar) bool { return len(c.Weekly) == 0 && len(c.Exceptions) == 0 }

// QueueSettings are the parts of a queue an admin edits. Nil fields stay.
// Where a zero value means "none" (no calendar, no overflow queue, no
// limit), a pointer to the zero value clears the setting.
type QueueSettings struct {
	Strategy     *string
	Priority     *int
	Skills       map[string]int // nil: unchanged
	SLA          *time.Duration
	OfferTimeout *time.Duration
	WrapUp       *time.Duration

	// Calendar replaces the opening hours; a pointer to an empty Calendar
	// (no hours, no exceptions) makes the queue always open.
	Calendar        *Calendar
	ClosedAction    *ClosedAction
	ClosedMessage   *string
	MaxWait         *time.Duration
	OverflowQueueID *uuid.UUID     // pointer to uuid.Nil: no overflow
	WidenAfter      *time.Duration // zero: never widen
	WidenedSkills   map[string]int // nil: unchanged; empty: none
	MaxLength       *int
	AgeingStep      *time.Duration
	AgeingMax       *int
	PreferWindow    *time.Duration // zero: routing's default
	AutoCallback    *bool
	Dispositions    []string // nil: unchanged; empty: none
}

// UpdateQueue changes a queue's settings and records who did it in the
// audit log, in one transaction; strategies must be ones that routing
// knows (the caller passes them). An overflow queue of another tenant is
// ErrNotFound; every other unacceptable value is ErrInvalid.
func (s *Store) UpdateQueue(ctx context.Context, tenant, id, actor uuid.UUID, set QueueSettings, strategies []string) (Queue, error) {
	if set.Strategy != nil && !slices.Contains(strategies, *set.Strategy) {
		return Queue{}, fmt.Errorf("%w: strategy %q (known: %s)", ErrInvalid, *set.Strategy, strings.Join(strategies, ", "))
	}
	var q Queue
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		// FOR UPDATE: two admins editing one queue at once both see the
		// other's committed change, and neither undoes it.
		if q, err = scanQueue(tx.QueryRow(ctx, `SELECT `+queueColumns+` FROM queues WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id)); errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return fmt.Errorf("update queue %s: %w", id, err)
		}
		changed := applyQueueSettings(&q, set)
		if err := checkQueue(ctx, tx, &q); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE queues SET skills = $3, strategy = $4, priority = $5, sla_seconds = $6, offer_timeout_seconds = $7,
			       wrap_up_seconds = $8, calendar = $9, closed_action = $10, closed_message = $11, max_wait_seconds = $12,
			       overflow_queue_id = $13, widen_after_seconds = $14, widened_skills = $15, max_length = $16,
			       ageing_step_seconds = $17, ageing_max = $18, prefer_window_seconds = $19, auto_callback = $20,
			       dispositions = $21
			WHERE tenant_id = $1 AND id = $2`, append([]any{tenant, id}, queueValues(q)...)...); err != nil {
			return fmt.Errorf("update queue %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "queue.update",
			TargetKind: "queue", TargetID: id, Data: changed})
	})
	if err != nil {
		return Queue{}, err
	}
	return q, nil
}

// applyQueueSettings sets what set carries onto q and returns the changed
// settings for the audit log, in the admin API's terms. The closed
// message is free text, so the log says only that it changed.
func applyQueueSettings(q *Queue, set QueueSettings) map[string]any {
	changed := map[string]any{}
	put := func(name string, v any) { changed[name] = v }
	if set.Strategy != nil {
		q.Strategy = *set.Strategy
		put("strategy", q.Strategy)
	}
	if set.Priority != nil {
		q.Priority = *set.Priority
		put("priority", q.Priority)
	}
	if set.Skills != nil {
		q.Skills = set.Skills
		put("skills", q.Skills)
	}
	dur := func(name string, dst *time.Duration, src *time.Duration) {
		if src != nil {
			*dst = *src
			put(name+"_seconds", seconds(*src))
		}
	}
	dur("sla", &q.SLA, set.SLA)
	dur("offer_timeout", &q.OfferTimeout, set.OfferTimeout)
	dur("wrap_up", &q.WrapUp, set.WrapUp)
	if set.Calendar != nil {
		q.Calendar = nil
		if !alwaysOpen(*set.Calendar) {
			cal := *set.Calendar
			q.Calendar = &cal
		}
		put("calendar", q.Calendar)
	}
	if set.ClosedAction != nil {
		q.ClosedAction = *set.ClosedAction
		put("closed_action", q.ClosedAction)
	}
	if set.ClosedMessage != nil {
		q.ClosedMessage = *set.ClosedMessage
		put("closed_message_changed", true)
	}
	dur("max_wait", &q.MaxWait, set.MaxWait)
	if set.OverflowQueueID != nil {
		q.OverflowQueueID = *set.OverflowQueueID
		put("overflow_queue_id", dbid.Null(q.OverflowQueueID))
	}
	dur("widen_after", &q.WidenAfter, set.WidenAfter)
	if set.WidenedSkills != nil {
		q.WidenedSkills = set.WidenedSkills
		put("widened_skills", q.WidenedSkills)
	}
	if set.MaxLength != nil {
		q.MaxLength = *set.MaxLength
		put("max_length", q.MaxLength)
	}
	dur("ageing_step", &q.AgeingStep, set.AgeingStep)
	if set.AgeingMax != nil {
		q.AgeingMax = *set.AgeingMax
		put("ageing_max", q.AgeingMax)
	}
	dur("prefer_window", &q.PreferWindow, set.PreferWindow)
	if set.AutoCallback != nil {
		q.AutoCallback = *set.AutoCallback
		put("auto_callback", q.AutoCallback)
	}
	if set.Dispositions != nil {
		q.Dispositions = nil
		if len(set.Dispositions) > 0 {
			q.Dispositions = set.Dispositions
		}
		put("dispositions", set.Dispositions) // labels the admin chose, no personal data
	}
	return changed
}

// checkQueue refuses settings routing cannot use, with a message an admin
// can act on. An empty calendar zone is filled in with the queue's site
// zone, or the tenant's default zone for a group-wide queue.
func checkQueue(ctx context.Context, tx pgx.Tx, q *Queue) error {
	if q.Name == "" || len(q.Name) > 100 {
		return fmt.Errorf("%w: queue name must be 1 to 100 bytes", ErrInvalid)
	}
	if q.Strategy == "" {
		return fmt.Errorf("%w: strategy is required", ErrInvalid)
	}
	type span struct {
		name     string
		d        time.Duration
		min, max time.Duration
		zeroOK   bool // zero means "none" or "default"
	}
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	for _, c := range []span{
		{"service-level threshold", q.SLA, time.Second, time.Hour, false},
		{"offer timeout", q.OfferTimeout, 5 * time.Second, 10 * time.Minute, false},
		{"wrap-up time", q.WrapUp, 0, time.Hour, true},
		{"maximum wait", q.MaxWait, 5 * time.Second, week, true},
		{"widening delay", q.WidenAfter, 5 * time.Second, week, true},
		{"ageing step", q.AgeingStep, 5 * time.Second, day, true},
		{"preference window", q.PreferWindow, time.Second, time.Hour, true},
	} {
		if c.d == 0 && c.zeroOK {
			continue
		}
		if c.d < c.min || c.d > c.max || c.d%time.Second != 0 {
			zero := ""
			if c.zeroOK {
				zero = " (or 0 for none)"
			}
			return fmt.Errorf("%w: %s must be whole seconds between %v and %v%s", ErrInvalid, c.name, c.min, c.max, zero)
		}
	}
	if err := checkSkills("skill", q.Skills); err != nil {
		return err
	}
	if err := checkSkills("widened skill", q.WidenedSkills); err != nil {
		return err
	}
	if !q.ClosedAction.Valid() {
		return fmt.Errorf("%w: closed action %q (known: \"\" to wait, message, voicemail, callback)", ErrInvalid, q.ClosedAction)
	}
	if len(q.ClosedMessage) > 1000 {
		return fmt.Errorf("%w: closed message longer than 1000 bytes", ErrInvalid)
	}
	if q.ClosedAction == ActionMessage && strings.TrimSpace(q.ClosedMessage) == "" {
		return fmt.Errorf("%w: closed action \"message\" needs a closed message", ErrInvalid)
	}
	if q.MaxLength < 0 || q.MaxLength > 100000 {
		return fmt.Errorf("%w: maximum length must be between 0 (no limit) and 100000", ErrInvalid)
	}
	if q.AgeingMax < 0 || q.AgeingMax > 1000 {
		return fmt.Errorf("%w: ageing maximum must be between 0 and 1000", ErrInvalid)
	}
	if err := checkDispositions(q.Dispositions); err != nil {
		return err
	}
	if q.Calendar != nil {
		if err := checkCalendar(ctx, tx, q); err != nil {
			return err
		}
	}
	if q.OverflowQueueID != uuid.Nil {
		if err := checkOverflow(ctx, tx, q); err != nil {
			return err
		}
	}
	return nil
}

func checkSkills(what string, skills map[string]int) error {
	for k, lvl := range skills {
		if k == "" || len(k) > 64 || lvl < 1 || lvl > 10 {
			return fmt.Errorf("%w: %s %q level %d (names of 1 to 64 bytes, levels 1 to 10)", ErrInvalid, what, k, lvl)
		}
	}
	return nil
}

// checkDispositions: codes are short, printable, distinct labels; the
// console shows them as they are and reports group by them.
func checkDispositions(codes []string) error {
	if len(codes) > MaxDispositions {
		return fmt.Errorf("%w: at most %d disposition codes", ErrInvalid, MaxDispositions)
	}
	seen := make(map[string]bool, len(codes))
	for _, c := range codes {
		if c == "" || c != strings.TrimSpace(c) || utf8.RuneCountInString(c) > MaxDispositionLen || !utf8.ValidString(c) {
			return fmt.Errorf("%w: disposition code %q must be 1 to %d characters without leading or trailing spaces",
				ErrInvalid, c, MaxDispositionLen)
		}
		if strings.IndexFunc(c, unicode.IsControl) >= 0 {
			return fmt.Errorf("%w: disposition code %q contains a control character", ErrInvalid, c)
		}
		if seen[c] {
			return fmt.Errorf("%w: disposition code %q is listed twice", ErrInvalid, c)
		}
		seen[c] = true
	}
	return nil
}

func checkCalendar(ctx context.Context, tx pgx.Tx, q *Queue) error {
	cal := q.Calendar
	if cal.Zone == "" {
		err := tx.QueryRow(ctx, `
			SELECT coalesce((SELECT zone FROM sites WHERE tenant_id = $1 AND id = $2), default_zone)
			FROM tenants WHERE id = $1`, q.TenantID, dbid.Null(q.SiteID)).Scan(&cal.Zone)
		if err != nil {
			return fmt.Errorf("calendar zone of queue %s: %w", q.ID, err)
		}
	}
	// "Local" would mean whatever zone the server runs in.
	if cal.Zone == "Local" {
		return fmt.Errorf("%w: time zone %q", ErrInvalid, cal.Zone)
	}
	if err := cal.Validate(); err != nil {
		return fmt.Errorf("calendar: %w", err)
	}
	dates := map[string]bool{}
	for _, e := range cal.Exceptions {
		if dates[e.Date] {
			return fmt.Errorf("%w: calendar: date %s is listed twice in the exceptions", ErrInvalid, e.Date)
		}
		dates[e.Date] = true
	}
	if len(cal.Exceptions) > 1000 {
		return fmt.Errorf("%w: calendar: more than 1000 exceptions", ErrInvalid)
	}
	return nil
}

// checkOverflow: the overflow queue must be another queue of the same
// tenant, and following overflows from it must never come back to q, or a
// contact would circle between full queues forever.
func checkOverflow(ctx context.Context, tx pgx.Tx, q *Queue) error {
	if q.OverflowQueueID == q.ID {
		return fmt.Errorf("%w: a queue cannot overflow into itself", ErrInvalid)
	}
	// Serialises overflow changes of one tenant, so that two concurrent
	// edits cannot close a loop that neither sees.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('queue overflow ' || $1::text, 0))`, q.TenantID); err != nil {
		return fmt.Errorf("overflow lock: %w", err)
	}
	var exists, loops bool
	err := tx.QueryRow(ctx, `
		WITH RECURSIVE chain (id, depth) AS (
			SELECT overflow_queue_id, 1 FROM queues WHERE tenant_id = $1 AND id = $3
			UNION ALL
			SELECT q.overflow_queue_id, c.depth + 1 FROM queues q JOIN chain c ON q.tenant_id = $1 AND q.id = c.id
			WHERE c.depth < 1000
		)
		SELECT EXISTS (SELECT 1 FROM queues WHERE tenant_id = $1 AND id = $3),
		       EXISTS (SELECT 1 FROM chain WHERE id = $2)`, q.TenantID, q.ID, q.OverflowQueueID).Scan(&exists, &loops)
	if err != nil {
		return fmt.Errorf("overflow queue: %w", err)
	}
	if !exists {
		return fmt.Errorf("overflow queue %s: %w", q.OverflowQueueID, ErrNotFound)
	}
	if loops {
		return fmt.Errorf("%w: overflowing into that queue would lead back to this one", ErrInvalid)
	}
	return nil
}

const queueColumns = `id, tenant_id, site_id, name, skills, strategy, priority, sla_seconds, offer_timeout_seconds, wrap_up_seconds,
	calendar, closed_action, closed_message, max_wait_seconds, overflow_queue_id, widen_after_seconds,
	widened_skills, max_length, ageing_step_seconds, ageing_max, prefer_window_seconds, auto_callback, dispositions,
	COALESCE((SELECT s.zone FROM sites s WHERE s.tenant_id = queues.tenant_id AND s.id = queues.site_id),
	         (SELECT t.default_zone FROM tenants t WHERE t.id = queues.tenant_id))`

func scanQueue(r pgx.Row) (Queue, error) {
	var q Queue
	var site, overflow *uuid.UUID
	var sla, timeout, wrap, maxWait, widen, ageing, prefer int
	var action string
	err := r.Scan(&q.ID, &q.TenantID, &site, &q.Name, &q.Skills, &q.Strategy, &q.Priority, &sla, &timeout, &wrap,
		&q.Calendar, &action, &q.ClosedMessage, &maxWait, &overflow, &widen,
		&q.WidenedSkills, &q.MaxLength, &ageing, &q.AgeingMax, &prefer, &q.AutoCallback, &q.Dispositions, &q.Zone)
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	q.SiteID, q.OverflowQueueID, q.ClosedAction = dbid.Deref(site), dbid.Deref(overflow), ClosedAction(action)
	q.SLA, q.OfferTimeout, q.WrapUp = s(sla), s(timeout), s(wrap)
	q.MaxWait, q.WidenAfter, q.AgeingStep, q.PreferWindow = s(maxWait), s(widen), s(ageing), s(prefer)
	if len(q.Dispositions) == 0 {
		q.Dispositions = nil // none, as a Queue built in Go says it
	}
	return q, err
}

// Queues lists a tenant's queues.
func (s *Store) Queues(ctx context.Context, tenant uuid.UUID) ([]Queue, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+queueColumns+` FROM queues WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Queue, error) { return scanQueue(r) })
}

// Queue returns one of a tenant's queues.
func (s *Store) Queue(ctx context.Context, tenant, id uuid.UUID) (Queue, error) {
	q, err := scanQueue(s.pool.QueryRow(ctx, `SELECT `+queueColumns+` FROM queues WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Queue{}, ErrNotFound
	} else if err != nil {
		return Queue{}, fmt.Errorf("queue %s: %w", id, err)
	}
	return q, nil
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
	return agentsOn(ctx, s.pool, tenant, only)
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func agentsOn(ctx context.Context, db querier, tenant, only uuid.UUID) ([]Agent, error) {
	rows, err := db.Query(ctx, `
		SELECT a.id, u.display_name, a.capacity_voice, a.capacity_chat, a.capacity_email, a.voice_blocks_chat,
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
		err := r.Scan(&a.ID, &a.Name, &v, &c, &e, &a.VoiceBlocksChat, &presence, &a.Reason, &a.Since, &a.Skills)
		a.Capacity[Voice], a.Capacity[Chat], a.Capacity[Email] = v, c, e
		a.Presence = Presence(presence)
		return a, err
	})
}

// AgentSettings are the parts of an agent an admin edits. Nil fields stay.
type AgentSettings struct {
	Skills          map[string]int  // replaces all skills; empty: none
	Capacity        map[Channel]int // the channels given change, the others stay
	VoiceBlocksChat *bool
}

// maxCapacity bounds what one person can work at once on each channel.
var maxCapacity = map[Channel]int{Voice: 1, Chat: 10, Email: 50}

// UpdateAgent changes an agent's skills, capacity and voice-blocks-chat
// and records who did it in the audit log, in one transaction.
func (s *Store) UpdateAgent(ctx context.Context, tenant, id, actor uuid.UUID, set AgentSettings) (Agent, error) {
	if err := checkSkills("skill", set.Skills); err != nil {
		return Agent{}, err
	}
	changed := map[string]any{}
	for c, n := range set.Capacity {
		if !c.Valid() {
			return Agent{}, fmt.Errorf("%w: capacity for channel %q (known: voice, chat, email)", ErrInvalid, c)
		}
		if n < 0 || n > maxCapacity[c] {
			return Agent{}, fmt.Errorf("%w: %s capacity must be between 0 and %d", ErrInvalid, c, maxCapacity[c])
		}
	}
	var a Agent
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		capOf := func(c Channel) *int {
			if n, ok := set.Capacity[c]; ok {
				return &n
			}
			return nil
		}
		tag, err := tx.Exec(ctx, `
			UPDATE agents SET capacity_voice = coalesce($3, capacity_voice), capacity_chat = coalesce($4, capacity_chat),
			       capacity_email = coalesce($5, capacity_email), voice_blocks_chat = coalesce($6, voice_blocks_chat)
			WHERE tenant_id = $1 AND id = $2`, tenant, id, capOf(Voice), capOf(Chat), capOf(Email), set.VoiceBlocksChat)
		if err != nil {
			return fmt.Errorf("update agent %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if len(set.Capacity) > 0 {
			changed["capacity"] = set.Capacity
		}
		if set.VoiceBlocksChat != nil {
			changed["voice_blocks_chat"] = *set.VoiceBlocksChat
		}
		if set.Skills != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM agent_skills WHERE tenant_id = $1 AND agent_id = $2`, tenant, id); err != nil {
				return fmt.Errorf("update agent %s skills: %w", id, err)
			}
			for skill, level := range set.Skills {
				if _, err := tx.Exec(ctx, `INSERT INTO agent_skills (tenant_id, agent_id, skill, level) VALUES ($1, $2, $3, $4)`,
					tenant, id, skill, level); err != nil {
					return fmt.Errorf("update agent %s skills: %w", id, err)
				}
			}
			changed["skills"] = set.Skills
		}
		if err := WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "agent.update",
			TargetKind: "agent", TargetID: id, Data: changed}); err != nil {
			return err
		}
		as, err := agentsOn(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return ErrNotFound // a deactivated user's agent row: not editable
		}
		a = as[0]
		return nil
	})
	if err != nil {
		return Agent{}, err
	}
	return a, nil
}

// SetPresence records what an agent chose, with history.
func (s *Store) SetPresence(ctx context.Context, tenant, agent uuid.UUID, p Presence, reason string) (Agent, error) {
	return s.setPresence(ctx, tenant, agent, uuid.Nil, p, reason)
}

// ForcePresence sets an agent's presence for them (a supervisor sending an
// agent on a break, or back to work): as SetPresence, and the change is
// recorded in the audit log in the same transaction. The reason stays in
// the presence history only: it is free text and may say something
// personal ("sick"), which the audit log must not hold.
func (s *Store) ForcePresence(ctx context.Context, tenant, agent, actor uuid.UUID, p Presence, reason string) (Agent, error) {
	if actor == uuid.Nil {
		return Agent{}, fmt.Errorf("%w: forcing a presence needs the actor", ErrInvalid)
	}
	return s.setPresence(ctx, tenant, agent, actor, p, reason)
}

func (s *Store) setPresence(ctx context.Context, tenant, agent, actor uuid.UUID, p Presence, reason string) (Agent, error) {
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
		var from string
		err := tx.QueryRow(ctx, `
			UPDATE agent_presence p SET state = $3, reason = $4, since = now()
			FROM (SELECT state FROM agent_presence WHERE tenant_id = $1 AND agent_id = $2 FOR UPDATE) old
			WHERE p.tenant_id = $1 AND p.agent_id = $2 AND (p.state, p.reason) IS DISTINCT FROM ($3, $4)
			RETURNING old.state`, tenant, agent, string(p), reason).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // unchanged, or no such agent: Agent below tells which
		} else if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO agent_presence_history (tenant_id, agent_id, state, reason) VALUES ($1, $2, $3, $4)`,
			tenant, agent, string(p), reason); err != nil {
			return err
		}
		if actor == uuid.Nil {
			return nil
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "presence.force",
			TargetKind: "agent", TargetID: agent, Data: map[string]any{"from": from, "state": p}})
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
