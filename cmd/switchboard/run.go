package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-cc/switchboard/agentdesk"
	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/channels/chat"
	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/channels/phone"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/crm/webhook"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/migrations"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
	"github.com/switchboard-cc/switchboard/stats/report"
)

const usage = `Switchboard: one hotline, one inbox and one chat for a dealer group.

Usage:
  switchboard serve [--demo]   run the server (applies migrations first)
  switchboard migrate          apply database migrations and exit
  switchboard demo             load the demo dealer group (skipped if present)
  switchboard import --tenant NAME [--format csv|jsonl] FILE
                               upsert customers from a file by external id
  switchboard seed [--customers N]
                               fill a benchmark database with a synthetic dealer group
  switchboard simulate [--rate N] [--agents N] ...
                               drive simulated calls through the demo's phone hotline
  switchboard help             show this text

Configuration comes from the environment; see README.md. The essentials:
  DATABASE_URL           PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/switchboard
  REDIS_URL              Redis (default redis://127.0.0.1:6379/0)
  SWITCHBOARD_SECRET     signs chat visitor tokens (required for serve)
  SWITCHBOARD_ADDR       listen address (default :8080)
  SWITCHBOARD_PUBLIC_URL the URL people open (default http://localhost:8080)
`

// faults lets tests inject failures at the seams where a crash would hurt
// most. Production never sets it.
var faults faultHooks

type faultHooks struct {
	wrapEnqueuer func(channels.Enqueuer) channels.Enqueuer
}

func (f faultHooks) enqueuer(e channels.Enqueuer) channels.Enqueuer {
	if f.wrapEnqueuer != nil {
		return f.wrapEnqueuer(e)
	}
	return e
}

