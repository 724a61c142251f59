package crm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

func TestScreenPop(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	cust, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "王伟 Wang Wei", Language: "zh", Tier: "gold", Notes: "prefers WeChat",
		SiteID: b.a.SiteID, Identities: []crm.Identity{
			{Kind: crm.KindPhone, Value: "+8613800138000"},
			{Kind: crm.KindEmail, Value: "wang.wei@example.cn"},
			{Kind: crm.KindExternal, System: "dms", Value: "C-1001"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	lavida, err := b.store.AddVehicle(ctx, b.a.ID, cust, crm.NewVehicle{VIN: "LSVAU2180N2183294", Plate: "沪A12345", Make: "Volkswagen", Model: "Lavida", Year: 2022, MileageKM: 38500}, "")
	if err != nil {
		t.Fatal(err)
	}
	han, err := b.store.AddVehicle(ctx, b.a.ID, cust, crm.NewVehicle{Plate: "沪AD67890", Make: "BYD", Model: "Han EV"}, "household")
	if err != nil {
		t.Fatal(err)
	}
	promised := time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)
	orders := []crm.NewServiceOrder{
		{Number: "SO-1", Status: "collected", Description: "old job", VehicleID: lavida, Amount: "100"},
		{Number: "SO-2", Status: "in_progress", Description: "brake pads", VehicleID: lavida, AdvisorID: b.a.Agent, PromisedAt: promised, Amount: "860.00"},
		{Number: "SO-3", Kind: "maintenance", Status: "booked", Description: "10k service", VehicleID: han},
	}
	var orderIDs []uuid.UUID
	for _, o := range orders {
		id, err := b.store.AddServiceOrder(ctx, b.a.ID, cust, o)
		if err != nil {
			t.Fatal(err)
		}
		orderIDs = append(orderIDs, id)
	}
	if _, err := b.store.AddDeal(ctx, b.a.ID, cust, crm.NewDeal{Stage: "won", VehicleDesc: "old sale", Value: "100000"}); err != nil {
		t.Fatal(err)
	}
	deal, err := b.store.AddDeal(ctx, b.a.ID, cust, crm.NewDeal{Stage: "test_drive", VehicleDesc: "Volkswagen ID.4 CROZZ", Value: "219900.00", SalespersonID: b.a.Agent2})
	if err != nil {
		t.Fatal(err)
	}

	// An earlier chat, closed, and the current e-mail.
	chat := b.record(t, crm.Inbound{TenantID: b.a.ID, SiteID: b.a.SiteID, QueueID: b.a.QueueID, Channel: org.Chat,
		Identities: []crm.Identity{{Kind: crm.KindEmail, Value: "wang.wei@example.cn"}}, Body: "hi", IdempotencyKey: "chat-1"})
	b.assign(t, b.a, chat.ContactID, b.a.Agent)
	long := "Your car is ready.\n\nWe   washed it too. " + strings.Repeat("x", 200)
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, chat.ContactID, "a-1", long); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, chat.ContactID, "done"); err != nil {
		t.Fatal(err)
	}
	current := b.record(t, inbound(b.a, "mail-1", "wang.wei@example.cn"))
	if current.CustomerID != cust || chat.CustomerID != cust {
		t.Fatalf("contacts resolved to %s and %s, want %s", chat.CustomerID, current.CustomerID, cust)
	}

	pop, err := b.store.ScreenPop(ctx, b.a.ID, current.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	want := crm.ScreenPop{
		Customer:   &crm.CustomerSummary{ID: cust, Name: "王伟 Wang Wei", Kind: "person", Tier: "gold", Language: "zh", Notes: "prefers WeChat"},
		Candidates: []crm.CustomerSummary{},
		Identities: []crm.Identity{
			{Kind: "email", Value: "wang.wei@example.cn"},
			{Kind: "external", System: "dms", Value: "C-1001"},
			{Kind: "phone", Value: "+8613800138000"},
		},
		Vehicles: []crm.Vehicle{
			{ID: lavida, VIN: "LSVAU2180N2183294", Plate: "沪A12345", Make: "Volkswagen", Model: "Lavida", Year: 2022, MileageKM: 38500, Role: "owner"},
			{ID: han, Plate: "沪AD67890", Make: "BYD", Model: "Han EV", Role: "household"},
		},
		ServiceOrders: []crm.ServiceOrder{ // open only, newest first
			{ID: orderIDs[2], Number: "SO-3", Kind: "maintenance", Status: "booked", Description: "10k service", Plate: "沪AD67890", Amount: "0.00"},
			{ID: orderIDs[1], Number: "SO-2", Kind: "repair", Status: "in_progress", Description: "brake pads", Plate: "沪A12345", PromisedAt: &promised, Amount: "860.00"},
		},
		Deals: []crm.Deal{{ID: deal, Stage: "test_drive", VehicleDesc: "Volkswagen ID.4 CROZZ", Value: "219900.00", SalespersonID: &b.a.Agent2, SalespersonName: "Agent 2 a"}},
		Recent: []crm.Interaction{{ContactID: chat.ContactID, Channel: org.Chat, State: "closed", Subject: "",
			At: pop.Recent[0].At, Snippet: ("Your car is ready. We washed it too. " + strings.Repeat("x", 200))[:120]}},
	}
	if diff := cmp.Diff(want, pop, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("ScreenPop (-want +got):\n%s", diff)
	}

	// The console receives it as-is: the documented keys, lists as [].
	raw, err := json.Marshal(pop)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"customer", "candidates", "identities", "vehicles", "service_orders", "deals", "recent"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("screen-pop JSON lacks %q: %s", k, raw)
		}
	}
}

