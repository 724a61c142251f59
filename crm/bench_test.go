package crm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/migrations"
)

// benchCustomers is the seed size: 20,000 by default so that `make bench`
// stays quick; SWITCHBOARD_BENCH_SEED=1 asks for the million
// (about ten million timeline items), SWITCHBOARD_BENCH_CUSTOMERS=n for n.
func benchCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	if os.Getenv("SWITCHBOARD_BENCH_SEED") == "1" {
		return 1_000_000
	}
	return 20_000
}

// benchDB returns a pool on the benchmark database for the current schema,
// seed version and size, building it when it is missing or incomplete. Its
// name is a hash of all three, so a changed migration or seed never reuses
// stale data; the database is kept between runs (seeding a million takes
// minutes) and is dropped by hand: DROP DATABASE sb_bench_….
func benchDB(b *testing.B) (*pgxpool.Pool, SeedInfo) {
	b.Helper()
	ctx := context.Background()
	n := benchCustomers()
	h := sha256.New()
	var names []string
	fs.WalkDir(migrations.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	sort.Strings(names)
	for _, name := range names {
		data, _ := fs.ReadFile(migrations.FS(), name)
		fmt.Fprintf(h, "%s\x00%s\x00", name, data)
	}
	fmt.Fprintf(h, "seed %d customers %d", SeedVersion, n)
	db := "sb_bench_" + hex.EncodeToString(h.Sum(nil))[:16]

	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		b.Skipf("no PostgreSQL for benchmarks: %v", err)
	}
	defer admin.Close(ctx)
	u, _ := url.Parse(pgtest.AdminURL())
	u.Path = "/" + db
	var exists bool
	admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists)
	if exists {
		pool, err := pgxpool.New(ctx, u.String())
		if err != nil {
			b.Fatal(err)
		}
		var info SeedInfo
		err = pool.QueryRow(ctx, `SELECT tenant, customers, items FROM bench_seed`).Scan(&info.Tenant, &info.Customers, &info.Items)
		if err == nil {
			return pool, info
		}
		pool.Close()
		b.Logf("benchmark database %s is incomplete; rebuilding", db)
	}
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`); err != nil {
		b.Fatal(err)
	}
	// Explicit locale, as everywhere: C.UTF-8 (see migration 00008).
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+db+` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`); err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	if err := migrations.Apply(ctx, pool); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeding %s with %d customers (progress on stderr)", db, n)
	info, err := Seed(ctx, pool, SeedOptions{Customers: n}, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_seed AS SELECT $1::uuid AS tenant, $2::int AS customers, $3::int AS items`,
		info.Tenant, info.Customers, info.Items); err != nil {
		b.Fatal(err)
	}
	return pool, info
}

// latencies collects one duration per iteration and reports p50 and p99.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	p := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// sampleContacts picks contacts that have a customer, spread over the
// table.
func sampleContacts(b *testing.B, pool *pgxpool.Pool, tenant uuid.UUID) []uuid.UUID {
	rows, err := pool.Query(context.Background(), `
		SELECT id FROM contacts TABLESAMPLE SYSTEM (1) WHERE tenant_id = $1 AND customer_id IS NOT NULL LIMIT 2000`, tenant)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) == 0 {
		b.Fatalf("sample contacts: %d, %v", len(ids), err)
	}
	return ids
}

