package crm_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
)

// importRows is a synthetic CSV of n new customers, each with a name, a
// mobile number and an e-mail address: national numbers ("13800000001")
// when parse, else E.164 ("+8613800000001").
func importRows(n int, parse bool) []byte {
	var b bytes.Buffer
	b.WriteString("external_system,external_id,name,phone,email\n")
	for i := range n {
		phone := fmt.Sprintf("+86138%08d", i)
		if parse {
			phone = phone[3:]
		}
		fmt.Fprintf(&b, "dms,B-%d,Customer %d,%s,customer%d@example.com\n", i, i, phone, i)
	}
	return b.Bytes()
}

// BenchmarkImport100k imports 100,000 new customers (300,000 identities)
// into a fresh tenant per iteration and reports rows/s, with phones
// already in E.164 (--trust-e164: checked by pattern) and with every phone
// parsed by NormalizePhone.
func BenchmarkImport100k(b *testing.B) {
	const n = 100_000
	pool, _ := pgtest.New(b)
	store := crm.NewStore(pool)
	for _, c := range []struct {
		name  string
		parse bool
	}{{"e164", false}, {"parse_phones", true}} {
		data := importRows(n, c.parse)
		b.Run(c.name, func(b *testing.B) {
			total := 0.0
			for range b.N {
				b.StopTimer()
				tenant := uuid.New()
				if _, err := pool.Exec(context.Background(), `INSERT INTO tenants (id, name) VALUES ($1, $2)`, tenant, tenant.String()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sum, err := store.Import(context.Background(), tenant, bytes.NewReader(data), crm.ImportOptions{Format: crm.FormatCSV, TrustE164: !c.parse})
				if err != nil {
					b.Fatal(err)
				}
				if sum.Created != n {
					b.Fatalf("created %d, want %d (problems %v)", sum.Created, n, sum.Problems[:min(3, len(sum.Problems))])
				}
				total += sum.Seconds
			}
			b.ReportMetric(float64(n*b.N)/total, "rows/s")
		})
	}
}
