package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/internal/redistest"
)

// recoveryNodeEnv marks the test binary re-run as a Switchboard node in a
// process of its own, so that the test can kill it like a crashed machine.
const recoveryNodeEnv = "SWITCHBOARD_TEST_RECOVERY_NODE"

// TestRecoveryNodeProcess is not a test: it is the body of the child process
// that TestRoutingRecoversWhenTheLeaseHolderStops starts. SIGTERM stops it
// gracefully; SIGKILL is a crash.
func TestRecoveryNodeProcess(t *testing.T) {
	if os.Getenv(recoveryNodeEnv) == "" {
		t.Skip("runs only as the child process of TestRoutingRecoversWhenTheLeaseHolderStops")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, []string{"switchboard", "serve", "--demo"}, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
	os.Exit(0) // never report as a test: the parent reads only the exit
}

// TestRoutingRecoversWhenTheLeaseHolderStops runs two nodes on one database
// and one Redis prefix: node A, in a process of its own, holds the routing
// lease; node B serves every socket. Forty visitors chat over a few seconds
// while four agents' consoles accept every offer and close each chat soon
// after. Mid-traffic node A stops, once gracefully (it releases its lease,
// so B takes over at once) and once by SIGKILL (its lease stays until it
// expires, and only then does B take over). Afterwards every chat has been
// assigned exactly once in the database and none is left queued, no console
// was told of one contact twice, every console was told its offers were
// reset, and B holds the lease at a higher epoch.
func TestRoutingRecoversWhenTheLeaseHolderStops(t *testing.T) {
	if testing.Short() {
		t.Skip("two nodes and a child process")
	}
	for _, tc := range []struct {
		name string
		sig  os.Signal
	}{
		{"graceful", syscall.SIGTERM},
		{"crash", syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) { testRecovery(t, tc.sig) })
	}
}

const recoveryLeaseTTL = 2 * time.Second

