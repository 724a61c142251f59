package crm_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// privacyOrg extends tenant a's fixture (site S1, Agent and Agent2 at S1)
// with a second site, a team (Agent2 in it), supervisors with and without
// a site, and an admin at S2. Names and addresses are synthetic.
type privacyOrg struct {
	S1, S2, Team                     uuid.UUID
	Sup1, SupGroup, Admin2, Inactive uuid.UUID
}

func makePrivacyOrg(t *testing.T, b bundle) privacyOrg {
	t.Helper()
	ctx := context.Background()
	p := privacyOrg{S1: b.a.SiteID, S2: uuid.New(), Team: uuid.New(),
		Sup1: uuid.New(), SupGroup: uuid.New(), Admin2: uuid.New(), Inactive: uuid.New()}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("fixture %q: %v", sql, err)
		}
	}
	exec(`INSERT INTO sites (id, tenant_id, name, chat_key) VALUES ($1, $2, 'Site 2', $3)`, p.S2, b.a.ID, "key-"+p.S2.String())
	user := func(id uuid.UUID, site *uuid.UUID, role string, active bool) {
		exec(`INSERT INTO users (id, tenant_id, site_id, email, display_name, password_hash, role, active)
			VALUES ($1, $2, $3, $4, $5, 'x', $6, $7)`, id, b.a.ID, site, id.String()+"@example.com", "User "+role, role, active)
	}
	user(p.Sup1, &p.S1, "supervisor", true)
	user(p.SupGroup, nil, "supervisor", true)
	user(p.Admin2, &p.S2, "admin", true)
	user(p.Inactive, &p.S1, "agent", false)
	exec(`INSERT INTO teams (id, tenant_id, name) VALUES ($1, $2, 'Fleet sales')`, p.Team, b.a.ID)
	exec(`INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`, b.a.ID, p.Team, b.a.Agent2)
	return p
}

func setVisibility(t *testing.T, b bundle, tenant uuid.UUID, v string) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), `UPDATE tenants SET customer_visibility = $2 WHERE id = $1`, tenant, v); err != nil {
		t.Fatal(err)
	}
}

func customerAt(t *testing.T, b bundle, tenant, site uuid.UUID, ids ...crm.Identity) uuid.UUID {
	t.Helper()
	id, err := b.store.CreateCustomer(context.Background(), tenant, crm.NewCustomer{Name: "Wang Wei", SiteID: site, Identities: ids})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	return id
}

