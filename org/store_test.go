package org_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

type bundle struct {
	store  *org.Store
	tenant org.Tenant
	agent  org.User
}

func setup(t *testing.T, name string) bundle {
	t.Helper()
	pool, _ := pgtest.New(t)
	return setupOn(t, org.NewStore(pool), name)
}

func setupOn(t *testing.T, s *org.Store, name string) bundle {
	t.Helper()
	ctx := context.Background()
	tn, err := s.CreateTenant(ctx, name, "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: name + "-agent@example.com", DisplayName: "Agent " + name, Password: "correct horse", Role: org.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAgent(ctx, tn.ID, u.ID, map[org.Channel]int{org.Chat: 2}, map[string]int{"sales": 4}); err != nil {
		t.Fatal(err)
	}
	return bundle{store: s, tenant: tn, agent: u}
}

func TestAuthenticate(t *testing.T) {
	b := setup(t, "a")
	ctx := context.Background()
	u, err := b.store.Authenticate(ctx, "  A-Agent@Example.com ", "correct horse")
	if err != nil || u.ID != b.agent.ID {
		t.Fatalf("Authenticate(right password) = %v, %v; want user %v", u.ID, err, b.agent.ID)
	}
	for _, tc := range []struct{ email, password string }{
		{"a-agent@example.com", "wrong"},
		{"nobody@example.com", "correct horse"},
		{"", ""},
	} {
		if _, err := b.store.Authenticate(ctx, tc.email, tc.password); !errors.Is(err, org.ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", tc.email, tc.password, err)
		}
	}
}

func TestSessions(t *testing.T) {
	b := setup(t, "a")
	ctx := context.Background()
	token, sess, err := b.store.CreateSession(ctx, b.agent, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.store.SessionByToken(ctx, token)
	if err != nil || got.User.ID != b.agent.ID || got.CSRF != sess.CSRF || got.CSRF == "" {
		t.Fatalf("SessionByToken = %+v, %v; want the agent's session with its CSRF token", got, err)
	}
	if _, err := b.store.SessionByToken(ctx, token+"x"); !errors.Is(err, org.ErrNoSession) {
		t.Errorf("SessionByToken(altered token) = %v, want ErrNoSession", err)
	}
	if err := b.store.RevokeSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SessionByToken(ctx, token); !errors.Is(err, org.ErrNoSession) {
		t.Errorf("SessionByToken after revoke = %v, want ErrNoSession", err)
	}
	expired, _, err := b.store.CreateSession(ctx, b.agent, -time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SessionByToken(ctx, expired); !errors.Is(err, org.ErrNoSession) {
		t.Errorf("SessionByToken(expired) = %v, want ErrNoSession", err)
	}
}

func TestAgentsAndPresence(t *testing.T) {
	b := setup(t, "a")
	ctx := context.Background()
	a, err := b.store.SetPresence(ctx, b.tenant.ID, b.agent.ID, org.Away, "lunch")
	if err != nil {
		t.Fatal(err)
	}
	if a.Presence != org.Away || a.Reason != "lunch" || a.Skills["sales"] != 4 || a.Capacity[org.Chat] != 2 || a.Capacity[org.Voice] != 1 {
		t.Errorf("agent after SetPresence = %+v, want away/lunch with sales 4, chat 2, voice 1", a)
	}
	if _, err := b.store.SetPresence(ctx, b.tenant.ID, b.agent.ID, "sleeping", ""); !errors.Is(err, org.ErrInvalid) {
		t.Errorf("SetPresence(sleeping) = %v, want ErrInvalid", err)
	}
}

func TestTenantsCannotSeeEachOther(t *testing.T) {
	a := setup(t, "a")
	b := setupOn(t, a.store, "b")
	ctx := context.Background()
	if _, err := a.store.Agent(ctx, b.tenant.ID, a.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("Agent(tenant b, agent of a) = %v, want ErrNotFound", err)
	}
	if _, err := a.store.User(ctx, b.tenant.ID, a.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("User(tenant b, user of a) = %v, want ErrNotFound", err)
	}
	if _, err := a.store.SetPresence(ctx, b.tenant.ID, a.agent.ID, org.Available, ""); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("SetPresence(tenant b, agent of a) = %v, want ErrNotFound", err)
	}
	if got, _ := a.store.Agent(ctx, a.tenant.ID, a.agent.ID); got.Presence != org.Offline {
		t.Errorf("a's agent presence = %v after b's attempt, want offline (unchanged)", got.Presence)
	}
	agents, err := a.store.Agents(ctx, b.tenant.ID)
	if err != nil || len(agents) != 1 || agents[0].ID != b.agent.ID {
		t.Errorf("Agents(b) = %v, %v; want only b's agent", agents, err)
	}
	if err := a.store.SetSiteChat(ctx, b.tenant.ID, uuid.New(), uuid.New(), nil); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("SetSiteChat(unknown site) = %v, want ErrNotFound", err)
	}
}

func TestRoleAllows(t *testing.T) {
	for _, tc := range []struct {
		have, need org.Role
		want       bool
	}{
		{org.RoleAgent, org.RoleAgent, true},
		{org.RoleAgent, org.RoleSupervisor, false},
		{org.RoleSupervisor, org.RoleAgent, true},
		{org.RoleAdmin, org.RoleSupervisor, true},
		{"", org.RoleAgent, false},
		{org.RoleAdmin, "", false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("Role(%q).Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
}
