package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is every setting, read from the environment. README.md's
// configuration table documents the same fields.
type Config struct {
	Addr            string        `env:"SWITCHBOARD_ADDR" envDefault:":8080"`
	PublicURL       string        `env:"SWITCHBOARD_PUBLIC_URL" envDefault:"http://localhost:8080"`
	DatabaseURL     string        `env:"DATABASE_URL"`
	RedisURL        string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	RedisPrefix     string        `env:"SWITCHBOARD_REDIS_PREFIX" envDefault:"sb:"`
	NodeID          string        `env:"SWITCHBOARD_NODE_ID"`
	Secret          string        `env:"SWITCHBOARD_SECRET"`
	SessionTTL      time.Duration `env:"SWITCHBOARD_SESSION_TTL" envDefault:"12h"`
	LogLevel        slog.Level    `env:"SWITCHBOARD_LOG_LEVEL" envDefault:"info"`
	LogFormat       string        `env:"SWITCHBOARD_LOG_FORMAT" envDefault:"text"`
	SweepInterval   time.Duration `env:"SWITCHBOARD_SWEEP_INTERVAL" envDefault:"2s"`
	LeaseTTL        time.Duration `env:"SWITCHBOARD_LEASE_TTL" envDefault:"10s"`
	DisconnectGrace time.Duration `env:"SWITCHBOARD_DISCONNECT_GRACE" envDefault:"60s"`
	ShutdownTimeout time.Duration `env:"SWITCHBOARD_SHUTDOWN_TIMEOUT" envDefault:"20s"`
	MaxBody         int64         `env:"SWITCHBOARD_MAX_BODY" envDefault:"1048576"`
	ImportMaxBody   int64         `env:"SWITCHBOARD_IMPORT_MAX_BODY" envDefault:"67108864"`
	ChatConnects    int           `env:"SWITCHBOARD_CHAT_CONNECTS_PER_MINUTE" envDefault:"60"`
	ChatAddressRate int           `env:"SWITCHBOARD_CHAT_ADDRESS_MESSAGES_PER_SECOND" envDefault:"20"`

	// PhoneRingTimeout: an agent's phone that has not answered a connected
	// call this long is given up on; the call goes back to the queue.
	PhoneRingTimeout time.Duration `env:"SWITCHBOARD_PHONE_RING_TIMEOUT" envDefault:"30s"`
	// AsteriskReload: how often each node re-reads the Asterisk connectors
	// and (re)connects to new or changed ones.
	AsteriskReload time.Duration `env:"SWITCHBOARD_ASTERISK_RELOAD" envDefault:"30s"`
	// CallbackInterval is how often each node looks for due callbacks.
	CallbackInterval time.Duration `env:"SWITCHBOARD_CALLBACK_INTERVAL" envDefault:"1s"`

	// TierWindow is the revenue window customers' tiers are computed over;
	// TierInterval how often each tenant's tiers are recomputed (once
	// across all nodes).
	TierWindow   time.Duration `env:"SWITCHBOARD_TIER_WINDOW" envDefault:"8760h"`
	TierInterval time.Duration `env:"SWITCHBOARD_TIER_INTERVAL" envDefault:"24h"`

	// Webhook delivery (crm/webhook): every node runs a worker; the outbox
	// claim keeps them off each other's rows.
	WebhookInterval   time.Duration `env:"SWITCHBOARD_WEBHOOK_INTERVAL" envDefault:"1s"`
	WebhookTimeout    time.Duration `env:"SWITCHBOARD_WEBHOOK_TIMEOUT" envDefault:"10s"`
	WebhookMaxBackoff time.Duration `env:"SWITCHBOARD_WEBHOOK_MAX_BACKOFF" envDefault:"1h"`
	WebhookMaxAge     time.Duration `env:"SWITCHBOARD_WEBHOOK_MAX_AGE" envDefault:"72h"`
	// WebhookAllowPrivate lets receivers live at loopback, private,
	// link-local and CGNAT addresses (tests; one private network). Off,
	// such URLs are refused when registered and at every dial.
	WebhookAllowPrivate bool `env:"SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE" envDefault:"false"`

	// The e-mail outbox (channels/email): every node runs a sender; the
	// claim keeps them off each other's rows. A failed attempt waits
	// EmailRetryBase doubled per attempt (with jitter) up to
	// EmailMaxBackoff; after EmailMaxAttempts, or a permanent refusal, the
	// reply is failed until an agent retries it.
	EmailOutboxInterval time.Duration `env:"SWITCHBOARD_EMAIL_OUTBOX_INTERVAL" envDefault:"1s"`
	SMTPTimeout         time.Duration `env:"SWITCHBOARD_SMTP_TIMEOUT" envDefault:"60s"`
	EmailRetryBase      time.Duration `env:"SWITCHBOARD_EMAIL_RETRY_BASE" envDefault:"30s"`
	EmailMaxBackoff     time.Duration `env:"SWITCHBOARD_EMAIL_MAX_BACKOFF" envDefault:"1h"`
	EmailMaxAttempts    int           `env:"SWITCHBOARD_EMAIL_MAX_ATTEMPTS" envDefault:"10"`

	// E-mail ingest (channels/email): every node runs the ingester; a
	// per-mailbox lease keeps one node on each mailbox.
	EmailPoll   time.Duration `env:"SWITCHBOARD_EMAIL_POLL_INTERVAL" envDefault:"30s"`
	EmailReload time.Duration `env:"SWITCHBOARD_EMAIL_RELOAD_INTERVAL" envDefault:"1m"`
	EmailIdle   bool          `env:"SWITCHBOARD_EMAIL_IDLE" envDefault:"true"`
	EmailBatch  int           `env:"SWITCHBOARD_EMAIL_FETCH_BATCH" envDefault:"100"`
	// EmailCommit is how many fetched messages commit in one transaction
	// with the mailbox's checkpoint (email.Config.Commit).
	EmailCommit int `env:"SWITCHBOARD_EMAIL_COMMIT_BATCH" envDefault:"50"`

	// PurgeAfter is how long a deleted customer stays in the recycle bin
	// before their personal data is erased (crm.Purger).
	PurgeAfter time.Duration `env:"SWITCHBOARD_PURGE_AFTER" envDefault:"720h"`
}

func loadConfig(getenv func(string) string) (Config, error) {
	var c Config
	err := env.ParseWithOptions(&c, env.Options{
		Environment: envMap(getenv),
	})
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		c.NodeID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.EmailCommit < 1 || c.EmailCommit > 1000 {
		return Config{}, fmt.Errorf("configuration: SWITCHBOARD_EMAIL_COMMIT_BATCH must be 1 to 1000 messages, not %d", c.EmailCommit)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return Config{}, fmt.Errorf("configuration: SWITCHBOARD_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	return c, nil
}

// envMap turns a getenv function into the map env wants, for the variables
// Config names, so tests can pass their own environment.
func envMap(getenv func(string) string) map[string]string {
	m := map[string]string{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("env"); k != "" {
			if v := getenv(k); v != "" {
				m[k] = v
			}
		}
	}
	return m
}