func TestScopeRules(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	p := makePrivacyOrg(t, b)
	atS1 := customerAt(t, b, b.a.ID, p.S1)
	atS2 := customerAt(t, b, b.a.ID, p.S2)
	noSite := customerAt(t, b, b.a.ID, uuid.Nil)
	sharedS1 := customerAt(t, b, b.a.ID, p.S2)
	sharedTeam := customerAt(t, b, b.a.ID, p.S2)
	ownedAgent2 := customerAt(t, b, b.a.ID, p.S2)
	deleted := customerAt(t, b, b.a.ID, p.S1)
	other := customerAt(t, b, b.b.ID, b.b.SiteID)
	if _, err := b.pool.Exec(ctx, `UPDATE customers SET deleted_at = now() WHERE id = $1`, deleted); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ShareCustomer(ctx, b.a.ID, p.SupGroup, org.RoleSupervisor, sharedS1, p.S1, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ShareCustomer(ctx, b.a.ID, p.SupGroup, org.RoleSupervisor, sharedTeam, uuid.Nil, p.Team); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SetOwner(ctx, b.a.ID, p.SupGroup, org.RoleSupervisor, ownedAgent2, b.a.Agent2); err != nil {
		t.Fatal(err)
	}
	all := []uuid.UUID{atS1, atS2, noSite, sharedS1, sharedTeam, ownedAgent2, deleted, other}
	names := map[uuid.UUID]string{atS1: "atS1", atS2: "atS2", noSite: "noSite", sharedS1: "sharedS1",
		sharedTeam: "sharedTeam", ownedAgent2: "ownedAgent2", deleted: "deleted", other: "otherTenant"}
	type viewer struct {
		name string
		user uuid.UUID
		role org.Role
		site uuid.UUID
	}
	agent := viewer{"agent at S1", b.a.Agent, org.RoleAgent, p.S1}
	agent2 := viewer{"agent2 at S1, team, owner", b.a.Agent2, org.RoleAgent, p.S1}
	sup1 := viewer{"supervisor at S1", p.Sup1, org.RoleSupervisor, p.S1}
	supGroup := viewer{"supervisor of the group", p.SupGroup, org.RoleSupervisor, uuid.Nil}
	admin2 := viewer{"admin at S2", p.Admin2, org.RoleAdmin, p.S2}
	groupWide := []uuid.UUID{atS1, atS2, noSite, sharedS1, sharedTeam, ownedAgent2}
	for _, tc := range []struct {
		visibility string
		v          viewer
		want       []uuid.UUID
	}{
		{"group", agent, groupWide},
		{"group", agent2, groupWide},
		{"site", agent, []uuid.UUID{atS1, noSite, sharedS1}},
		{"site", agent2, []uuid.UUID{atS1, noSite, sharedS1, sharedTeam, ownedAgent2}},
		{"site", sup1, []uuid.UUID{atS1, noSite, sharedS1}},
		{"site", supGroup, groupWide},
		{"site", admin2, groupWide},
	} {
		setVisibility(t, b, b.a.ID, tc.visibility)
		sc, err := b.store.ScopeFor(ctx, b.a.ID, tc.v.user, tc.v.role, tc.v.site)
		if err != nil {
			t.Fatalf("ScopeFor(%s) = %v", tc.v.name, err)
		}
		var got []uuid.UUID
		for _, c := range all {
			err := b.store.VisibleTo(ctx, b.a.ID, sc, c)
			switch {
			case err == nil:
				got = append(got, c)
			case !errors.Is(err, crm.ErrNotFound):
				t.Fatalf("VisibleTo(%s, %s) = %v, want nil or ErrNotFound", tc.v.name, names[c], err)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s, %s: VisibleTo lets through %v, want %v", tc.visibility, tc.v.name, nameAll(names, got), nameAll(names, tc.want))
		}
		// The SQL form of the rule (search, lists) agrees with VisibleTo.
		sql, err := b.store.VisibleCustomers(ctx, b.a.ID, sc, all)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sql, tc.want) {
			t.Errorf("%s, %s: VisibleCustomers = %v, want %v", tc.visibility, tc.v.name, nameAll(names, sql), nameAll(names, tc.want))
		}
		// ScopeOfUser reads role and site from the user and agrees.
		sc2, err := b.store.ScopeOfUser(ctx, b.a.ID, tc.v.user)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(sc2) != fmt.Sprint(sc) {
			t.Errorf("%s, %s: ScopeOfUser = %+v, ScopeFor = %+v", tc.visibility, tc.v.name, sc2, sc)
		}
	}
	if _, err := b.store.ScopeOfUser(ctx, b.a.ID, p.Inactive); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("ScopeOfUser(inactive user) = %v, want ErrNotFound", err)
	}
	if _, err := b.store.ScopeOfUser(ctx, b.b.ID, b.a.Agent); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("ScopeOfUser(tenant b, tenant a's agent) = %v, want ErrNotFound", err)
	}
}

func nameAll(names map[uuid.UUID]string, ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = names[id]
	}
	return out
}

// auditRows returns the audit rows of a customer as "action actor data".
func auditRows(t *testing.T, b bundle, tenant, customer uuid.UUID) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `
		SELECT action || ' ' || actor_id || ' ' || data::text FROM audit_log
		WHERE tenant_id = $1 AND target_kind = 'customer' AND target_id = $2 ORDER BY id`, tenant, customer)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

const (
	demoPhone = "+8613800138000" // synthetic, the CN format of the demo
	demoEmail = "wang.wei@example.cn"
)