// run is the whole program; tests call it with their own arguments and environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("no subcommand given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "import":
		return runImport(ctx, rest, getenv, stdout, stderr)
	case "seed":
		return runSeed(ctx, rest, getenv, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, rest, getenv, stdout, stderr)
	case "serve", "migrate", "demo":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	withDemo := fs.Bool("demo", false, "load the demo data if absent and print where to start")
	fs.Usage = func() { fmt.Fprintf(stderr, "Usage: switchboard %s [flags]\n", cmd); fs.PrintDefaults() }
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set (make run sets it for you)")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := migrations.Apply(ctx, pool); err != nil {
		return err
	}
	log.Info("database migrated")
	if cmd == "migrate" {
		return nil
	}
	// Mailbox passwords are sealed under a key derived from the secret;
	// commands that never read them run without it.
	var orgOpts []org.Option
	if len(cfg.Secret) >= 16 {
		sealer, err := org.NewSealer([]byte(cfg.Secret), "mailbox credentials")
		if err != nil {
			return err
		}
		orgOpts = append(orgOpts, org.WithSealer(sealer))
	}
	orgs, people := org.NewStore(pool, orgOpts...), crm.NewStore(pool).WithPrivateWebhooks(cfg.WebhookAllowPrivate)
	if cmd == "demo" || *withDemo {
		info, err := loadDemo(ctx, orgs, people, cfg, getenv, stderr)
		if err != nil {
			return err
		}
		if cmd == "demo" {
			printDemo(stdout, cfg.PublicURL, info)
			return nil
		}
		return serve(ctx, cfg, log, pool, orgs, people, &info, stdout)
	}
	return serve(ctx, cfg, log, pool, orgs, people, nil, stdout)
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve wires the parts and runs them until ctx ends, then shuts down in
// order: stop taking requests, close sockets (clients reconnect elsewhere),
// let routing hand its leases over, finish in-flight work.
func serve(ctx context.Context, cfg Config, log *slog.Logger, pool *pgxpool.Pool, orgs *org.Store, people *crm.Store, demo *demoInfo, stdout io.Writer) error {
	if len(cfg.Secret) < 16 {
		return errors.New("SWITCHBOARD_SECRET must be set to at least 16 characters (make run generates one)")
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	b := bus.New(rdb, cfg.RedisPrefix, log)
	intake := channels.NewIntake(people, faults.enqueuer(dispatch.NewEnqueuer(pool)), b, log)
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	limiter := ratelimit.New(rdb, cfg.RedisPrefix)
	chatConn := chat.New(life, chat.Deps{Sites: orgs, Settings: orgs, History: people, Intake: intake, Chats: people,
		Signals: intake, Router: chatRouter{b}, Sub: b, Presence: b, Queues: orgs, Agents: b, Callbacks: people, Secret: []byte(cfg.Secret), Limiter: limiter,
		Limits: chat.Limits{ConnectsPerMinute: cfg.ChatConnects, AddressMessagesPerSecond: cfg.ChatAddressRate}, Log: log})

	// The hotline is built before the desk it tells (deskRef), and the
	// desk before routing, which tells the desk.
	var deskRef0 *agentdesk.Server
	asterisk := newAMILinks(orgs, cfg.AsteriskReload, log)
	hotline := phone.NewService(phone.Config{RingTimeout: cfg.PhoneRingTimeout, MaxMenuTries: phoneMenuTries}, people, orgs,
		phoneRouter{b: b, enq: dispatch.NewEnqueuer(pool)}, deskRef{&deskRef0}, phoneControllers(cfg, asterisk), callWaits{b}, log)
	asterisk.hotline = hotline // the links hand events to the hotline, which commands them

	dcfg := agentdesk.Config{PublicURL: cfg.PublicURL, SessionTTL: cfg.SessionTTL, MaxBody: cfg.MaxBody, ImportMaxBody: cfg.ImportMaxBody}
	if demo != nil {
		dcfg.DemoSiteKey, dcfg.DemoSiteName = demo.SiteKey, demo.SiteName
	}
	desk, err := agentdesk.NewServer(dcfg, agentdesk.Deps{
		Accounts: orgs, Contacts: people, Conversations: intake, Bus: b, Chat: chatConn,
		Ready: pool.Ping, Log: log, Registry: reg, Limiter: limiter, Callbacks: people,
		ChatDesk: chatDesk{people, intake}, ChatSites: orgs,
		Records: people, APIKeys: orgs, Webhooks: people, Importer: people, Mailboxes: orgs, PhoneAdmin: orgs,
		Email: emailDesk{people, crm.ReplyKey([]byte(cfg.Secret))}, PrivacyAdmin: orgs,
		Calls: people, Voice: voiceDesk{hotline}, Phone: phoneHandler(cfg, orgs, hotline, log), Reports: report.NewStore(pool),
		Wallboard: orgs, Waiting: people,
	})
	if err != nil {
		return err
	}
	deskRef0 = desk
	disp := dispatch.New(dispatch.Config{Holder: cfg.NodeID, LeaseTTL: cfg.LeaseTTL, SweepInterval: cfg.SweepInterval, Grace: cfg.DisconnectGrace},
		dispatch.Deps{Pool: pool, Source: routingSource{orgs, people}, Connections: b, Assigner: assigner{people}, Notifier: desk.Notifier(),
			Subscriber: b, Presence: orgs, Requeuer: assigner{people}, Overflower: assigner{people}, Closed: closedActions{people, intake},
			WrapUps: assigner{people}, Log: log, Waits: contactWaits{waitSignals{intake}, callWaits{b}}})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: desk.Handler(reg), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Info("switchboard listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "node", cfg.NodeID)
	if demo != nil {
		printDemo(stdout, cfg.PublicURL, *demo)
	}

	g, gctx := errgroup.WithContext(ctx)
	busCtx, stopBus := context.WithCancel(context.Background())
	defer stopBus()
	g.Go(func() error { return b.Run(busCtx) })
	routeCtx, stopRouting := context.WithCancel(context.Background())
	defer stopRouting()
	g.Go(func() error { return disp.Run(routeCtx) })
	// Every node looks for chats whose visitor left; one claims each.
	g.Go(func() error { return chatConn.Run(gctx) })
	// Every node polls for due callbacks; the claim in crm makes each attempt start once.
	g.Go(func() error {
		return channels.NewCallbackScheduler(people, faults.enqueuer(dispatch.NewEnqueuer(pool)), cfg.CallbackInterval, log).Run(gctx)
	})
	// Every node sweeps calls being connected; crm's conditional updates
	// and the connectors' idempotency keys make a double sweep harmless.
	g.Go(func() error { return hotline.Run(gctx) })
	// Every node follows every Asterisk connector over AMI.
	g.Go(func() error { return asterisk.Run(gctx) })
	// Every node runs the tier job; crm recomputes each tenant once per interval.
	g.Go(func() error {
		return (&crm.TierJob{Store: people, Window: cfg.TierWindow, Every: cfg.TierInterval, Log: log}).Run(gctx)
	})
	// Every node runs the purge; crm skips customers another node is purging.
	g.Go(func() error { return crm.NewPurger(people, cfg.PurgeAfter, time.Hour, log).Run(gctx) })
	// Every node runs the report builder; one at a time leads (advisory
	// lock), and its cursor commits with the rows.
	g.Go(func() error {
		return report.NewBuilder(pool, routingSource{orgs, people}, report.Config{}, log).Run(gctx)
	})
	// Every node delivers webhooks from the outbox.
	g.Go(func() error {
		return webhook.New(pool, webhook.Config{Interval: cfg.WebhookInterval, Timeout: cfg.WebhookTimeout,
			MaxBackoff: cfg.WebhookMaxBackoff, MaxAge: cfg.WebhookMaxAge, AllowPrivate: cfg.WebhookAllowPrivate}, log).Run(gctx)
	})
	// Every node sends e-mail from the outbox; failures reach the writer's console.
	g.Go(func() error {
		return email.NewOutbox(people, orgs, desk, email.OutboxConfig{Interval: cfg.EmailOutboxInterval, Timeout: cfg.SMTPTimeout,
			BaseBackoff: cfg.EmailRetryBase, MaxBackoff: cfg.EmailMaxBackoff, MaxAttempts: cfg.EmailMaxAttempts}, log).Run(gctx)
	})
	// Every node runs the IMAP ingester; a lease per mailbox keeps one
	// node on each, and each message commits with its checkpoint.
	g.Go(func() error {
		recv := email.NewReceiver(people, intake, desk, crm.ReplyKey([]byte(cfg.Secret)), email.Limits{}, crm.EmailPolicy{}, log)
		return email.NewIngester(email.Config{Holder: cfg.NodeID, Poll: cfg.EmailPoll, Reload: cfg.EmailReload,
			DisableIdle: !cfg.EmailIdle, Batch: cfg.EmailBatch, Commit: cfg.EmailCommit}, orgs, recv, log).Run(gctx)
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx) // in-flight requests finish
		endLife()
		desk.Drain(sctx) // sockets close with 1001; clients reconnect to another node
		chatConn.Wait(sctx)
		stopRouting() // the engine rescinds its offers and releases its leases
		desk.WaitNotifications(sctx)
		stopBus()
		return err
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}
