package org_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// auditActions lists tenant's audit actions about target, oldest first.
func auditActions(t *testing.T, pool *pgxpool.Pool, tenant, target uuid.UUID) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT action FROM audit_log WHERE tenant_id = $1 AND target_id = $2 ORDER BY id`, tenant, target)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestPrivacySettings(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := org.NewStore(pool)
	a, b := setupOn(t, s, "a"), setupOn(t, s, "b")
	ctx := context.Background()
	got, err := s.PrivacySettings(ctx, a.tenant.ID)
	if want := (org.PrivacySettings{CustomerVisibility: "group", RevealRole: org.RoleSupervisor}); err != nil || got != want {
		t.Fatalf("PrivacySettings = %+v, %v, want the defaults %+v", got, err, want)
	}
	site, agent := "site", org.RoleAgent
	got, err = s.SetPrivacySettings(ctx, a.tenant.ID, a.agent.ID, org.PrivacyUpdate{CustomerVisibility: &site, RevealRole: &agent})
	if want := (org.PrivacySettings{CustomerVisibility: "site", RevealRole: org.RoleAgent}); err != nil || got != want {
		t.Fatalf("SetPrivacySettings = %+v, %v, want %+v", got, err, want)
	}
	// The same values again: nothing to audit.
	if _, err := s.SetPrivacySettings(ctx, a.tenant.ID, a.agent.ID, org.PrivacyUpdate{CustomerVisibility: &site}); err != nil {
		t.Fatal(err)
	}
	if got := auditActions(t, pool, a.tenant.ID, a.tenant.ID); !cmp.Equal(got, []string{org.AuditPrivacy}) {
		t.Errorf("audit = %v, want one %s", got, org.AuditPrivacy)
	}
	bad, badRole := "everyone", org.Role("owner")
	for _, in := range []org.PrivacyUpdate{{CustomerVisibility: &bad}, {RevealRole: &badRole}} {
		if _, err := s.SetPrivacySettings(ctx, a.tenant.ID, a.agent.ID, in); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("SetPrivacySettings(%+v) = %v, want ErrInvalid", in, err)
		}
	}
	if got, _ := s.PrivacySettings(ctx, b.tenant.ID); got.CustomerVisibility != "group" {
		t.Errorf("tenant b's settings changed: %+v", got)
	}
	if _, err := s.PrivacySettings(ctx, uuid.New()); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("PrivacySettings(no tenant) = %v, want ErrNotFound", err)
	}
}

func TestTeams(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := org.NewStore(pool)
	a, b := setupOn(t, s, "a"), setupOn(t, s, "b")
	ctx := context.Background()
	siteA, err := s.CreateSite(ctx, org.Site{TenantID: a.tenant.ID, Name: "Pudong"})
	if err != nil {
		t.Fatal(err)
	}
	siteB, err := s.CreateSite(ctx, org.Site{TenantID: b.tenant.ID, Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	str := func(v string) *string { return &v }
	id := func(v uuid.UUID) *uuid.UUID { return &v }

	team, err := s.CreateTeam(ctx, a.tenant.ID, a.agent.ID, org.TeamSettings{Name: str(" Fleet sales "), SiteID: id(siteA.ID)})
	if err != nil || team.Name != "Fleet sales" || team.SiteID == nil || *team.SiteID != siteA.ID || len(team.Members) != 0 || team.Members == nil {
		t.Fatalf("CreateTeam = %+v, %v", team, err)
	}
	for name, in := range map[string]org.TeamSettings{
		"no name":                {},
		"empty name":             {Name: str("  ")},
		"same name":              {Name: str("Fleet sales")},
		"another tenant's site":  {Name: str("X"), SiteID: id(siteB.ID)},
		"a site that is nothing": {Name: str("Y"), SiteID: id(uuid.New())},
	} {
		if _, err := s.CreateTeam(ctx, a.tenant.ID, a.agent.ID, in); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("CreateTeam(%s) = %v, want ErrInvalid", name, err)
		}
	}

	team, err = s.UpdateTeam(ctx, a.tenant.ID, team.ID, a.agent.ID, org.TeamSettings{Name: str("Fleet"), SiteID: id(uuid.Nil)})
	if err != nil || team.Name != "Fleet" || team.SiteID != nil {
		t.Fatalf("UpdateTeam = %+v, %v, want renamed, no site", team, err)
	}
	if _, err := s.UpdateTeam(ctx, b.tenant.ID, team.ID, b.agent.ID, org.TeamSettings{Name: str("Taken")}); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("UpdateTeam from another tenant = %v, want ErrNotFound", err)
	}

	// Members: another tenant's user is not found; adding twice is one
	// change; removing a non-member is not found.
	if _, err := s.AddTeamMember(ctx, a.tenant.ID, team.ID, b.agent.ID, a.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("AddTeamMember(another tenant's user) = %v, want ErrNotFound", err)
	}
	if _, err := s.AddTeamMember(ctx, b.tenant.ID, team.ID, b.agent.ID, b.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("AddTeamMember(another tenant's team) = %v, want ErrNotFound", err)
	}
	for range 2 {
		if team, err = s.AddTeamMember(ctx, a.tenant.ID, team.ID, a.agent.ID, a.agent.ID); err != nil || !cmp.Equal(team.Members, []uuid.UUID{a.agent.ID}) {
			t.Fatalf("AddTeamMember = %+v, %v", team, err)
		}
	}
	teams, err := s.Teams(ctx, a.tenant.ID)
	if err != nil || len(teams) != 1 || !cmp.Equal(teams[0], team) {
		t.Errorf("Teams = %+v, %v, want [%+v]", teams, err, team)
	}
	if teams, _ := s.Teams(ctx, b.tenant.ID); len(teams) != 0 {
		t.Errorf("tenant b's teams = %v, want none", teams)
	}
	if team, err = s.RemoveTeamMember(ctx, a.tenant.ID, team.ID, a.agent.ID, a.agent.ID); err != nil || len(team.Members) != 0 {
		t.Fatalf("RemoveTeamMember = %+v, %v", team, err)
	}
	if _, err := s.RemoveTeamMember(ctx, a.tenant.ID, team.ID, a.agent.ID, a.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("RemoveTeamMember(not a member) = %v, want ErrNotFound", err)
	}
	if _, err := s.AddTeamMember(ctx, a.tenant.ID, team.ID, a.agent.ID, a.agent.ID); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteTeam(ctx, b.tenant.ID, team.ID, b.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeleteTeam from another tenant = %v, want ErrNotFound", err)
	}
	if err := s.DeleteTeam(ctx, a.tenant.ID, team.ID, a.agent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Team(ctx, a.tenant.ID, team.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("Team after delete = %v, want ErrNotFound", err)
	}
	want := []string{org.AuditTeamCreate, org.AuditTeamUpdate, org.AuditMemberAdd, org.AuditMemberRemove, org.AuditMemberAdd, org.AuditTeamDelete}
	if diff := cmp.Diff(want, auditActions(t, pool, a.tenant.ID, team.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	var data string
	if err := pool.QueryRow(ctx, `SELECT string_agg(data::text, ' ') FROM audit_log WHERE target_id = $1`, team.ID).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if data == "" || strings.Contains(data, "Fleet") {
		t.Errorf("audit data %q holds the team's name", data)
	}
}