func TestScreenPopForMasksAndRestricts(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	p := makePrivacyOrg(t, b)
	cust := customerAt(t, b, b.a.ID, p.S2,
		crm.Identity{Kind: crm.KindPhone, Value: demoPhone}, crm.Identity{Kind: crm.KindEmail, Value: demoEmail})
	if _, err := b.store.AddVehicle(ctx, b.a.ID, cust, crm.NewVehicle{Plate: "沪A12345"}, ""); err != nil {
		t.Fatal(err)
	}
	res := b.record(t, inbound(b.a, "k1", demoEmail))
	if res.CustomerID != cust {
		t.Fatalf("inbound resolved to %s, want %s", res.CustomerID, cust)
	}

	pop, err := b.store.ScreenPopFor(ctx, b.a.ID, res.ContactID, b.a.Agent)
	if err != nil {
		t.Fatal(err)
	}
	want := []crm.Identity{{Kind: "email", Value: "w***@example.cn"}, {Kind: "phone", Value: "+86 138****8000"}}
	if !slices.Equal(pop.Identities, want) || pop.Customer == nil || pop.Customer.Restricted || pop.Customer.Name != "Wang Wei" || len(pop.Vehicles) != 1 {
		t.Errorf("group visibility: screen-pop customer %+v identities %v vehicles %d, want Wang Wei, %v, 1 vehicle",
			pop.Customer, pop.Identities, len(pop.Vehicles), want)
	}

	setVisibility(t, b, b.a.ID, "site")
	pop, err = b.store.ScreenPopFor(ctx, b.a.ID, res.ContactID, b.a.Agent)
	if err != nil {
		t.Fatal(err)
	}
	if pop.Customer == nil || !pop.Customer.Restricted || pop.Customer.ID != cust || pop.Customer.Name != "" ||
		len(pop.Identities)+len(pop.Vehicles)+len(pop.ServiceOrders)+len(pop.Deals)+len(pop.Recent) != 0 {
		t.Errorf("site visibility, agent of S1, customer of S2: screen-pop %+v, want only the id, restricted", pop)
	}
	// The admin at S2 sees the customer, masked all the same.
	pop, err = b.store.ScreenPopFor(ctx, b.a.ID, res.ContactID, p.Admin2)
	if err != nil {
		t.Fatal(err)
	}
	if pop.Customer == nil || pop.Customer.Restricted || !slices.Equal(pop.Identities, want) {
		t.Errorf("admin: screen-pop customer %+v identities %v, want unrestricted, %v", pop.Customer, pop.Identities, want)
	}
	if _, err := b.store.ScreenPopFor(ctx, b.b.ID, res.ContactID, b.b.Agent); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("ScreenPopFor(tenant b, tenant a's contact) = %v, want ErrNotFound", err)
	}
	if _, err := b.store.ScreenPopFor(ctx, b.a.ID, res.ContactID, b.b.Agent); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("ScreenPopFor(viewer of tenant b) = %v, want ErrNotFound", err)
	}
}

