package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/cmd/switchboard/internal/demo"
	"github.com/switchboard-cc/switchboard/org"
)

// simConfig is `switchboard simulate`'s configuration.
type simConfig struct {
	URL       string // Switchboard's public URL
	Connector uuid.UUID
	Secret    string
	Listen    string // the fake PBX's address; commands come to /pbx
	Number    string // the dialled hotline number

	Rate     float64       // calls per minute
	AHT      time.Duration // mean talk time
	Abandon  float64       // share of impatient callers
	Patience time.Duration // their mean patience
	MaxWait  time.Duration // everyone else's
	Known    float64       // share of calls from known customers
	Agents   int           // bot agents
	Duration time.Duration // 0: until interrupted
	Speed    float64       // divides the human-like delays
	Seed     uint64
	Progress time.Duration // how often a progress line is printed
	Ready    time.Duration // how long to wait for Switchboard to be ready

	// Discovery of the demo connector (when Connector or Secret is unset).
	DatabaseURL, ServerSecret string
}

// simUsage is simulate's --help text.
const simUsage = `Usage: switchboard simulate [flags]

Drives realistic call traffic through Switchboard's generic CTI webhook, as
a PBX would, for demos and load tests. It is a fake PBX: callers arrive at
random (Poisson, --rate a minute), dial the hotline, press a key in the menu,
and wait; Switchboard routes each call and POSTs a signed connect command to
the PBX endpoint (--listen); the agent's phone rings and answers, and the
caller talks (--aht on average, lognormal) and hangs up. Impatient callers
(--abandon, patience --patience on average) hang up first: missed calls,
which Switchboard turns into callbacks. Bot agents (--agents) log in as the
demo's agents, accept calls, make the callbacks, and wrap up with a note.
Progress goes to stdout every few seconds, a summary at the end.

The connector: --connector and --secret (or SWITCHBOARD_SIMULATE_SECRET) as
"serve --demo" prints them. Without them the demo's connector is read from
DATABASE_URL, its secret opened with SWITCHBOARD_SECRET (as make run sets
both). Its callback URL must reach --listen: the demo's is
http://127.0.0.1:8089/pbx unless SWITCHBOARD_DEMO_PBX_URL said otherwise
when it was loaded.

Examples:
  switchboard simulate --agents 3                  # the demo, 6 calls a minute
  switchboard simulate --rate 60 --aht 20s --agents 12 --duration 5m

Flags:`

