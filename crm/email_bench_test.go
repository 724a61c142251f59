package crm_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
)

// statTracer counts the statements a pool runs and the time each kind
// takes, to see where RecordEmail's time goes.
type statTracer struct {
	mu    sync.Mutex
	n     int
	kinds map[string]time.Duration
	count map[string]int
}

type traceKey struct{}

type traceStart struct {
	sql string
	at  time.Time
}

func (s *statTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{d.SQL, time.Now()})
}

func (s *statTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	st, _ := ctx.Value(traceKey{}).(traceStart)
	k := strings.Join(strings.Fields(st.sql), " ")
	if len(k) > 70 {
		k = k[:70]
	}
	s.mu.Lock()
	s.n++
	s.kinds[k] += time.Since(st.at)
	s.count[k]++
	s.mu.Unlock()
}

func (s *statTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{fmt.Sprintf("batch of %d", d.Batch.Len()), time.Now()})
}
func (s *statTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *statTracer) TraceBatchEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchEndData) {
	s.TraceQueryEnd(ctx, c, pgx.TraceQueryEndData{})
}

// TestRecordEmailProbe records the ingest benchmark's corpus shape (a new
// thread and four replies by reference per customer) straight through
// RecordEmails and prints the statements (round trips) per message and
// where the time goes. Run with PROBE=1, PROBE_BATCH=n for n per
// transaction.
func TestRecordEmailProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	b := setup(t)
	o := b.a
	mb := b.mailbox(t, o, "service@dealer.example")
	cfg := b.pool.Config().Copy()
	tr := &statTracer{kinds: map[string]time.Duration{}, count: map[string]int{}}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := crm.NewStore(pool)
	const n = 500
	batch := 1
	if v, err := strconv.Atoi(os.Getenv("PROBE_BATCH")); err == nil && v > 0 {
		batch = v
	}
	rounds := 1
	if os.Getenv("PROBE_DUP") != "" {
		rounds = 2 // the second round is all resends: the duplicate path
	}
	var start time.Time
	for round := 0; round < rounds; round++ {
		tr.mu.Lock()
		tr.n, tr.kinds, tr.count = 0, map[string]time.Duration{}, map[string]int{}
		tr.mu.Unlock()
		start = time.Now()
		var ins []crm.EmailIn
		for i := 0; i < n; i++ {
			cust, k := i/5, i%5
			in := mail(o, mb, uint32(i+1), fmt.Sprintf("bench-%d-%d@example.net", cust, k), fmt.Sprintf("Service booking %d", cust), strings.Repeat("x", 4800))
			in.Email.FromAddr = fmt.Sprintf("bench.customer%d@example.net", cust)
			if k > 0 {
				in.Email.Subject = "Re: " + in.Email.Subject
				in.Email.InReplyTo = fmt.Sprintf("bench-%d-0@example.net", cust)
				in.Email.References = []string{in.Email.InReplyTo}
			}
			ins = append(ins, in)
			if len(ins) == batch || i == n-1 {
				if _, err := st.RecordEmails(context.Background(), ins); err != nil {
					t.Fatal(err)
				}
				ins = ins[:0]
			}
		}
	}
	el := time.Since(start)
	t.Logf("%d messages in %v (%.0f/s), %d statements (%.1f per message)", n, el, n/el.Seconds(), tr.n, float64(tr.n)/n)
	if os.Getenv("PROBE_ANALYZE") != "" {
		pool.Exec(context.Background(), `ANALYZE`)
	}
	for _, q := range []string{
		`EXPLAIN (ANALYZE, COSTS OFF) WITH found AS (
		    SELECT e.id, e.contact_id, e.noise, e.mailbox_ids,
		           ARRAY(SELECT id FROM mailboxes WHERE tenant_id = $1 AND (id = $3 OR address = ANY($4))) AS delivered
		    FROM email_messages e WHERE e.tenant_id = $1 AND e.message_id = $2),
		added AS (
		    UPDATE email_messages e SET mailbox_ids = ARRAY(SELECT DISTINCT unnest(f.mailbox_ids || f.delivered) ORDER BY 1)
		    FROM found f WHERE e.tenant_id = $1 AND e.id = f.id AND NOT f.mailbox_ids @> f.delivered)
		SELECT id, contact_id, noise FROM found`,
		`EXPLAIN (ANALYZE, COSTS OFF) SELECT c.id, c.state, c.closed_at, c.queue_id FROM contacts c
		 WHERE c.tenant_id = $1 AND c.id = (SELECT contact_id FROM email_messages
		   WHERE tenant_id = $1 AND message_id = ANY($2) AND contact_id IS NOT NULL ORDER BY created_at DESC LIMIT 1) FOR UPDATE`,
		`EXPLAIN (ANALYZE, COSTS OFF) SELECT cu.id, (SELECT contact_id FROM email_messages
		   WHERE tenant_id = $1 AND customer_id = cu.id AND $3 <> '' AND subject_key = $3 AND contact_id IS NOT NULL
		     AND created_at > now() - make_interval(secs => 1209600) ORDER BY created_at DESC LIMIT 1)
		 FROM (SELECT DISTINCT ci.customer_id AS id FROM customer_identities ci
		   WHERE ci.tenant_id = $1 AND ci.kind = 'email' AND ci.value = $2::text
		     AND (SELECT c.deleted_at IS NULL FROM customers c WHERE c.tenant_id = $1 AND c.id = ci.customer_id)
		   LIMIT 2) AS cu`,
	} {
		args := []any{o.ID, []string{"bench-7-0@example.net", "bench-7-1@example.net"}}
		if strings.Contains(q, "found") {
			args = []any{o.ID, "bench-7-1@example.net", mb, []string{"service@dealer.example"}}
		} else if strings.Contains(q, "cu.id") {
			args = []any{o.ID, "bench.customer7@example.net", "service booking 7"}
		}
		rows, err := pool.Query(context.Background(), q, args...)
		if err != nil {
			t.Fatal(err)
		}
		plan, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		t.Logf("plan:\n%s", strings.Join(plan, "\n"))
	}
	type kv struct {
		k string
		d time.Duration
	}
	var all []kv
	for k, d := range tr.kinds {
		all = append(all, kv{k, d})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].d > all[j].d })
	for _, e := range all {
		t.Logf("%8.2f ms  %5d  %s", float64(e.d.Microseconds())/1000, tr.count[e.k], e.k)
	}
}
