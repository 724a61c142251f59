package org

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Privacy settings and teams (migration 00010). Two columns of tenants
// decide what people see of customers (crm applies them: crm.ScopeFor,
// crm.Reveal); teams are groups of users that customers can be shared
// with. Admins change both; every change is audited in its transaction.

// Customer visibility settings; crm.VisibilityGroup and crm.VisibilitySite
// are the same values, where crm applies them.
const (
	CustomerVisibilityGroup = "group"
	CustomerVisibilitySite  = "site"
)

// PrivacySettings are a tenant's customer visibility ('group' or 'site')
// and the least role that may see full phone numbers and e-mail addresses.
type PrivacySettings struct {
	CustomerVisibility string `json:"customer_visibility"`
	RevealRole         Role   `json:"reveal_role"`
}

// PrivacyUpdate changes the settings that are set; nil fields stay.
type PrivacyUpdate struct {
	CustomerVisibility *string
	RevealRole         *Role
}

// Audit actions of this file.
const (
	AuditPrivacy      = "tenant.privacy"
	AuditTeamCreate   = "team.create"
	AuditTeamUpdate   = "team.update"
	AuditTeamDelete   = "team.delete"
	AuditMemberAdd    = "team.member_add"
	AuditMemberRemove = "team.member_remove"
)

// PrivacySettings returns tenant's settings.
func (s *Store) PrivacySettings(ctx context.Context, tenant uuid.UUID) (PrivacySettings, error) {
	var p PrivacySettings
	err := s.pool.QueryRow(ctx, `SELECT customer_visibility, reveal_role FROM tenants WHERE id = $1`, tenant).
		Scan(&p.CustomerVisibility, &p.RevealRole)
	if errors.Is(err, pgx.ErrNoRows) {
		return PrivacySettings{}, fmt.Errorf("tenant %s: %w", tenant, ErrNotFound)
	} else if err != nil {
		return PrivacySettings{}, fmt.Errorf("privacy settings of %s: %w", tenant, err)
	}
	return p, nil
}

// SetPrivacySettings changes tenant's settings on actor's behalf and
// returns them. The audit row (tenant.privacy) holds the settings that
// changed, from and to; a change to the current values writes none.
func (s *Store) SetPrivacySettings(ctx context.Context, tenant, actor uuid.UUID, in PrivacyUpdate) (PrivacySettings, error) {
	if in.CustomerVisibility != nil && *in.CustomerVisibility != CustomerVisibilityGroup && *in.CustomerVisibility != CustomerVisibilitySite {
		return PrivacySettings{}, fmt.Errorf("%w: customer_visibility is group or site", ErrInvalid)
	}
	if in.RevealRole != nil && !slices.Contains([]Role{RoleAgent, RoleSupervisor, RoleAdmin}, *in.RevealRole) {
		return PrivacySettings{}, fmt.Errorf("%w: reveal_role is agent, supervisor or admin", ErrInvalid)
	}
	var p PrivacySettings
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT customer_visibility, reveal_role FROM tenants WHERE id = $1 FOR UPDATE`, tenant).
			Scan(&p.CustomerVisibility, &p.RevealRole)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("tenant %s: %w", tenant, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("privacy settings of %s: %w", tenant, err)
		}
		changed := map[string]any{}
		if in.CustomerVisibility != nil && *in.CustomerVisibility != p.CustomerVisibility {
			changed["customer_visibility"] = map[string]any{"from": p.CustomerVisibility, "to": *in.CustomerVisibility}
			p.CustomerVisibility = *in.CustomerVisibility
		}
		if in.RevealRole != nil && *in.RevealRole != p.RevealRole {
			changed["reveal_role"] = map[string]any{"from": p.RevealRole, "to": *in.RevealRole}
			p.RevealRole = *in.RevealRole
		}
		if len(changed) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET customer_visibility = $2, reveal_role = $3 WHERE id = $1`,
			tenant, p.CustomerVisibility, p.RevealRole); err != nil {
			return fmt.Errorf("privacy settings of %s: %w", tenant, err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: AuditPrivacy,
			TargetKind: "tenant", TargetID: tenant, Data: changed})
	})
	if err != nil {
		return PrivacySettings{}, err
	}
	return p, nil
}