// parseSimulate reads simulate's flags and environment.
func parseSimulate(args []string, getenv func(string) string, stderr io.Writer) (simConfig, error) {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := simConfig{DatabaseURL: getenv("DATABASE_URL"), ServerSecret: getenv("SWITCHBOARD_SECRET")}
	publicURL := getenv("SWITCHBOARD_PUBLIC_URL")
	if publicURL == "" {
		publicURL = "http://localhost:8080"
	}
	var connector string
	fs.StringVar(&cfg.URL, "url", publicURL, "Switchboard's public URL (its origin: bot agents' consoles must match it)")
	fs.StringVar(&connector, "connector", "", "the generic connector's id (default: the demo's, from DATABASE_URL)")
	fs.StringVar(&cfg.Secret, "secret", getenv("SWITCHBOARD_SIMULATE_SECRET"), "the connector's HMAC secret (env SWITCHBOARD_SIMULATE_SECRET; default: the demo's)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8089", "where the fake PBX takes Switchboard's commands (path /pbx)")
	fs.StringVar(&cfg.Number, "number", demo.HotlineNumber, "the hotline number callers dial")
	fs.Float64Var(&cfg.Rate, "rate", 6, "calls per minute (Poisson arrivals)")
	fs.Var(secondsValue{&cfg.AHT}, "aht", "mean talk time, lognormal (seconds, or a duration like 1m30s)")
	fs.Float64Var(&cfg.Abandon, "abandon", 0.15, "share of callers with short patience (0 to 1)")
	fs.Var(secondsValue{&cfg.Patience}, "patience", "mean patience of those callers, exponential (seconds or a duration)")
	fs.Var(secondsValue{&cfg.MaxWait}, "max-wait", "how long every other caller waits before hanging up")
	fs.Float64Var(&cfg.Known, "known", 0.3, "share of calls from known demo customers (the rest: random 138… numbers)")
	fs.IntVar(&cfg.Agents, "agents", 0, "bot agents to run, as the demo's agents (0: only humans answer)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to run (0: until Ctrl-C)")
	fs.Float64Var(&cfg.Speed, "speed", 1, "divides the human-like delays (menu, ringing, accepting, wrap-up) for load tests")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: a new one each run)")
	fs.DurationVar(&cfg.Progress, "progress", 5*time.Second, "how often to print progress")
	fs.DurationVar(&cfg.Ready, "wait-ready", 2*time.Minute, "how long to wait for Switchboard to answer /readyz")
	cfg.AHT, cfg.Patience, cfg.MaxWait = 45*time.Second, 20*time.Second, 10*time.Minute
	fs.Usage = func() {
		fmt.Fprintln(stderr, simUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return simConfig{}, err
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	bad := func(format string, a ...any) (simConfig, error) {
		return simConfig{}, fmt.Errorf("simulate: "+format, a...)
	}
	switch u := cfg.URL; {
	case fs.NArg() != 0:
		return bad("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	case !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://"):
		return bad("--url must be an http or https URL")
	case cfg.Rate <= 0 || cfg.Rate > 6000:
		return bad("--rate must be above 0 and at most 6000 calls a minute")
	case cfg.AHT <= 0 || cfg.Patience <= 0 || cfg.MaxWait <= 0:
		return bad("--aht, --patience and --max-wait must be above 0")
	case cfg.Abandon < 0 || cfg.Abandon > 1 || cfg.Known < 0 || cfg.Known > 1:
		return bad("--abandon and --known are shares from 0 to 1")
	case cfg.Agents < 0 || cfg.Agents > len(demoAgents()):
		return bad("--agents must be 0 to %d (the demo's agents)", len(demoAgents()))
	case cfg.Duration < 0 || cfg.Speed <= 0 || cfg.Progress <= 0 || cfg.Ready < 0:
		return bad("--duration must not be negative; --speed and --progress must be above 0")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return bad("--listen must be host:port: %v", err)
	}
	if connector != "" {
		id, err := uuid.Parse(connector)
		if err != nil {
			return bad("--connector must be the connector's id (a UUID)")
		}
		cfg.Connector = id
	}
	if cfg.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		cfg.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return cfg, nil
}

// secondsValue is a duration flag that also takes plain seconds ("45").
type secondsValue struct{ d *time.Duration }

func (v secondsValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v secondsValue) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*v.d = seconds(f)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("seconds (45) or a duration (1m30s)")
	}
	*v.d = d
	return nil
}

// demoAgents are the logins bot agents use, in order.
func demoAgents() []demo.Login {
	var out []demo.Login
	for _, l := range demo.Logins() {
		if l.Extension != "" {
			out = append(out, l)
		}
	}
	return out
}

// runSimulate is `switchboard simulate`.
func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseSimulate(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	_, err = simulate(ctx, cfg, stdout, log)
	return err
}

