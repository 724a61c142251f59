package org_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// TestPhoneConnectorAdmin: an admin's changes to a connector (settings, a
// new secret, deactivation, a Zammad token's rotation) take effect on the
// reads the webhooks use, are audited without secrets or tokens, and never
// reach another tenant's connector.
func TestPhoneConnectorAdmin(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := org.NewStore(pool, org.WithSealer(newSealer(t, "0123456789abcdef0123")))
	a, b := setupOn(t, s, "a"), setupOn(t, s, "b")
	ctx := context.Background()
	const secret, newSecret = "first-secret-0123456789", "second-secret-0123456789"
	pc, token, err := s.CreatePhoneConnector(ctx, a.tenant.ID, a.agent.ID, org.PhoneConnectorSettings{Name: "PBX", Kind: "generic",
		Mode: "control", Secret: secret, CallbackURL: "https://pbx.example.cn/cmd"})
	if err != nil || token != "" {
		t.Fatalf("CreatePhoneConnector = %v, token %q; want no error and no token for a generic connector", err, token)
	}

	// Settings change; the secret stays when none comes.
	got, err := s.UpdatePhoneConnector(ctx, a.tenant.ID, pc.ID, a.agent.ID, org.PhoneConnectorUpdate{Name: ptr(" Office PBX "), Mode: ptr("observe")})
	if err != nil || got.Name != "Office PBX" || got.Mode != "observe" || got.Secret != "" || !got.Active {
		t.Fatalf("UpdatePhoneConnector(name, mode) = %+v, %v; want the new name and mode, active, no secret", got, err)
	}
	if open, err := s.PhoneConnector(ctx, pc.ID); err != nil || open.Secret != secret || open.Mode != "observe" {
		t.Errorf("PhoneConnector after an update without secret = %q/%s, %v; want the old secret, observe", open.Secret, open.Mode, err)
	}
	if _, err := s.UpdatePhoneConnector(ctx, a.tenant.ID, pc.ID, a.agent.ID, org.PhoneConnectorUpdate{Secret: ptr(newSecret)}); err != nil {
		t.Fatal(err)
	}
	if open, err := s.PhoneConnector(ctx, pc.ID); err != nil || open.Secret != newSecret {
		t.Errorf("PhoneConnector after a new secret = %q, %v; want %q", open.Secret, err, newSecret)
	}

	// Invalid settings change nothing.
	for name, in := range map[string]org.PhoneConnectorUpdate{
		"short secret":                {Secret: ptr("short")},
		"control without callback":    {Mode: ptr("control"), CallbackURL: ptr("")},
		"callback not http":           {CallbackURL: ptr("ftp://pbx.example.cn")},
		"empty name":                  {Name: ptr("  ")},
		"unknown mode":                {Mode: ptr("listen")},
		"control with a bad callback": {Mode: ptr("control"), CallbackURL: ptr("not a url")},
	} {
		if _, err := s.UpdatePhoneConnector(ctx, a.tenant.ID, pc.ID, a.agent.ID, in); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("UpdatePhoneConnector(%s) = %v, want ErrInvalid", name, err)
		}
	}
	if c, _ := s.TenantPhoneConnector(ctx, a.tenant.ID, pc.ID); c.Name != "Office PBX" || c.Mode != "observe" || c.Secret != "" {
		t.Errorf("after refused updates the connector is %+v, want it unchanged and no secret", c)
	}

	// Deactivated: the webhooks' read no longer finds it; it can come back.
	if err := s.DeactivatePhoneConnector(ctx, a.tenant.ID, pc.ID, a.agent.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeactivatePhoneConnector(ctx, a.tenant.ID, pc.ID, a.agent.ID); err != nil {
		t.Errorf("DeactivatePhoneConnector twice = %v, want no error", err)
	}
	if _, err := s.PhoneConnector(ctx, pc.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("PhoneConnector of a deactivated connector = %v, want ErrNotFound", err)
	}
	if c, err := s.TenantPhoneConnector(ctx, a.tenant.ID, pc.ID); err != nil || c.Active {
		t.Errorf("TenantPhoneConnector of a deactivated connector = active %v, %v; want inactive", c.Active, err)
	}
	if c, err := s.UpdatePhoneConnector(ctx, a.tenant.ID, pc.ID, a.agent.ID, org.PhoneConnectorUpdate{Active: ptr(true)}); err != nil || !c.Active {
		t.Errorf("reactivating = %v, %v", c.Active, err)
	}

	// A Zammad-format connector: no secret to set; its token rotates and
	// the old one stops working at once.
	z, token, err := s.CreatePhoneConnector(ctx, a.tenant.ID, a.agent.ID, org.PhoneConnectorSettings{Name: "Zammad PBX", Kind: "zammad", Mode: "observe"})
	if err != nil || token == "" {
		t.Fatalf("CreatePhoneConnector(zammad) = %v, token %q", err, token)
	}
	if _, err := s.UpdatePhoneConnector(ctx, a.tenant.ID, z.ID, a.agent.ID, org.PhoneConnectorUpdate{Secret: ptr(newSecret)}); !errors.Is(err, org.ErrInvalid) {
		t.Errorf("a secret for a Zammad connector = %v, want ErrInvalid", err)
	}
	if _, err := s.UpdatePhoneConnector(ctx, a.tenant.ID, z.ID, a.agent.ID, org.PhoneConnectorUpdate{Mode: ptr("control")}); !errors.Is(err, org.ErrInvalid) {
		t.Errorf("a Zammad connector in control mode = %v, want ErrInvalid", err)
	}
	fresh, err := s.RotatePhoneConnectorToken(ctx, a.tenant.ID, z.ID, a.agent.ID)
	if err != nil || fresh == "" || fresh == token {
		t.Fatalf("RotatePhoneConnectorToken = %q, %v; want a new token", fresh, err)
	}
	if _, err := s.PhoneConnectorByToken(ctx, token); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("the old token after rotation = %v, want ErrNotFound", err)
	}
	if c, err := s.PhoneConnectorByToken(ctx, fresh); err != nil || c.ID != z.ID {
		t.Errorf("the new token = %v, %v; want connector %v", c.ID, err, z.ID)
	}
	if _, err := s.RotatePhoneConnectorToken(ctx, a.tenant.ID, pc.ID, a.agent.ID); !errors.Is(err, org.ErrInvalid) {
		t.Errorf("rotating a generic connector's token = %v, want ErrInvalid", err)
	}

	// Another tenant's connector is not found by any of these.
	other := b.tenant.ID
	if _, err := s.TenantPhoneConnector(ctx, other, pc.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("TenantPhoneConnector(other tenant) = %v", err)
	}
	if _, err := s.UpdatePhoneConnector(ctx, other, pc.ID, b.agent.ID, org.PhoneConnectorUpdate{Active: ptr(false)}); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("UpdatePhoneConnector(other tenant) = %v", err)
	}
	if err := s.DeactivatePhoneConnector(ctx, other, pc.ID, b.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeactivatePhoneConnector(other tenant) = %v", err)
	}
	if _, err := s.RotatePhoneConnectorToken(ctx, other, z.ID, b.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("RotatePhoneConnectorToken(other tenant) = %v", err)
	}
	if c, err := s.PhoneConnector(ctx, pc.ID); err != nil || !c.Active || c.Name != "Office PBX" {
		t.Errorf("after another tenant's calls the connector is %+v, %v; want it as it was", c, err)
	}
	if _, err := s.PhoneConnectorByToken(ctx, fresh); err != nil {
		t.Errorf("after another tenant's rotation the token = %v, want it still valid", err)
	}

	// The audit names what changed, never a secret or a token.
	entries, err := s.AuditLog(ctx, a.tenant.ID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		actions[e.Action]++
		data, _ := json.Marshal(e.Data)
		for _, secretish := range []string{secret, newSecret, token, fresh} {
			if strings.Contains(string(data), secretish) {
				t.Errorf("audit %s carries a secret or token: %s", e.Action, data)
			}
		}
	}
	want := map[string]int{"phone_connector.create": 2, "phone_connector.update": 3, "phone_connector.deactivate": 2, "phone_connector.rotate_token": 1}
	for k, n := range want {
		if actions[k] != n {
			t.Errorf("audit has %d %s, want %d (all: %v)", actions[k], k, n, actions)
		}
	}
	if bEntries, _ := s.AuditLog(ctx, other, 0, 200); len(bEntries) != 0 {
		t.Errorf("another tenant's refused calls were audited: %+v", bEntries)
	}
}

