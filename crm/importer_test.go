package crm_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

func importString(t *testing.T, b bundle, tenant uuid.UUID, format, data string) crm.ImportSummary {
	t.Helper()
	sum, err := b.store.Import(ctxT(t), tenant, strings.NewReader(data), crm.ImportOptions{Format: format})
	if err != nil {
		t.Fatalf("Import(%s) = %v", format, err)
	}
	return sum
}

type counts struct{ Lines, Created, Updated, Unchanged, Conflicts, Rejected int }

func countsOf(s crm.ImportSummary) counts {
	return counts{s.Lines, s.Created, s.Updated, s.Unchanged, s.Conflicts, s.Rejected}
}

// TestImportUpsert imports the documented example file (synthetic), again
// unchanged, then changed: created, unchanged and updated are counted per
// record, values are stored normalised, and webhooks follow.
func TestImportUpsert(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	if _, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{URL: "https://erp.example.com/h"}); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/import_example.csv")
	if err != nil {
		t.Fatal(err)
	}
	sum := importString(t, b, b.a.ID, crm.FormatCSV, string(example))
	if diff := cmp.Diff(counts{Lines: 3, Created: 3}, countsOf(sum)); diff != "" {
		t.Fatalf("first import (-want +got):\n%s\nproblems: %+v", diff, sum.Problems)
	}
	for _, c := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM customers WHERE tenant_id = $1`, 3},
		{`SELECT count(*) FROM customers WHERE tenant_id = $1 AND name = '王伟' AND name_pinyin = 'wangwei' AND name_initials = 'ww' AND language = 'zh-CN'`, 1},
		{`SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND kind = 'phone' AND value IN ('+8613800138000', '+8613912345678', '+862162345678')`, 3},
		{`SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND kind = 'external' AND system = 'dms'`, 3},
		{`SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND kind = 'email'`, 3},
		{`SELECT count(*) FROM vehicles v JOIN customer_vehicles cv ON cv.tenant_id = v.tenant_id AND cv.vehicle_id = v.id AND cv.role = 'owner'
		  WHERE v.tenant_id = $1 AND v.plate IN ('沪A12345', '京AD12345', '沪B54321') AND v.year IS NOT NULL`, 3},
		{`SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1 AND event = 'customer.created' AND customer_id IS NOT NULL`, 3},
		{`SELECT count(*) FROM import_jobs WHERE tenant_id = $1 AND status = 'done' AND created = 3`, 1},
	} {
		if got := b.count(t, c.sql, b.a.ID); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
	var stamp string
	b.pool.QueryRow(ctx, `SELECT string_agg(updated_at::text, ',' ORDER BY id) FROM customers WHERE tenant_id = $1`, b.a.ID).Scan(&stamp)

	// The same file again: nothing changes, not even updated_at, and no
	// webhook is sent.
	sum = importString(t, b, b.a.ID, crm.FormatCSV, string(example))
	if diff := cmp.Diff(counts{Lines: 3, Unchanged: 3}, countsOf(sum)); diff != "" {
		t.Errorf("identical re-import (-want +got):\n%s", diff)
	}
	var again string
	b.pool.QueryRow(ctx, `SELECT string_agg(updated_at::text, ',' ORDER BY id) FROM customers WHERE tenant_id = $1`, b.a.ID).Scan(&again)
	if again != stamp {
		t.Errorf("an identical re-import moved updated_at")
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1`, b.a.ID); n != 3 {
		t.Errorf("%d outbox rows after an identical re-import, want 3", n)
	}

	// Changed: a new name (JSON Lines this time), a second e-mail, a new
	// plate, a new role; one record left as it was; empty fields keep values.
	sum = importString(t, b, b.a.ID, crm.FormatJSONL, `{"external_system":"dms","external_id":"C-1001","email":"w.wei@example.com"}
{"external_system":"dms","external_id":"C-1002","name":"李娜","phone":null}
{"external_system":"DMS","external_id":"C-1003","vin":"lhgcr2652f8000003","plate":"沪B 99999"}
{"external_system":"dms","external_id":"C-1004","vin":"LSVAU2185N2100001","vehicle_role":"household"}
{"external_system":"dms","external_id":"C-1001","name":"王伟"}
`)
	if diff := cmp.Diff(counts{Lines: 5, Created: 1, Updated: 3, Conflicts: 1}, countsOf(sum)); diff != "" {
		t.Errorf("changed import (-want +got):\n%s\nproblems: %+v", diff, sum.Problems)
	}
	for _, c := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM customers WHERE tenant_id = $1 AND name = '李娜' AND name_pinyin = 'lina' AND language = 'zh-CN'`, 1},
		{`SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND kind = 'email'`, 4},
		{`SELECT count(*) FROM vehicles WHERE tenant_id = $1 AND plate = '沪B99999' AND make = 'Honda'`, 1},
		// C-1004 shares C-1001's car as household: one vehicle, two links.
		{`SELECT count(*) FROM customer_vehicles cv JOIN vehicles v ON v.tenant_id = cv.tenant_id AND v.id = cv.vehicle_id
		  WHERE cv.tenant_id = $1 AND v.vin = 'LSVAU2185N2100001'`, 2},
		{`SELECT count(*) FROM vehicles WHERE tenant_id = $1`, 3},
		{`SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1 AND event = 'customer.updated'`, 3},
	} {
		if got := b.count(t, c.sql, b.a.ID); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
	want := []crm.ImportProblem{{Line: 5, Outcome: "conflict", Field: "external_id", Reason: "the same external id is on line 1"}}
	if diff := cmp.Diff(want, sum.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	// Another tenant's import of the same external ids makes its own customers.
	sum = importString(t, b, b.b.ID, crm.FormatCSV, string(example))
	if sum.Created != 3 || b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID) != 4 {
		t.Errorf("tenant b's import: created %d, tenant a has %d customers; want 3 and 4",
			sum.Created, b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID))
	}
}

// TestImportBadInput: every bad record is rejected with its line number,
// the field and a reason that does not repeat the value; the good records
// around them are imported.
func TestImportBadInput(t *testing.T) {
	b := setup(t)
	long := `{"external_system":"dms","external_id":"X","notes":"` + strings.Repeat("n", 70000) + `"}`
	jsonl := strings.Join([]string{
		`{"external_system":"dms","external_id":"G-1","name":"Good One","phone":"13800138000"}`, // 1 good
		`{"external_system":"dms","external_id":"B-2","phone":"12345"}`,                         // 2 invalid phone
		`{"external_system":"dms","external_id":"B-3","vin":"LSVAU2180N2100001"}`,               // 3 check digit
		`{"external_system":"dms","external_id":"B-4","email":"not-an-address"}`,                // 4 e-mail
		`{"external_system":"dms","external_id":"B-5","colour":"red"}`,                          // 5 unknown field
		`{"external_system":"dms","external_id":"B-6","name":42}`,                               // 6 wrong type
		`{"external_system":"dms","external_id":"B-7","year":"soon"}`,                           // 7 wrong type
		`{"external_system":"dms", "external_id": "B-8"`,                                        // 8 broken JSON
		`{"external_system":"dms","name":"No Key"}`,                                             // 9 no key
		long, // 10 oversized
		``,   // 11 blank: not a record
		`{"external_system":"dms","external_id":"B-12","plate":"沪A12345"}`,                     // 12 plate without vin
		`{"external_system":"dms","external_id":"B-13","kind":"robot"}`,                        // 13 kind
		`{"external_system":"dms","external_id":"B-14","year":1700,"vin":"LSVAU2185N2100001"}`, // 14 year range
		`{"external_system":"dms","external_id":"G-15","email":"Good.Two@Example.COM"}`,        // 15 good
		`["not", "an", "object"]`, // 16
	}, "\n")
	sum := importString(t, b, b.a.ID, crm.FormatJSONL, jsonl)
	if diff := cmp.Diff(counts{Lines: 15, Created: 2, Rejected: 13}, countsOf(sum)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	want := []crm.ImportProblem{
		{Line: 2, Outcome: "rejected", Field: "phone", Reason: "is not a valid phone number"},
		{Line: 3, Outcome: "rejected", Field: "vin", Reason: "check digit (position 9) does not match"},
		{Line: 4, Outcome: "rejected", Field: "email", Reason: "is not a valid e-mail address"},
		{Line: 5, Outcome: "rejected", Field: "colour", Reason: "unknown field"},
		{Line: 6, Outcome: "rejected", Field: "name", Reason: "must be a string"},
		{Line: 7, Outcome: "rejected", Field: "year", Reason: "must be a number"},
		{Line: 8, Outcome: "rejected", Reason: "not a JSON object"},
		{Line: 9, Outcome: "rejected", Field: "external_id", Reason: "is required"},
		{Line: 10, Outcome: "rejected", Reason: "line is longer than 65536 bytes"},
		{Line: 12, Outcome: "rejected", Field: "vin", Reason: "is required with plate, make, model, year or vehicle_role (a vehicle is matched by its VIN)"},
		{Line: 13, Outcome: "rejected", Field: "kind", Reason: "must be person or company"},
		{Line: 14, Outcome: "rejected", Field: "year", Reason: "must be a year between 1886 and 2100"},
		{Line: 16, Outcome: "rejected", Reason: "not a JSON object"},
	}
	if diff := cmp.Diff(want, sum.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if n := b.count(t, `SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND value IN ('+8613800138000', 'good.two@example.com')`, b.a.ID); n != 2 {
		t.Errorf("%d identities of the good lines, want 2", n)
	}
	if n := b.count(t, `SELECT count(*) FROM import_rejects WHERE tenant_id = $1 AND job_id = $2 AND outcome = 'rejected'`, b.a.ID, sum.JobID); n != 13 {
		t.Errorf("%d rejects stored with the job, want 13", n)
	}

	// CSV: a line with too many fields and one with a stray quote.
	csv := "external_id,external_system,name,phone\n" + // 1 header
		"C-1,dms,Good CSV,13912345678\n" + // 2
		"C-2,dms,Too,Many,Fields\n" + // 3
		"C-3,dms,Bad \"quote,13912345679\n" + // 4
		"C-4,dms,\"Quoted, fine\",\n" + // 5
		"C-5,dms,Bad Phone,999\n" // 6
	sum = importString(t, b, b.a.ID, crm.FormatCSV, csv)
	if diff := cmp.Diff(counts{Lines: 5, Created: 2, Rejected: 3}, countsOf(sum)); diff != "" {
		t.Errorf("CSV counts (-want +got):\n%s", diff)
	}
	want = []crm.ImportProblem{
		{Line: 3, Outcome: "rejected", Reason: "broken line: wrong number of fields"},
		{Line: 4, Outcome: "rejected", Reason: "broken line: misplaced or unterminated quote"},
		{Line: 6, Outcome: "rejected", Field: "phone", Reason: "is not a valid phone number"},
	}
	if diff := cmp.Diff(want, sum.Problems); diff != "" {
		t.Errorf("CSV problems (-want +got):\n%s", diff)
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1 AND name IN ('Good CSV', 'Quoted, fine')`, b.a.ID); n != 2 {
		t.Errorf("%d good CSV customers, want 2", n)
	}

	// A header naming an unknown column refuses the whole file.
	before := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID)
	_, err := b.store.Import(ctxT(t), b.a.ID, strings.NewReader("external_system,external_id,colour\ndms,Z-1,red\n"), crm.ImportOptions{Format: crm.FormatCSV})
	if !errors.Is(err, crm.ErrInvalid) || !strings.Contains(err.Error(), `unknown column "colour"`) {
		t.Errorf("Import(unknown column) = %v, want ErrInvalid naming the column", err)
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.a.ID); n != before {
		t.Errorf("a refused file wrote %d customers", n-before)
	}
	// Another tenant's site is not a site.
	if _, err := b.store.Import(ctxT(t), b.a.ID, strings.NewReader(""), crm.ImportOptions{Format: crm.FormatCSV, SiteID: b.b.SiteID}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("Import(site of tenant b) = %v, want ErrInvalid", err)
	}
}

