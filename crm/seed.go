package crm

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SeedVersion changes whenever Seed writes different data, so that a
// benchmark database built by an older seed is rebuilt, never reused.
const SeedVersion = 2

// SeedOptions size a synthetic dealer group for benchmarks.
type SeedOptions struct {
	Customers int // default 20,000
	Sites     int // default 10
}

// SeedInfo is what a benchmark needs to find its way in seeded data.
type SeedInfo struct {
	Tenant    uuid.UUID
	Customers int
	Items     int // messages and contact events: the timeline items
}

// seed name pools: common Chinese surnames, weighted roughly as in
// China's 2020 census (王 and 李 about 7% each), given-name characters,
// compound surnames, and a few Latin names. Synthetic, invented here.
var (
	seedSurnames = []struct {
		s string
		w int
	}{{"王", 70}, {"李", 70}, {"张", 65}, {"刘", 53}, {"陈", 45}, {"杨", 31}, {"黄", 23}, {"赵", 20}, {"吴", 20},
		{"周", 19}, {"徐", 14}, {"孙", 13}, {"马", 12}, {"朱", 12}, {"胡", 11}, {"郭", 11}, {"何", 10}, {"林", 9},
		{"高", 9}, {"罗", 9}, {"郑", 8}, {"梁", 8}, {"谢", 7}, {"宋", 7}, {"唐", 7}, {"许", 6}, {"韩", 6}, {"冯", 6},
		{"曾", 5}, {"单", 2}, {"解", 1}, {"欧阳", 2}, {"司马", 1}, {"诸葛", 1}}
	seedGiven = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉玲鹏飞宇浩然子轩梓涵欣怡嘉雨晨博俊思佳雪梅红波斌宁琳丹")
	seedFirst = []string{"John", "Mary", "David", "Anna", "Peter", "Linda", "Michael", "Sarah", "Tony", "Grace"}
	seedLast  = []string{"Smith", "Brown", "Taylor", "Wilson", "Lee", "Martin", "Walker", "Young", "King", "Wright"}
)

// seedName returns the i-th synthetic name: nine in ten Chinese.
func seedName(r *rand.Rand, total int) string {
	if r.IntN(10) == 0 {
		return seedFirst[r.IntN(len(seedFirst))] + " " + seedLast[r.IntN(len(seedLast))]
	}
	n := r.IntN(total)
	var s string
	for _, x := range seedSurnames {
		if n < x.w {
			s = x.s
			break
		}
		n -= x.w
	}
	g := 1 + r.IntN(2) // one or two given characters
	for range g {
		s += string(seedGiven[r.IntN(len(seedGiven))])
	}
	return s
}

