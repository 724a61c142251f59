package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
)

// planNode is the part of EXPLAIN (FORMAT JSON) that the checks read.
type planNode struct {
	NodeType       string     `json:"Node Type"`
	Relation       string     `json:"Relation Name"`
	Index          string     `json:"Index Name"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	RemovedRecheck float64    `json:"Rows Removed by Index Recheck"`
	RemovedFilter  float64    `json:"Rows Removed by Filter"`
	Plans          []planNode `json:"Plans"`
}

// planReport is what a plan did to the customers table.
type planReport struct {
	SeqScans []string // relations read by a sequential scan
	Removed  float64  // customers rows fetched and then thrown away (recheck + filter)
	Indexes  []string // indexes used
}

func (r planReport) String() string {
	return fmt.Sprintf("indexes %v, customers rows removed %.0f, seq scans %v", r.Indexes, r.Removed, r.SeqScans)
}

// explain runs sql under EXPLAIN (ANALYZE, BUFFERS) and reports on it.
func explain(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (planReport, error) {
	var raw []byte
	if err := pool.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		return planReport{}, err
	}
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		return planReport{}, fmt.Errorf("explain output: %v", err)
	}
	var rep planReport
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.NodeType == "Seq Scan" {
			rep.SeqScans = append(rep.SeqScans, n.Relation)
		}
		if n.Index != "" {
			rep.Indexes = append(rep.Indexes, n.Index)
		}
		if n.Relation == "customers" {
			rep.Removed += (n.RemovedRecheck + n.RemovedFilter) * max(n.ActualLoops, 1)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(out[0].Plan)
	return rep, nil
}

// checkSearchPlan fails a plan that reads customers sequentially or throws
// away more than 1% of them.
func checkSearchPlan(rep planReport, customers int) error {
	for _, rel := range rep.SeqScans {
		if rel == "customers" {
			return fmt.Errorf("sequential scan on customers (%s)", rep)
		}
	}
	if rep.Removed > float64(customers)/100 {
		return fmt.Errorf("removes %.0f of %d customers by recheck or filter (%s)", rep.Removed, customers, rep)
	}
	return nil
}

// benchQueries are the search benchmark's query classes, also checked by
// TestSearchPlans. Names, numbers and plates follow Seed's patterns.
var benchQueries = []struct{ class, text string }{
	{"han1", "王"},
	{"han2", "王伟"},
	{"han3", "欧阳娜"},
	{"han_inner", "伟"},
	{"pinyin", "wangwei"},
	{"initials", "ww"},
	{"latin", "smith"},
	{"phone", "139-0000-1234"},
	{"plate", "沪a 01234"},
	{"order", "SO-1234-0"},
}

// TestSearchPlans seeds a few thousand customers and checks that every
// query class's statements use their indexes: no sequential scan on
// customers, nothing rechecked or filtered beyond 1% of the rows.
func TestSearchPlans(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	info, err := Seed(ctx, pool, SeedOptions{Customers: 5000}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// A few thousand rows make a sequential scan look cheap to the planner;
	// the point is that an index plan exists and the statements can use it,
	// as they will on a million rows (the benchmark checks those plans
	// without this setting).
	if _, err := pool.Exec(ctx, `ALTER DATABASE `+pgIdent(t, pool)+` SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	for _, q := range benchQueries {
		st := classify(q.text)
		if st.phoneLike {
			st.phones = []string{"+8613900001234"}
		}
		stmts := searchStatements(info.Tenant, st, Scope{AllSites: true}, searchCursor{Tier: -1}, 21)
		if len(stmts) == 0 {
			t.Errorf("%s (%q): no statements", q.class, q.text)
		}
		for _, s := range stmts {
			rep, err := explain(ctx, pool, s.sql, s.args...)
			if err != nil {
				t.Fatalf("%s tier %d: %v", q.class, s.tier, err)
			}
			if err := checkSearchPlan(rep, info.Customers); err != nil {
				t.Errorf("%s (%q) tier %d: %v", q.class, q.text, s.tier, err)
			}
			if s.tier != tierExact && len(rep.Indexes) == 0 {
				t.Errorf("%s (%q) tier %d uses no index: %s", q.class, q.text, s.tier, rep)
			}
		}
	}
}

func pgIdent(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var name string
	if err := pool.QueryRow(context.Background(), `SELECT quote_ident(current_database())`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(name)
}
