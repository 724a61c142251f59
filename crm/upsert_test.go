package crm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

func ptr[T any](v T) *T { return &v }

// subscribe gives tenant o a webhook endpoint for every event, so that the
// outbox shows which writes announced themselves.
func (b bundle) subscribe(t *testing.T, o tenantOrg) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), `
		INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, 'https://erp.example.com/hook', 'synthetic-secret-0123456789')`,
		uuid.New(), o.ID); err != nil {
		t.Fatal(err)
	}
}

func (b bundle) outbox(t *testing.T, o tenantOrg) int {
	return b.count(t, `SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1`, o.ID)
}

// Synthetic customer data throughout (names and numbers made up for the test).
func TestUpsertCustomerIsIdempotent(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	b.subscribe(t, b.a)
	in := crm.CustomerUpsert{
		CustomerFields: crm.CustomerFields{Name: ptr("王伟"), Language: ptr("zh-CN"), Tier: ptr("gold")},
		Identities: []crm.IdentityInput{
			{Kind: "phone", Value: "138-0013-8000", ConsentSource: "dms import"},
			{Kind: "email", Value: "Wang.Wei@Example.CN"},
		},
	}
	c, outcome, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "dms", "C-1001", in)
	if err != nil || outcome != crm.UpsertCreated {
		t.Fatalf("first UpsertCustomer = %q, %v; want created", outcome, err)
	}
	if len(c.Identities) != 3 || c.Name != "王伟" {
		t.Errorf("created %+v, want the name and three identities (external, phone, e-mail)", c)
	}
	if got := b.count(t, `SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND value = '+8613800138000'`, b.a.ID); got != 1 {
		t.Errorf("phone stored %d times in E.164, want 1", got)
	}
	if got := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1 AND name_pinyin <> ''`, b.a.ID); got != 1 {
		t.Errorf("%d customers with name search keys, want 1 (nameKeys on every name write)", got)
	}
	sent := b.outbox(t, b.a)
	if sent != 1 {
		t.Errorf("outbox after create = %d, want 1 (customer.created)", sent)
	}

	// The same record again, spelt differently (phone format, e-mail case): nothing changes.
	in.Identities[0].Value, in.Identities[1].Value = "+86 138 0013 8000", "wang.wei@example.cn"
	again, outcome, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "DMS", "C-1001", in)
	if err != nil || outcome != crm.UpsertUnchanged {
		t.Fatalf("second UpsertCustomer = %q, %v; want unchanged", outcome, err)
	}
	if again.ID != c.ID || !again.UpdatedAt.Equal(c.UpdatedAt) {
		t.Errorf("unchanged upsert: id %s updated_at %v, want %s %v", again.ID, again.UpdatedAt, c.ID, c.UpdatedAt)
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID); n != 1 {
		t.Errorf("%d customers after the same record twice, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM customer_identities WHERE tenant_id = $1`, b.a.ID); n != 3 {
		t.Errorf("%d identities after the same record twice, want 3", n)
	}
	if got := b.outbox(t, b.a); got != sent {
		t.Errorf("outbox after an unchanged upsert = %d, want %d (no webhook)", got, sent)
	}

	// A changed record updates, once.
	in.Notes = ptr("prefers WeChat")
	changed, outcome, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "dms", "C-1001", in)
	if err != nil || outcome != crm.UpsertUpdated || changed.Notes != "prefers WeChat" {
		t.Fatalf("changed UpsertCustomer = %q, %+v, %v; want updated", outcome, changed, err)
	}
	if !changed.UpdatedAt.After(c.UpdatedAt) {
		t.Errorf("updated_at %v not after %v", changed.UpdatedAt, c.UpdatedAt)
	}
	if got := b.outbox(t, b.a); got != sent+1 {
		t.Errorf("outbox after a change = %d, want %d", got, sent+1)
	}
	// A new identity alone is a change too.
	in.Identities = append(in.Identities, crm.IdentityInput{Kind: "wechat", Value: "wx-synthetic-1"})
	if _, outcome, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "dms", "C-1001", in); err != nil || outcome != crm.UpsertUpdated {
		t.Errorf("upsert with a new identity = %q, %v; want updated", outcome, err)
	}

	// Another record of the system with the first one's phone: a conflict
	// naming the first customer, and nothing written.
	before := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID)
	_, _, err = b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "dms", "C-1002", crm.CustomerUpsert{
		CustomerFields: crm.CustomerFields{Name: ptr("Wang Wei")},
		Identities:     []crm.IdentityInput{{Kind: "phone", Value: "13800138000"}},
	})
	var ce *crm.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, crm.ErrConflict) || ce.OtherID != c.ID || ce.Field != "phone" {
		t.Fatalf("conflicting UpsertCustomer = %v; want a ConflictError naming %s", err, c.ID)
	}
	if after := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID); after != before {
		t.Errorf("a conflict wrote a customer (%d → %d)", before, after)
	}
	// An external id given as an identity of another customer is a conflict too.
	_, err = b.store.NewCustomerRecord(ctx, b.a.ID, uuid.Nil, crm.CustomerFields{Name: ptr("X")},
		[]crm.IdentityInput{{Kind: "external", System: "dms", Value: "C-1001"}})
	if !errors.As(err, &ce) || ce.OtherID != c.ID {
		t.Errorf("second customer with the same external id = %v, want a conflict naming %s", err, c.ID)
	}

	// The other tenant's same external id is its own record.
	other, outcome, err := b.store.UpsertCustomer(ctx, b.b.ID, uuid.Nil, "dms", "C-1001", in)
	if err != nil || outcome != crm.UpsertCreated || other.ID == c.ID {
		t.Errorf("tenant b's C-1001 = %q, %v (id %s); want a new customer of its own", outcome, err, other.ID)
	}

	// Bad input is refused with a reason, before anything is written.
	for _, bad := range []crm.CustomerUpsert{
		{Identities: []crm.IdentityInput{{Kind: "phone", Value: "12"}}},
		{Identities: []crm.IdentityInput{{Kind: "email", Value: "not an address"}}},
		{CustomerFields: crm.CustomerFields{Kind: ptr("robot")}},
		{CustomerFields: crm.CustomerFields{OwnerID: &b.b.Agent}},
	} {
		if _, _, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "dms", "C-BAD", bad); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("UpsertCustomer(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "DMS system!", "C-1", in); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("bad system name = %v, want ErrInvalid", err)
	}
}

