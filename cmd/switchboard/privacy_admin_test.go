package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// otherTenantPrivacy is another tenant's site, user, team and a share of
// its customer with that team (synthetic), for the cross-tenant cases.
type otherTenantPrivacy struct {
	site, user, team, customer, share uuid.UUID
}

func newOtherTenantPrivacy(t *testing.T, f privacyFixture) otherTenantPrivacy {
	t.Helper()
	ctx := context.Background()
	o := otherTenantPrivacy{customer: f.otherTenant}
	var tenant uuid.UUID
	if err := f.pool.QueryRow(ctx, `SELECT tenant_id FROM customers WHERE id = $1`, f.otherTenant).Scan(&tenant); err != nil {
		t.Fatal(err)
	}
	orgs := org.NewStore(f.pool)
	site, err := orgs.CreateSite(ctx, org.Site{TenantID: tenant, Name: "Other site"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := orgs.CreateUser(ctx, org.NewUser{TenantID: tenant, SiteID: site.ID, Email: "other.admin@other.example",
		DisplayName: "Other Admin", Password: "not the demo password", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	name := "Other team"
	team, err := orgs.CreateTeam(ctx, tenant, u.ID, org.TeamSettings{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.AddTeamMember(ctx, tenant, team.ID, u.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	sh, err := crm.NewStore(f.pool).ShareCustomer(ctx, tenant, u.ID, org.RoleAdmin, f.otherTenant, uuid.Nil, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	o.site, o.user, o.team, o.share = site.ID, u.ID, team.ID, sh.ID
	return o
}

// TestPrivacyAdminOverHTTP: an admin reads and sets who sees customers
// (visibility, reveal role), manages teams and their members, shares a
// customer with a team and withdraws the share, each change audited;
// agents and supervisors are refused, so is a write without the CSRF
// token; bad input is 400; another tenant's team, user, site, customer and
// share are 404 (400 for a site in the body) and stay as they were; no
// personal data in logs or metric labels.
func TestPrivacyAdminOverHTTP(t *testing.T) {
	a := startApp(t, nil)
	f := newPrivacyFixture(t, a)
	other := newOtherTenantPrivacy(t, f)
	ctx := context.Background()
	const (
		lina  = "lina@huadong.example"       // agent, Pudong
		sup   = "supervisor@huadong.example" // supervisor, Pudong
		admin = "admin@huadong.example"
	)
	linaHTTP, linaCSRF := a.login(t, lina)
	supHTTP, supCSRF := a.login(t, sup)
	adminHTTP, adminCSRF := a.login(t, admin)
	linaID := f.userID(t, lina)
	api := func(c *http.Client, csrf, method, path, body string) (int, string) {
		t.Helper()
		return call(t, c, method, a.url+path, csrf, body)
	}
	auditCount := func(action string, target uuid.UUID) int {
		t.Helper()
		var n int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 AND target_id = $3`,
			f.tenant, action, target).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Roles and CSRF: only an admin's session with its token.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/settings/privacy", ""},
		{"PATCH", "/api/settings/privacy", `{"reveal_role":"agent"}`},
		{"GET", "/api/teams", ""},
		{"POST", "/api/teams", `{"name":"Mine"}`},
		{"PUT", "/api/teams/" + other.team.String() + "/members/" + linaID.String(), ""},
		{"DELETE", "/api/customers/" + f.xihuCust.String() + "/shares/" + other.share.String(), ""},
	} {
		for _, who := range []struct {
			name string
			c    *http.Client
			csrf string
		}{{"agent", linaHTTP, linaCSRF}, {"supervisor", supHTTP, supCSRF}, {"admin without CSRF", adminHTTP, ""}} {
			if r.method == "GET" && who.csrf == "" {
				continue // reads need no token
			}
			if code, body := api(who.c, who.csrf, r.method, r.path, r.body); code != http.StatusForbidden {
				t.Errorf("%s: %s %s = %d %s, want 403", who.name, r.method, r.path, code, body)
			}
		}
	}

	// Settings: the defaults, bad input, a change and its effect.
	if code, body := api(adminHTTP, adminCSRF, "GET", "/api/settings/privacy", ""); code != http.StatusOK ||
		!jsonEqual(t, json.RawMessage(body), `{"customer_visibility":"group","reveal_role":"supervisor"}`) {
		t.Errorf("GET settings = %d %s, want the defaults", code, body)
	}
	for _, bad := range []string{`{"customer_visibility":"everyone"}`, `{"reveal_role":"owner"}`, `{"reveal":"agent"}`, `{`, `[]`} {
		if code, body := api(adminHTTP, adminCSRF, "PATCH", "/api/settings/privacy", bad); code != http.StatusBadRequest {
			t.Errorf("PATCH settings %s = %d %s, want 400", bad, code, body)
		}
	}
	if n := auditCount(org.AuditPrivacy, f.tenant); n != 0 {
		t.Errorf("refused changes wrote %d audit rows", n)
	}
	if code, body := api(adminHTTP, adminCSRF, "PATCH", "/api/settings/privacy", `{"customer_visibility":"site","reveal_role":"agent"}`); code != http.StatusOK ||
		!jsonEqual(t, json.RawMessage(body), `{"customer_visibility":"site","reveal_role":"agent"}`) {
		t.Fatalf("PATCH settings = %d %s", code, body)
	}
	if n := auditCount(org.AuditPrivacy, f.tenant); n != 1 {
		t.Errorf("settings change audited %d times, want 1", n)
	}
	timeline := func(c *http.Client, customer uuid.UUID) int {
		t.Helper()
		resp, _ := get(t, c, a.url+"/api/customers/"+customer.String()+"/timeline")
		return resp.StatusCode
	}
	if code := timeline(linaHTTP, f.xihuCust); code != http.StatusNotFound {
		t.Errorf("Pudong agent reading a Hangzhou customer under site visibility = %d, want 404", code)
	}
	var pudong uuid.UUID
	if err := f.pool.QueryRow(ctx, `SELECT id FROM sites WHERE chat_key = 'demo-pudong'`).Scan(&pudong); err != nil {
		t.Fatal(err)
	}
	local, err := crm.NewStore(f.pool).CreateCustomer(ctx, f.tenant, crm.NewCustomer{Name: "测试 Pudong Synthetic", SiteID: pudong,
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+8613712345670"}}})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := api(linaHTTP, linaCSRF, "POST", "/api/customers/"+local.String()+"/reveal", ""); code != http.StatusOK || !strings.Contains(body, "+8613712345670") {
		t.Errorf("agent's reveal with reveal_role agent = %d %s, want 200 with the number", code, body)
	}

	// Teams: bad input, creation, members.
	for _, bad := range []string{`{}`, `{"name":""}`, `{"name":"X","site_id":"nope"}`, `{"name":"X","colour":"red"}`,
		fmt.Sprintf(`{"name":"X","site_id":%q}`, other.site), fmt.Sprintf(`{"name":"X","site_id":%q}`, uuid.New())} {
		if code, body := api(adminHTTP, adminCSRF, "POST", "/api/teams", bad); code != http.StatusBadRequest {
			t.Errorf("POST /api/teams %s = %d %s, want 400", bad, code, body)
		}
	}
	code, body := api(adminHTTP, adminCSRF, "POST", "/api/teams", fmt.Sprintf(`{"name":"Fleet sales","site_id":%q}`, f.xihu))
	var team org.Team
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &team) != nil || team.Name != "Fleet sales" ||
		team.SiteID == nil || *team.SiteID != f.xihu || team.Members == nil || len(team.Members) != 0 {
		t.Fatalf("POST /api/teams = %d %s", code, body)
	}
	if code, body := api(adminHTTP, adminCSRF, "POST", "/api/teams", `{"name":"Fleet sales"}`); code != http.StatusBadRequest {
		t.Errorf("a second team of the same name = %d %s, want 400", code, body)
	}
	teamPath := "/api/teams/" + team.ID.String()
	for range 2 { // again: no change
		if code, body := api(adminHTTP, adminCSRF, "PUT", teamPath+"/members/"+linaID.String(), ""); code != http.StatusOK ||
			!strings.Contains(body, linaID.String()) {
			t.Fatalf("PUT member = %d %s", code, body)
		}
	}
	if n := auditCount(org.AuditMemberAdd, team.ID); n != 1 {
		t.Errorf("member added twice audited %d times, want 1", n)
	}

	// Shared with the team, Li Na sees the Hangzhou customer; unshared, not.
	code, body = api(adminHTTP, adminCSRF, "POST", "/api/customers/"+f.xihuCust.String()+"/shares", fmt.Sprintf(`{"team_id":%q}`, team.ID))
	var sh crm.Share
	if code != http.StatusOK || json.Unmarshal([]byte(body), &sh) != nil || sh.ID == uuid.Nil {
		t.Fatalf("share with the team = %d %s", code, body)
	}
	if code := timeline(linaHTTP, f.xihuCust); code != http.StatusOK {
		t.Errorf("team member reading the shared customer = %d, want 200", code)
	}
	sharePath := "/api/customers/" + f.xihuCust.String() + "/shares/" + sh.ID.String()
	if code, body := api(linaHTTP, linaCSRF, "DELETE", sharePath, ""); code != http.StatusForbidden {
		t.Errorf("agent unsharing = %d %s, want 403", code, body)
	}
	if code, body := api(adminHTTP, adminCSRF, "DELETE", sharePath, ""); code != http.StatusNoContent {
		t.Errorf("admin unsharing = %d %s, want 204", code, body)
	}
	if code := timeline(linaHTTP, f.xihuCust); code != http.StatusNotFound {
		t.Errorf("team member after the unshare = %d, want 404", code)
	}
	if code, _ := api(adminHTTP, adminCSRF, "DELETE", sharePath, ""); code != http.StatusNotFound {
		t.Errorf("unsharing again = %d, want 404", code)
	}
	if n := auditCount(crm.AuditUnshare, f.xihuCust); n != 1 {
		t.Errorf("unshare audited %d times, want 1", n)
	}

	// Rename, take the member out, bad ids.
	if code, body := api(adminHTTP, adminCSRF, "PATCH", teamPath, `{"name":"Fleet","site_id":null}`); code != http.StatusOK ||
		!jsonEqual(t, json.RawMessage(body), fmt.Sprintf(`{"id":%q,"name":"Fleet","site_id":null,"members":[%q],"created_at":%q}`,
			team.ID, linaID, team.CreatedAt.Format("2006-01-02T15:04:05.999999999Z07:00"))) {
		t.Errorf("PATCH team = %d %s", code, body)
	}
	if code, body := api(adminHTTP, adminCSRF, "PATCH", teamPath, `{"name":" "}`); code != http.StatusBadRequest {
		t.Errorf("PATCH team with a blank name = %d %s, want 400", code, body)
	}
	if code, body := api(adminHTTP, adminCSRF, "DELETE", teamPath+"/members/"+linaID.String(), ""); code != http.StatusOK || strings.Contains(body, linaID.String()) {
		t.Errorf("DELETE member = %d %s", code, body)
	}
	if code, _ := api(adminHTTP, adminCSRF, "DELETE", teamPath+"/members/"+linaID.String(), ""); code != http.StatusNotFound {
		t.Errorf("DELETE a member who is not one = %d, want 404", code)
	}
	for _, p := range []string{"/api/teams/nope", teamPath + "/members/nope", "/api/customers/nope/shares/" + sh.ID.String(),
		"/api/customers/" + f.xihuCust.String() + "/shares/nope"} {
		if code, _ := api(adminHTTP, adminCSRF, "DELETE", p, ""); code != http.StatusBadRequest {
			t.Errorf("DELETE %s = %d, want 400", p, code)
		}
	}

	// Another tenant's team, user, customer and share: 404, and unchanged.
	for _, r := range []struct{ method, path, body string }{
		{"PATCH", "/api/teams/" + other.team.String(), `{"name":"Taken over"}`},
		{"DELETE", "/api/teams/" + other.team.String(), ""},
		{"PUT", "/api/teams/" + other.team.String() + "/members/" + linaID.String(), ""},
		{"DELETE", "/api/teams/" + other.team.String() + "/members/" + other.user.String(), ""},
		{"PUT", teamPath + "/members/" + other.user.String(), ""},
		{"DELETE", "/api/customers/" + other.customer.String() + "/shares/" + other.share.String(), ""},
		{"DELETE", "/api/customers/" + f.xihuCust.String() + "/shares/" + other.share.String(), ""},
	} {
		if code, body := api(adminHTTP, adminCSRF, r.method, r.path, r.body); code != http.StatusNotFound {
			t.Errorf("admin %s %s (another tenant's) = %d %s, want 404", r.method, r.path, code, body)
		}
	}
	var otherName string
	var otherMembers, otherShares int
	if err := f.pool.QueryRow(ctx, `SELECT name, (SELECT count(*) FROM team_members WHERE team_id = $1),
		(SELECT count(*) FROM customer_shares WHERE id = $2) FROM teams WHERE id = $1`, other.team, other.share).
		Scan(&otherName, &otherMembers, &otherShares); err != nil || otherName != "Other team" || otherMembers != 1 || otherShares != 1 {
		t.Errorf("another tenant's team after the attempts: %q, %d members, %d shares, %v", otherName, otherMembers, otherShares, err)
	}
	if code, body := api(adminHTTP, adminCSRF, "GET", "/api/teams", ""); code != http.StatusOK || strings.Contains(body, other.team.String()) ||
		!strings.Contains(body, team.ID.String()) {
		t.Errorf("GET /api/teams = %d %s, want our team only", code, body)
	}

	// Delete: the team and what hung on it go; audited.
	if code, body := api(adminHTTP, adminCSRF, "DELETE", teamPath, ""); code != http.StatusNoContent {
		t.Errorf("DELETE team = %d %s, want 204", code, body)
	}
	if code, _ := api(adminHTTP, adminCSRF, "DELETE", teamPath, ""); code != http.StatusNotFound {
		t.Errorf("DELETE team again = %d, want 404", code)
	}
	for _, action := range []string{org.AuditTeamCreate, org.AuditTeamUpdate, org.AuditMemberRemove, org.AuditTeamDelete} {
		if n := auditCount(action, team.ID); n != 1 {
			t.Errorf("%s audited %d times, want 1", action, n)
		}
	}
	a.assertNoPersonalData(t)
}
