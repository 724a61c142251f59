package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/internal/redistest"
)

// The web chat issue's benchmarks (issue 5), against the in-process server
// with real PostgreSQL and Redis:
//
//   - BenchmarkChatLineToAgent: a visitor's line sent on the visitor socket
//     → the line read from the holding agent's console socket, with 200
//     active conversations and 100 lines a second in total (open loop), and
//     the floor (one commit + one Redis publish + two websocket hops)
//     sampled in the same run, under the same load.
//   - BenchmarkChatInbound: sustained lines a second, 16 senders each
//     waiting for the ack (after commit) before its next line.
//   - BenchmarkChatVisitorMemory: the server's heap and stacks per idle
//     visitor socket, with the clients in a child process.
//
// The per-address limits are lifted through the env settings (one load
// generator is one address); the per-visitor limit (5 lines a second) is
// not a setting, so every visitor stays under it.

// chatBenchEnv is benchEnv with the chat limits per address lifted.
func chatBenchEnv() map[string]string {
	env := benchEnv()
	env["SWITCHBOARD_CHAT_CONNECTS_PER_MINUTE"] = "10000000"
	env["SWITCHBOARD_CHAT_ADDRESS_MESSAGES_PER_SECOND"] = "10000000"
	return env
}

// poolEnv sizes the server's PostgreSQL pool when
// SWITCHBOARD_BENCH_POOL_MAX_CONNS is set (pgxpool's pool_max_conns in
// DATABASE_URL, as an operator would; the default is max(4, CPUs)).
func poolEnv(b *testing.B, env map[string]string) map[string]string {
	n := os.Getenv("SWITCHBOARD_BENCH_POOL_MAX_CONNS")
	if n == "" {
		return env
	}
	_, dsn := pgtest.New(b)
	_, prefix := redistest.New(b)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	env["DATABASE_URL"], env["SWITCHBOARD_REDIS_PREFIX"] = dsn+sep+"pool_max_conns="+n, prefix
	return env
}

// benchVisitor is a widget socket with a reader that keeps what it reads.
type benchVisitor struct {
	conn    *websocket.Conn
	in      chan visitorFrame
	contact string
}

type visitorFrame struct {
	Type      string `json:"type"`
	ClientID  string `json:"client_id"`
	ContactID string `json:"contact_id"`
	Code      string `json:"code"`
	Message   string `json:"message"`
}

func dialVisitor(a *app, n int) (*benchVisitor, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	conn, _, err := d.Dial(strings.Replace(a.url, "http", "ws", 1)+"/chat/ws?site=demo-pudong", map[string][]string{"Origin": {a.url}})
	if err != nil {
		return nil, err
	}
	v := &benchVisitor{conn: conn, in: make(chan visitorFrame, 1024)}
	go func() {
		defer close(v.in)
		for {
			_, p, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f visitorFrame
			if json.Unmarshal(p, &f) == nil {
				select {
				case v.in <- f:
				default: // nobody listens (idle visitors): drop
				}
			}
		}
	}()
	if err := conn.WriteJSON(map[string]any{"type": "hello", "name": "Bench", "email": fmt.Sprintf("chatbench%d@example.com", n)}); err != nil {
		return nil, err
	}
	if _, err := v.expect("welcome", ""); err != nil {
		return nil, err
	}
	return v, nil
}

// expect returns the next frame of type typ (with client_id cid, if given),
// skipping others; an error frame for cid is an error.
func (v *benchVisitor) expect(typ, cid string) (visitorFrame, error) {
	timeout := time.After(20 * time.Second)
	for {
		select {
		case f, ok := <-v.in:
			if !ok {
				return f, fmt.Errorf("visitor socket closed while waiting for %q", typ)
			}
			if f.Type == "error" && (cid == "" || f.ClientID == cid) {
				return f, fmt.Errorf("visitor got error %s: %s", f.Code, f.Message)
			}
			if (typ == "" || f.Type == typ) && (cid == "" || f.ClientID == cid) {
				return f, nil
			}
		case <-timeout:
			return visitorFrame{}, fmt.Errorf("no %q frame within 20s", typ)
		}
	}
}

// startChat sends the visitor's first line, which opens the chat.
func (v *benchVisitor) startChat() error {
	if err := v.conn.WriteJSON(map[string]any{"type": "message", "client_id": "first", "body": "hello"}); err != nil {
		return err
	}
	for {
		f, err := v.expect("", "")
		if err != nil {
			return err
		}
		if f.Type == "welcome" && f.ContactID != "" {
			v.contact = f.ContactID
		}
		if f.Type == "ack" && f.ClientID == "first" {
			return nil
		}
	}
}