func TestRevealAudited(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	p := makePrivacyOrg(t, b)
	cust := customerAt(t, b, b.a.ID, p.S1,
		crm.Identity{Kind: crm.KindPhone, Value: demoPhone}, crm.Identity{Kind: crm.KindEmail, Value: demoEmail})
	full := []crm.Identity{{Kind: "email", Value: demoEmail}, {Kind: "phone", Value: demoPhone}}
	scope := func(user uuid.UUID) crm.Scope {
		sc, err := b.store.ScopeOfUser(ctx, b.a.ID, user)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}

	// Default reveal_role is supervisor: an agent is refused, and the
	// refusal is audited (who tried; never the values).
	if ids, err := b.store.Reveal(ctx, b.a.ID, b.a.Agent, org.RoleAgent, scope(b.a.Agent), cust); !errors.Is(err, crm.ErrForbidden) || ids != nil {
		t.Errorf("Reveal as agent = %v, %v, want ErrForbidden and no identities", ids, err)
	}
	got := auditRows(t, b, b.a.ID, cust)
	if len(got) != 1 || !strings.HasPrefix(got[0], crm.AuditRevealRefused+" "+b.a.Agent.String()) ||
		!strings.Contains(got[0], `"role": "agent"`) || !strings.Contains(got[0], `"reveal_role": "supervisor"`) {
		t.Fatalf("audit after a refused reveal = %v, want one customer.reveal_refused by the agent with the roles", got)
	}
	ids, err := b.store.Reveal(ctx, b.a.ID, p.Sup1, org.RoleSupervisor, scope(p.Sup1), cust)
	if err != nil || !slices.Equal(ids, full) {
		t.Fatalf("Reveal as supervisor = %v, %v, want %v", ids, err, full)
	}
	got = auditRows(t, b, b.a.ID, cust)
	if len(got) != 2 || !strings.HasPrefix(got[1], "customer.reveal "+p.Sup1.String()) {
		t.Fatalf("audit after reveal = %v, want the refusal and one customer.reveal by the supervisor", got)
	}
	for _, row := range got {
		if strings.Contains(row, "13800138000") || strings.Contains(row, "wang") {
			t.Errorf("audit row %q holds the identities' values", row)
		}
	}

	// Under site visibility, a supervisor of another site gets not-found,
	// before any role check.
	setVisibility(t, b, b.a.ID, "site")
	if _, err := b.store.Reveal(ctx, b.a.ID, p.Admin2, org.RoleSupervisor, crm.Scope{Sites: []uuid.UUID{p.S2}, User: p.Admin2}, cust); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Reveal of a customer outside the scope = %v, want ErrNotFound", err)
	}
	// A tenant that lets agents see full numbers: audited the same way.
	if _, err := b.pool.Exec(ctx, `UPDATE tenants SET reveal_role = 'agent' WHERE id = $1`, b.a.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := b.store.Reveal(ctx, b.a.ID, b.a.Agent, org.RoleAgent, scope(b.a.Agent), cust); err != nil || !slices.Equal(ids, full) {
		t.Errorf("Reveal as agent with reveal_role agent = %v, %v", ids, err)
	}
	if got := auditRows(t, b, b.a.ID, cust); len(got) != 3 {
		t.Errorf("audit rows = %v, want 3 (a refusal, two reveals)", got)
	}
	if ok, err := b.store.MayReveal(ctx, b.a.ID, org.RoleAgent); err != nil || !ok {
		t.Errorf("MayReveal(agent) = %v, %v, want true", ok, err)
	}
	// Another tenant's customer: not found.
	if _, err := b.store.Reveal(ctx, b.b.ID, b.b.Agent, org.RoleAdmin, crm.Scope{AllSites: true}, cust); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Reveal across tenants = %v, want ErrNotFound", err)
	}
}

func TestAuditCallbackDialOncePerContact(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	cust := customerAt(t, b, b.a.ID, b.a.SiteID, crm.Identity{Kind: crm.KindEmail, Value: demoEmail})
	res := b.record(t, inbound(b.a, "k1", demoEmail))
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	for range 3 {
		if err := b.store.AuditCallbackDial(ctx, b.a.ID, b.a.Agent, res.ContactID); err != nil {
			t.Fatal(err)
		}
	}
	got := auditRows(t, b, b.a.ID, cust)
	if len(got) != 1 || !strings.Contains(got[0], `"reason": "callback"`) || !strings.Contains(got[0], res.ContactID.String()) {
		t.Errorf("audit rows after three loads = %v, want one callback reveal naming the contact", got)
	}
	if err := b.store.AuditCallbackDial(ctx, b.a.ID, b.a.Agent2, res.ContactID); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("AuditCallbackDial by an agent not holding it = %v, want ErrNotHeld", err)
	}
	if err := b.store.AuditCallbackDial(ctx, b.b.ID, b.b.Agent, res.ContactID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("AuditCallbackDial across tenants = %v, want ErrNotFound", err)
	}
}

