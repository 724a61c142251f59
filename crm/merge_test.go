package crm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Test VIN: ISO 3779's worked check-digit example as Wikipedia's "Vehicle
// identification number" article gives it (position 9 is "X"). Synthetic
// customers, plates, phones and e-mails throughout.
const testVIN = "1M8GDM9AXKP042788"

func TestResolveByVehicleConcurrentFirstContacts(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	for _, spelling := range [][]string{
		{testVIN, strings.ToLower(testVIN), "1M8 GDM9AX KP042788"},
		{"沪A12345", "沪a·12345", "沪A 12345"},
	} {
		const n = 9
		res := make([]crm.Resolution, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = b.store.ResolveByVehicle(ctx, b.a.ID, spelling[i%len(spelling)])
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("ResolveByVehicle(%q) = %v", spelling[i%len(spelling)], errs[i])
			}
			if res[i].CustomerID != res[0].CustomerID || res[i].CustomerID == uuid.Nil {
				t.Fatalf("ResolveByVehicle gave %s and %s: two customers for one car", res[i].CustomerID, res[0].CustomerID)
			}
			if res[i].Created {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%d resolutions created the customer, want 1", created)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID); n != 2 {
		t.Errorf("%d customers, want 2 (one per car)", n)
	}
	if n := b.count(t, `SELECT count(*) FROM vehicles WHERE tenant_id = $1`, b.a.ID); n != 2 {
		t.Errorf("%d vehicles, want 2", n)
	}

	// A household car: a second live customer linked to it makes candidates.
	first, _ := b.store.ResolveByVehicle(ctx, b.a.ID, testVIN)
	spouse, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "Spouse"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role)
		SELECT tenant_id, $2, id, 'household' FROM vehicles WHERE tenant_id = $1 AND vin = $3`, b.a.ID, spouse, testVIN); err != nil {
		t.Fatal(err)
	}
	r, err := b.store.ResolveByVehicle(ctx, b.a.ID, testVIN)
	if err != nil || r.CustomerID != uuid.Nil || len(r.Candidates) != 2 || !containsID(r.Candidates, first.CustomerID) || !containsID(r.Candidates, spouse) {
		t.Errorf("ResolveByVehicle(household car) = %+v, %v; want candidates %s and %s", r, err, first.CustomerID, spouse)
	}
	// Another tenant's car with the same VIN is another tenant's business.
	rb, err := b.store.ResolveByVehicle(ctx, b.b.ID, testVIN)
	if err != nil || !rb.Created || rb.CustomerID == first.CustomerID {
		t.Errorf("ResolveByVehicle(tenant b) = %+v, %v; want a new customer of b", rb, err)
	}
	for _, bad := range []string{"1M8GDM9A1KP042788", "not a car", "", "沪12345"} {
		if _, err := b.store.ResolveByVehicle(ctx, b.a.ID, bad); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("ResolveByVehicle(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (b bundle) customer(t *testing.T, tenant uuid.UUID, name string, ids ...crm.Identity) uuid.UUID {
	t.Helper()
	id, err := b.store.CreateCustomer(context.Background(), tenant, crm.NewCustomer{Name: name, Identities: ids})
	if err != nil {
		t.Fatalf("CreateCustomer(%s): %v", name, err)
	}
	return id
}

func phone(v string) crm.Identity { return crm.Identity{Kind: crm.KindPhone, Value: v} }
func email(v string) crm.Identity { return crm.Identity{Kind: crm.KindEmail, Value: v} }

func TestDuplicatesRankedWithReasons(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	a := b.customer(t, b.a.ID, "Zhang San", phone("+8613800138000"), email("zs@example.cn"))
	sharedPhone := b.customer(t, b.a.ID, "zhang san", phone("+8613800138000"))
	sharedCar := b.customer(t, b.a.ID, "Li Si")
	partialAndName := b.customer(t, b.a.ID, "Zhang San", email("zs@mail.example.com"))
	partialOnly := b.customer(t, b.a.ID, "Wang Wu", email("zs@other.example.org"))
	nameOnly := b.customer(t, b.a.ID, "Zhang San")
	landline := b.customer(t, b.a.ID, "Zhang  San", phone("+861012345678"))
	b.customer(t, b.a.ID, "Zhao Liu", phone("+862112345678")) // same tail, other name: no suggestion with landline
	car, err := b.store.AddVehicle(ctx, b.a.ID, a, crm.NewVehicle{VIN: testVIN}, "owner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role) VALUES ($1, $2, $3, 'driver')`,
		b.a.ID, sharedCar, car); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Duplicates(ctx, b.a.ID, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []crm.Duplicate{
		{CustomerID: sharedPhone, Name: "zhang san", Score: 75, Reasons: []string{crm.ReasonSharedPhone, crm.ReasonSimilarName}},
		{CustomerID: sharedCar, Name: "Li Si", Score: 40, Reasons: []string{crm.ReasonSharedVehicle}},
		{CustomerID: partialAndName, Name: "Zhang San", Score: 25, Reasons: []string{crm.ReasonPartialEmail, crm.ReasonSimilarName}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Duplicates(a) (-want +got):\n%s", diff)
	}
	_ = partialOnly
	_ = nameOnly

	pairs, err := b.store.DuplicateSuggestions(ctx, b.a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, p := range pairs {
		seen = append(seen, p.A.Name+"|"+p.B.Name+"|"+strings.Join(p.Reasons, ","))
		if p.A.CustomerID == landline || p.B.CustomerID == landline {
			if p.A.CustomerID != sharedPhone && p.B.CustomerID != sharedPhone && p.A.CustomerID != a && p.B.CustomerID != a {
				t.Errorf("landline suggested with %v", p)
			}
		}
	}
	if len(pairs) < 3 || pairs[0].Score != 75 || pairs[len(pairs)-1].Score > pairs[0].Score {
		t.Errorf("DuplicateSuggestions = %v, want the shared phone first", seen)
	}
	for i := 1; i < len(pairs); i++ {
		if pairs[i].Score > pairs[i-1].Score {
			t.Errorf("DuplicateSuggestions not ranked: %v", seen)
		}
	}
	if _, err := b.store.Duplicates(ctx, b.b.ID, a); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Duplicates(other tenant's customer) = %v, want ErrNotFound", err)
	}
	if pairs, _ := b.store.DuplicateSuggestions(ctx, b.b.ID, 10); len(pairs) != 0 {
		t.Errorf("tenant b sees suggestions %v", pairs)
	}
}

// snapshotTables is every row of every table a merge may touch, of tenant,
// as text: a merge and its undo must leave exactly this.
func (b bundle) snapshotTables(t *testing.T, tenant uuid.UUID) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{"customers", "customer_identities", "customer_vehicles", "vehicles", "contacts",
		"messages", "service_orders", "deals", "follow_ups", "callbacks", "customer_shares", "contact_events"} {
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

// mergeFixture: a survivor and two others with overlapping identities, a
// shared car, orders, deals, a follow-up, a callback, contacts, and a
// contact ambiguous between the survivor and an other.
type mergeFixture struct {
	survivor, o1, o2, ambiguous, order uuid.UUID
}

func (b bundle) mergeFixture(t *testing.T) mergeFixture {
	t.Helper()
	ctx := context.Background()
	var f mergeFixture
	var err error
	f.survivor, err = b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "", Notes: "VIP at site A", Tier: "growth",
		Identities: []crm.Identity{phone("+8613800138000"), email("shared@example.cn")}})
	if err != nil {
		t.Fatal(err)
	}
	f.o1, err = b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "Chen Jing", Language: "zh", Notes: "called about recall", Tier: "gold",
		Identities: []crm.Identity{phone("+8613800138000"), phone("+8613900139000"), {Kind: crm.KindExternal, System: "dms", Value: "C-7"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.o2, err = b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: "J. Chen", Identities: []crm.Identity{email("shared@example.cn"), email("jc@example.cn")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE customers SET owner_id = $2 WHERE tenant_id = $1 AND id = $3`, b.a.ID, b.a.Agent, f.o2); err != nil {
		t.Fatal(err)
	}
	car, err := b.store.AddVehicle(ctx, b.a.ID, f.survivor, crm.NewVehicle{VIN: testVIN}, "owner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role) VALUES ($1, $2, $3, 'driver')`, b.a.ID, f.o1, car); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddVehicle(ctx, b.a.ID, f.o1, crm.NewVehicle{Plate: "沪B54321"}, "owner"); err != nil {
		t.Fatal(err)
	}
	if f.order, err = b.store.AddServiceOrder(ctx, b.a.ID, f.o1, crm.NewServiceOrder{Number: "SO-77", Status: "in_progress", Amount: "300"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddDeal(ctx, b.a.ID, f.o2, crm.NewDeal{Stage: "offer", Value: "150000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO follow_ups (id, tenant_id, customer_id, assigned_to, kind, due_at, note)
		VALUES ($1, $2, $3, $4, 'reminder', now() + interval '1 day', 'send brochure')`, uuid.New(), b.a.ID, f.o1, b.a.Agent); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ScheduleCallback(ctx, b.a.ID, crm.NewCallback{CustomerID: f.o1, QueueID: b.a.QueueID, DueAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b.record(t, inbound(b.a, "m-1", "jc@example.cn"))
	in := inbound(b.a, "m-2", "shared@example.cn") // matches the survivor and o2
	f.ambiguous = b.record(t, in).ContactID
	return f
}

func TestMergeAndUndoRoundTrip(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	f := b.mergeFixture(t)
	if c, _ := b.store.Contact(ctx, b.a.ID, f.ambiguous); len(c.Candidates) != 2 {
		t.Fatalf("fixture: ambiguous contact has candidates %v", c.Candidates)
	}
	other := b.customer(t, b.a.ID, "Bystander", phone("+8613700137000"))
	before := b.snapshotTables(t, b.a.ID)

	rec, err := b.store.Merge(ctx, b.a.ID, b.a.Agent, f.survivor, []uuid.UUID{f.o1, f.o2}, "same person, two phones")
	if err != nil {
		t.Fatal(err)
	}
	wantMoved := map[string]int{"identities": 3, "vehicles": 1, "contacts": 2, "service_orders": 1, "deals": 1,
		"follow_ups": 1, "callbacks": 1, "shares": 0}
	if diff := cmp.Diff(wantMoved, rec.Moved); diff != "" {
		t.Errorf("Merge moved (-want +got):\n%s", diff)
	}
	var name, notes, tier, language string
	var owner *uuid.UUID
	if err := b.pool.QueryRow(ctx, `SELECT name, notes, tier, language, owner_id FROM customers WHERE id = $1`, f.survivor).Scan(&name, &notes, &tier, &language, &owner); err != nil {
		t.Fatal(err)
	}
	if name != "Chen Jing" || notes != "VIP at site A\n\ncalled about recall" || tier != "gold" || language != "zh" || owner == nil || *owner != b.a.Agent {
		t.Errorf("survivor after merge: name %q notes %q tier %q language %q owner %v", name, notes, tier, language, owner)
	}
	for _, id := range []crm.Identity{phone("+8613900139000"), email("jc@example.cn"), {Kind: crm.KindExternal, System: "dms", Value: "C-7"}} {
		if r, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{id}, ""); err != nil || r.CustomerID != f.survivor {
			t.Errorf("Resolve(%s) after merge = %+v, %v; want the survivor", id.Kind, r, err)
		}
	}
	if c, _ := b.store.Contact(ctx, b.a.ID, f.ambiguous); c.CustomerID == nil || *c.CustomerID != f.survivor || len(c.Candidates) != 0 {
		t.Errorf("ambiguous contact after merge: customer %v candidates %v; want the survivor alone", c.CustomerID, c.Candidates)
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE merged_into = $1 AND deleted_at IS NOT NULL`, f.survivor); n != 2 {
		t.Errorf("%d customers merged into the survivor, want 2", n)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'customer.merge' AND target_id = $1 AND actor_id = $2 AND data->>'merge_id' = $3`,
		f.survivor, b.a.Agent, rec.ID.String()); n != 1 {
		t.Errorf("%d merge audit entries, want 1", n)
	}
	if d, _ := b.store.Duplicates(ctx, b.a.ID, f.survivor); len(d) != 0 {
		t.Errorf("duplicates after merge: %v", d)
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE id = $1 AND deleted_at IS NULL`, other); n != 1 {
		t.Error("merge touched a bystander")
	}

	undone, err := b.store.UndoMerge(ctx, b.a.ID, b.a.Agent2, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if undone.UndoneAt == nil {
		t.Error("UndoMerge did not report undone_at")
	}
	after := b.snapshotTables(t, b.a.ID)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("tables after merge and undo differ from before (-before +after):\n%s", diff)
	}
	if _, err := b.store.UndoMerge(ctx, b.a.ID, b.a.Agent, rec.ID); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("second UndoMerge = %v, want ErrConflict", err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'customer.merge_undo' AND actor_id = $1`, b.a.Agent2); n != 1 {
		t.Errorf("%d undo audit entries, want 1", n)
	}
}

func TestUndoMergeRefusedAfterConflictingChange(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	conflicts := []struct {
		name   string
		change func(f mergeFixture)
	}{
		{"a moved order changed", func(f mergeFixture) {
			if _, err := b.pool.Exec(ctx, `UPDATE service_orders SET status = 'ready' WHERE id = $1`, f.order); err != nil {
				t.Fatal(err)
			}
		}},
		{"the survivor was edited", func(f mergeFixture) {
			if _, err := b.pool.Exec(ctx, `UPDATE customers SET notes = notes || '!' WHERE id = $1`, f.survivor); err != nil {
				t.Fatal(err)
			}
		}},
		{"a moved contact was reassigned", func(f mergeFixture) {
			if _, err := b.pool.Exec(ctx, `UPDATE contacts SET customer_id = NULL WHERE id = $1`, f.ambiguous); err != nil {
				t.Fatal(err)
			}
		}},
		{"a merged customer was purged", func(f mergeFixture) {
			if _, err := b.pool.Exec(ctx, `UPDATE customers SET deleted_at = deleted_at - interval '40 days' WHERE id = $1`, f.o2); err != nil {
				t.Fatal(err)
			}
			if n, err := b.store.Purge(ctx, b.a.ID, 30*24*time.Hour); err != nil || n != 1 {
				t.Fatalf("Purge = %d, %v; want 1", n, err)
			}
		}},
	}
	for _, c := range conflicts {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.pool.Exec(ctx, `TRUNCATE customers, customer_identities, customer_vehicles, vehicles, contacts, messages,
				contact_events, service_orders, deals, follow_ups, callbacks, customer_merges, assignments, webhook_outbox CASCADE`); err != nil {
				t.Fatal(err)
			}
			f := b.mergeFixture(t)
			rec, err := b.store.Merge(ctx, b.a.ID, b.a.Agent, f.survivor, []uuid.UUID{f.o1, f.o2}, "")
			if err != nil {
				t.Fatal(err)
			}
			c.change(f)
			mid := b.snapshotTables(t, b.a.ID)
			if _, err := b.store.UndoMerge(ctx, b.a.ID, b.a.Agent, rec.ID); !errors.Is(err, crm.ErrConflict) {
				t.Fatalf("UndoMerge after %s = %v, want ErrConflict", c.name, err)
			}
			if diff := cmp.Diff(mid, b.snapshotTables(t, b.a.ID)); diff != "" {
				t.Errorf("a refused undo changed rows:\n%s", diff)
			}
		})
	}
}

func TestMergeRefusals(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	s := b.customer(t, b.a.ID, "S")
	o := b.customer(t, b.a.ID, "O")
	foreign := b.customer(t, b.b.ID, "Foreign")
	cases := []struct {
		name     string
		tenant   uuid.UUID
		survivor uuid.UUID
		others   []uuid.UUID
		want     error
	}{
		{"another tenant's other", b.a.ID, s, []uuid.UUID{foreign}, crm.ErrNotFound},
		{"another tenant's survivor", b.a.ID, foreign, []uuid.UUID{o}, crm.ErrNotFound},
		{"from the other tenant", b.b.ID, s, []uuid.UUID{o}, crm.ErrNotFound},
		{"self", b.a.ID, s, []uuid.UUID{s}, crm.ErrInvalid},
		{"none", b.a.ID, s, nil, crm.ErrInvalid},
		{"twice", b.a.ID, s, []uuid.UUID{o, o}, crm.ErrInvalid},
	}
	for _, c := range cases {
		if _, err := b.store.Merge(ctx, c.tenant, b.a.Agent, c.survivor, c.others, ""); !errors.Is(err, c.want) {
			t.Errorf("Merge(%s) = %v, want %v", c.name, err, c.want)
		}
	}
	rec, err := b.store.Merge(ctx, b.a.ID, b.a.Agent, s, []uuid.UUID{o}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.UndoMerge(ctx, b.b.ID, b.b.Agent, rec.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("UndoMerge from another tenant = %v, want ErrNotFound", err)
	}
	if _, err := b.store.Merge(ctx, b.a.ID, b.a.Agent, s, []uuid.UUID{o}, ""); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("merging a merged customer again = %v, want ErrNotFound", err)
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, o); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("Restore(merged) = %v, want ErrConflict", err)
	}
}

func TestChooseCustomer(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	x := b.customer(t, b.a.ID, "Household X", email("family@example.cn"))
	y := b.customer(t, b.a.ID, "Household Y", email("family@example.cn"))
	gone := b.customer(t, b.a.ID, "Gone")
	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, gone); err != nil {
		t.Fatal(err)
	}
	foreign := b.customer(t, b.b.ID, "Foreign")
	res := b.record(t, inbound(b.a, "c-1", "family@example.cn"))
	if len(res.Candidates) != 2 {
		t.Fatalf("candidates %v, want x and y", res.Candidates)
	}
	if _, err := b.store.ChooseCustomer(ctx, b.a.ID, b.a.Agent, res.ContactID, y); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("ChooseCustomer on a queued contact = %v, want ErrNotHeld", err)
	}
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	if _, err := b.store.ChooseCustomer(ctx, b.a.ID, b.a.Agent2, res.ContactID, y); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("ChooseCustomer by an agent not holding it = %v, want ErrNotHeld", err)
	}
	for _, c := range []uuid.UUID{gone, foreign, uuid.New()} {
		if _, err := b.store.ChooseCustomer(ctx, b.a.ID, b.a.Agent, res.ContactID, c); !errors.Is(err, crm.ErrNotFound) {
			t.Errorf("ChooseCustomer(%s) = %v, want ErrNotFound", c, err)
		}
	}
	if _, err := b.store.ChooseCustomer(ctx, b.b.ID, b.a.Agent, res.ContactID, y); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("ChooseCustomer from another tenant = %v, want ErrNotHeld", err)
	}
	c, err := b.store.ChooseCustomer(ctx, b.a.ID, b.a.Agent, res.ContactID, y)
	if err != nil {
		t.Fatal(err)
	}
	if c.CustomerID == nil || *c.CustomerID != y || len(c.Candidates) != 0 || c.CustomerName != "Household Y" {
		t.Errorf("contact after choosing: %+v", c)
	}
	pop, err := b.store.ScreenPop(ctx, b.a.ID, res.ContactID)
	if err != nil || pop.Customer == nil || pop.Customer.ID != y || len(pop.Candidates) != 0 {
		t.Errorf("screen-pop after choosing = %+v, %v", pop.Customer, err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'customer_chosen'
		AND agent_id = $2 AND data->>'customer_id' = $3 AND (data->>'candidate')::boolean`, res.ContactID, b.a.Agent, y.String()); n != 1 {
		t.Errorf("%d customer_chosen events, want 1", n)
	}
	_ = x
}
