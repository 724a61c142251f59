package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
)

// theirs are another tenant's records (synthetic): a live customer, one in
// the recycle bin, a merge not undone and a queued contact, so that each
// route would succeed on them if it forgot the tenant.
type theirs struct {
	customer, binned, merge, contact uuid.UUID
}

// otherTenantMergeIDs makes another tenant (otherTenantIDs) with the
// records of theirs.
func otherTenantMergeIDs(t *testing.T, dsn string) theirs {
	t.Helper()
	ctx := context.Background()
	agent, contact := otherTenantIDs(t, dsn)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var tenant, customer uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT tenant_id, customer_id FROM contacts WHERE id = $1`, contact).Scan(&tenant, &customer); err != nil {
		t.Fatal(err)
	}
	people := crm.NewStore(pool)
	mk := func(name, phone string) uuid.UUID {
		t.Helper()
		c, err := people.NewCustomerRecord(ctx, tenant, uuid.Nil, crm.CustomerFields{Name: &name},
			[]crm.IdentityInput{{Kind: "phone", Value: phone}})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	survivor, merged := mk("Their One", "+8613900002222"), mk("Their Two", "+8613900002222")
	rec, err := people.Merge(ctx, tenant, agent, survivor, []uuid.UUID{merged}, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	binned := mk("Their Three", "+8613900003333")
	if err := people.Delete(ctx, tenant, agent, binned); err != nil {
		t.Fatal(err)
	}
	return theirs{customer: customer, binned: binned, merge: rec.ID, contact: contact}
}

// decodeAnswer unmarshals a response body into v or fails the test.
func decodeAnswer(t *testing.T, what, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: not the JSON expected (%v): %s", what, err, body)
	}
}

// TestMergeAndRecycleBinOverHTTP: two customers who share a phone are
// suggested as duplicates (to an agent for one customer, to a supervisor
// tenant-wide); a supervisor merges them (the survivor gets the other's
// identity, the other is in the recycle bin as merged and cannot be
// restored on its own), undoes the merge (both back as they were; a second
// undo is 409), deletes one (in the bin, no longer suggested) and restores
// it. Agents get 403 on the supervisor routes, requests without the CSRF
// token 403, unknown fields 400, and another tenant's ids 404 on every
// route that takes one, changing nothing.
func TestMergeAndRecycleBinOverHTTP(t *testing.T) {
	a := startApp(t, nil)
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	api := a.url + "/api"

	// Two customers who share a mobile number (synthetic).
	code, body := post(t, sup, api+"/customers", supCSRF,
		`{"name":"Merge Survivor","identities":[{"kind":"phone","value":"139 0000 1111"},{"kind":"email","value":"survivor.merge@example.com"}]}`)
	want(t, "create survivor", code, body, 201, `"name":"Merge Survivor"`)
	var survivor crm.CustomerRecord
	decodeAnswer(t, "survivor", body, &survivor)
	code, body = post(t, sup, api+"/customers", supCSRF,
		`{"name":"Merged Away","notes":"walk-in","identities":[{"kind":"phone","value":"13900001111"},{"kind":"wechat","value":"wx-merge-synthetic"}]}`)
	want(t, "create the other", code, body, 201, `"name":"Merged Away"`)
	var other crm.CustomerRecord
	decodeAnswer(t, "other", body, &other)
	var otherWeChat uuid.UUID
	for _, id := range other.Identities {
		if id.Kind == "wechat" {
			otherWeChat = id.ID
		}
	}
	S, O := survivor.ID.String(), other.ID.String()

	// Suggested: to an agent for one customer, to a supervisor tenant-wide.
	code, body = call(t, agent, "GET", api+"/customers/"+S+"/duplicates", "", "")
	want(t, "agent lists duplicates", code, body, 200, "")
	var dups []crm.Duplicate
	decodeAnswer(t, "duplicates", body, &dups)
	if i := slices.IndexFunc(dups, func(d crm.Duplicate) bool { return d.CustomerID == other.ID }); i < 0 || !slices.Contains(dups[i].Reasons, crm.ReasonSharedPhone) {
		t.Errorf("duplicates of the survivor = %+v, want the other with reason %s", dups, crm.ReasonSharedPhone)
	}
	code, body = call(t, sup, "GET", api+"/duplicates?limit=500", "", "")
	want(t, "supervisor lists suggestions", code, body, 200, "")
	var pairs []crm.DuplicatePair
	decodeAnswer(t, "suggestions", body, &pairs)
	if !slices.ContainsFunc(pairs, func(p crm.DuplicatePair) bool {
		return (p.A.CustomerID == survivor.ID && p.B.CustomerID == other.ID) || (p.A.CustomerID == other.ID && p.B.CustomerID == survivor.ID)
	}) {
		t.Errorf("tenant suggestions lack the pair: %s", body)
	}

	// Refusals, before anything changes.
	them := otherTenantMergeIDs(t, a.dsn)
	theirCustomer, theirBinned, theirMerge := them.customer, them.binned, them.merge
	TC, TB, TM := theirCustomer.String(), theirBinned.String(), theirMerge.String()
	mergeBody := `{"others":["` + O + `"],"reason":"same phone"}`
	for _, tc := range []struct {
		name         string
		client       *http.Client
		csrf         string
		method, path string
		body         string
		want         int
	}{
		{"agent suggestions", agent, agentCSRF, "GET", "/duplicates", "", 403},
		{"agent merges", agent, agentCSRF, "POST", "/customers/" + S + "/merge", mergeBody, 403},
		{"agent undoes", agent, agentCSRF, "POST", "/merges/" + TM + "/undo", "", 403},
		{"agent deletes", agent, agentCSRF, "DELETE", "/customers/" + O, "", 403},
		{"agent restores", agent, agentCSRF, "POST", "/customers/" + O + "/restore", "", 403},
		{"agent reads the bin", agent, agentCSRF, "GET", "/recycle-bin", "", 403},
		{"merge without CSRF", sup, "", "POST", "/customers/" + S + "/merge", mergeBody, 403},
		{"undo without CSRF", sup, "", "POST", "/merges/" + TM + "/undo", "", 403},
		{"delete without CSRF", sup, "", "DELETE", "/customers/" + O, "", 403},
		{"restore without CSRF", sup, "", "POST", "/customers/" + O + "/restore", "", 403},
		{"merge with an unknown field", sup, supCSRF, "POST", "/customers/" + S + "/merge", `{"others":["` + O + `"],"reason":"x","force":true}`, 400},
		{"merge with malformed JSON", sup, supCSRF, "POST", "/customers/" + S + "/merge", `{"others":`, 400},
		{"merge with nobody", sup, supCSRF, "POST", "/customers/" + S + "/merge", `{"others":[]}`, 400},
		{"merge into itself", sup, supCSRF, "POST", "/customers/" + S + "/merge", `{"others":["` + S + `"]}`, 400},
		{"merge a malformed id", sup, supCSRF, "POST", "/customers/nope/merge", mergeBody, 400},
		{"bad bin limit", sup, supCSRF, "GET", "/recycle-bin?limit=0", "", 400},
		{"bad bin cursor", sup, supCSRF, "GET", "/recycle-bin?before=yesterday", "", 400},
		{"bad suggestions limit", sup, supCSRF, "GET", "/duplicates?limit=501", "", 400},
		// Another tenant's ids: 404, on every route that takes one.
		{"their customer's duplicates", agent, agentCSRF, "GET", "/customers/" + TC + "/duplicates", "", 404},
		{"merge into their customer", sup, supCSRF, "POST", "/customers/" + TC + "/merge", mergeBody, 404},
		{"merge their customer in", sup, supCSRF, "POST", "/customers/" + S + "/merge", `{"others":["` + TC + `"]}`, 404},
		{"undo their merge", sup, supCSRF, "POST", "/merges/" + TM + "/undo", "", 404},
		{"delete their customer", sup, supCSRF, "DELETE", "/customers/" + TC, "", 404},
		{"restore their deleted customer", sup, supCSRF, "POST", "/customers/" + TB + "/restore", "", 404},
		{"undo an unknown merge", sup, supCSRF, "POST", "/merges/" + uuid.NewString() + "/undo", "", 404},
	} {
		if code, body := call(t, tc.client, tc.method, api+tc.path, tc.csrf, tc.body); code != tc.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.path, code, strings.TrimSpace(body), tc.want)
		}
	}
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var theirLive, theirBinnedDeleted, theirMergeOpen bool
	pool.QueryRow(context.Background(), `SELECT
		(SELECT deleted_at IS NULL FROM customers WHERE id = $1),
		(SELECT deleted_at IS NOT NULL FROM customers WHERE id = $2),
		(SELECT undone_at IS NULL FROM customer_merges WHERE id = $3)`, theirCustomer, theirBinned, theirMerge).
		Scan(&theirLive, &theirBinnedDeleted, &theirMergeOpen)
	if !theirLive || !theirBinnedDeleted || !theirMergeOpen {
		t.Errorf("the other tenant's records changed: customer live %v, binned still deleted %v, merge still open %v",
			theirLive, theirBinnedDeleted, theirMergeOpen)
	}
	code, body = call(t, sup, "GET", api+"/customers/"+O, "", "")
	want(t, "the other after the refusals", code, body, 200, `"name":"Merged Away"`)

	// Merge.
	code, body = post(t, sup, api+"/customers/"+S+"/merge", supCSRF, mergeBody)
	want(t, "merge", code, body, http.StatusCreated, `"survivor_id":"`+S+`"`)
	var rec crm.MergeRecord
	decodeAnswer(t, "merge record", body, &rec)
	if rec.ID == uuid.Nil || !slices.Equal(rec.MergedIDs, []uuid.UUID{other.ID}) || rec.Reason != "same phone" || rec.UndoneAt != nil {
		t.Errorf("merge record = %+v, want an id, merged [%s], the reason, not undone", rec, O)
	}
	// The survivor has the other's WeChat (the shared phone stays behind:
	// the survivor has it already) and notes.
	code, body = call(t, sup, "GET", api+"/customers/"+S, "", "")
	want(t, "survivor after the merge", code, body, 200, `"notes":"walk-in"`)
	var after crm.CustomerRecord
	decodeAnswer(t, "survivor after the merge", body, &after)
	if !slices.ContainsFunc(after.Identities, func(i crm.IdentityRecord) bool { return i.ID == otherWeChat && i.Kind == "wechat" }) {
		t.Errorf("survivor's identities after the merge = %+v, want the other's wechat %s", after.Identities, otherWeChat)
	}
	code, body = call(t, sup, "GET", api+"/customers/"+O, "", "")
	want(t, "merged customer", code, body, 404, "")
	code, body = call(t, sup, "GET", api+"/recycle-bin", "", "")
	want(t, "bin after the merge", code, body, 200, "")
	var bin []crm.BinEntry
	decodeAnswer(t, "bin", body, &bin)
	if i := slices.IndexFunc(bin, func(e crm.BinEntry) bool { return e.ID == other.ID }); i < 0 || bin[i].MergedInto == nil || *bin[i].MergedInto != survivor.ID {
		t.Errorf("recycle bin after the merge = %s, want the other, merged into the survivor", body)
	}
	code, body = post(t, sup, api+"/customers/"+O+"/restore", supCSRF, "")
	want(t, "restore a merged customer (undo the merge instead)", code, body, 409, "")

	// Undo: both as they were; a second undo is refused.
	code, body = post(t, sup, api+"/merges/"+rec.ID.String()+"/undo", supCSRF, "")
	want(t, "undo", code, body, 200, `"id":"`+rec.ID.String()+`"`)
	var undone crm.MergeRecord
	decodeAnswer(t, "undo", body, &undone)
	if undone.UndoneAt == nil {
		t.Errorf("undo answered %s, want undone_at", body)
	}
	code, body = call(t, sup, "GET", api+"/customers/"+S, "", "")
	want(t, "survivor after undo", code, body, 200, "")
	after = crm.CustomerRecord{}
	decodeAnswer(t, "survivor after undo", body, &after)
	if slices.ContainsFunc(after.Identities, func(i crm.IdentityRecord) bool { return i.Kind == "wechat" }) || after.Notes != "" {
		t.Errorf("survivor after undo = %+v, want no wechat and no notes", after)
	}
	code, body = call(t, sup, "GET", api+"/customers/"+O, "", "")
	want(t, "the other after undo", code, body, 200, `"name":"Merged Away"`)
	var back crm.CustomerRecord
	decodeAnswer(t, "the other after undo", body, &back)
	if !slices.ContainsFunc(back.Identities, func(i crm.IdentityRecord) bool { return i.ID == otherWeChat }) {
		t.Errorf("the other's identities after undo = %+v, want its wechat back", back.Identities)
	}
	code, body = post(t, sup, api+"/merges/"+rec.ID.String()+"/undo", supCSRF, "")
	want(t, "second undo", code, body, 409, "")

	// Delete, find in the bin, restore.
	code, body = call(t, sup, "DELETE", api+"/customers/"+O, supCSRF, "")
	want(t, "delete", code, body, 204, "")
	code, body = call(t, sup, "DELETE", api+"/customers/"+O, supCSRF, "")
	want(t, "delete again", code, body, 404, "")
	code, body = call(t, sup, "GET", api+"/recycle-bin", "", "")
	want(t, "bin after the delete", code, body, 200, "")
	bin = nil // decoding into the old slice would keep its merged_into
	decodeAnswer(t, "bin", body, &bin)
	if i := slices.IndexFunc(bin, func(e crm.BinEntry) bool { return e.ID == other.ID }); i < 0 || bin[i].MergedInto != nil || bin[i].Name != "Merged Away" {
		t.Errorf("recycle bin after the delete = %s, want the other, deleted (not merged)", body)
	}
	if slices.ContainsFunc(bin, func(e crm.BinEntry) bool { return e.ID == theirBinned }) {
		t.Errorf("recycle bin shows another tenant's customer: %s", body)
	}
	// Paging: the next page starts before the newest entry's time.
	code, body = call(t, sup, "GET", api+"/recycle-bin?limit=1&before="+url.QueryEscape(bin[0].DeletedAt.Format(time.RFC3339Nano)), "", "")
	want(t, "bin page", code, body, 200, "")
	if strings.Contains(body, bin[0].ID.String()) {
		t.Errorf("recycle bin before %s = %s, want the entries deleted before it only", bin[0].DeletedAt, body)
	}
	code, body = call(t, agent, "GET", api+"/customers/"+S+"/duplicates", "", "")
	want(t, "duplicates with the other deleted", code, body, 200, "")
	if strings.Contains(body, O) {
		t.Errorf("a deleted customer is still suggested: %s", body)
	}
	code, body = post(t, sup, api+"/customers/"+O+"/restore", supCSRF, "")
	want(t, "restore", code, body, 204, "")
	code, body = post(t, sup, api+"/customers/"+O+"/restore", supCSRF, "")
	want(t, "restore a live customer", code, body, 409, "")
	code, body = call(t, sup, "GET", api+"/recycle-bin", "", "")
	want(t, "bin after the restore", code, body, 200, "")
	if strings.Contains(body, O) {
		t.Errorf("restored customer still in the bin: %s", body)
	}
	code, body = call(t, sup, "GET", api+"/customers/"+O, "", "")
	want(t, "restored customer", code, body, 200, `"name":"Merged Away"`)
}

// TestChooseCustomerEndToEnd: two customers share an e-mail address; a
// visitor chats with it, so the contact has no customer but two
// candidates, and the agent's offer screen-pop lists both. The agent
// accepts and says which one it is (choose_customer): an ack, then a
// screen_pop for the contact showing that customer, and the contact row
// has the customer. Choosing another tenant's customer, or for a contact
// the agent does not hold, is refused and changes nothing.
func TestChooseCustomerEndToEnd(t *testing.T) {
	a := startApp(t, nil)
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	ids := map[string]string{}
	for _, name := range []string{"Choose Zhao", "Choose Qian"} {
		code, body := post(t, sup, a.url+"/api/customers", supCSRF,
			`{"name":"`+name+`","identities":[{"kind":"email","value":"shared.household@example.com"}]}`)
		want(t, "create "+name, code, body, 201, "")
		ids[name] = field(t, body, "id").(string)
	}
	them := otherTenantMergeIDs(t, a.dsn)

	agent := a.availableAgent(t, "lina@huadong.example")
	v := a.visitor(t, "Household", "Shared.Household@example.com")
	v.send(map[string]any{"type": "message", "client_id": "m-1", "body": "Which of us is booked?"})
	v.expect("ack", nil)

	offer := agent.expect("offer", nil)
	sp := agent.expect("screen_pop", func(f map[string]any) bool { return f["offer_id"] == offer["offer_id"] })
	if c := path(sp, "screen_pop", "customer"); c != nil {
		t.Errorf("offer screen-pop customer = %v, want none (ambiguous)", c)
	}
	var names []string
	cands, _ := path(sp, "screen_pop", "candidates").([]any)
	for _, c := range cands {
		names = append(names, path(c, "name").(string))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Choose Qian", "Choose Zhao"}) {
		t.Fatalf("offer screen-pop candidates = %v, want both customers with the e-mail", names)
	}
	agent.send(map[string]any{"type": "accept", "id": "acc", "offer_id": offer["offer_id"]})
	assigned := agent.expect("assigned", nil)
	contact := path(assigned, "contact", "id").(string)

	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	customerOf := func() string {
		t.Helper()
		var c *string
		if err := pool.QueryRow(context.Background(), `SELECT customer_id::text FROM contacts WHERE id = $1`, contact).Scan(&c); err != nil {
			t.Fatal(err)
		}
		if c == nil {
			return ""
		}
		return *c
	}

	// Refusals first: nothing changes.
	for _, tc := range []struct {
		name              string
		contact, customer string
		code              string
	}{
		{"another tenant's customer", contact, them.customer.String(), "not_found"},
		{"an unknown customer", contact, uuid.NewString(), "not_found"},
		{"another tenant's contact", them.contact.String(), ids["Choose Qian"], "not_held"},
		{"a malformed customer id", contact, "nope", "invalid"},
	} {
		agent.send(map[string]any{"type": "choose_customer", "id": tc.name, "contact_id": tc.contact, "customer_id": tc.customer})
		if f := agent.expect("", func(f map[string]any) bool { return f["ref"] == tc.name }); f["type"] != "error" || f["code"] != tc.code {
			t.Errorf("choose_customer with %s answered %v, want error %s", tc.name, f, tc.code)
		}
	}
	if got := customerOf(); got != "" {
		t.Fatalf("after the refused choices the contact's customer is %s, want none", got)
	}

	agent.send(map[string]any{"type": "choose_customer", "id": "ch", "contact_id": contact, "customer_id": ids["Choose Qian"]})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "ch" })
	pop := agent.expect("screen_pop", func(f map[string]any) bool { return f["contact_id"] == contact })
	if got := path(pop, "screen_pop", "customer", "name"); got != "Choose Qian" {
		t.Errorf("refreshed screen-pop customer = %v, want Choose Qian", got)
	}
	if got, _ := path(pop, "screen_pop", "candidates").([]any); len(got) != 0 {
		t.Errorf("refreshed screen-pop candidates = %v, want none", got)
	}
	if got := path(pop, "contact", "customer_id"); got != ids["Choose Qian"] {
		t.Errorf("refreshed contact customer_id = %v, want %s", got, ids["Choose Qian"])
	}
	if got := customerOf(); got != ids["Choose Qian"] {
		t.Errorf("contact's customer_id in the database = %q, want %s", got, ids["Choose Qian"])
	}
	var chosen int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'customer_chosen'`, contact).Scan(&chosen)
	if chosen != 1 {
		t.Errorf("customer_chosen events = %d, want 1", chosen)
	}
}