// agentFrame is what the benchmarks read of a console frame.
type agentFrame struct {
	at      time.Time
	Type    string `json:"type"`
	OfferID string `json:"offer_id"`
	Ref     string `json:"ref"`
	// A chat line's message object; an error frame's message is a string.
	Raw     json.RawMessage `json:"message"`
	Message struct {
		ClientID   string `json:"client_id"`
		AuthorKind string `json:"author_kind"`
	} `json:"-"`
}

// benchConsole is an agent's console socket; every frame read is stamped
// and handed to handle, on the reader goroutine.
type benchConsole struct {
	conn   *websocket.Conn
	mu     sync.Mutex
	handle atomic.Pointer[func(agentFrame)]
	closed chan struct{}
}

func openConsole(b *testing.B, a *app, email string, handle func(agentFrame)) *benchConsole {
	c, _ := a.login(b, email)
	d := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial(strings.Replace(a.url, "http", "ws", 1)+"/ws/agent", map[string][]string{"Origin": {a.url}})
	if err != nil {
		b.Fatal(err)
	}
	s := &benchConsole{conn: conn, closed: make(chan struct{})}
	s.handle.Store(&handle)
	go func() {
		defer close(s.closed)
		for {
			_, p, err := conn.ReadMessage()
			at := time.Now()
			if err != nil {
				return
			}
			var f agentFrame
			if json.Unmarshal(p, &f) == nil {
				if f.Type == "message" {
					json.Unmarshal(f.Raw, &f.Message)
				}
				f.at = at
				(*s.handle.Load())(f)
			}
		}
	}()
	b.Cleanup(func() { conn.Close() })
	return s
}

func (s *benchConsole) send(f map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.WriteJSON(f)
}

func (s *benchConsole) setHandler(h func(agentFrame)) { s.handle.Store(&h) }

// activeChats opens n chats from n new visitors and has Li Na (chat
// capacity raised to n) accept them all; it returns the visitors and her
// console.
func activeChats(b *testing.B, a *app, n int) ([]*benchVisitor, *benchConsole) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `UPDATE agents SET capacity_chat = $1 WHERE id = (SELECT id FROM users WHERE lower(email) = 'lina@huadong.example')`, n+10); err != nil {
		b.Fatal(err)
	}
	var assigned atomic.Int64
	allIn := make(chan struct{})
	ready := make(chan string, 4)
	var console *benchConsole
	console = openConsole(b, a, "lina@huadong.example", func(f agentFrame) {
		switch f.Type {
		case "snapshot", "ack":
			if f.Type == "snapshot" || f.Ref == "available" {
				ready <- f.Type
			}
		case "offer":
			go console.send(map[string]any{"type": "accept", "offer_id": f.OfferID})
		case "assigned":
			if assigned.Add(1) == int64(n) {
				close(allIn)
			}
		}
	})
	if got := <-ready; got != "snapshot" {
		b.Fatalf("console: first frame %s, want snapshot", got)
	}
	if err := console.send(map[string]any{"type": "presence", "id": "available", "state": "available"}); err != nil {
		b.Fatal(err)
	}
	<-ready
	time.Sleep(2500 * time.Millisecond) // a routing sweep re-reads the capacity

	visitors := make([]*benchVisitor, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range visitors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := dialVisitor(a, i)
			if err == nil {
				err = v.startChat()
			}
			if err != nil {
				errs <- fmt.Errorf("visitor %d: %w", i, err)
				return
			}
			visitors[i] = v
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	select {
	case <-allIn:
	case <-time.After(120 * time.Second):
		b.Fatalf("only %d of %d chats were accepted within 120s", assigned.Load(), n)
	}
	b.Cleanup(func() {
		for _, v := range visitors {
			v.conn.Close()
		}
	})
	return visitors, console
}

// chatFloor takes floor samples for the chat path: one commit of a
// one-row insert, one Redis publish reaching a subscriber, and one round
// trip on a console socket (two websocket hops: a frame the server refuses
// at once), one after the other.
type chatFloor struct {
	pool    *pgxpool.Pool
	rdb     *redis.Client
	msgs    <-chan *redis.Message
	console *benchConsole
	replies chan time.Time
	n       int
}

