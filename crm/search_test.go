package crm_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// searchFixture is a small synthetic customer base (names, numbers, VIN and
// plates invented for the test) in tenant a, a namesake in tenant b, and a
// second site of tenant a.
type searchFixture struct {
	b     bundle
	site2 uuid.UUID
	ids   map[string]uuid.UUID // by fixture label
}

func newSearchFixture(t *testing.T) searchFixture {
	t.Helper()
	b := setup(t)
	ctx := ctxT(t)
	f := searchFixture{b: b, site2: uuid.New(), ids: map[string]uuid.UUID{}}
	if _, err := b.pool.Exec(ctx, `INSERT INTO sites (id, tenant_id, name, chat_key) VALUES ($1, $2, 'Site a2', $3)`,
		f.site2, b.a.ID, "key-"+f.site2.String()); err != nil {
		t.Fatal(err)
	}
	add := func(tenant uuid.UUID, site uuid.UUID, label, name string, ids ...crm.Identity) uuid.UUID {
		t.Helper()
		id, err := b.store.CreateCustomer(ctx, tenant, crm.NewCustomer{Name: name, SiteID: site, Identities: ids})
		if err != nil {
			t.Fatalf("CreateCustomer(%s) = %v", label, err)
		}
		f.ids[label] = id
		return id
	}
	a, s1 := b.a.ID, b.a.SiteID
	add(a, s1, "wangwei", "王伟 Wang Wei",
		crm.Identity{Kind: crm.KindPhone, Value: "+8613800138000"},
		crm.Identity{Kind: crm.KindEmail, Value: "wang.wei@example.cn"})
	add(a, s1, "wangfang", "王芳")
	add(a, s1, "wangweiming", "王伟明")
	add(a, s1, "wangwei_tang", "汪伟") // same pinyin as 王伟, another surname
	add(a, s1, "liwei", "李伟")
	add(a, s1, "ouyang", "欧阳娜娜")
	add(a, s1, "shan", "单田芳")
	add(a, s1, "smith", "John Smith", crm.Identity{Kind: crm.KindExternal, System: "dms", Value: "C-77"})
	add(a, s1, "smithjones", "Mary Smith-Jones")
	add(a, f.site2, "wangwei_site2", "王伟")
	add(b.b.ID, b.b.SiteID, "wangwei_b", "王伟", crm.Identity{Kind: crm.KindPhone, Value: "+8613800138000"})

	if _, err := b.store.AddVehicle(ctx, a, f.ids["smith"], crm.NewVehicle{VIN: "LSVAM4187C2184756", Plate: "沪A·12345"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddServiceOrder(ctx, a, f.ids["wangfang"], crm.NewServiceOrder{Number: "SO-2024-0001"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f searchFixture) labels(t *testing.T, hits []crm.SearchHit) []string {
	t.Helper()
	byID := map[uuid.UUID]string{}
	for l, id := range f.ids {
		byID[id] = l
	}
	var out []string
	for _, h := range hits {
		out = append(out, byID[h.ID])
	}
	return out
}

var allSites = crm.Scope{AllSites: true}

func TestSearchQueryClasses(t *testing.T) {
	f := newSearchFixture(t)
	ctx := ctxT(t)
	tests := []struct {
		text  string
		want  []string // labels in result order
		match string   // Match of the first hit
	}{
		// 王: every Wang (prefix of the characters, in code point then id
		// order: 伟 U+4F1F before 芳 U+82B3), then names with 王 inside (none
		// here).
		{"王", []string{"wangwei", "wangwei_site2", "wangweiming", "wangfang"}, "name"},
		{"王伟", []string{"wangwei", "wangwei_site2", "wangweiming"}, "name"},
		{"伟", []string{"wangwei", "wangweiming", "wangwei_tang", "liwei", "wangwei_site2"}, "name"},
		{"欧阳娜娜", []string{"ouyang"}, "name"},
		{"阳娜", []string{"ouyang"}, "name"},
		// Same pinyin, ties in id (creation) order; "王伟 Wang Wei" once
		// even though its Latin part also contains "wang wei".
		{"wangwei", []string{"wangwei", "wangwei_tang", "wangwei_site2", "wangweiming"}, "pinyin"},
		{"Wang Wei", []string{"wangwei", "wangwei_tang", "wangwei_site2", "wangweiming"}, "pinyin"},
		{"ww", []string{"wangwei", "wangwei_tang", "wangwei_site2", "wangweiming"}, "initials"},
		{"shantianfang", []string{"shan"}, "pinyin"},
		{"stf", []string{"shan"}, "initials"},
		{"Smith", []string{"smith", "smithjones"}, "name"},
		{"john", []string{"smith"}, "pinyin"},
		{"138-0013-8000", []string{"wangwei"}, "phone"},
		{"+86 138 0013 8000", []string{"wangwei"}, "phone"},
		{"0086 13800138000", []string{"wangwei"}, "phone"},
		{"(138) 0013 8000", []string{"wangwei"}, "phone"},
		{"WANG.WEI@EXAMPLE.CN", []string{"wangwei"}, "email"},
		{"lsvam4187c2184756", []string{"smith"}, "vin"},
		{"沪a 12345", []string{"smith"}, "plate"},
		{"SO-2024-0001", []string{"wangfang"}, "order"},
		{"so-2024-0001", []string{"wangfang"}, "order"},
		{"C-77", []string{"smith"}, "external"},
		{"nobody", nil, ""},
		{"张", nil, ""},
		{"   ", nil, ""},
	}
	for _, tt := range tests {
		page, err := f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: tt.text, Scope: allSites})
		if err != nil {
			t.Errorf("Search(%q) = %v", tt.text, err)
			continue
		}
		got := f.labels(t, page.Hits)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Search(%q) = %v, want %v", tt.text, got, tt.want)
			continue
		}
		if len(page.Hits) > 0 && page.Hits[0].Match != tt.match {
			t.Errorf("Search(%q) first match = %q, want %q", tt.text, page.Hits[0].Match, tt.match)
		}
		if page.NextCursor != "" {
			t.Errorf("Search(%q) NextCursor = %q on a short result, want none", tt.text, page.NextCursor)
		}
	}
}

// Paging with a page size of one walks every hit exactly once, across
// tiers, in the same order as one big page.
func TestSearchPaging(t *testing.T) {
	f := newSearchFixture(t)
	ctx := ctxT(t)
	for _, text := range []string{"伟", "wangwei", "w"} {
		all, err := f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: text, Scope: allSites, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var walked []crm.SearchHit
		cursor := ""
		for i := 0; ; i++ {
			if i > 20 {
				t.Fatalf("Search(%q) paging does not end", text)
			}
			page, err := f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: text, Scope: allSites, Limit: 1, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, page.Hits...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if got, want := f.labels(t, walked), f.labels(t, all.Hits); !slices.Equal(got, want) || len(want) < 3 {
			t.Errorf("Search(%q) paged by one = %v, want %v (at least three)", text, got, want)
		}
	}
	if _, err := f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: "王", Scope: allSites, Cursor: "not-a-cursor"}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("Search with a bad cursor = %v, want ErrInvalid", err)
	}
}

