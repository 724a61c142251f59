package crm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// TestTenantIsolation calls every method with tenant B's id on tenant A's
// contact and customer: each must answer as if the id did not exist, and
// tenant A's rows must be exactly as before.
func TestTenantIsolation(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	held := b.record(t, inbound(b.a, "mail-1", "wang.wei@example.cn"))
	b.assign(t, b.a, held.ContactID, b.a.Agent)
	queued := b.record(t, inbound(b.a, "mail-2", "wang.wei@example.cn"))
	cust := held.CustomerID
	before := snapshot(t, b, b.a.ID)

	tb := b.b
	notFound := map[string]error{}
	notHeld := map[string]error{}
	for _, id := range []uuid.UUID{held.ContactID, queued.ContactID} {
		notFound["Contact"] = second(b.store.Contact(ctx, tb.ID, id))
		notFound["Messages"] = second(b.store.Messages(ctx, tb.ID, id, 0))
		notFound["ScreenPop"] = second(b.store.ScreenPop(ctx, tb.ID, id))
		notFound["Holder"] = second(b.store.Holder(ctx, tb.ID, id))
		notFound["Abandon"] = b.store.Abandon(ctx, tb.ID, id, "x")
		notFound["RecordEvent"] = b.store.RecordEvent(ctx, tb.ID, id, "offered", uuid.Nil, tb.Agent, nil)
		notFound["Assign"] = b.store.Assign(ctx, crm.Assignment{TenantID: tb.ID, ContactID: id, AgentID: tb.Agent, OfferID: uuid.New(), Epoch: leaseEpoch, Holder: leaseHolder})
		notFound["RecordInbound(append)"] = second(b.store.RecordInbound(ctx, crm.Inbound{TenantID: tb.ID, Channel: org.Email, ContactID: id, Body: "x", IdempotencyKey: "b-" + id.String()}))
		// B's agent, and A's agent id under B's tenant.
		notHeld["AppendAgentMessage"] = second(b.store.AppendAgentMessage(ctx, tb.ID, tb.Agent, id, "c-1", "x"))
		notHeld["AppendAgentMessage(A's agent)"] = second(b.store.AppendAgentMessage(ctx, tb.ID, b.a.Agent, id, "c-2", "x"))
		notHeld["Close"] = second(b.store.Close(ctx, tb.ID, tb.Agent, id, "x"))
		notHeld["Close(A's agent)"] = second(b.store.Close(ctx, tb.ID, b.a.Agent, id, "x"))
		checkErrs(t, id, notFound, crm.ErrNotFound)
		checkErrs(t, id, notHeld, crm.ErrNotHeld)
	}
	customerCalls := map[string]error{
		"Customer":        second(b.store.Customer(ctx, tb.ID, cust)),
		"Timeline":        second(b.store.Timeline(ctx, tb.ID, cust, time.Time{}, 10, "")),
		"AddVehicle":      second(b.store.AddVehicle(ctx, tb.ID, cust, crm.NewVehicle{Plate: "沪B1"}, "")),
		"AddServiceOrder": second(b.store.AddServiceOrder(ctx, tb.ID, cust, crm.NewServiceOrder{Number: "SO-B"})),
		"AddDeal":         second(b.store.AddDeal(ctx, tb.ID, cust, crm.NewDeal{})),
	}
	checkErrs(t, cust, customerCalls, crm.ErrNotFound)

	// A's customer's e-mail arriving at B makes B's own customer.
	r, err := b.store.Resolve(ctx, tb.ID, []crm.Identity{{Kind: crm.KindEmail, Value: "wang.wei@example.cn"}}, "")
	if err != nil || !r.Created || r.CustomerID == cust {
		t.Errorf("Resolve(A's e-mail at B) = %+v, %v, want a new customer of B", r, err)
	}
	// A's idempotency key at B is B's own key.
	if r := b.record(t, inbound(tb, "mail-1", "x@example.cn")); r.Duplicate {
		t.Errorf("RecordInbound(A's key at B) = duplicate, want a fresh item")
	}
	// Lists of B do not show A's work.
	if qs, err := b.store.Queued(ctx, tb.ID); err != nil || len(qs) != 1 {
		t.Errorf("Queued(B) = %+v, %v, want only B's contact", qs, err)
	}
	if as, err := b.store.OpenAssignments(ctx, tb.ID); err != nil || len(as) != 0 {
		t.Errorf("OpenAssignments(B) = %+v, %v, want none", as, err)
	}
	if cs, err := b.store.HeldContacts(ctx, tb.ID, b.a.Agent); err != nil || len(cs) != 0 {
		t.Errorf("HeldContacts(B, A's agent) = %+v, %v, want none", cs, err)
	}

	if diff := cmp.Diff(before, snapshot(t, b, b.a.ID)); diff != "" {
		t.Errorf("tenant A's rows changed (-before +after):\n%s", diff)
	}
}

func checkErrs(t *testing.T, id uuid.UUID, got map[string]error, want error) {
	t.Helper()
	for name, err := range got {
		if !errors.Is(err, want) {
			t.Errorf("%s(tenant B, %s) = %v, want %v", name, id, err, want)
		}
	}
}

// snapshot is every row of a tenant that crm writes, as text.
func snapshot(t *testing.T, b bundle, tenant uuid.UUID) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{"customers", "customer_identities", "vehicles", "customer_vehicles", "service_orders", "deals",
		"contacts", "messages", "contact_events", "assignments"} {
		rows, err := b.pool.Query(context.Background(), `SELECT t::text FROM `+table+` t WHERE tenant_id = $1 ORDER BY 1`, tenant)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], s)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	return out
}