func newChatFloor(b *testing.B, a *app) *chatFloor {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		b.Fatal(err)
	}
	rdb, _ := redistest.New(b)
	sub := rdb.Subscribe(ctx, "chatfloor")
	b.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		b.Fatal(err)
	}
	f := &chatFloor{pool: pool, rdb: rdb, msgs: sub.Channel(), replies: make(chan time.Time, 16)}
	ready := make(chan struct{}, 1)
	f.console = openConsole(b, a, "wanglei@huadong.example", func(af agentFrame) {
		switch {
		case af.Type == "snapshot":
			ready <- struct{}{}
		case af.Type == "error" && strings.HasPrefix(af.Ref, "floor"):
			f.replies <- af.at
		}
	})
	<-ready
	return f
}

// sample may run on a goroutine of its own, so it returns its error.
func (f *chatFloor) sample() (time.Duration, error) {
	ctx := context.Background()
	f.n++
	start := time.Now()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bench_floor DEFAULT VALUES`); err != nil {
		tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if err := f.rdb.Publish(ctx, "chatfloor", "x").Err(); err != nil {
		return 0, err
	}
	<-f.msgs
	if err := f.console.send(map[string]any{"type": "presence", "id": fmt.Sprint("floor", f.n), "state": "floor"}); err != nil {
		return 0, err
	}
	select {
	case at := <-f.replies:
		return at.Sub(start), nil
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("no answer to floor frame %d within 10s", f.n)
	}
}

// BenchmarkChatLineToAgent: 200 active chats, one agent holding them all;
// one iteration is one visitor line, paced at 100 a second in total
// (round-robin over the visitors: each writes every 2 s, under its 5 a
// second). A line's latency is from just before it is written on the
// visitor socket to the console socket's reader having read it. Floor
// samples are taken every 50 ms on their own goroutine during the run.
func BenchmarkChatLineToAgent(b *testing.B) {
	const conversations, perSecond = 200, 100
	a := startApp(b, poolEnv(b, chatBenchEnv()))
	visitors, console := activeChats(b, a, conversations)
	floor := newChatFloor(b, a)

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var lat []time.Duration
	got := make(chan struct{}, 1<<16)
	console.setHandler(func(f agentFrame) {
		if f.Type != "message" || f.Message.AuthorKind != "customer" {
			return
		}
		mu.Lock()
		if t0, ok := sentAt[f.Message.ClientID]; ok {
			lat = append(lat, f.at.Sub(t0))
			delete(sentAt, f.Message.ClientID)
		}
		mu.Unlock()
		got <- struct{}{}
	})

	stopFloor := make(chan struct{})
	floorDone := make(chan []time.Duration)
	var floorErr error
	go func() {
		var fl []time.Duration
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopFloor:
				floorDone <- fl
				return
			case <-t.C:
				if floorErr == nil {
					d, err := floor.sample()
					fl, floorErr = append(fl, d), err
				}
			}
		}
	}()

	interval := time.Second / perSecond
	next := time.Now()
	sent := 0
	for b.Loop() {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		v := visitors[sent%len(visitors)]
		cid := "l" + strconv.Itoa(sent)
		sent++
		mu.Lock()
		sentAt[cid] = time.Now()
		mu.Unlock()
		if err := v.conn.WriteJSON(map[string]any{"type": "message", "client_id": cid, "body": "line " + cid}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	deadline := time.After(20 * time.Second)
	for received := 0; received < sent; received++ {
		select {
		case <-got:
		case <-deadline:
			b.Fatalf("only %d of %d lines reached the console within 20s", received, sent)
		}
	}
	close(stopFloor)
	floors := <-floorDone
	if floorErr != nil {
		b.Fatal(floorErr)
	}
	mu.Lock()
	defer mu.Unlock()
	reportLatency(b, "", lat)
	reportLatency(b, "floor-", floors)
	s, f := slices.Sorted(slices.Values(lat)), slices.Sorted(slices.Values(floors))
	if len(s) > 0 && len(f) > 0 {
		b.ReportMetric(float64(s[pct(len(s), 99)])/float64(f[pct(len(f), 99)]), "p99/floor-p99")
		b.ReportMetric(float64(s[len(s)/2])/float64(f[len(f)/2]), "p50/floor-p50")
	}
	b.ReportMetric(float64(len(floors)), "floor-samples")
}

// BenchmarkChatInbound: 16 senders, each with its own 32 active chats
// (512 in all, one agent holding them), each sending a line and waiting
// for its ack (after commit) before the next, round-robin over its
// visitors (a visitor writes at most every 32nd line of its sender, under
// 5 a second up to ~2,500 lines a second in total). One iteration runs for
// SWITCHBOARD_BENCH_CHAT_SECONDS (default 10); msg/s is the figure.
func BenchmarkChatInbound(b *testing.B) {
	const senders, perSender = 16, 32
	seconds := 10
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_CHAT_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	a := startApp(b, poolEnv(b, chatBenchEnv()))
	visitors, console := activeChats(b, a, senders*perSender)
	var relayed atomic.Int64
	console.setHandler(func(f agentFrame) {
		if f.Type == "message" {
			relayed.Add(1)
		}
	})
	db, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// A production database has statistics (autovacuum analyzes a table
	// within a minute of its first rows); this fresh one has none, and with
	// none the planner may scan all of a tenant's contacts for a line
	// (contacts_customer_idx on tenant_id alone instead of the primary key):
	// some runs came out at 25 lines/s for that alone. Analyzing invalidates
	// the plans the server has cached, so it replans as production would.
	if _, err := db.Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var total atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		cpu0, err := sampleCPU(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		stop := time.Now().Add(time.Duration(seconds) * time.Second)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := visitors[s*perSender : (s+1)*perSender]
				var my []time.Duration
				for i := 0; time.Now().Before(stop); i++ {
					v := mine[i%perSender]
					cid := fmt.Sprintf("s%d-%d", s, i)
					t0 := time.Now()
					if err := v.conn.WriteJSON(map[string]any{"type": "message", "client_id": cid, "body": "line " + cid}); err != nil {
						errs <- err
						return
					}
					if _, err := v.expect("ack", cid); err != nil {
						errs <- fmt.Errorf("sender %d: %w", s, err)
						return
					}
					my = append(my, time.Since(t0))
					total.Add(1)
				}
				mu.Lock()
				lat = append(lat, my...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		cpu1, err := sampleCPU(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		b.ReportMetric(float64(total.Load())/elapsed.Seconds(), "msg/s")
		reportLatency(b, "ack-", lat)
		// CPU per line, of the backends and of this process (server and
		// senders): the cost that decides the rate on a saturated machine.
		self, backends := cpu1.since(cpu0)
		if n := total.Load(); n > 0 {
			b.ReportMetric(float64(backends.Microseconds())/float64(n), "pg-cpu-µs/msg")
			b.ReportMetric(float64(self.Microseconds())/float64(n), "proc-cpu-µs/msg")
		}
	}
	b.ReportMetric(float64(relayed.Load()), "relayed-to-console")
}

// BenchmarkChatVisitorMemory: the server's memory per idle visitor socket
// (hello answered, no chat), 1,000 of them. The clients run in a child
// process (this test binary, TestChatBenchVisitorClients) so that their
// own buffers are not counted; heap and goroutine stacks are read after a
// GC before and after they connect.
func BenchmarkChatVisitorMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_VISITORS")); err == nil && v > 0 {
		n = v
	}
	a := startApp(b, chatBenchEnv())
	for b.Loop() {
		before := memNow()
		cmd := exec.Command(os.Args[0], "-test.run=^TestChatBenchVisitorClients$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SWITCHBOARD_BENCH_VISITORS_URL="+a.url, "SWITCHBOARD_BENCH_VISITORS="+strconv.Itoa(n))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "visitors ready" {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Wait()
			b.Fatal("the visitor clients did not get ready")
		}
		time.Sleep(time.Second) // let the hello handling settle
		after := memNow()
		stdin.Close()
		go func() {
			for sc.Scan() {
			}
		}()
		cmd.Wait()
		b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/visitor")
		b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/visitor")
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(n), "B/visitor")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/visitor")
	}
}

type memFigures struct{ heap, stack, goroutines int64 }

func memNow() memFigures {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memFigures{heap: int64(m.HeapAlloc), stack: int64(m.StackInuse), goroutines: int64(runtime.NumGoroutine())}
}

// TestChatBenchVisitorClients is BenchmarkChatVisitorMemory's client
// process: it opens SWITCHBOARD_BENCH_VISITORS visitor sockets to
// SWITCHBOARD_BENCH_VISITORS_URL, says hello on each, prints "visitors
// ready" and holds them until its stdin closes. Skipped otherwise.
func TestChatBenchVisitorClients(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_BENCH_VISITORS_URL")
	if url == "" {
		t.Skip("the client process of BenchmarkChatVisitorMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_VISITORS"))
	a := &app{url: url}
	conns := make([]*benchVisitor, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := dialVisitor(a, i)
			if err != nil {
				failed.Store(err)
				return
			}
			conns[i] = v
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	fmt.Println("visitors ready")
	bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
	for _, v := range conns {
		v.conn.Close()
	}
}