// TestImportConflictInRecycleBin: an external id of a deleted customer is a
// conflict naming that customer, never a silent restore or a second record.
func TestImportConflictInRecycleBin(t *testing.T) {
	b := setup(t)
	importString(t, b, b.a.ID, crm.FormatCSV, "external_system,external_id,name\ndms,D-1,Deleted Person\ndms,D-2,Kept Person\n")
	var deleted uuid.UUID
	if err := b.pool.QueryRow(ctxT(t), `
		UPDATE customers SET deleted_at = now() WHERE tenant_id = $1 AND name = 'Deleted Person' RETURNING id`, b.a.ID).Scan(&deleted); err != nil {
		t.Fatal(err)
	}
	sum := importString(t, b, b.a.ID, crm.FormatCSV, "external_system,external_id,name\ndms,D-1,Back Again\ndms,D-2,Kept Person\n")
	if diff := cmp.Diff(counts{Lines: 2, Unchanged: 1, Conflicts: 1}, countsOf(sum)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	want := []crm.ImportProblem{{Line: 2, Outcome: "conflict", Field: "external_id", Reason: "belongs to a customer in the recycle bin", CustomerID: &deleted}}
	if diff := cmp.Diff(want, sum.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if n := b.count(t, `SELECT count(*) FROM customers WHERE tenant_id = $1 AND name = 'Back Again'`, b.a.ID); n != 0 {
		t.Errorf("the conflicting record was written")
	}
}

// failingReader breaks after n bytes, as an upload whose connection drops.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestImportFailureWritesNothing: an import that fails while reading, or in
// the database after customers and identities were written, leaves no
// record behind; the job says it failed, without any record's data.
func TestImportFailureWritesNothing(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	var sb strings.Builder
	sb.WriteString("external_system,external_id,name,phone,vin\n")
	for i := range 2000 {
		fmt.Fprintf(&sb, "dms,F-%d,Person %d,1380013%04d,\n", i, i, i)
	}
	data := sb.String()

	_, err := b.store.Import(ctx, b.a.ID, &failingReader{r: strings.NewReader(data), n: len(data) / 2}, crm.ImportOptions{Format: crm.FormatCSV})
	if err == nil {
		t.Fatal("Import with a reader failing half-way succeeded")
	}
	// The database fails after the customers and identities are in: a
	// trigger refuses the vehicle links.
	for _, q := range []string{
		`CREATE FUNCTION refuse_link() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'forced failure'; END $$`,
		`CREATE TRIGGER refuse_link BEFORE INSERT ON customer_vehicles FOR EACH ROW EXECUTE FUNCTION refuse_link()`,
	} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	withCar := strings.Replace(data, "dms,F-1999,Person 1999,13800131999,\n", "dms,F-1999,Person 1999,13800131999,LSVAU2185N2100001\n", 1)
	if _, err := b.store.Import(ctx, b.a.ID, strings.NewReader(withCar), crm.ImportOptions{Format: crm.FormatCSV}); err == nil {
		t.Fatal("Import with a failing trigger succeeded")
	}
	for _, table := range []string{"customers", "customer_identities", "vehicles", "customer_vehicles", "import_rejects", "webhook_outbox"} {
		if n := b.count(t, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, b.a.ID); n != 0 {
			t.Errorf("%d rows in %s after failed imports, want 0", n, table)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM import_jobs WHERE tenant_id = $1 AND status = 'failed' AND finished_at IS NOT NULL
		AND error IN ('read or write failed', 'database error P0001')`, b.a.ID); n != 2 {
		t.Errorf("%d failed jobs recorded with a data-free reason, want 2", n)
	}
}
