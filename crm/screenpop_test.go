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

	// An owner and follow-ups: one open, one done (not shown).
	if _, err := b.pool.Exec(ctx, `UPDATE customers SET owner_id = $1 WHERE id = $2`, b.a.Agent2, cust); err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	open, err := b.store.CreateFollowUp(ctx, b.a.ID, cust, b.a.Agent, crm.NewFollowUp{AssignedTo: b.a.Agent, Kind: "reminder", DueAt: due, Note: "ask about the ID.4"})
	if err != nil {
		t.Fatal(err)
	}
	done, err := b.store.CreateFollowUp(ctx, b.a.ID, cust, b.a.Agent, crm.NewFollowUp{AssignedTo: b.a.Agent, Kind: "callback", DueAt: due.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE follow_ups SET done_at = now() WHERE id = $1`, done.ID); err != nil {
		t.Fatal(err)
	}

	pop, err := b.store.ScreenPop(ctx, b.a.ID, current.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	// History: every line of both contacts (fewer than the limit), newest
	// first, messages cut to 200 characters.
	var sawAgentLine, sawCurrentLine, sawCreated bool
	for i, h := range pop.History {
		if i > 0 && h.At.After(pop.History[i-1].At) {
			t.Errorf("history line %d (%s) is newer than the one before it", i, h.At)
		}
		switch {
		case h.Kind == "message" && h.AuthorKind == "agent" && h.ContactID == chat.ContactID:
			sawAgentLine = h.Text == long[:200]
		case h.Kind == "message" && h.ContactID == current.ContactID:
			sawCurrentLine = h.Text == "Hello, is my car ready?" && h.Channel == org.Email
		case h.Kind == "event" && h.Event == "created" && h.ContactID == current.ContactID:
			sawCreated = true
		}
	}
	if !sawAgentLine || !sawCurrentLine || !sawCreated {
		t.Errorf("ScreenPop history = %+v, want the agent's line cut to 200, the current e-mail and its created event", pop.History)
	}
	pop.History = nil
	so2 := crm.ServiceOrder{ID: orderIDs[1], Number: "SO-2", Kind: "repair", Status: "in_progress", Description: "brake pads", Plate: "沪A12345", VehicleID: &lavida, PromisedAt: &promised, Amount: "860.00"}
	so3 := crm.ServiceOrder{ID: orderIDs[2], Number: "SO-3", Kind: "maintenance", Status: "booked", Description: "10k service", Plate: "沪AD67890", VehicleID: &han, Amount: "0.00"}
	open.CreatedAt = pop.FollowUps[0].CreatedAt
	want := crm.ScreenPop{
		Customer:   &crm.CustomerSummary{ID: cust, Name: "王伟 Wang Wei", Kind: "person", Tier: "gold", Language: "zh", Notes: "prefers WeChat"},
		Candidates: []crm.CustomerSummary{},
		Identities: []crm.Identity{
			{Kind: "email", Value: "wang.wei@example.cn"},
			{Kind: "external", System: "dms", Value: "C-1001"},
			{Kind: "phone", Value: "+8613800138000"},
		},
		Vehicles: []crm.Vehicle{
			{ID: lavida, VIN: "LSVAU2180N2183294", Plate: "沪A12345", Make: "Volkswagen", Model: "Lavida", Year: 2022, MileageKM: 38500, Role: "owner",
				OpenOrders: []crm.ServiceOrder{so2}},
			{ID: han, Plate: "沪AD67890", Make: "BYD", Model: "Han EV", Role: "household", OpenOrders: []crm.ServiceOrder{so3}},
		},
		ServiceOrders: []crm.ServiceOrder{so3, so2}, // open only, newest first
		Owner:         &crm.Owner{ID: b.a.Agent2, Name: "Agent 2 a"},
		FollowUps:     []crm.FollowUp{open},
		Deals:         []crm.Deal{{ID: deal, Stage: "test_drive", VehicleDesc: "Volkswagen ID.4 CROZZ", Value: "219900.00", SalespersonID: &b.a.Agent2, SalespersonName: "Agent 2 a"}},
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
	for _, k := range []string{"customer", "candidates", "identities", "vehicles", "service_orders", "deals", "recent", "owner", "follow_ups", "history"} {
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
	const want = `{"customer":null,"candidates":[],"identities":[],"vehicles":[],"service_orders":[],"deals":[],"recent":[],"owner":null,"follow_ups":[],"history":[]}`
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

// The history is the newest historyLimit (50) lines, however many there
// are.
func TestScreenPopHistoryLimit(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	res := b.record(t, inbound(b.a, "mail-1", "wang.wei@example.cn"))
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO contact_events (tenant_id, contact_id, kind, at)
		SELECT $1, $2, 'note_' || g, now() + g * interval '1 second' FROM generate_series(1, 80) g`, b.a.ID, res.ContactID); err != nil {
		t.Fatal(err)
	}
	pop, err := b.store.ScreenPop(ctx, b.a.ID, res.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pop.History) != 50 || pop.History[0].Event != "note_80" || pop.History[49].Event != "note_31" {
		t.Errorf("ScreenPop history: %d lines from %+v, want 50 from note_80 to note_31", len(pop.History), pop.History[0])
	}
}

func second[T any](_ T, err error) error { return err }
