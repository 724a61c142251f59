package agentdesk

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/agentdesk/web"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/org"
)

// Accounts is what the desk needs of org for logins and presence.
type Accounts interface {
	Authenticate(ctx context.Context, email, password string) (org.User, error)
	CreateSession(ctx context.Context, u org.User, ttl time.Duration) (string, org.Session, error)
	SessionByToken(ctx context.Context, token string) (org.Session, error)
	RevokeSession(ctx context.Context, token string) error
	Agent(ctx context.Context, tenant, id uuid.UUID) (org.Agent, error)
	SetPresence(ctx context.Context, tenant, agent uuid.UUID, p org.Presence, reason string) (org.Agent, error)
	Sites(ctx context.Context, tenant uuid.UUID) ([]org.Site, error)
	Queues(ctx context.Context, tenant uuid.UUID) ([]org.Queue, error)
	UpdateQueue(ctx context.Context, tenant, id, actor uuid.UUID, set org.QueueSettings, strategies []string) (org.Queue, error)
	Agents(ctx context.Context, tenant uuid.UUID) ([]org.Agent, error)
	UpdateAgent(ctx context.Context, tenant, id, actor uuid.UUID, set org.AgentSettings) (org.Agent, error)
	ForcePresence(ctx context.Context, tenant, agent, actor uuid.UUID, p org.Presence, reason string) (org.Agent, error)
	AuditLog(ctx context.Context, tenant uuid.UUID, before int64, limit int) ([]org.AuditEntry, error)
}

// Contacts is what the desk reads of crm, and the supervisor's move.
type Contacts interface {
	MoveQueued(ctx context.Context, tenant, contact, toQueue, by uuid.UUID) (crm.Contact, error)
	Contact(ctx context.Context, tenant, id uuid.UUID) (crm.Contact, error)
	Messages(ctx context.Context, tenant, contact uuid.UUID, afterSeq int) ([]crm.Message, error)
	// Privacy: screen-pops come only scoped and masked (ScreenPopFor).
	Privacy
	Searcher
	Merges
	HeldContacts(ctx context.Context, tenant, agent uuid.UUID) ([]crm.Contact, error)
	// EndWrapUp ends the agent's wrap-up of a closed contact (Done), keeping
	// a non-empty note; at is zero for now.
	EndWrapUp(ctx context.Context, tenant, agent, contact uuid.UUID, note string, at time.Time) (crm.Contact, error)
	// SetDisposition stores the agent's code (one of the queue's) before
	// Close or EndWrapUp copy it into their events; required: an empty code
	// is refused when the queue has codes and none is stored.
	SetDisposition(ctx context.Context, tenant, agent, contact uuid.UUID, code string, required bool) error
	Customer(ctx context.Context, tenant, id uuid.UUID) (crm.CustomerSummary, error)
	Timeline(ctx context.Context, tenant, customer uuid.UUID, before time.Time, limit int, channel org.Channel) ([]crm.TimelineItem, error)
	RecordEvent(ctx context.Context, tenant, contact uuid.UUID, kind string, queue, agent uuid.UUID, data map[string]any) error
}

// Conversations sends agents' lines and closes on the contact's own channel.
type Conversations interface {
	Reply(ctx context.Context, tenant, agent, contact uuid.UUID, clientID, body string) (crm.Message, error)
	Close(ctx context.Context, tenant, agent, contact uuid.UUID, wrapUp string) (crm.Contact, error)
	Transfer(ctx context.Context, tenant, agent, contact, toQueue uuid.UUID) (crm.Contact, error)
	// TransferToAgent: to a named colleague, then to toQueue (uuid.Nil: its own queue).
	TransferToAgent(ctx context.Context, tenant, agent, contact, target, toQueue uuid.UUID) (crm.Contact, error)
	Announce(ctx context.Context, tenant, contact uuid.UUID, state, agentName string)
}

// Config is the desk's share of the configuration.
type Config struct {
	PublicURL      string        // e.g. http://localhost:8080: the only origin allowed for pages and sockets
	SessionTTL     time.Duration // default 12h
	MaxBody        int64         // largest request body; default 1 MiB
	ImportMaxBody  int64         // largest body of POST /api/import; default 64 MiB
	SessionRecheck time.Duration // sockets recheck their session this often; default 60s
	DemoSiteKey    string        // chat key of the site whose widget /demo shows; empty: no demo page
	DemoSiteName   string
}

// Server is the agent desk's HTTP server.
type Server struct {
	cfg      Config
	accounts Accounts
	contacts Contacts
	convs    Conversations
	bus      *bus.Bus
	chat     http.Handler
	ready    func(ctx context.Context) error
	log      *slog.Logger
	tmpl     *template.Template
	origin   string // scheme://host[:port] of PublicURL
	secure   bool   // cookies only over https
	upgrader websocket.Upgrader
	metrics  *metrics
	limiter  *ratelimit.Limiter
	// pops bounds the screen-pops being loaded after offers (notifier.go),
	// and popsRunning lets shutdown wait for them (WaitNotifications).
	pops        chan struct{}
	popsRunning sync.WaitGroup

	// callbacks is nil on a server built without them: their routes answer 503.
	callbacks Callbacks
	// records and keys are nil on a server built without the CRM API: its
	// routes answer 503, and API keys are refused.
	records Records
	keys    APIKeys
	// webhooks and importer are nil on a server built without them: their
	// routes answer 503.
	webhooks Webhooks
	importer Importer
	// chatDesk and chatSites are nil on a server built without the chat
	// panel's extras: their frames and routes answer unavailable.
	chatDesk  ChatDesk
	chatSites ChatSites
	// mailboxes is nil on a server built without e-mail's admin routes:
	// they answer 503.
	mailboxes MailboxAdmin
	// phoneAdmin is nil on a server built without the phone channel's
	// admin routes: they answer 503.
	phoneAdmin PhoneAdmin
	// email is nil on a server built without e-mail: its routes answer 503.
	email Email
	// privacyAdmin is nil on a server built without it: the privacy
	// settings' and teams' routes answer 503.
	privacyAdmin PrivacyAdmin
	// calls and voice are nil on a server built without the phone
	// channel: voice contacts then show no call panel and connect nowhere.
	calls Calls
	voice Voice
	// phone serves the telephony's webhooks under /phone/ (nil: 404).
	phone http.Handler
	// reports is nil on a server built without them: /api/reports answers 503.
	reports Reports
	// wall: the wallboard's stores and cached thresholds (wallboard.go).
	wall *wallboardState

	// sockets lets a draining server wait for every socket to close;
	// life ends them all.
	sockets   sync.WaitGroup
	life      context.Context
	closeLife context.CancelFunc
}

