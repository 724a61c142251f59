package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The agent-socket benchmarks of issue 8, against the in-process server
// with real PostgreSQL and Redis:
//
//   - BenchmarkAgentMemory: the server's heap and stacks per idle agent
//     console (connected, snapshot received), the clients in a child
//     process as in BenchmarkChatVisitorMemory.
//   - BenchmarkAgentsReconnect: 2,000 available agents drop their consoles
//     and reconnect within 2 s; the time until a supervisor's wallboard
//     shows them all available again, and how many gauges frames the
//     wallboard received meanwhile (coalesced: about one a second).
//
// The demo has 12 agents, so both create theirs directly in the test
// database, with sessions whose tokens the benchmark knows: logging 2,000
// users in through argon2id would measure the password hash, not sockets.
//
//	go test ./cmd/switchboard -run '^$' -bench 'AgentMemory|AgentsReconnect' -benchtime 1x

// seedBenchAgents creates n agent users at the demo's first site, each with a
// live session, and returns the session tokens.
func seedBenchAgents(b *testing.B, a *app, n int) []string {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var tenant, site uuid.UUID
	var hash string
	if err := pool.QueryRow(ctx, `SELECT tenant_id, site_id, password_hash FROM users WHERE lower(email) = 'lina@huadong.example'`).Scan(&tenant, &site, &hash); err != nil {
		b.Fatal(err)
	}
	var users, agents, presence, sessions [][]any
	tokens := make([]string, n)
	expires := time.Now().Add(24 * time.Hour)
	for i := range n {
		id := uuid.Must(uuid.NewV7())
		tok := make([]byte, 32)
		rand.Read(tok)
		tokens[i] = base64.RawURLEncoding.EncodeToString(tok)
		h := sha256.Sum256([]byte(tokens[i]))
		users = append(users, []any{id, tenant, site, fmt.Sprintf("agentbench%d@huadong.example", i), fmt.Sprintf("Bench Agent %d", i), hash, "agent"})
		agents = append(agents, []any{id, tenant})
		presence = append(presence, []any{tenant, id, "offline"}) // as org.CreateAgent starts them
		sessions = append(sessions, []any{h[:], tenant, id, "csrf-" + tokens[i][:16], expires})
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "tenant_id", "site_id", "email", "display_name", "password_hash", "role"}, pgx.CopyFromRows(users)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"agents"}, []string{"id", "tenant_id"}, pgx.CopyFromRows(agents)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"agent_presence"}, []string{"tenant_id", "agent_id", "state"}, pgx.CopyFromRows(presence)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"token_hash", "tenant_id", "user_id", "csrf_token", "expires_at"}, pgx.CopyFromRows(sessions))
		return err
	})
	if err != nil {
		b.Fatalf("create %d bench agents: %v", n, err)
	}
	return tokens
}

// idleConsole is one console socket of a bench agent; its reader passes
// each frame's type and ref to frames, dropping them when nobody listens.
type idleConsole struct {
	conn   *websocket.Conn
	frames chan [2]string
}

// dialAgent opens the console with the session token and waits for the
// snapshot.
func dialAgent(baseURL, token string) (*idleConsole, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	h := http.Header{"Origin": {baseURL}, "Cookie": {"sb_session=" + token}}
	conn, _, err := d.Dial(strings.Replace(baseURL, "http", "ws", 1)+"/ws/agent", h)
	if err != nil {
		return nil, err
	}
	ag := &idleConsole{conn: conn, frames: make(chan [2]string, 16)}
	go func() {
		defer close(ag.frames)
		for {
			_, p, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f struct{ Type, Ref string }
			if json.Unmarshal(p, &f) == nil {
				select {
				case ag.frames <- [2]string{f.Type, f.Ref}:
				default:
				}
			}
		}
	}()
	if err := ag.expect("snapshot", ""); err != nil {
		conn.Close()
		return nil, err
	}
	return ag, nil
}

func (ag *idleConsole) expect(typ, ref string) error {
	timeout := time.After(60 * time.Second)
	for {
		select {
		case f, ok := <-ag.frames:
			if !ok {
				return fmt.Errorf("console closed while waiting for %q", typ)
			}
			if f[0] == typ && (ref == "" || f[1] == ref) {
				return nil
			}
			if f[0] == "error" && f[1] == ref && ref != "" {
				return fmt.Errorf("console refused %q", ref)
			}
		case <-timeout:
			return fmt.Errorf("no %q frame within 60s", typ)
		}
	}
}