func TestSetOwnerRules(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	p := makePrivacyOrg(t, b)
	cust := customerAt(t, b, b.a.ID, p.S1)
	a1, a2 := b.a.Agent, b.a.Agent2
	for i, tc := range []struct {
		actor uuid.UUID
		role  org.Role
		owner uuid.UUID
		err   error
		want  uuid.UUID // owner afterwards
	}{
		{a1, org.RoleAgent, a2, crm.ErrForbidden, uuid.Nil},                // an agent cannot give a customer away
		{a1, org.RoleAgent, a1, nil, a1},                                   // claims an unowned customer
		{a1, org.RoleAgent, a1, nil, a1},                                   // again: no change
		{a2, org.RoleAgent, a2, crm.ErrForbidden, a1},                      // cannot take it over
		{a2, org.RoleAgent, uuid.Nil, crm.ErrForbidden, a1},                // nor release someone else's
		{p.Sup1, org.RoleSupervisor, a2, nil, a2},                          // a supervisor moves it
		{a2, org.RoleAgent, uuid.Nil, nil, uuid.Nil},                       // the owner releases it
		{p.Sup1, org.RoleSupervisor, p.Inactive, crm.ErrInvalid, uuid.Nil}, // inactive owner
		{p.Sup1, org.RoleSupervisor, b.b.Agent, crm.ErrInvalid, uuid.Nil},  // another tenant's user
	} {
		_, err := b.store.SetOwner(ctx, b.a.ID, tc.actor, tc.role, cust, tc.owner)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("step %d: SetOwner = %v, want %v", i, err, tc.err)
		}
		var owner *uuid.UUID
		if err := b.pool.QueryRow(ctx, `SELECT owner_id FROM customers WHERE id = $1`, cust).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if got := derefID(owner); got != tc.want {
			t.Errorf("step %d: owner = %s, want %s", i, got, tc.want)
		}
	}
	// Three changes, three audit rows, each with from and to.
	got := auditRows(t, b, b.a.ID, cust)
	if len(got) != 3 {
		t.Fatalf("audit rows = %v, want 3 owner changes", got)
	}
	wantLast := fmt.Sprintf(`customer.owner %s {"to": null, "from": "%s"}`, a2, a2)
	if got[2] != wantLast {
		t.Errorf("last audit row = %q, want %q", got[2], wantLast)
	}
	if _, err := b.store.SetOwner(ctx, b.b.ID, b.b.Agent, org.RoleAdmin, cust, uuid.Nil); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("SetOwner across tenants = %v, want ErrNotFound", err)
	}
}