func testRecovery(t *testing.T, sig os.Signal) {
	pool, dsn := pgtest.New(t)
	_, prefix := redistest.New(t)
	ctx := context.Background()
	env := map[string]string{
		"DATABASE_URL":                         dsn,
		"SWITCHBOARD_REDIS_PREFIX":             prefix,
		"SWITCHBOARD_LEASE_TTL":                recoveryLeaseTTL.String(),
		"SWITCHBOARD_SWEEP_INTERVAL":           "300ms",
		"SWITCHBOARD_CHAT_CONNECTS_PER_MINUTE": "1000",
	}
	a := startNodeProcess(t, "node-a", env)
	waitForLease(t, pool, "node-a", 10*time.Second)

	env["SWITCHBOARD_NODE_ID"] = "node-b"
	b := startApp(t, env)
	var epochBefore int64
	if err := pool.QueryRow(ctx, `SELECT epoch FROM routing_lease`).Scan(&epochBefore); err != nil {
		t.Fatal(err)
	}

	var agents []*autoAgent
	for _, email := range []string{"lina@huadong.example", "wanglei@huadong.example", "emma@huadong.example", "chenjing@huadong.example"} {
		agents = append(agents, startAutoAgent(b.availableAgent(t, email)))
	}

	const chats, stopAt = 40, 15
	var contacts []string
	var stopped time.Time
	var leaseEnd time.Time // node A's lease expiry when it stopped
	took := make(chan time.Time, 1)
	for i := range chats {
		if i == stopAt {
			if err := pool.QueryRow(ctx, `SELECT expires_at FROM routing_lease WHERE holder = 'node-a'`).Scan(&leaseEnd); err != nil {
				t.Fatalf("node A no longer holds the lease before it stops: %v", err)
			}
			stopped = time.Now()
			go watchLease(pool, "node-b", took)
			a.stop(sig)
		}
		v := b.visitor(t, fmt.Sprint("Visitor ", i), fmt.Sprintf("recovery-%d@example.com", i))
		v.send(map[string]any{"type": "message", "client_id": "m1", "body": "hello"})
		w := v.expect("welcome", func(f map[string]any) bool { return f["contact_id"] != "" })
		contacts = append(contacts, w["contact_id"].(string))
		v.expect("ack", nil)
		time.Sleep(80 * time.Millisecond)
	}

	// The lease: B took over, with a higher epoch; after a crash only once
	// A's lease had run out, after a graceful stop well before.
	var at time.Time
	select {
	case at = <-took:
	case <-time.After(3 * recoveryLeaseTTL):
		t.Fatalf("node B did not take the lease over within %v of node A stopping", 3*recoveryLeaseTTL)
	}
	var holder string
	var epoch int64
	if err := pool.QueryRow(ctx, `SELECT holder, epoch FROM routing_lease`).Scan(&holder, &epoch); err != nil {
		t.Fatal(err)
	}
	if holder != "node-b" || epoch <= epochBefore {
		t.Errorf("after the takeover %q holds the lease at epoch %d, want node-b above node A's %d", holder, epoch, epochBefore)
	}
	if sig == syscall.SIGKILL {
		// The lease row's clock is the database's; both run on this machine.
		if at.Before(leaseEnd.Add(-100 * time.Millisecond)) {
			t.Errorf("node B took over at %v, before the crashed node's lease ran out at %v", at.Format(time.StampMilli), leaseEnd.Format(time.StampMilli))
		}
	} else if d := at.Sub(stopped); d >= recoveryLeaseTTL {
		t.Errorf("node B took over %v after a graceful stop, want well within the %v TTL: the lease was not released", d, recoveryLeaseTTL)
	}

	// Every chat is assigned once and none waits.
	deadline := time.Now().Add(15 * time.Second)
	var queued, unassigned int
	for {
		if err := pool.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE c.state = 'queued'),
			       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.contact_id = c.id))
			FROM contacts c WHERE c.id::text = ANY($1)`, contacts).Scan(&queued, &unassigned); err != nil {
			t.Fatal(err)
		}
		if queued == 0 && unassigned == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if queued != 0 || unassigned != 0 {
		t.Errorf("%d of %d chats still queued and %d never assigned, 15 s after the last arrived", queued, chats, unassigned)
	}
	rows, err := pool.Query(ctx, `
		SELECT c.id::text, count(a.id), count(a.id) FILTER (WHERE a.end_reason IS DISTINCT FROM 'transferred')
		FROM contacts c LEFT JOIN assignments a ON a.contact_id = c.id
		WHERE c.id::text = ANY($1) GROUP BY c.id`, contacts)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var id string
		var all, kept int
		if err := rows.Scan(&id, &all, &kept); err != nil {
			t.Fatal(err)
		}
		seen++
		if kept != 1 {
			t.Errorf("contact %s has %d assignments (%d not ended by a transfer), want exactly 1", id, all, kept)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != chats {
		t.Errorf("found %d of the %d chats in the database", seen, chats)
	}

	// The consoles: every offer they were shown ended (assigned, rescinded,
	// refused as gone, or voided by offers_reset); none was told of one
	// contact twice; all were told their offers were reset by the rebuild.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		open := 0
		for _, ag := range agents {
			ag.mu.Lock()
			open += len(ag.pending)
			ag.mu.Unlock()
		}
		if open == 0 {
			break
		}
		if time.Now().After(end) {
			t.Errorf("%d offers shown on consoles never ended: neither assigned, rescinded, refused nor reset", open)
			break
		}
	}
	assignedFrames := map[string]int{}
	for i, ag := range agents {
		ag.mu.Lock()
		for c, n := range ag.assigned {
			assignedFrames[c] += n
		}
		reset := false
		for _, at := range ag.resets {
			reset = reset || at.After(stopped)
		}
		if !reset {
			t.Errorf("console %d got no offers_reset after node A stopped (rescinded: %v)", i, ag.rescinded)
		}
		t.Logf("console %d: %d offers, %d assigned, rescinded %v, %d resets", i, ag.offers, len(ag.assigned), ag.rescinded, len(ag.resets))
		ag.mu.Unlock()
	}
	for c, n := range assignedFrames {
		if n > 1 {
			t.Errorf("contact %s was assigned %d times on the consoles, want once", c, n)
		}
	}
	if sig == syscall.SIGTERM && !a.rescindedOnShutdown(agents) {
		t.Logf("no console held an offer when node A shut down, so none was rescinded for the shutdown")
	}
}

// nodeProcess is a Switchboard node running in a child process.
type nodeProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	once sync.Once
}

// startNodeProcess starts the test binary as a node (TestRecoveryNodeProcess)
// with env on top of the test defaults and waits until it is ready.
func startNodeProcess(t *testing.T, id string, extra map[string]string) *nodeProcess {
	t.Helper()
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoveryNodeProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), recoveryNodeEnv+"=1",
		"REDIS_URL="+redistest.URL(),
		"SWITCHBOARD_SECRET=test-secret-0123456789",
		"SWITCHBOARD_ADDR="+fmt.Sprintf("127.0.0.1:%d", port),
		"SWITCHBOARD_PUBLIC_URL="+url,
		"SWITCHBOARD_NODE_ID="+id,
		"SWITCHBOARD_LOG_LEVEL=debug")
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &nodeProcess{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	// Runs before the database and Redis cleanups, which were registered first.
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("node %s logs (tail):\n%s", id, tail(p.logs.String(), 3000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("node %s exited before it was ready:\n%s", id, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready after 60s:\n%s", id, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the node and waits for it to exit (a graceful stop may
// take its shutdown timeout; a kill is immediate).
func (p *nodeProcess) stop(sig os.Signal) {
	p.once.Do(func() {
		p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(25 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// rescindedOnShutdown reports whether any console was told of an offer
// rescinded because its node shut down.
func (p *nodeProcess) rescindedOnShutdown(agents []*autoAgent) bool {
	for _, ag := range agents {
		ag.mu.Lock()
		n := ag.rescinded["shutdown"]
		ag.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// watchLease sends on took when it first sees holder hold the lease, for
// at most 20 s.
func watchLease(pool *pgxpool.Pool, holder string, took chan<- time.Time) {
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var h string
		if pool.QueryRow(context.Background(), `SELECT holder FROM routing_lease WHERE expires_at > now()`).Scan(&h) == nil && h == holder {
			took <- time.Now()
			return
		}
	}
}

// waitForLease waits until holder holds the routing lease and returns when
// it first saw that.
func waitForLease(t *testing.T, pool *pgxpool.Pool, holder string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var h string
		err := pool.QueryRow(context.Background(), `SELECT holder FROM routing_lease WHERE expires_at > now()`).Scan(&h)
		if err == nil && h == holder {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("routing lease not held by %s within %v (holder %q, %v)", holder, within, h, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// autoAgent is a console that accepts every offer after 200 ms (so that
// offers are open, and accepts in flight, when a node stops) and closes each
// chat 300 ms after it is assigned, recording what it was told.
type autoAgent struct {
	ws *wsClient
	wm sync.Mutex // one writer at a time on the socket

	mu        sync.Mutex
	offers    int
	pending   map[string]bool // offers shown and not yet ended by assigned, rescinded, offer_gone or offers_reset
	assigned  map[string]int  // contact → assigned frames
	rescinded map[string]int  // reason → offer_rescinded frames
	resets    []time.Time     // offers_reset frames
}

func startAutoAgent(ws *wsClient) *autoAgent {
	ag := &autoAgent{ws: ws, assigned: map[string]int{}, rescinded: map[string]int{}, pending: map[string]bool{}}
	go ag.loop()
	return ag
}

func (ag *autoAgent) write(f map[string]any) {
	ag.wm.Lock()
	defer ag.wm.Unlock()
	ag.ws.conn.WriteJSON(f) // a closed socket at the end of the test is fine
}

func (ag *autoAgent) loop() {
	for f := range ag.ws.in {
		switch f["type"] {
		case "offer":
			offer, _ := f["offer_id"].(string)
			ag.mu.Lock()
			ag.offers++
			ag.pending[offer] = true
			ag.mu.Unlock()
			time.AfterFunc(200*time.Millisecond, func() {
				ag.write(map[string]any{"type": "accept", "id": "a-" + offer, "offer_id": offer})
			})
		case "assigned":
			contact, _ := path(f, "contact", "id").(string)
			offer, _ := f["offer_id"].(string)
			ag.mu.Lock()
			ag.assigned[contact]++
			delete(ag.pending, offer)
			ag.mu.Unlock()
			time.AfterFunc(300*time.Millisecond, func() {
				ag.write(map[string]any{"type": "close", "id": "c-" + contact, "contact_id": contact})
				ag.write(map[string]any{"type": "done", "id": "d-" + contact, "contact_id": contact})
			})
		case "offer_rescinded":
			reason, _ := f["reason"].(string)
			offer, _ := f["offer_id"].(string)
			ag.mu.Lock()
			ag.rescinded[reason]++
			delete(ag.pending, offer)
			ag.mu.Unlock()
		case "error":
			if offer, ok := f["offer_id"].(string); ok && f["code"] == "offer_gone" {
				ag.mu.Lock()
				delete(ag.pending, offer)
				ag.mu.Unlock()
			}
		case "offers_reset":
			ag.mu.Lock()
			ag.resets = append(ag.resets, time.Now())
			clear(ag.pending)
			ag.mu.Unlock()
		}
	}
}