func TestSearchScopeAndTenant(t *testing.T) {
	f := newSearchFixture(t)
	ctx := ctxT(t)
	// Tenant b sees its own 王伟 only, by name and by the phone both share.
	for _, text := range []string{"王伟", "13800138000"} {
		page, err := f.b.store.Search(ctx, f.b.b.ID, crm.SearchQuery{Text: text, Scope: allSites})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.labels(t, page.Hits); !slices.Equal(got, []string{"wangwei_b"}) {
			t.Errorf("tenant b: Search(%q) = %v, want [wangwei_b]", text, got)
		}
	}
	// A viewer of site 1 does not see site 2's 王伟.
	site1 := crm.Scope{Sites: []uuid.UUID{f.b.a.SiteID}}
	page, err := f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: "王伟", Scope: site1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.labels(t, page.Hits), []string{"wangwei", "wangweiming"}; !slices.Equal(got, want) {
		t.Errorf("site 1: Search(王伟) = %v, want %v", got, want)
	}
	site2 := crm.Scope{Sites: []uuid.UUID{f.site2}}
	page, err = f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: "wangwei", Scope: site2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.labels(t, page.Hits), []string{"wangwei_site2"}; !slices.Equal(got, want) {
		t.Errorf("site 2: Search(wangwei) = %v, want %v", got, want)
	}
	// A deleted customer is never found.
	if _, err := f.b.pool.Exec(ctx, `UPDATE customers SET deleted_at = now() WHERE id = $1`, f.ids["wangfang"]); err != nil {
		t.Fatal(err)
	}
	page, err = f.b.store.Search(ctx, f.b.a.ID, crm.SearchQuery{Text: "SO-2024-0001", Scope: allSites})
	if err != nil || len(page.Hits) != 0 {
		t.Errorf("Search for a deleted customer's order = %v, %v, want nothing", page.Hits, err)
	}
}

// TestSearchInnerNameBeyondWindow: the inner-name tier first looks
// through a window of customers in id order; matches that lie beyond it
// (a rare character) come from the name index, complete and in id order,
// one big page and pages of one alike. Synthetic names.
func TestSearchInnerNameBeyondWindow(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	// 1,500 customers in id order; 伟 inside the name of the 3rd, the
	// 1,200th and the 1,400th only (past a window of 1,000).
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO customers (id, tenant_id, name)
		SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, $1,
		       CASE WHEN g IN (3, 1200, 1400) THEN '李伟' ELSE '张三' END
		FROM generate_series(1, 1500) g`, b.a.ID); err != nil {
		t.Fatal(err)
	}
	all := crm.Scope{AllSites: true}
	page, err := b.store.Search(ctx, b.a.ID, crm.SearchQuery{Text: "伟", Scope: all, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range page.Hits {
		got = append(got, h.ID.String()[24:])
	}
	want := []string{"000000000003", "0000000004b0", "000000000578"}
	if !slices.Equal(got, want) {
		t.Errorf("Search(伟) = %v, want %v", got, want)
	}
	var walked []string
	cursor := ""
	for i := 0; i < 10; i++ {
		p, err := b.store.Search(ctx, b.a.ID, crm.SearchQuery{Text: "伟", Scope: all, Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range p.Hits {
			walked = append(walked, h.ID.String()[24:])
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(walked, want) {
		t.Errorf("Search(伟) paged by one = %v, want %v", walked, want)
	}
}