func derefID(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

func TestShareCustomer(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	p := makePrivacyOrg(t, b)
	cust := customerAt(t, b, b.a.ID, p.S1)
	if _, err := b.store.ShareCustomer(ctx, b.a.ID, b.a.Agent, org.RoleAgent, cust, p.S2, uuid.Nil); !errors.Is(err, crm.ErrForbidden) {
		t.Errorf("ShareCustomer by an agent who does not own it = %v, want ErrForbidden", err)
	}
	if _, err := b.store.SetOwner(ctx, b.a.ID, b.a.Agent, org.RoleAgent, cust, b.a.Agent); err != nil {
		t.Fatal(err)
	}
	sh, err := b.store.ShareCustomer(ctx, b.a.ID, b.a.Agent, org.RoleAgent, cust, p.S2, uuid.Nil)
	if err != nil || sh.SiteID == nil || *sh.SiteID != p.S2 || sh.CreatedBy != b.a.Agent {
		t.Fatalf("ShareCustomer by the owner = %+v, %v", sh, err)
	}
	again, err := b.store.ShareCustomer(ctx, b.a.ID, p.Sup1, org.RoleSupervisor, cust, p.S2, uuid.Nil)
	if err != nil || again.ID != sh.ID {
		t.Errorf("sharing again = %+v, %v, want the same share %s", again, err, sh.ID)
	}
	if got := auditRows(t, b, b.a.ID, cust); len(got) != 2 || !strings.HasPrefix(got[1], "customer.share") {
		t.Errorf("audit rows = %v, want the claim and one share", got)
	}
	setVisibility(t, b, b.a.ID, "site")
	if err := b.store.VisibleTo(ctx, b.a.ID, crm.Scope{Sites: []uuid.UUID{p.S2}}, cust); err != nil {
		t.Errorf("VisibleTo(S2) after sharing = %v", err)
	}
	for _, tc := range []struct {
		site, team uuid.UUID
		want       error
	}{
		{p.S2, p.Team, crm.ErrInvalid},
		{uuid.Nil, uuid.Nil, crm.ErrInvalid},
		{b.b.SiteID, uuid.Nil, crm.ErrNotFound},
	} {
		if _, err := b.store.ShareCustomer(ctx, b.a.ID, p.Sup1, org.RoleSupervisor, cust, tc.site, tc.team); !errors.Is(err, tc.want) {
			t.Errorf("ShareCustomer(site %s, team %s) = %v, want %v", tc.site, tc.team, err, tc.want)
		}
	}
}

// TestRecomputeTiers checks the rule on a hand-computed fixture (synthetic
// amounts). Revenue in the window: c1 5000 (order), c2 4000 (won deal), c2b
// 4000 (order), c3 1000 + 2000 = 3000, c4 2000, c5 2000, c6 500, c7 100,
// c8 50: N = 9 customers with revenue. Ranks: c1 1, c2 and c2b 2, c3 4, c4
// and c5 5, c6 7, c7 8, c8 9. Gold: rank ≤ ceil(1.8) = 2 → c1, c2, c2b (the
// tie crosses the boundary and both are gold). Growth: rank ≤ ceil(4.5) = 5
// → c3, c4, c5. Standard: c6, c7, c8 and the customers without revenue in
// the window: c9 (an order of 0), c10 (an order 400 days old), c11 (a lost
// deal), c12 (a deal won two years ago). vip keeps its hand-set tier;
// deleted is not computed.
func TestRecomputeTiers(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	a := b.a.ID
	c := map[string]uuid.UUID{}
	for _, n := range []string{"c1", "c2", "c2b", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "vip", "deleted"} {
		c[n] = customerAt(t, b, a, b.a.SiteID)
	}
	order := func(name, amount string) uuid.UUID {
		id, err := b.store.AddServiceOrder(ctx, a, c[name], crm.NewServiceOrder{Number: "SO-" + uuid.NewString(), Amount: amount})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	deal := func(name, stage, value string) uuid.UUID {
		id, err := b.store.AddDeal(ctx, a, c[name], crm.NewDeal{Stage: stage, Value: value})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	exec := func(sql string, args ...any) {
		if _, err := b.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	order("c1", "5000")
	deal("c2", "won", "4000")
	order("c2b", "4000")
	order("c3", "1000")
	deal("c3", "won", "2000")
	order("c4", "2000")
	order("c5", "2000")
	order("c6", "500")
	order("c7", "100")
	order("c8", "50")
	order("c9", "0")
	old := order("c10", "9999")
	exec(`UPDATE service_orders SET created_at = now() - interval '400 days' WHERE id = $1`, old)
	deal("c11", "lost", "8000")
	oldWon := deal("c12", "won", "7000")
	exec(`UPDATE deals SET won_at = now() - interval '2 years' WHERE id = $1`, oldWon)
	exec(`UPDATE customers SET tier = 'vip' WHERE id = $1`, c["vip"])
	order("vip", "100000")
	exec(`UPDATE customers SET deleted_at = now() WHERE id = $1`, c["deleted"])
	order("deleted", "50000")
	// A tenant b customer with revenue is not counted in tenant a.
	other := customerAt(t, b, b.b.ID, b.b.SiteID)
	if _, err := b.store.AddServiceOrder(ctx, b.b.ID, other, crm.NewServiceOrder{Number: "SO-B", Amount: "900000"}); err != nil {
		t.Fatal(err)
	}

	now := time.Now().Add(time.Minute)
	run, err := b.store.RecomputeTiers(ctx, a, 365*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"c1": "gold", "c2": "gold", "c2b": "gold", "c3": "growth", "c4": "growth", "c5": "growth",
		"c6": "standard", "c7": "standard", "c8": "standard", "c9": "standard", "c10": "standard",
		"c11": "standard", "c12": "standard", "vip": "vip", "deleted": "standard",
	}
	for n, id := range c {
		var tier, revenue string
		if err := b.pool.QueryRow(ctx, `SELECT tier, revenue::text FROM customers WHERE id = $1`, id).Scan(&tier, &revenue); err != nil {
			t.Fatal(err)
		}
		if tier != want[n] {
			t.Errorf("tier of %s (revenue %s) = %q, want %q", n, revenue, tier, want[n])
		}
		if n == "c3" && revenue != "3000.00" {
			t.Errorf("revenue of c3 = %s, want 3000.00", revenue)
		}
	}
	if run.Customers != 13 || run.Gold != 3 || run.Growth != 3 || run.Standard != 7 || run.Revenue != "20650.00" || run.Changed != 9 {
		t.Errorf("run = %+v, want 13 customers: 3 gold, 3 growth, 7 standard, revenue 20650.00, 9 changed", run)
	}
	// Again: same tiers, nothing written.
	run, err = b.store.RecomputeTiers(ctx, a, 365*24*time.Hour, now)
	if err != nil || run.Changed != 0 || run.Gold != 3 {
		t.Errorf("second run = %+v, %v, want 0 changed, 3 gold", run, err)
	}
	// The trigger stamped the won deals (c2, c3, c12) and no other.
	var stamped int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM deals WHERE tenant_id = $1 AND won_at IS NOT NULL`, a).Scan(&stamped); err != nil || stamped != 3 {
		t.Errorf("deals with won_at = %d, %v, want 3 (the won ones)", stamped, err)
	}
	if _, err := b.store.RecomputeTiers(ctx, a, 0, now); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("RecomputeTiers(window 0) = %v, want ErrInvalid", err)
	}
}

func TestTierJobOncePerInterval(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	now := time.Now()
	j := &crm.TierJob{Store: b.store, Every: 24 * time.Hour, Now: func() time.Time { return now }}
	if n := j.RunDue(ctx); n != 2 {
		t.Errorf("first RunDue recomputed %d tenants, want 2", n)
	}
	if n := j.RunDue(ctx); n != 0 {
		t.Errorf("second RunDue recomputed %d tenants, want 0 (not due)", n)
	}
	now = now.Add(25 * time.Hour)
	if n := j.RunDue(ctx); n != 2 {
		t.Errorf("RunDue a day later recomputed %d tenants, want 2", n)
	}
}

// BenchmarkScreenPopFor compares the scoped, masked screen-pop (one batch:
// screen-pop, viewer, places) with the bare one on the same contact.
func BenchmarkScreenPopFor(b *testing.B) {
	bb := setupB(b)
	ctx := context.Background()
	cust, err := bb.store.CreateCustomer(ctx, bb.a.ID, crm.NewCustomer{Name: "Wang Wei", SiteID: bb.a.SiteID,
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: demoPhone}, {Kind: crm.KindEmail, Value: demoEmail}}})
	if err != nil {
		b.Fatal(err)
	}
	res, err := bb.store.RecordInbound(ctx, inbound(bb.a, "k1", demoEmail))
	if err != nil || res.CustomerID != cust {
		b.Fatal(err)
	}
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			if _, err := bb.store.ScreenPop(ctx, bb.a.ID, res.ContactID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scoped", func(b *testing.B) {
		for b.Loop() {
			if _, err := bb.store.ScreenPopFor(ctx, bb.a.ID, res.ContactID, bb.a.Agent); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func setupB(b *testing.B) bundle {
	b.Helper()
	pool, _ := pgtest.New(b)
	o := tenantOrg{ID: uuid.New(), SiteID: uuid.New(), QueueID: uuid.New(), Agent: uuid.New()}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (id, name) VALUES ($1, 'Bench')`, []any{o.ID}},
		{`INSERT INTO sites (id, tenant_id, name, chat_key) VALUES ($1, $2, 'Site', $3)`, []any{o.SiteID, o.ID, "key-" + o.SiteID.String()}},
		{`INSERT INTO queues (id, tenant_id, site_id, name) VALUES ($1, $2, $3, 'Enquiries')`, []any{o.QueueID, o.ID, o.SiteID}},
		{`INSERT INTO users (id, tenant_id, site_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, 'bench@example.com', 'Bench', 'x', 'agent')`, []any{o.Agent, o.ID, o.SiteID}},
	} {
		if _, err := pool.Exec(context.Background(), st.sql, st.args...); err != nil {
			b.Fatal(err)
		}
	}
	return bundle{store: crm.NewStore(pool), pool: pool, a: o}
}