// Team is a group of users (a sales team, a service desk) that customers
// can be shared with (crm.ShareCustomer).
type Team struct {
	ID        uuid.UUID   `json:"id"`
	Name      string      `json:"name"`
	SiteID    *uuid.UUID  `json:"site_id"` // nil: group-wide
	Members   []uuid.UUID `json:"members"` // user ids, sorted; never nil
	CreatedAt time.Time   `json:"created_at"`
}

// TeamSettings are what an admin sets on a team. On create Name is
// required; on update nil fields stay. SiteID uuid.Nil: no site.
type TeamSettings struct {
	Name   *string
	SiteID *uuid.UUID
}

const teamColumns = `t.id, t.name, t.site_id, t.created_at,
	ARRAY(SELECT m.user_id FROM team_members m WHERE m.tenant_id = t.tenant_id AND m.team_id = t.id ORDER BY m.user_id)`

func scanTeam(r pgx.CollectableRow) (Team, error) {
	var t Team
	err := r.Scan(&t.ID, &t.Name, &t.SiteID, &t.CreatedAt, &t.Members)
	if t.Members == nil {
		t.Members = []uuid.UUID{}
	}
	return t, err
}

func teamByID(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, tenant, id uuid.UUID, lock bool) (Team, error) {
	sql := `SELECT ` + teamColumns + ` FROM teams t WHERE t.tenant_id = $1 AND t.id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, tenant, id)
	if err != nil {
		return Team{}, fmt.Errorf("team %s: %w", id, err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTeam)
	if errors.Is(err, pgx.ErrNoRows) {
		return Team{}, fmt.Errorf("team %s: %w", id, ErrNotFound)
	} else if err != nil {
		return Team{}, fmt.Errorf("team %s: %w", id, err)
	}
	return t, nil
}

// Teams lists tenant's teams by name, with their members.
func (s *Store) Teams(ctx context.Context, tenant uuid.UUID) ([]Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.tenant_id = $1 ORDER BY t.name, t.id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanTeam)
	if err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	return out, nil
}

// Team returns one of tenant's teams.
func (s *Store) Team(ctx context.Context, tenant, id uuid.UUID) (Team, error) {
	return teamByID(ctx, s.pool, tenant, id, false)
}

func checkTeamName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: a team's name is 1 to 200 bytes of text", ErrInvalid)
	}
	return name, nil
}

// teamWriteError turns constraint violations into the caller's mistakes.
func teamWriteError(what string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%w: another team of this tenant has that name", ErrInvalid)
		case pe.Code == "23503" && strings.Contains(pe.ConstraintName, "site"):
			return fmt.Errorf("%w: no such site", ErrInvalid)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// CreateTeam adds a team to tenant on actor's behalf (audited team.create
// with its site; the name is not logged). A site of another tenant is
// ErrInvalid, like a name another team has.
func (s *Store) CreateTeam(ctx context.Context, tenant, actor uuid.UUID, in TeamSettings) (Team, error) {
	if in.Name == nil {
		return Team{}, fmt.Errorf("%w: name is required", ErrInvalid)
	}
	name, err := checkTeamName(*in.Name)
	if err != nil {
		return Team{}, err
	}
	site := uuid.Nil
	if in.SiteID != nil {
		site = *in.SiteID
	}
	id := dbid.New()
	var t Team
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO teams (id, tenant_id, name, site_id) VALUES ($1, $2, $3, $4)`,
			id, tenant, name, dbid.Null(site)); err != nil {
			return teamWriteError("create team", err)
		}
		var err error
		if t, err = teamByID(ctx, tx, tenant, id, false); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: AuditTeamCreate,
			TargetKind: "team", TargetID: id, Data: map[string]any{"site_id": t.SiteID}})
	})
	if err != nil {
		return Team{}, err
	}
	return t, nil
}