func TestUpsertVehicleOrderDeal(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	b.subscribe(t, b.a)
	c, _, err := b.store.UpsertCustomer(ctx, b.a.ID, uuid.Nil, "dms", "C-1", crm.CustomerUpsert{CustomerFields: crm.CustomerFields{Name: ptr("Li Na")}})
	if err != nil {
		t.Fatal(err)
	}
	vin := crm.VehicleUpsert{
		VehicleFields: crm.VehicleFields{VIN: ptr("1m8gdm9axkp042788"), Plate: ptr("沪a 12345"), Make: ptr("Volkswagen"), Year: ptr(2022)},
		Customers:     []crm.VehicleOwner{{CustomerRef: crm.CustomerRef{CustomerExternalID: "C-1"}, Role: "owner"}},
	}
	v, outcome, err := b.store.UpsertVehicle(ctx, b.a.ID, "dms", "V-1", vin)
	if err != nil || outcome != crm.UpsertCreated || v.VIN != "1M8GDM9AXKP042788" || v.Plate != "沪A12345" ||
		len(v.Customers) != 1 || v.Customers[0].CustomerID != c.ID {
		t.Fatalf("UpsertVehicle = %q, %+v, %v", outcome, v, err)
	}
	v2, outcome, err := b.store.UpsertVehicle(ctx, b.a.ID, "dms", "V-1", vin)
	if err != nil || outcome != crm.UpsertUnchanged || !v2.UpdatedAt.Equal(v.UpdatedAt) {
		t.Errorf("same vehicle twice = %q, %v, updated_at %v → %v; want unchanged", outcome, err, v.UpdatedAt, v2.UpdatedAt)
	}
	vin.MileageKM = ptr(40000)
	if v3, outcome, err := b.store.UpsertVehicle(ctx, b.a.ID, "dms", "V-1", vin); err != nil || outcome != crm.UpsertUpdated || *v3.MileageKM != 40000 {
		t.Errorf("changed vehicle = %q, %v; want updated", outcome, err)
	}
	if _, _, err := b.store.UpsertVehicle(ctx, b.a.ID, "dms", "V-2", crm.VehicleUpsert{VehicleFields: crm.VehicleFields{VIN: ptr("1M8GDM9A0KP042788")}}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("vehicle with a wrong check digit = %v, want ErrInvalid", err)
	}

	order := crm.OrderUpsert{
		OrderFields: crm.OrderFields{Number: ptr("SO-1"), Status: ptr("booked"), Amount: ptr("860"), AdvisorID: &b.a.Agent,
			PromisedAt: ptr(time.Date(2026, 5, 1, 17, 0, 0, 0, time.UTC))},
		Customer: crm.CustomerRef{CustomerExternalID: "C-1"}, VehicleExternalID: "V-1",
	}
	o, outcome, err := b.store.UpsertOrder(ctx, b.a.ID, "dms", "O-1", order)
	if err != nil || outcome != crm.UpsertCreated || o.Amount != "860.00" || o.VehicleID == nil || *o.VehicleID != v.ID {
		t.Fatalf("UpsertOrder = %q, %+v, %v", outcome, o, err)
	}
	sent := b.outbox(t, b.a)
	if o2, outcome, err := b.store.UpsertOrder(ctx, b.a.ID, "dms", "O-1", order); err != nil || outcome != crm.UpsertUnchanged || !o2.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("same order twice = %q, %v; want unchanged, updated_at kept", outcome, err)
	}
	if got := b.outbox(t, b.a); got != sent {
		t.Errorf("unchanged order sent %d webhooks", got-sent)
	}
	order.Status = ptr("ready")
	if o3, outcome, err := b.store.UpsertOrder(ctx, b.a.ID, "dms", "O-1", order); err != nil || outcome != crm.UpsertUpdated || o3.Status != "ready" {
		t.Errorf("changed order = %q, %v; want updated", outcome, err)
	}
	if got := b.outbox(t, b.a); got != sent+1 {
		t.Errorf("changed order sent %d webhooks, want 1", got-sent)
	}
	// Another external order with the same number: a conflict naming the first.
	_, _, err = b.store.UpsertOrder(ctx, b.a.ID, "dms", "O-2", crm.OrderUpsert{OrderFields: crm.OrderFields{Number: ptr("SO-1")}, Customer: crm.CustomerRef{CustomerID: c.ID}})
	var ce *crm.ConflictError
	if !errors.As(err, &ce) || ce.OtherID != o.ID || ce.Field != "number" {
		t.Errorf("duplicate order number = %v, want a conflict naming %s", err, o.ID)
	}
	// The advisor must be this tenant's agent.
	_, _, err = b.store.UpsertOrder(ctx, b.a.ID, "dms", "O-3", crm.OrderUpsert{OrderFields: crm.OrderFields{Number: ptr("SO-3"), AdvisorID: &b.b.Agent}, Customer: crm.CustomerRef{CustomerID: c.ID}})
	if !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("another tenant's advisor = %v, want ErrInvalid", err)
	}

	deal := crm.DealUpsert{DealFields: crm.DealFields{Stage: ptr("offer"), Value: ptr("189000.5"), ExpectedClose: ptr("2026-06-30"), ContractRef: ptr("HT-7")},
		Customer: crm.CustomerRef{CustomerExternalID: "C-1"}, VehicleExternalID: "V-1"}
	d, outcome, err := b.store.UpsertDeal(ctx, b.a.ID, "dms", "D-1", deal)
	if err != nil || outcome != crm.UpsertCreated || d.Value != "189000.50" || *d.ExpectedClose != "2026-06-30" {
		t.Fatalf("UpsertDeal = %q, %+v, %v", outcome, d, err)
	}
	if d2, outcome, err := b.store.UpsertDeal(ctx, b.a.ID, "dms", "D-1", deal); err != nil || outcome != crm.UpsertUnchanged || !d2.UpdatedAt.Equal(d.UpdatedAt) {
		t.Errorf("same deal twice = %q, %v; want unchanged", outcome, err)
	}
	deal.Stage = ptr("won")
	if _, outcome, err := b.store.UpsertDeal(ctx, b.a.ID, "dms", "D-1", deal); err != nil || outcome != crm.UpsertUpdated {
		t.Errorf("changed deal = %q, %v; want updated", outcome, err)
	}
	// Tenant b cannot point at tenant a's customer or vehicle.
	if _, _, err := b.store.UpsertDeal(ctx, b.b.ID, "dms", "D-1", crm.DealUpsert{Customer: crm.CustomerRef{CustomerID: c.ID}}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("tenant b's deal for tenant a's customer = %v, want ErrInvalid", err)
	}
	if _, _, err := b.store.UpsertOrder(ctx, b.b.ID, "dms", "O-1", crm.OrderUpsert{OrderFields: crm.OrderFields{Number: ptr("SO-1")}, Customer: crm.CustomerRef{CustomerExternalID: "C-1"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("tenant b's order for tenant a's external customer = %v, want ErrInvalid", err)
	}
}