// Seed fills an empty, migrated database with one tenant of opt.Customers
// synthetic customers, each with a phone, most with an e-mail, a vehicle,
// service orders, some deals, and about ten timeline items (messages and
// contact events over a few contacts), written by COPY. Foreign keys are
// consistent by construction; when the role may, their per-row checks are
// skipped (session_replication_role = replica) because they dominate the
// time. Progress goes to progress. Data is deterministic for a given size.
func Seed(ctx context.Context, pool *pgxpool.Pool, opt SeedOptions, progress io.Writer) (SeedInfo, error) {
	if opt.Customers <= 0 {
		opt.Customers = 20000
	}
	if opt.Sites <= 0 {
		opt.Sites = 10
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return SeedInfo{}, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		fmt.Fprintln(progress, "seed: foreign key checks stay on (not a superuser)")
	}
	defer conn.Exec(context.Background(), `RESET session_replication_role`)

	r := rand.New(rand.NewPCG(1, uint64(opt.Customers)))
	tenant := uuid.New()
	info := SeedInfo{Tenant: tenant, Customers: opt.Customers}
	sites := make([]uuid.UUID, opt.Sites)
	queue := uuid.New()
	agents := make([]uuid.UUID, 20)
	if _, err := conn.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ($1, 'Benchmark Motor Group')`, tenant); err != nil {
		return info, fmt.Errorf("seed tenant: %w", err)
	}
	for i := range sites {
		sites[i] = uuid.New()
		if _, err := conn.Exec(ctx, `INSERT INTO sites (id, tenant_id, name, chat_key) VALUES ($1, $2, $3, $4)`,
			sites[i], tenant, fmt.Sprintf("Site %d", i+1), "bench-"+sites[i].String()); err != nil {
			return info, fmt.Errorf("seed site: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO queues (id, tenant_id, name) VALUES ($1, $2, 'Enquiries')`, queue, tenant); err != nil {
		return info, fmt.Errorf("seed queue: %w", err)
	}
	for i := range agents {
		agents[i] = uuid.New()
		if _, err := conn.Exec(ctx, `INSERT INTO users (id, tenant_id, site_id, email, display_name, password_hash, role)
			VALUES ($1, $2, $3, $4, $5, 'x', 'agent')`, agents[i], tenant, sites[i%len(sites)],
			fmt.Sprintf("agent%d-%s@bench.invalid", i, tenant), fmt.Sprintf("Agent %d", i)); err != nil {
			return info, fmt.Errorf("seed agent: %w", err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO agents (id, tenant_id) VALUES ($1, $2)`, agents[i], tenant); err != nil {
			return info, fmt.Errorf("seed agent: %w", err)
		}
	}

	total := 0
	for _, x := range seedSurnames {
		total += x.w
	}
	start := time.Now()
	base := time.Now().Add(-3 * 365 * 24 * time.Hour)
	keys := map[string][2]string{}
	const batch = 10000
	tiers := []string{"standard", "standard", "standard", "growth", "gold"}
	for lo := 0; lo < opt.Customers; lo += batch {
		hi := min(lo+batch, opt.Customers)
		var cust, idents, vehicles, links, orders, deals, contacts, messages, events [][]any
		for i := lo; i < hi; i++ {
			id := uuid.New()
			name := seedName(r, total)
			k, ok := keys[name]
			if !ok {
				py, in := nameKeys(name)
				k = [2]string{py, in}
				keys[name] = k
			}
			site := sites[r.IntN(len(sites))]
			created := base.Add(time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour))))
			var owner any
			if r.IntN(4) == 0 {
				owner = agents[r.IntN(len(agents))]
			}
			cust = append(cust, []any{id, tenant, name, tiers[r.IntN(len(tiers))], site, owner, k[0], k[1], created})
			idents = append(idents, []any{uuid.New(), tenant, id, KindPhone, fmt.Sprintf("+86139%08d", i)})
			if r.IntN(2) == 0 {
				idents = append(idents, []any{uuid.New(), tenant, id, KindEmail, fmt.Sprintf("c%d@bench.invalid", i)})
			}
			vid := uuid.New()
			vehicles = append(vehicles, []any{vid, tenant, fmt.Sprintf("LBENCH%011d", i), fmt.Sprintf("沪%c%05d", 'A'+rune(i/100000%26), i%100000)})
			links = append(links, []any{tenant, id, vid, "owner"})
			for j := range r.IntN(3) {
				status := "collected"
				if r.IntN(5) == 0 {
					status = "in_progress"
				}
				orders = append(orders, []any{uuid.New(), tenant, site, fmt.Sprintf("SO-%d-%d", i, j), id, vid, status})
			}
			if r.IntN(5) == 0 {
				stage := []string{"lead", "qualified", "test_drive", "offer", "won", "lost"}[r.IntN(6)]
				deals = append(deals, []any{uuid.New(), tenant, id, stage, agents[r.IntN(len(agents))]})
			}
			// About ten items: two contacts on average, each with
			// messages and a created and closed event.
			for range 1 + r.IntN(2) {
				cid := uuid.New()
				at := created.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
				nmsg := 2 + r.IntN(6)
				contacts = append(contacts, []any{cid, tenant, site, []string{"voice", "chat", "email"}[r.IntN(3)], queue, id, "closed", at, nmsg, at})
				for s := 1; s <= nmsg; s++ {
					kind := "customer"
					if s%2 == 0 {
						kind = "agent"
					}
					messages = append(messages, []any{uuid.New(), tenant, cid, s, kind, "Synthetic benchmark message, no personal data.", at.Add(time.Duration(s) * time.Minute)})
				}
				events = append(events, []any{tenant, cid, "created", at}, []any{tenant, cid, "closed", at.Add(time.Hour)})
				info.Items += nmsg + 2
			}
		}
		copies := []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"customers", []string{"id", "tenant_id", "name", "tier", "site_id", "owner_id", "name_pinyin", "name_initials", "created_at"}, cust},
			{"customer_identities", []string{"id", "tenant_id", "customer_id", "kind", "value"}, idents},
			{"vehicles", []string{"id", "tenant_id", "vin", "plate"}, vehicles},
			{"customer_vehicles", []string{"tenant_id", "customer_id", "vehicle_id", "role"}, links},
			{"service_orders", []string{"id", "tenant_id", "site_id", "number", "customer_id", "vehicle_id", "status"}, orders},
			{"deals", []string{"id", "tenant_id", "customer_id", "stage", "salesperson_id"}, deals},
			{"contacts", []string{"id", "tenant_id", "site_id", "channel", "queue_id", "customer_id", "state", "arrived_at", "last_seq", "created_at"}, contacts},
			{"messages", []string{"id", "tenant_id", "contact_id", "seq", "author_kind", "body", "created_at"}, messages},
			{"contact_events", []string{"tenant_id", "contact_id", "kind", "at"}, events},
		}
		for _, c := range copies {
			if _, err := conn.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return info, fmt.Errorf("seed %s: %w", c.table, err)
			}
		}
		el := time.Since(start)
		fmt.Fprintf(progress, "seed: %d/%d customers, %d timeline items, %s elapsed\n", hi, opt.Customers, info.Items, el.Round(time.Second))
	}
	// VACUUM, not only ANALYZE: rows COPYed after the GIN indexes were
	// built wait in their pending lists, which every search would scan and
	// which make the planner shun those indexes until autovacuum runs.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return info, fmt.Errorf("seed analyze: %w", err)
	}
	fmt.Fprintf(progress, "seed: done in %s\n", time.Since(start).Round(time.Second))
	return info, nil
}
