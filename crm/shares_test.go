package crm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// TestUnshareCustomer: withdrawing a share takes the customer out of the
// site's scope again, audited with the share's site; another customer's
// share, another tenant's customer and a share already withdrawn are not
// found, and change nothing.
func TestUnshareCustomer(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	p := makePrivacyOrg(t, b)
	setVisibility(t, b, b.a.ID, "site")
	cust := customerAt(t, b, b.a.ID, p.S1)
	other := customerAt(t, b, b.a.ID, p.S1)
	atS2 := crm.Scope{Sites: []uuid.UUID{p.S2}, User: p.Admin2}
	sh, err := b.store.ShareCustomer(ctx, b.a.ID, p.Sup1, org.RoleSupervisor, cust, p.S2, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.VisibleTo(ctx, b.a.ID, atS2, cust); err != nil {
		t.Fatalf("fixture: shared customer not visible to site 2: %v", err)
	}
	for _, c := range []struct {
		name                    string
		tenant, customer, share uuid.UUID
	}{
		{"another customer's share", b.a.ID, other, sh.ID},
		{"another tenant", b.b.ID, cust, sh.ID},
		{"no such share", b.a.ID, cust, uuid.New()},
		{"no such customer", b.a.ID, uuid.New(), sh.ID},
	} {
		if err := b.store.UnshareCustomer(ctx, c.tenant, p.Sup1, c.customer, c.share); !errors.Is(err, crm.ErrNotFound) {
			t.Errorf("%s: UnshareCustomer = %v, want ErrNotFound", c.name, err)
		}
	}
	if err := b.store.VisibleTo(ctx, b.a.ID, atS2, cust); err != nil {
		t.Errorf("a refused unshare changed the share: %v", err)
	}
	if err := b.store.UnshareCustomer(ctx, b.a.ID, p.Admin2, cust, sh.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.store.VisibleTo(ctx, b.a.ID, atS2, cust); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("after the unshare site 2 sees the customer: %v", err)
	}
	if err := b.store.UnshareCustomer(ctx, b.a.ID, p.Admin2, cust, sh.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("second UnshareCustomer = %v, want ErrNotFound", err)
	}
	var got []string
	for _, row := range auditRows(t, b, b.a.ID, cust) {
		if strings.HasPrefix(row, crm.AuditUnshare) {
			got = append(got, row)
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], crm.AuditUnshare+" "+p.Admin2.String()) ||
		!strings.Contains(got[0], sh.ID.String()) || !strings.Contains(got[0], p.S2.String()) {
		t.Errorf("unshare audit = %v, want one row by the admin naming the share and site", got)
	}
	// A binned customer's shares cannot be withdrawn (nor seen): not found.
	sh2, err := b.store.ShareCustomer(ctx, b.a.ID, p.Sup1, org.RoleSupervisor, other, uuid.Nil, p.Team)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.Delete(ctx, b.a.ID, p.Sup1, other); err != nil {
		t.Fatal(err)
	}
	if err := b.store.UnshareCustomer(ctx, b.a.ID, p.Admin2, other, sh2.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("UnshareCustomer of a deleted customer = %v, want ErrNotFound", err)
	}
}