// dialAgents opens a console for each token, conc at a time.
func dialAgents(baseURL string, tokens []string, conc int) ([]*idleConsole, error) {
	out := make([]*idleConsole, len(tokens))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i, tok := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ag, err := dialAgent(baseURL, tok)
			if err != nil {
				failed.Store(fmt.Errorf("agent %d: %w", i, err))
				return
			}
			out[i] = ag
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		for _, ag := range out {
			if ag != nil {
				ag.conn.Close()
			}
		}
		return nil, err
	}
	return out, nil
}

// BenchmarkAgentMemory: the server's memory per idle agent console (1,000
// by default, SWITCHBOARD_BENCH_AGENTS to change), snapshot received, no
// presence chosen. The clients run in a child process (this test binary,
// TestAgentBenchClients) so that their buffers are not counted; heap and
// goroutine stacks are read after a GC before and after they connect.
func BenchmarkAgentMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_AGENTS")); err == nil && v > 0 {
		n = v
	}
	if os.Getenv("SWITCHBOARD_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 512 // fine enough to see each socket's pieces
	}
	a := startApp(b, benchEnv())
	tokens := seedBenchAgents(b, a, n)
	for b.Loop() {
		before := memNow()
		cmd := exec.Command(os.Args[0], "-test.run=^TestAgentBenchClients$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SWITCHBOARD_BENCH_AGENTS_URL="+a.url)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(stdin)
		for _, t := range tokens {
			fmt.Fprintln(w, t)
		}
		fmt.Fprintln(w)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "agents ready" {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Wait()
			b.Fatal("the agent clients did not get ready")
		}
		time.Sleep(2 * time.Second) // let the connects' commands and fetches settle
		after := memNow()
		if path := os.Getenv("SWITCHBOARD_BENCH_HEAPPROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		stdin.Close()
		go func() {
			for sc.Scan() {
			}
		}()
		cmd.Wait()
		b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/agent")
		b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/agent")
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(n), "B/agent")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/agent")
	}
}

// writeHeapProfile writes the heap profile of the connected sockets
// (go tool pprof -sample_index=inuse_space).
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// TestAgentBenchClients is BenchmarkAgentMemory's client process: it reads
// session tokens from stdin up to an empty line, opens a console with each
// at SWITCHBOARD_BENCH_AGENTS_URL, prints "agents ready" once every
// snapshot has arrived and holds them until stdin closes. Skipped otherwise.
func TestAgentBenchClients(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_BENCH_AGENTS_URL")
	if url == "" {
		t.Skip("the client process of BenchmarkAgentMemory")
	}
	in := bufio.NewScanner(os.Stdin)
	var tokens []string
	for in.Scan() && in.Text() != "" {
		tokens = append(tokens, in.Text())
	}
	conns, err := dialAgents(url, tokens, 16)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("agents ready")
	for in.Scan() {
	}
	for _, ag := range conns {
		ag.conn.Close()
	}
}

// wallWatch reads a supervisor's wallboard socket and keeps, for each
// gauges frame, when it arrived and the agents shown available.
type wallWatch struct {
	mu     sync.Mutex
	frames []wallFrame
}

type wallFrame struct {
	at        time.Time
	available int
	agents    map[string]int
}