// TestPhoneNumbersAndAgentPhonesAdmin: listing and removing a connector's
// numbers and agents' phones, scoped to the tenant.
func TestPhoneNumbersAndAgentPhonesAdmin(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := org.NewStore(pool, org.WithSealer(newSealer(t, "0123456789abcdef0123")))
	a, b := setupOn(t, s, "a"), setupOn(t, s, "b")
	ctx := context.Background()
	q, err := s.CreateQueue(ctx, org.Queue{TenantID: a.tenant.ID, Name: "enquiries"})
	if err != nil {
		t.Fatal(err)
	}
	pc, _, err := s.CreatePhoneConnector(ctx, a.tenant.ID, a.agent.ID, org.PhoneConnectorSettings{Name: "PBX", Kind: "generic",
		Mode: "observe", Secret: "a-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	menu := []org.PhoneMenuOption{{Digit: "1", Department: "enquiries", QueueID: q.ID}}
	var ids []uuid.UUID
	for _, num := range []string{"*", "+862160001000", "4008001234"} {
		n, err := s.SetPhoneNumber(ctx, a.tenant.ID, a.agent.ID, org.PhoneNumber{ConnectorID: pc.ID, Number: num, QueueID: q.ID, Menu: menu})
		if err != nil {
			t.Fatalf("SetPhoneNumber(%s) = %v", num, err)
		}
		ids = append(ids, n.ID)
	}
	list, err := s.PhoneNumbers(ctx, a.tenant.ID, pc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range list {
		got = append(got, n.Number)
		if n.QueueID != q.ID || n.Language != "zh-CN" || !cmp.Equal(n.Menu, menu) {
			t.Errorf("listed number %+v, want queue %v, zh-CN and the menu", n, q.ID)
		}
	}
	if want := []string{"+862160001000", "4008001234", "*"}; !cmp.Equal(got, want) {
		t.Errorf("PhoneNumbers = %v, want %v (catch-all last)", got, want)
	}
	if _, err := s.PhoneNumbers(ctx, b.tenant.ID, pc.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("PhoneNumbers(other tenant) = %v, want ErrNotFound", err)
	}
	if err := s.DeletePhoneNumber(ctx, b.tenant.ID, pc.ID, b.agent.ID, "*"); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeletePhoneNumber(other tenant) = %v, want ErrNotFound", err)
	}
	// By the number as set, and by its id.
	if err := s.DeletePhoneNumber(ctx, a.tenant.ID, pc.ID, a.agent.ID, "4008001234"); err != nil {
		t.Errorf("DeletePhoneNumber(by number) = %v", err)
	}
	if err := s.DeletePhoneNumber(ctx, a.tenant.ID, pc.ID, a.agent.ID, ids[0].String()); err != nil {
		t.Errorf("DeletePhoneNumber(by id) = %v", err)
	}
	if err := s.DeletePhoneNumber(ctx, a.tenant.ID, pc.ID, a.agent.ID, "*"); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeletePhoneNumber(gone) = %v, want ErrNotFound", err)
	}
	if _, err := s.PhoneNumberFor(ctx, a.tenant.ID, pc.ID, []string{"4008001234"}); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("a deleted number (and no catch-all) still routes: %v", err)
	}
	if list, _ := s.PhoneNumbers(ctx, a.tenant.ID, pc.ID); len(list) != 1 || list[0].Number != "+862160001000" {
		t.Errorf("after deletes the numbers are %+v, want +862160001000 only", list)
	}

	// Agents' phones.
	if err := s.SetAgentPhone(ctx, a.tenant.ID, a.agent.ID, org.AgentPhone{AgentID: a.agent.ID, ConnectorID: pc.ID, Extension: "8001"}); err != nil {
		t.Fatal(err)
	}
	phones, err := s.AgentPhones(ctx, a.tenant.ID, pc.ID)
	if want := []org.AgentPhone{{TenantID: a.tenant.ID, AgentID: a.agent.ID, ConnectorID: pc.ID, Extension: "8001", Dial: "client"}}; err != nil || !cmp.Equal(phones, want) {
		t.Errorf("AgentPhones = %+v, %v; want %+v", phones, err, want)
	}
	if _, err := s.AgentPhones(ctx, b.tenant.ID, pc.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("AgentPhones(other tenant) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAgentPhone(ctx, b.tenant.ID, pc.ID, a.agent.ID, b.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeleteAgentPhone(other tenant) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAgentPhone(ctx, a.tenant.ID, pc.ID, a.agent.ID, a.agent.ID); err != nil {
		t.Errorf("DeleteAgentPhone = %v", err)
	}
	if err := s.DeleteAgentPhone(ctx, a.tenant.ID, pc.ID, a.agent.ID, a.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeleteAgentPhone(gone) = %v, want ErrNotFound", err)
	}
	if _, err := s.AgentByExtension(ctx, a.tenant.ID, pc.ID, "8001"); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("a deleted extension still finds its agent: %v", err)
	}

	entries, err := s.AuditLog(ctx, a.tenant.ID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		actions[e.Action]++
	}
	if actions["phone_number.delete"] != 2 || actions["agent_phone.delete"] != 1 {
		t.Errorf("audit = %v, want 2 phone_number.delete and 1 agent_phone.delete", actions)
	}
}