// simulate runs the traffic until ctx ends or cfg.Duration has passed,
// then hangs up the calls still going, lets the bots finish their wrap-ups,
// prints the summary and returns the counts.
func simulate(ctx context.Context, cfg simConfig, stdout io.Writer, log *slog.Logger) (*simStats, error) {
	if err := waitReady(ctx, cfg.URL, cfg.Ready); err != nil {
		return nil, err
	}
	if cfg.Connector == uuid.Nil || cfg.Secret == "" {
		p, err := findDemoPhone(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if cfg.Connector == uuid.Nil {
			cfg.Connector = p.ConnectorID
		}
		if cfg.Secret == "" {
			cfg.Secret = p.Secret
		}
		if want := pbxURL(cfg.Listen); p.CallbackURL != want {
			fmt.Fprintf(stdout, "simulate: note: the demo connector calls back %s, not %s: Switchboard's commands may not reach this PBX\n", p.CallbackURL, want)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("simulate: the PBX endpoint: %w", err)
	}
	st := &simStats{}
	var runID [4]byte
	rand.Read(runID[:])
	tr := newTraffic(cfg.Seed, cfg.Rate, cfg.AHT, cfg.Abandon, cfg.Patience, cfg.MaxWait, cfg.Known, demo.CallerNumbers())
	transport := &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	p := &pbx{secret: cfg.Secret, number: cfg.Number, runID: hex.EncodeToString(runID[:]), speed: cfg.Speed, pace: humanPace,
		tr: tr, st: st, log: log, now: time.Now, calls: map[string]*simCall{}, keys: map[string]time.Time{}, lostSent: map[string]bool{},
		cti: &ctiClient{url: cfg.URL + "/phone/cti/" + cfg.Connector.String(), secret: cfg.Secret,
			hc: &http.Client{Timeout: 15 * time.Second, Transport: transport}, st: st, slots: make(chan struct{}, maxInFlight)}}
	mux := http.NewServeMux()
	mux.Handle("/pbx", p)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(stdout, "simulate: %.4g calls/min to %s at %s, talk %s on average, %.0f%% impatient (%s), %d bot agents; PBX at %s (seed %d)\n",
		cfg.Rate, cfg.Number, cfg.URL, cfg.AHT, 100*cfg.Abandon, cfg.Patience, cfg.Agents, pbxURL(ln.Addr().String()), cfg.Seed)

	botCtx, stopBots := context.WithCancel(context.Background())
	defer stopBots()
	var bots []*botAgent
	var botWG sync.WaitGroup
	for i, l := range demoAgents()[:cfg.Agents] {
		b := &botAgent{n: i + 1, email: l.Email, pass: demo.Password, base: cfg.URL, p: p, st: st, log: log}
		bots = append(bots, b)
		fmt.Fprintf(stdout, "simulate: bot agent %d is %s (ext. %s)\n", b.n, l.Email, l.Extension)
		botWG.Add(1)
		go func() { defer botWG.Done(); b.run(botCtx) }()
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if cfg.Duration > 0 {
		runCtx, stop = context.WithTimeout(ctx, cfg.Duration)
		defer stop()
	}
	start := time.Now()
	p.mu.Lock()
	p.life = runCtx // calls agents place (dial) run as long as the run
	p.mu.Unlock()
	tick := time.NewTicker(cfg.Progress)
	defer tick.Stop()
	next := time.NewTimer(tr.interarrival())
	defer next.Stop()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-next.C:
			p.start(runCtx)
			next.Reset(tr.interarrival())
		case <-tick.C:
			progress(stdout, time.Since(start), st)
			p.forget()
		}
	}
	// The end: calls still going hang up (their goroutines see runCtx
	// end), then the bots get a little time to wrap up those calls.
	p.wg.Wait()
	elapsed := time.Since(start)
	grace := time.Now().Add(time.Duration(float64(humanPace.wrapUp[1])/cfg.Speed) + 5*time.Second)
	for time.Now().Before(grace) && botsBusy(bots) && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
	}
	stopBots()
	botWG.Wait()
	summary(stdout, elapsed, st, cfg.Agents > 0)
	return st, nil
}

func botsBusy(bots []*botAgent) bool {
	for _, b := range bots {
		if b.active.Load() > 0 {
			return true
		}
	}
	return false
}

func pbxURL(listen string) string { return "http://" + listen + "/pbx" }

