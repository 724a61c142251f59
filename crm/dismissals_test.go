package crm_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

func hasPair(ps []crm.DuplicatePair, x, y uuid.UUID) bool {
	for _, p := range ps {
		if (p.A.CustomerID == x && p.B.CustomerID == y) || (p.A.CustomerID == y && p.B.CustomerID == x) {
			return true
		}
	}
	return false
}

func hasDuplicate(ds []crm.Duplicate, x uuid.UUID) bool {
	for _, d := range ds {
		if d.CustomerID == x {
			return true
		}
	}
	return false
}

// TestDismissDuplicate: a dismissed pair leaves both the customer's
// duplicates (from either side) and the tenant's suggestions, other pairs
// stay; an identity added to either side, or removed, brings it back;
// dismissing needs a reason and live customers of the tenant; it is
// audited without the reason's text. Synthetic names and numbers.
func TestDismissDuplicate(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	father := b.customer(t, b.a.ID, "Synthetic Chen", phone("+861012345678"))
	son := b.customer(t, b.a.ID, "Synthetic Chen Jr", phone("+861012345678"))
	third := b.customer(t, b.a.ID, "Synthetic Other", phone("+861012345678"))

	check := func(when string, wantPair bool) {
		t.Helper()
		ps, err := b.store.DuplicateSuggestions(ctx, b.a.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		if hasPair(ps, father, son) != wantPair {
			t.Errorf("%s: suggestions have the pair = %v, want %v", when, !wantPair, wantPair)
		}
		if !hasPair(ps, father, third) || !hasPair(ps, son, third) {
			t.Errorf("%s: the other pairs left the suggestions", when)
		}
		for _, c := range []struct{ from, to uuid.UUID }{{father, son}, {son, father}} {
			ds, err := b.store.Duplicates(ctx, b.a.ID, c.from)
			if err != nil {
				t.Fatal(err)
			}
			if hasDuplicate(ds, c.to) != wantPair {
				t.Errorf("%s: Duplicates(%s) lists %s = %v, want %v", when, c.from, c.to, !wantPair, wantPair)
			}
			if !hasDuplicate(ds, third) {
				t.Errorf("%s: Duplicates(%s) lost the third customer", when, c.from)
			}
		}
	}
	check("before", true)

	for _, c := range []struct {
		name         string
		tenant       uuid.UUID
		x, y         uuid.UUID
		reason       string
		notFound     bool
		wantInvalids bool
	}{
		{"no reason", b.a.ID, father, son, "  ", false, true},
		{"itself", b.a.ID, father, father, "same", false, true},
		{"too long", b.a.ID, father, son, string(make([]rune, 501)), false, true},
		{"other tenant", b.b.ID, father, son, "not them", true, false},
		{"unknown customer", b.a.ID, father, uuid.New(), "not them", true, false},
	} {
		err := b.store.DismissDuplicate(ctx, c.tenant, b.a.Agent, c.x, c.y, c.reason)
		if c.notFound && !errors.Is(err, crm.ErrNotFound) || c.wantInvalids && !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("DismissDuplicate(%s) = %v", c.name, err)
		}
	}
	check("after refused dismissals", true)

	// Dismissed from the son's side: gone from both sides.
	if err := b.store.DismissDuplicate(ctx, b.a.ID, b.a.Agent, son, father, "father and son share the landline"); err != nil {
		t.Fatalf("DismissDuplicate = %v", err)
	}
	check("dismissed", false)
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'customer.duplicate_dismissed'
		AND actor_id = $2 AND target_id = $3 AND data->>'other_id' = $4 AND data::text NOT LIKE '%landline%'`,
		b.a.ID, b.a.Agent, son, father.String()); n != 1 {
		t.Errorf("%d audit rows for the dismissal (ids, no reason text), want 1", n)
	}

	// An identity changes on one side: the pair comes back.
	id, err := b.store.AddIdentity(ctx, b.a.ID, father, crm.IdentityInput{Kind: "email", Value: "synthetic.chen@example.cn"})
	if err != nil {
		t.Fatal(err)
	}
	check("identity added", true)
	// Dismissed again (the reason replaced), then the identity removed.
	if err := b.store.DismissDuplicate(ctx, b.a.ID, b.a.Agent, father, son, "still not the same person"); err != nil {
		t.Fatal(err)
	}
	check("dismissed again", false)
	if n := b.count(t, `SELECT count(*) FROM duplicate_dismissals WHERE tenant_id = $1`, b.a.ID); n != 1 {
		t.Errorf("%d dismissal rows for one pair, want 1", n)
	}
	if err := b.store.RemoveIdentity(ctx, b.a.ID, father, id.ID); err != nil {
		t.Fatal(err)
	}
	check("identity removed", true)
}