// Deps are the Server's collaborators.
type Deps struct {
	// Mailboxes: the tenant's e-mail mailboxes (org.Store).
	Mailboxes MailboxAdmin
	// PhoneAdmin: the tenant's phone connectors, numbers and agents'
	// phones (org.Store).
	PhoneAdmin PhoneAdmin

	Accounts      Accounts
	Contacts      Contacts
	Conversations Conversations
	Bus           *bus.Bus
	Chat          http.Handler // the chat connector's visitor socket
	Ready         func(ctx context.Context) error
	Log           *slog.Logger
	Registry      prometheus.Registerer
	Limiter       *ratelimit.Limiter // shared across nodes
	Callbacks     Callbacks
	Records       Records      // the CRM API's records (crm.Store)
	APIKeys       APIKeys      // systems' credentials (org.Store)
	ChatDesk      ChatDesk     // read receipts, typing, attachments for the console
	ChatSites     ChatSites    // sites' widget settings (org.Store)
	Webhooks      Webhooks     // webhook receivers and deliveries (crm.Store)
	Importer      Importer     // customer imports over HTTP (crm.Store)
	Email         Email        // the e-mail panel, replies and canned responses (crm.Store)
	PrivacyAdmin  PrivacyAdmin // privacy settings and teams (org.Store)
	Calls         Calls        // the call panel's state (crm.Store)
	Voice         Voice        // connects accepted calls (phone.Service)
	// Phone serves the phone connectors' webhooks, mounted at /phone/:
	// public routes, each connector authenticating its telephony itself.
	Phone http.Handler
	// Reports: the report tables (report.Store); nil: /api/reports is 503.
	Reports Reports
	// Wallboard: thresholds, sites and teams (org.Store); Waiting: the
	// drill-down's waiting contacts and the move to an agent (crm.Store).
	// Either nil: those parts answer 503 and colours use the defaults.
	Wallboard WallboardData
	Waiting   WaitingContacts
}

// NewServer returns a Server; Handler gives its routes.
func NewServer(cfg Config, d Deps) (*Server, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.ImportMaxBody <= 0 {
		cfg.ImportMaxBody = 64 << 20
	}
	if cfg.SessionRecheck <= 0 {
		cfg.SessionRecheck = 60 * time.Second
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, &configError{"public URL must look like http://host:port, got " + cfg.PublicURL}
	}
	if d.Limiter == nil {
		return nil, &configError{"a rate limiter is required: public endpoints are never unlimited"}
	}
	tmpl, err := web.Templates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, accounts: d.Accounts, contacts: d.Contacts, convs: d.Conversations, bus: d.Bus, chat: d.Chat,
		ready: d.Ready, log: d.Log, tmpl: tmpl,
		origin:  u.Scheme + "://" + u.Host,
		secure:  u.Scheme == "https",
		metrics: newMetrics(d.Registry),
		limiter: d.Limiter,
		// Screen-pops loading at once, at most: each holds two pooled
		// connections for a moment, and the pool is shared with intake.
		pops: make(chan struct{}, 8),
	}
	s.callbacks = d.Callbacks
	s.records, s.keys = d.Records, d.APIKeys
	s.webhooks, s.importer = d.Webhooks, d.Importer
	s.chatDesk, s.chatSites = d.ChatDesk, d.ChatSites
	s.mailboxes = d.Mailboxes
	s.phoneAdmin = d.PhoneAdmin
	s.email = d.Email
	s.privacyAdmin = d.PrivacyAdmin
	s.calls, s.voice, s.phone = d.Calls, d.Voice, d.Phone
	s.reports = d.Reports
	s.wall = newWallboardState(d.Wallboard, d.Waiting)
	s.life, s.closeLife = context.WithCancel(context.Background())
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		// Cross-site websocket hijacking: a cookie-authenticated socket
		// accepts only our own pages' origin.
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == s.origin },
	}
	return s, nil
}

// Drain closes every socket with 1001 "going away" (clients reconnect to
// another node) and waits until they are gone or ctx ends. http.Server's
// Shutdown does not see hijacked connections, hence this.
func (s *Server) Drain(ctx context.Context) {
	s.closeLife()
	done := make(chan struct{})
	go func() { s.sockets.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// WaitNotifications waits until the screen-pops still loading after their
// offers are sent, or ctx ends. Call it once routing has stopped: no new
// offer may start one meanwhile.
func (s *Server) WaitNotifications(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.popsRunning.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

type configError struct{ msg string }

func (e *configError) Error() string { return "agentdesk: " + e.msg }