func TestScreenPopWithoutCustomer(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	anon := b.record(t, crm.Inbound{TenantID: b.a.ID, QueueID: b.a.QueueID, Channel: org.Voice, IdempotencyKey: "call-1"})
	pop, err := b.store.ScreenPop(ctx, b.a.ID, anon.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pop)
	const want = `{"customer":null,"candidates":[],"identities":[],"vehicles":[],"service_orders":[],"deals":[],"recent":[]}`
	if string(raw) != want {
		t.Errorf("ScreenPop(no customer) = %s, want %s", raw, want)
	}
	c, _ := b.store.Contact(ctx, b.a.ID, anon.ContactID)
	if raw, _ := json.Marshal(c); !strings.Contains(string(raw), `"customer_id":null`) {
		t.Errorf("Contact(no customer) = %s, want customer_id null", raw)
	}

	// A shared landline: two customers, so candidates and no customer.
	for _, name := range []string{"Father", "Daughter"} {
		if _, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: name, Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+862162345678"}}}); err != nil {
			t.Fatal(err)
		}
	}
	call := b.record(t, crm.Inbound{TenantID: b.a.ID, QueueID: b.a.QueueID, Channel: org.Voice, IdempotencyKey: "call-2",
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+862162345678"}}})
	if call.CustomerID != uuid.Nil || len(call.Candidates) != 2 {
		t.Fatalf("RecordInbound(shared number) = customer %s candidates %v, want two candidates", call.CustomerID, call.Candidates)
	}
	pop, err = b.store.ScreenPop(ctx, b.a.ID, call.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	if pop.Customer != nil || len(pop.Candidates) != 2 || pop.Candidates[0].ID != call.Candidates[0] || pop.Candidates[1].ID != call.Candidates[1] {
		t.Errorf("ScreenPop(ambiguous) = %+v, want no customer and both candidates in order", pop)
	}
	c, err = b.store.Contact(ctx, b.a.ID, call.ContactID)
	if err != nil || c.CustomerID != nil || !cmp.Equal(c.Candidates, call.Candidates) {
		t.Errorf("Contact(ambiguous) = %+v, %v, want the candidates", c, err)
	}
	if _, err := b.store.ScreenPop(ctx, b.a.ID, uuid.New()); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("ScreenPop(unknown) = %v, want ErrNotFound", err)
	}
}

func TestSeederWritesRejectBadValues(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	cust, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "X"})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"bad kind":     second(b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Kind: "robot"})),
		"bad identity": second(b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Identities: []crm.Identity{{Kind: "fax", Value: "1"}}})),
		"bad status":   second(b.store.AddServiceOrder(ctx, b.a.ID, cust, crm.NewServiceOrder{Number: "S-1", Status: "lost"})),
		"bad amount":   second(b.store.AddServiceOrder(ctx, b.a.ID, cust, crm.NewServiceOrder{Number: "S-2", Amount: "lots"})),
		"no number":    second(b.store.AddServiceOrder(ctx, b.a.ID, cust, crm.NewServiceOrder{})),
		"bad stage":    second(b.store.AddDeal(ctx, b.a.ID, cust, crm.NewDeal{Stage: "maybe"})),
	} {
		if !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := b.store.AddServiceOrder(ctx, b.a.ID, cust, crm.NewServiceOrder{Number: "S-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddServiceOrder(ctx, b.a.ID, cust, crm.NewServiceOrder{Number: "S-3"}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("AddServiceOrder(duplicate number) = %v, want ErrInvalid", err)
	}
	if _, err := b.store.AddVehicle(ctx, b.a.ID, uuid.New(), crm.NewVehicle{Plate: "沪A1"}, ""); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("AddVehicle(unknown customer) = %v, want ErrNotFound", err)
	}
	if n := b.count(t, `SELECT count(*) FROM vehicles`); n != 0 {
		t.Errorf("vehicles after a failed AddVehicle = %d, want 0", n)
	}
}

func second[T any](_ T, err error) error { return err }