// waitReady polls /readyz until Switchboard answers 200, so make run can
// start the server and the simulator together.
func waitReady(ctx context.Context, base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("simulate: --url: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("simulate: Switchboard at %s is not ready after %s", base, limit)
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// findDemoPhone reads the demo's connector and secret from the database,
// as serve stored them: the secret is sealed under SWITCHBOARD_SECRET
// with the same purpose serve's org store uses (run.go).
func findDemoPhone(ctx context.Context, cfg simConfig) (demo.Phone, error) {
	if cfg.DatabaseURL == "" || len(cfg.ServerSecret) < 16 {
		return demo.Phone{}, errors.New("simulate: give --connector and --secret (serve --demo prints them), " +
			"or DATABASE_URL and SWITCHBOARD_SECRET to read the demo's")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return demo.Phone{}, fmt.Errorf("simulate: database: %w", err)
	}
	defer pool.Close()
	sealer, err := org.NewSealer([]byte(cfg.ServerSecret), "mailbox credentials")
	if err != nil {
		return demo.Phone{}, err
	}
	p, err := demo.FindPhone(ctx, org.NewStore(pool, org.WithSealer(sealer)), pbxURL(cfg.Listen))
	if errors.Is(err, org.ErrNotFound) {
		return demo.Phone{}, errors.New("simulate: the database has no demo phone connector: start `switchboard serve --demo` first")
	} else if err != nil {
		return demo.Phone{}, fmt.Errorf("simulate: the demo's connector: %w", err)
	}
	return p, nil
}

// progress prints one line of counts.
func progress(w io.Writer, elapsed time.Duration, st *simStats) {
	fmt.Fprintf(w, "%7s  calls %d  waiting %d  ringing %d  in talk %d  answered %d  abandoned %d  after hours %d  errors %d\n",
		elapsed.Round(time.Second), st.started.Load(), st.waiting.Load(), st.ringing.Load(), st.talking.Load(),
		st.answered.Load(), st.abandoned.Load(), st.closed.Load(), st.failed.Load())
}

// summary prints the run's figures.
func summary(w io.Writer, elapsed time.Duration, st *simStats, bots bool) {
	st.mu.Lock()
	waits, rtts := append([]time.Duration(nil), st.waits...), append([]time.Duration(nil), st.rtts...)
	st.mu.Unlock()
	n := st.started.Load()
	pct := func(x int64) float64 {
		if n == 0 {
			return 0
		}
		return 100 * float64(x) / float64(n)
	}
	fmt.Fprintf(w, "\nsimulate: %s, %d calls (%.1f a minute)\n", elapsed.Round(time.Second), n, float64(n)/elapsed.Minutes())
	fmt.Fprintf(w, "  answered     %d (%.0f%%), waited %s on average, 90%% within %s; %d talked to the end\n",
		st.answered.Load(), pct(st.answered.Load()), mean(waits).Round(100*time.Millisecond),
		quantile(waits, 0.9).Round(100*time.Millisecond), st.completed.Load())
	fmt.Fprintf(w, "  abandoned    %d (%.0f%%), %d of them impatient callers\n", st.abandoned.Load(), pct(st.abandoned.Load()), st.impatient.Load())
	fmt.Fprintf(w, "  after hours  %d; hung up at the end %d; errors %d\n", st.closed.Load(), st.cut.Load(), st.failed.Load())
	if n := st.lost.Load(); n > 0 {
		fmt.Fprintf(w, "  %d calls left waiting by an earlier run ended as lost\n", n)
	}
	fmt.Fprintf(w, "  webhook      %d requests, p50 %s, p99 %s\n", len(rtts), quantile(rtts, 0.5).Round(time.Millisecond), quantile(rtts, 0.99).Round(time.Millisecond))
	if bots {
		fmt.Fprintf(w, "  bot agents   %d contacts taken, %d wrap-ups done, %d callbacks made\n", st.accepted.Load(), st.done.Load(), st.callbacks.Load())
	}
}