func watchWallboard(b *testing.B, a *app) *wallWatch {
	sup, _ := a.login(b, "supervisor@huadong.example")
	d := websocket.Dialer{Jar: sup.Jar, HandshakeTimeout: 30 * time.Second}
	conn, _, err := d.Dial(strings.Replace(a.url, "http", "ws", 1)+"/ws/wallboard", http.Header{"Origin": {a.url}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	w := &wallWatch{}
	go func() {
		for {
			_, p, err := conn.ReadMessage()
			at := time.Now()
			if err != nil {
				return
			}
			var f struct {
				Type   string `json:"type"`
				Gauges struct {
					Agents map[string]int `json:"agents"`
				} `json:"gauges"`
			}
			if json.Unmarshal(p, &f) == nil && f.Type == "gauges" {
				w.mu.Lock()
				w.frames = append(w.frames, wallFrame{at, f.Gauges.Agents["available"], f.Gauges.Agents})
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// since returns the gauges frames that arrived at or after t.
func (w *wallWatch) since(t time.Time) []wallFrame {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []wallFrame
	for _, f := range w.frames {
		if !f.at.Before(t) {
			out = append(out, f)
		}
	}
	return out
}

// last describes the gauges frames seen, for a failure's message.
func (w *wallWatch) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.frames) == 0 {
		return "no gauges frame"
	}
	return fmt.Sprintf("%d gauges frames, the last showing %v", len(w.frames), w.frames[len(w.frames)-1].agents)
}

// waitAvailable waits for a gauges frame after t showing at least n
// agents available and returns its arrival time.
func (w *wallWatch) waitAvailable(t time.Time, n int, timeout time.Duration) (time.Time, bool) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		for _, f := range w.since(t) {
			if f.available >= n {
				return f.at, true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, false
}

// BenchmarkAgentsReconnect: 2,000 agents (SWITCHBOARD_BENCH_AGENTS to
// change) connect and go Available; each iteration drops every console at
// once (the TCP connection closed, as a network blip would) and reconnects
// them, paced evenly over 2 s, each waiting for its snapshot. Reported:
// the time from the drop to the first wallboard gauges frame, received
// after the last reconnect, that shows them all available (goal: within
// 5 s of the reconnects); and the gauges frames the supervisor's socket
// received from the drop until then, per second (coalesced: about one a
// second, never one per agent).
func BenchmarkAgentsReconnect(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_AGENTS")); err == nil && v > 0 {
		n = v
	}
	a := startApp(b, benchEnv())
	tokens := seedBenchAgents(b, a, n)
	wall := watchWallboard(b, a)

	start := time.Now()
	agents, err := dialAgents(a.url, tokens, 32)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, ag := range agents {
			ag.conn.Close()
		}
	})
	var wg sync.WaitGroup
	var failed atomic.Value
	sem := make(chan struct{}, 32)
	for i, ag := range agents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			id := "avail" + strconv.Itoa(i)
			if err := ag.conn.WriteJSON(map[string]any{"type": "presence", "id": id, "state": "available"}); err != nil {
				failed.Store(err)
				return
			}
			if err := ag.expect("ack", id); err != nil {
				failed.Store(fmt.Errorf("agent %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	if _, ok := wall.waitAvailable(start, n, 120*time.Second); !ok {
		logs := a.logs.String()
		b.Fatalf("the wallboard never showed %d agents available (%s); server log's end:\n%s", n, wall.last(), logs[max(0, len(logs)-3000):])
	}

	var consistent, afterLast, spread, frames, perSec, minAvail []float64
	for b.Loop() {
		drop := time.Now()
		for _, ag := range agents {
			ag.conn.Close()
		}
		// Reconnect paced over 2 s: agent i dials at drop + i*2s/n.
		var wg sync.WaitGroup
		var failed atomic.Value
		var last atomic.Int64
		step := 2 * time.Second / time.Duration(n)
		for i := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Until(drop.Add(time.Duration(i) * step)))
				ag, err := dialAgent(a.url, tokens[i])
				if err != nil {
					failed.Store(fmt.Errorf("reconnect %d: %w", i, err))
					return
				}
				agents[i] = ag
				for {
					t, now := last.Load(), time.Now().UnixNano()
					if now <= t || last.CompareAndSwap(t, now) {
						break
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		lastAt := time.Unix(0, last.Load())
		at, ok := wall.waitAvailable(lastAt, n, 60*time.Second)
		if !ok {
			b.Fatalf("the wallboard did not show %d agents available within 60s of the last reconnect (%s)", n, wall.last())
		}
		storm := wall.since(drop)
		count, low := 0, n
		for _, f := range storm {
			if f.at.After(at) {
				break
			}
			count++
			low = min(low, f.available)
		}
		consistent = append(consistent, at.Sub(drop).Seconds())
		afterLast = append(afterLast, at.Sub(lastAt).Seconds())
		spread = append(spread, lastAt.Sub(drop).Seconds())
		frames = append(frames, float64(count))
		perSec = append(perSec, float64(count)/at.Sub(drop).Seconds())
		minAvail = append(minAvail, float64(low))
		if count >= n/10 {
			b.Errorf("the wallboard got %d gauges frames for %d reconnecting agents: not coalesced", count, n)
		}
		time.Sleep(3 * time.Second) // the heartbeats and fetches of the storm settle
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	b.ReportMetric(mean(consistent), "s-drop-to-consistent")
	b.ReportMetric(mean(afterLast), "s-last-reconnect-to-consistent")
	b.ReportMetric(mean(spread), "s-reconnect-spread")
	b.ReportMetric(mean(frames), "gauges-frames/storm")
	b.ReportMetric(mean(perSec), "gauges-frames/s")
	b.ReportMetric(mean(minAvail), "min-available-seen")
}