// UpdateTeam renames a team or moves it to another site (SiteID
// uuid.Nil: none). Audited team.update with what changed (the name only as
// "changed": it is free text).
func (s *Store) UpdateTeam(ctx context.Context, tenant, id, actor uuid.UUID, in TeamSettings) (Team, error) {
	var name string
	if in.Name != nil {
		var err error
		if name, err = checkTeamName(*in.Name); err != nil {
			return Team{}, err
		}
	}
	var t Team
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if t, err = teamByID(ctx, tx, tenant, id, true); err != nil {
			return err
		}
		changed := map[string]any{}
		if in.Name != nil && name != t.Name {
			t.Name = name
			changed["name"] = "changed"
		}
		if in.SiteID != nil && *in.SiteID != derefID(t.SiteID) {
			t.SiteID = nullableID(*in.SiteID)
			changed["site_id"] = t.SiteID
		}
		if len(changed) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE teams SET name = $3, site_id = $4 WHERE tenant_id = $1 AND id = $2`,
			tenant, id, t.Name, t.SiteID); err != nil {
			return teamWriteError("update team", err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: AuditTeamUpdate,
			TargetKind: "team", TargetID: id, Data: changed})
	})
	if err != nil {
		return Team{}, err
	}
	return t, nil
}

// DeleteTeam deletes a team with its memberships and the customer shares
// made with it (customers shared with the team stop being visible through
// it). Audited team.delete with how many members and shares went.
func (s *Store) DeleteTeam(ctx context.Context, tenant, id, actor uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := teamByID(ctx, tx, tenant, id, true)
		if err != nil {
			return err
		}
		var shares int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM customer_shares WHERE tenant_id = $1 AND team_id = $2`, tenant, id).
			Scan(&shares); err != nil {
			return fmt.Errorf("delete team %s: %w", id, err)
		}
		// team_members and customer_shares cascade (00010).
		if _, err := tx.Exec(ctx, `DELETE FROM teams WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
			return fmt.Errorf("delete team %s: %w", id, err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: AuditTeamDelete,
			TargetKind: "team", TargetID: id, Data: map[string]any{"members": len(t.Members), "shares": shares}})
	})
}

// AddTeamMember makes user a member of team and returns the team. Adding a
// member again changes nothing and writes no audit row. A team or user
// that is not tenant's is ErrNotFound; a deactivated user ErrInvalid.
func (s *Store) AddTeamMember(ctx context.Context, tenant, team, user, actor uuid.UUID) (Team, error) {
	return s.changeMember(ctx, tenant, team, user, actor, true)
}

// RemoveTeamMember takes user out of team and returns the team; a user
// who is not a member is ErrNotFound.
func (s *Store) RemoveTeamMember(ctx context.Context, tenant, team, user, actor uuid.UUID) (Team, error) {
	return s.changeMember(ctx, tenant, team, user, actor, false)
}

func (s *Store) changeMember(ctx context.Context, tenant, team, user, actor uuid.UUID, add bool) (Team, error) {
	var t Team
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if t, err = teamByID(ctx, tx, tenant, team, true); err != nil {
			return err
		}
		member := slices.Contains(t.Members, user)
		action := AuditMemberRemove
		if add {
			action = AuditMemberAdd
			if member {
				return nil
			}
			var active bool
			err := tx.QueryRow(ctx, `SELECT active FROM users WHERE tenant_id = $1 AND id = $2`, tenant, user).Scan(&active)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("user %s: %w", user, ErrNotFound)
			} else if err != nil {
				return fmt.Errorf("team member %s: %w", user, err)
			} else if !active {
				return fmt.Errorf("%w: the user is deactivated", ErrInvalid)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`,
				tenant, team, user); err != nil {
				return fmt.Errorf("add team member %s: %w", user, err)
			}
			t.Members = append(t.Members, user)
			slices.SortFunc(t.Members, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		} else {
			if !member {
				return fmt.Errorf("member %s of team %s: %w", user, team, ErrNotFound)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2 AND user_id = $3`,
				tenant, team, user); err != nil {
				return fmt.Errorf("remove team member %s: %w", user, err)
			}
			t.Members = slices.DeleteFunc(t.Members, func(m uuid.UUID) bool { return m == user })
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: action,
			TargetKind: "team", TargetID: team, Data: map[string]any{"user_id": user}})
	})
	if err != nil {
		return Team{}, err
	}
	return t, nil
}

func derefID(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

func nullableID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