// BenchmarkScreenPop: the whole screen-pop (one statement, one round trip)
// and, in the same run, the floor it is held against: one batch of bare
// primary-key reads (contact, customer) in one round trip. Before timing,
// the screen-pop's plan must have no sequential scan.
func BenchmarkScreenPop(b *testing.B) {
	pool, info := benchDB(b)
	defer pool.Close()
	ctx := context.Background()
	s := NewStore(pool)
	ids := sampleContacts(b, pool, info.Tenant)
	rep, err := explain(ctx, pool, screenPopQuery, screenPopArgs(info.Tenant, ids[0])...)
	if err != nil {
		b.Fatal(err)
	}
	// Tables of a few rows (users, follow_ups in this seed) are rightly
	// read whole; a sequential scan on any table that grows with the
	// customers fails.
	for _, rel := range rep.SeqScans {
		var n float64
		pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE relname = $1`, rel).Scan(&n)
		if n > 1000 {
			b.Fatalf("screen-pop plan reads %s (%.0f rows) sequentially: %s", rel, n, rep)
		}
	}
	b.Logf("screen-pop plan on %d customers: %s", info.Customers, rep)
	b.Run("full", func(b *testing.B) {
		var l latencies
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			if _, err := s.ScreenPop(ctx, info.Tenant, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			l = append(l, time.Since(t0))
		}
		b.ReportMetric(1, "round-trips")
		l.report(b)
	})
	b.Run("pk-batch", func(b *testing.B) {
		var l latencies
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			batch := &pgx.Batch{}
			var cust uuid.UUID
			batch.Queue(`SELECT customer_id FROM contacts WHERE tenant_id = $1 AND id = $2`, info.Tenant, ids[i%len(ids)]).
				QueryRow(func(r pgx.Row) error { return r.Scan(&cust) })
			batch.Queue(`SELECT name FROM customers WHERE tenant_id = $1 AND id = (SELECT customer_id FROM contacts WHERE tenant_id = $1 AND id = $2)`,
				info.Tenant, ids[i%len(ids)]).QueryRow(func(r pgx.Row) error { var n string; return r.Scan(&n) })
			if err := pool.SendBatch(ctx, batch).Close(); err != nil {
				b.Fatal(err)
			}
			l = append(l, time.Since(t0))
		}
		b.ReportMetric(1, "round-trips")
		l.report(b)
	})
}

// BenchmarkResolvePhone: resolving an inbound caller's number to customers
// (the identity lookup of intake), on random seeded numbers.
func BenchmarkResolvePhone(b *testing.B) {
	pool, info := benchDB(b)
	defer pool.Close()
	ctx := context.Background()
	s := NewStore(pool)
	var l latencies
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		phone := fmt.Sprintf("+86139%08d", (i*7919)%info.Customers)
		t0 := time.Now()
		res, err := s.Resolve(ctx, info.Tenant, []Identity{{Kind: KindPhone, Value: phone}}, "")
		if err != nil {
			b.Fatal(err)
		}
		l = append(l, time.Since(t0))
		_ = res
	}
	l.report(b)
}

// BenchmarkSearch: one sub-benchmark per query class. Before timing, every
// statement the class runs is EXPLAINed (ANALYZE, BUFFERS) and the
// benchmark fails on a sequential scan on customers or on a plan that
// throws away more than 1% of the customers by recheck or filter.
func BenchmarkSearch(b *testing.B) {
	pool, info := benchDB(b)
	defer pool.Close()
	ctx := context.Background()
	s := NewStore(pool)
	all := Scope{AllSites: true}
	for _, q := range benchQueries {
		b.Run(q.class, func(b *testing.B) {
			st := classify(q.text)
			if st.phoneLike {
				st.phones, _ = s.phoneReadings(ctx, info.Tenant, st.exact)
			}
			for _, stmt := range searchStatements(info.Tenant, st, all, searchCursor{Tier: -1}, defaultSearchLimit+1) {
				rep, err := explain(ctx, pool, stmt.sql, stmt.args...)
				if err != nil {
					b.Fatal(err)
				}
				if err := checkSearchPlan(rep, info.Customers); err != nil {
					b.Fatalf("%q tier %d: %v", q.text, stmt.tier, err)
				}
				b.Logf("%q tier %d: %s", q.text, stmt.tier, rep)
			}
			var l latencies
			hits := 0
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				page, err := s.Search(ctx, info.Tenant, SearchQuery{Text: q.text, Scope: all})
				if err != nil {
					b.Fatal(err)
				}
				l = append(l, time.Since(t0))
				hits = len(page.Hits)
			}
			b.ReportMetric(float64(hits), "hits")
			l.report(b)
		})
	}
}
