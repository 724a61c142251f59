package crm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Synthetic customer data throughout.
func TestCustomerRecordWrites(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	if _, err := b.pool.Exec(ctx, `UPDATE sites SET area_code = '21' WHERE id = $1`, b.a.SiteID); err != nil {
		t.Fatal(err)
	}
	c, err := b.store.NewCustomerRecord(ctx, b.a.ID, b.a.Agent, crm.CustomerFields{Name: ptr("Zhang San"), SiteID: &b.a.SiteID, OwnerID: &b.a.Agent},
		[]crm.IdentityInput{{Kind: "phone", Value: "12345678", ConsentSource: "showroom form", ConsentAt: ptr(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Identities) != 1 || c.Identities[0].Value != "+862112345678" || c.Identities[0].ConsentSource != "showroom form" {
		t.Errorf("identities = %+v, want the local number in the Shanghai site's area with its consent", c.Identities)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'customer.owner' AND target_id = $2`, b.a.ID, c.ID); n != 1 {
		t.Errorf("%d owner audit entries, want 1", n)
	}

	// A PATCH that sets what is there already writes nothing.
	same, changed, err := b.store.UpdateCustomer(ctx, b.a.ID, b.a.Agent, c.ID, crm.CustomerFields{Name: ptr(" Zhang San "), OwnerID: &b.a.Agent})
	if err != nil || changed || !same.UpdatedAt.Equal(c.UpdatedAt) {
		t.Errorf("no-op UpdateCustomer = changed %v, updated_at %v → %v, %v", changed, c.UpdatedAt, same.UpdatedAt, err)
	}
	up, changed, err := b.store.UpdateCustomer(ctx, b.a.ID, b.a.Agent, c.ID, crm.CustomerFields{Tier: ptr("vip"), OwnerID: &b.a.Agent2, SiteID: ptr(uuid.Nil)})
	if err != nil || !changed || up.Tier != "vip" || *up.OwnerID != b.a.Agent2 || up.SiteID != nil {
		t.Errorf("UpdateCustomer = %+v, %v, %v", up, changed, err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'customer.owner' AND target_id = $2`, b.a.ID, c.ID); n != 2 {
		t.Errorf("%d owner audit entries after a change of owner, want 2", n)
	}
	for _, f := range []crm.CustomerFields{
		{Kind: ptr("robot")}, {Language: ptr("Chinese please")}, {Tier: ptr("Gold Plus")}, {Name: ptr("a\x00b")},
		{OwnerID: &b.b.Agent}, {SiteID: &b.b.SiteID},
	} {
		if _, _, err := b.store.UpdateCustomer(ctx, b.a.ID, b.a.Agent, c.ID, f); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("UpdateCustomer(%+v) = %v, want ErrInvalid", f, err)
		}
	}

	// Identities: a household landline may be shared; removing one works once.
	other, err := b.store.NewCustomerRecord(ctx, b.a.ID, uuid.Nil, crm.CustomerFields{Name: ptr("Zhang Si")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := b.store.AddIdentity(ctx, b.a.ID, other.ID, crm.IdentityInput{Kind: "phone", Value: "021 1234 5678"})
	if err != nil || shared.Value != "+862112345678" {
		t.Errorf("sharing a landline = %+v, %v", shared, err)
	}
	if _, err := b.store.AddIdentity(ctx, b.a.ID, other.ID, crm.IdentityInput{Kind: "email", Value: "zhang@@example"}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("bad e-mail = %v, want ErrInvalid", err)
	}
	if err := b.store.RemoveIdentity(ctx, b.a.ID, other.ID, shared.ID); err != nil {
		t.Errorf("RemoveIdentity = %v", err)
	}
	if err := b.store.RemoveIdentity(ctx, b.a.ID, other.ID, shared.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("RemoveIdentity again = %v, want ErrNotFound", err)
	}
	// Another customer's identity id through this customer is not found.
	if err := b.store.RemoveIdentity(ctx, b.a.ID, other.ID, c.Identities[0].ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("removing another customer's identity = %v, want ErrNotFound", err)
	}
}

func TestVehiclesOrdersDealsFollowUps(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	c, err := b.store.NewCustomerRecord(ctx, b.a.ID, uuid.Nil, crm.CustomerFields{Name: ptr("Chen Jing")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spouse, err := b.store.NewCustomerRecord(ctx, b.a.ID, uuid.Nil, crm.CustomerFields{Name: ptr("Chen Li")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.store.CreateVehicle(ctx, b.a.ID, c.ID, "", crm.VehicleFields{VIN: ptr("LSVAU2182N2183290"), Plate: ptr("京AD12345"), PurchaseDate: ptr("2022-04-01")})
	if err != nil {
		t.Fatal(err)
	}
	if v, err = b.store.LinkVehicle(ctx, b.a.ID, spouse.ID, v.ID, "household"); err != nil || len(v.Customers) != 2 {
		t.Errorf("LinkVehicle = %+v, %v; want two customers", v.Customers, err)
	}
	if _, err := b.store.LinkVehicle(ctx, b.a.ID, spouse.ID, v.ID, "neighbour"); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("unknown role = %v, want ErrInvalid", err)
	}
	if vs, err := b.store.CustomerVehicles(ctx, b.a.ID, spouse.ID); err != nil || len(vs) != 1 {
		t.Errorf("CustomerVehicles = %d, %v", len(vs), err)
	}
	same, changed, err := b.store.UpdateVehicle(ctx, b.a.ID, v.ID, crm.VehicleFields{Plate: ptr("京ad 12345")})
	if err != nil || changed || !same.UpdatedAt.Equal(v.UpdatedAt) {
		t.Errorf("no-op UpdateVehicle = changed %v, %v", changed, err)
	}

	o, err := b.store.CreateOrder(ctx, b.a.ID, c.ID, crm.OrderFields{Number: ptr("WO-1"), Kind: ptr("warranty"), WarrantyClaim: ptr("CLM-1"), VehicleID: &v.ID, AdvisorID: &b.a.Agent})
	if err != nil || o.Status != "booked" || o.Amount != "0.00" {
		t.Fatalf("CreateOrder = %+v, %v", o, err)
	}
	if _, err := b.store.CreateOrder(ctx, b.a.ID, c.ID, crm.OrderFields{Number: ptr("WO-2"), WarrantyClaim: ptr("CLM-2")}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("claim number on a repair = %v, want ErrInvalid", err)
	}
	if _, err := b.store.CreateOrder(ctx, b.a.ID, c.ID, crm.OrderFields{Number: ptr("WO-3"), Amount: ptr("-5")}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("negative amount = %v, want ErrInvalid", err)
	}
	if o2, changed, err := b.store.UpdateOrder(ctx, b.a.ID, o.ID, crm.OrderFields{Status: ptr("waiting_parts")}); err != nil || !changed || o2.Status != "waiting_parts" {
		t.Errorf("UpdateOrder = %+v, %v, %v", o2, changed, err)
	}
	d, err := b.store.CreateDeal(ctx, b.a.ID, c.ID, crm.DealFields{VehicleDesc: ptr("white SUV"), SalespersonID: &b.a.Agent2, Value: ptr("150000")})
	if err != nil || d.Stage != "lead" || d.Value != "150000.00" {
		t.Fatalf("CreateDeal = %+v, %v", d, err)
	}
	if _, _, err := b.store.UpdateDeal(ctx, b.a.ID, d.ID, crm.DealFields{ExpectedClose: ptr("2026-02-30")}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("30 February = %v, want ErrInvalid", err)
	}

	due := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	f, err := b.store.CreateFollowUp(ctx, b.a.ID, c.ID, b.a.Agent, crm.NewFollowUp{AssignedTo: b.a.Agent2, Kind: "callback", DueAt: due, Note: "call about the warranty claim"})
	if err != nil || !f.DueAt.Equal(due) || f.DoneAt != nil {
		t.Fatalf("CreateFollowUp = %+v, %v", f, err)
	}
	if _, err := b.store.CreateFollowUp(ctx, b.a.ID, c.ID, b.a.Agent, crm.NewFollowUp{AssignedTo: b.b.Agent, Kind: "callback", DueAt: due}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("follow-up for another tenant's agent = %v, want ErrInvalid", err)
	}
	done, err := b.store.CompleteFollowUp(ctx, b.a.ID, f.ID)
	if err != nil || done.DoneAt == nil {
		t.Fatalf("CompleteFollowUp = %+v, %v", done, err)
	}
	again, err := b.store.CompleteFollowUp(ctx, b.a.ID, f.ID)
	if err != nil || !again.DoneAt.Equal(*done.DoneAt) {
		t.Errorf("completing twice moved done_at: %v → %v (%v)", done.DoneAt, again.DoneAt, err)
	}
	if open, err := b.store.FollowUps(ctx, b.a.ID, c.ID, true); err != nil || len(open) != 0 {
		t.Errorf("open follow-ups = %d, %v; want none", len(open), err)
	}

	// Tenant b sees none of it, and can change none of it.
	tb := b.b.ID
	notFound := map[string]error{}
	_, notFound["CustomerRecord"] = b.store.CustomerRecord(ctx, tb, c.ID)
	_, _, notFound["UpdateCustomer"] = b.store.UpdateCustomer(ctx, tb, uuid.Nil, c.ID, crm.CustomerFields{Name: ptr("x")})
	_, notFound["AddIdentity"] = b.store.AddIdentity(ctx, tb, c.ID, crm.IdentityInput{Kind: "email", Value: "x@example.com"})
	notFound["RemoveIdentity"] = b.store.RemoveIdentity(ctx, tb, c.ID, uuid.New())
	_, notFound["Vehicle"] = b.store.Vehicle(ctx, tb, v.ID)
	_, notFound["CustomerVehicles"] = b.store.CustomerVehicles(ctx, tb, c.ID)
	_, notFound["CreateVehicle"] = b.store.CreateVehicle(ctx, tb, c.ID, "", crm.VehicleFields{})
	_, notFound["LinkVehicle"] = b.store.LinkVehicle(ctx, tb, c.ID, v.ID, "")
	_, _, notFound["UpdateVehicle"] = b.store.UpdateVehicle(ctx, tb, v.ID, crm.VehicleFields{Make: ptr("x")})
	_, notFound["Order"] = b.store.Order(ctx, tb, o.ID)
	_, notFound["CustomerOrders"] = b.store.CustomerOrders(ctx, tb, c.ID)
	_, notFound["CreateOrder"] = b.store.CreateOrder(ctx, tb, c.ID, crm.OrderFields{Number: ptr("X-1")})
	_, _, notFound["UpdateOrder"] = b.store.UpdateOrder(ctx, tb, o.ID, crm.OrderFields{Status: ptr("ready")})
	_, notFound["DealRecord"] = b.store.DealRecord(ctx, tb, d.ID)
	_, notFound["CustomerDeals"] = b.store.CustomerDeals(ctx, tb, c.ID)
	_, notFound["CreateDeal"] = b.store.CreateDeal(ctx, tb, c.ID, crm.DealFields{})
	_, _, notFound["UpdateDeal"] = b.store.UpdateDeal(ctx, tb, d.ID, crm.DealFields{Stage: ptr("won")})
	_, notFound["FollowUp"] = b.store.FollowUp(ctx, tb, f.ID)
	_, notFound["FollowUps"] = b.store.FollowUps(ctx, tb, c.ID, false)
	_, notFound["CreateFollowUp"] = b.store.CreateFollowUp(ctx, tb, c.ID, uuid.Nil, crm.NewFollowUp{AssignedTo: b.b.Agent, Kind: "reminder", DueAt: due})
	_, notFound["CompleteFollowUp"] = b.store.CompleteFollowUp(ctx, tb, f.ID)
	for name, err := range notFound {
		if !errors.Is(err, crm.ErrNotFound) {
			t.Errorf("%s with tenant b and tenant a's id = %v, want ErrNotFound", name, err)
		}
	}
}
