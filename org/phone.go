package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Phone connector kinds and modes (migration 00017). channels/phone gives
// them their meaning; org only stores them.
var (
	phoneKinds = map[string]bool{"generic": true, "zammad": true, "twilio": true, "asterisk": true}
	phoneModes = map[string]bool{"control": true, "observe": true}
)

// PhoneConnector is one telephony entry point of a tenant.
type PhoneConnector struct {
	ID, TenantID uuid.UUID
	Name         string
	Kind, Mode   string
	// Secret is opened only by the reads meant for the connector
	// (PhoneConnector, PhoneConnectorByToken, ActivePhoneConnectors).
	Secret      string `json:"-"`
	CallbackURL string
	AccountSID  string
	APIBase     string
	Address     string
	Username    string
	Context     string
	Active      bool
	CreatedAt   time.Time
}

// PhoneConnectorSettings is what an admin sets on a connector.
type PhoneConnectorSettings struct {
	Name, Kind, Mode string
	Secret           string
	CallbackURL      string
	AccountSID       string
	APIBase          string
	Address          string
	Username         string
	Context          string
}

// PhoneMenuOption is one digit of a hotline's menu.
type PhoneMenuOption struct {
	Digit      string    `json:"digit"`
	Department string    `json:"department"` // enquiries, sales, service, parts…
	QueueID    uuid.UUID `json:"queue_id"`
}

// PhoneNumber is one number of the hotline: the site and default queue a
// call to it belongs to, the language callers hear, and the menu.
type PhoneNumber struct {
	ID, TenantID, ConnectorID uuid.UUID
	Number                    string // E.164 or digits as the telephony sends them; "*": any other
	SiteID                    uuid.UUID
	QueueID                   uuid.UUID
	Language                  string
	Menu                      []PhoneMenuOption
}

// AgentPhone is how an agent is reached through a connector.
type AgentPhone struct {
	TenantID, AgentID, ConnectorID uuid.UUID
	Extension                      string
	Dial                           string // "client" or "number"
	Number                         string
}

var (
	extensionRe   = regexp.MustCompile(`^[A-Za-z0-9_.@+-]{1,64}$`)
	phoneNumberRe = regexp.MustCompile(`^\+?[0-9]{2,20}$`)
)

func phoneSealContext(tenant, connector uuid.UUID) string {
	return "phone:" + tenant.String() + ":" + connector.String()
}

func (in PhoneConnectorSettings) validate() error {
	switch {
	case strings.TrimSpace(in.Name) == "":
		return fmt.Errorf("%w: a connector needs a name", ErrInvalid)
	case !phoneKinds[in.Kind]:
		return fmt.Errorf("%w: kind must be generic, zammad, twilio or asterisk", ErrInvalid)
	case !phoneModes[in.Mode]:
		return fmt.Errorf("%w: mode must be control or observe", ErrInvalid)
	case in.Kind == "zammad" && in.Mode != "observe":
		return fmt.Errorf("%w: a Zammad-format connector only observes", ErrInvalid)
	case in.Kind != "zammad" && len(in.Secret) < 16:
		return fmt.Errorf("%w: the secret must be at least 16 characters", ErrInvalid)
	case in.Kind == "generic" && in.Mode == "control" && in.CallbackURL == "":
		return fmt.Errorf("%w: a generic connector in control mode needs a callback URL", ErrInvalid)
	case in.Kind == "twilio" && in.AccountSID == "":
		return fmt.Errorf("%w: a Twilio connector needs the account SID", ErrInvalid)
	case in.Kind == "asterisk" && (in.Address == "" || in.Username == ""):
		return fmt.Errorf("%w: an Asterisk connector needs the AMI address and user", ErrInvalid)
	}
	for _, u := range []string{in.CallbackURL, in.APIBase} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("%w: %q is not an http(s) URL", ErrInvalid, u)
		}
	}
	return nil
}

// CreatePhoneConnector adds a connector. For a Zammad-format connector it
// makes the URL token and returns it; only its hash is stored, so it is
// shown once.
func (s *Store) CreatePhoneConnector(ctx context.Context, tenant, actor uuid.UUID, in PhoneConnectorSettings) (PhoneConnector, string, error) {
	if err := in.validate(); err != nil {
		return PhoneConnector{}, "", err
	}
	if s.sealer == nil {
		return PhoneConnector{}, "", errors.New("create phone connector: no sealer configured")
	}
	c := PhoneConnector{ID: dbid.New(), TenantID: tenant, Name: strings.TrimSpace(in.Name), Kind: in.Kind, Mode: in.Mode,
		CallbackURL: in.CallbackURL, AccountSID: in.AccountSID, APIBase: in.APIBase, Address: in.Address,
		Username: in.Username, Context: in.Context, Active: true}
	var token string
	var tokenHash []byte
	if in.Kind == "zammad" {
		b := make([]byte, 24)
		rand.Read(b)
		token = base64.RawURLEncoding.EncodeToString(b)
		h := sha256.Sum256([]byte(token))
		tokenHash = h[:]
	}
	secret := s.sealer.Seal([]byte(in.Secret), phoneSealContext(tenant, c.ID))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO phone_connectors (id, tenant_id, name, kind, mode, secret_enc, url_token_hash, callback_url,
				account_sid, api_base, address, username, context)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			RETURNING created_at`,
			c.ID, tenant, c.Name, c.Kind, c.Mode, secret, tokenHash, c.CallbackURL, c.AccountSID, c.APIBase,
			c.Address, c.Username, c.Context).Scan(&c.CreatedAt); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "phone_connector.create",
			TargetKind: "phone_connector", TargetID: c.ID, Data: map[string]any{"kind": c.Kind, "mode": c.Mode}})
	})
	if err != nil {
		return PhoneConnector{}, "", fmt.Errorf("create phone connector: %w", err)
	}
	return c, token, nil
}

const phoneConnectorColumns = `id, tenant_id, name, kind, mode, secret_enc, callback_url, account_sid, api_base,
	address, username, context, active, created_at`

func (s *Store) scanPhoneConnector(r pgx.Row, open bool) (PhoneConnector, error) {
	var c PhoneConnector
	var secret []byte
	if err := r.Scan(&c.ID, &c.TenantID, &c.Name, &c.Kind, &c.Mode, &secret, &c.CallbackURL, &c.AccountSID,
		&c.APIBase, &c.Address, &c.Username, &c.Context, &c.Active, &c.CreatedAt); err != nil {
		return PhoneConnector{}, err
	}
	if open {
		if s.sealer == nil {
			return PhoneConnector{}, errors.New("phone connector: no sealer configured")
		}
		plain, err := s.sealer.Open(secret, phoneSealContext(c.TenantID, c.ID))
		if err != nil {
			return PhoneConnector{}, fmt.Errorf("phone connector %s: %w", c.ID, err)
		}
		c.Secret = string(plain)
	}
	return c, nil
}

// PhoneConnector returns an active connector by id, of any tenant, its
// secret opened: the id in a webhook's URL is what ties the request to its
// tenant, and the secret then proves the sender. ErrNotFound otherwise.
func (s *Store) PhoneConnector(ctx context.Context, id uuid.UUID) (PhoneConnector, error) {
	c, err := s.scanPhoneConnector(s.pool.QueryRow(ctx,
		`SELECT `+phoneConnectorColumns+` FROM phone_connectors WHERE id = $1 AND active`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return PhoneConnector{}, ErrNotFound
	}
	return c, err
}

// PhoneConnectorByToken returns the active connector whose URL token is
// token (Zammad-format PBXs authenticate with it alone). ErrNotFound
// otherwise. The lookup is by the token's SHA-256, so timing reveals nothing
// about stored tokens.
func (s *Store) PhoneConnectorByToken(ctx context.Context, token string) (PhoneConnector, error) {
	if token == "" || len(token) > 128 {
		return PhoneConnector{}, ErrNotFound
	}
	h := sha256.Sum256([]byte(token))
	c, err := s.scanPhoneConnector(s.pool.QueryRow(ctx,
		`SELECT `+phoneConnectorColumns+` FROM phone_connectors WHERE url_token_hash = $1 AND active`, h[:]), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return PhoneConnector{}, ErrNotFound
	}
	return c, err
}

// ActivePhoneConnectors lists every tenant's active connectors of kind
// (all kinds when empty), secrets opened: the AMI clients connect to each.
func (s *Store) ActivePhoneConnectors(ctx context.Context, kind string) ([]PhoneConnector, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+phoneConnectorColumns+` FROM phone_connectors
		WHERE active AND ($1 = '' OR kind = $1) ORDER BY created_at, id`, kind)
	if err != nil {
		return nil, fmt.Errorf("phone connectors: %w", err)
	}
	defer rows.Close()
	var out []PhoneConnector
	for rows.Next() {
		c, err := s.scanPhoneConnector(rows, true)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PhoneConnectors lists a tenant's connectors without their secrets.
func (s *Store) PhoneConnectors(ctx context.Context, tenant uuid.UUID) ([]PhoneConnector, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+phoneConnectorColumns+` FROM phone_connectors
		WHERE tenant_id = $1 ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("phone connectors: %w", err)
	}
	defer rows.Close()
	var out []PhoneConnector
	for rows.Next() {
		c, err := s.scanPhoneConnector(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetPhoneNumber adds or replaces (by connector and number) a hotline number.
func (s *Store) SetPhoneNumber(ctx context.Context, tenant, actor uuid.UUID, n PhoneNumber) (PhoneNumber, error) {
	if n.Number != "*" && !phoneNumberRe.MatchString(n.Number) {
		return PhoneNumber{}, fmt.Errorf("%w: a number is digits with an optional leading +, or *", ErrInvalid)
	}
	if n.Language == "" {
		n.Language = "zh-CN"
	}
	if n.Language != "en" && n.Language != "zh-CN" {
		return PhoneNumber{}, fmt.Errorf("%w: language must be en or zh-CN", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, o := range n.Menu {
		if len(o.Digit) != 1 || !strings.Contains("0123456789*#", o.Digit) || seen[o.Digit] || o.QueueID == uuid.Nil || o.Department == "" {
			return PhoneNumber{}, fmt.Errorf("%w: each menu option needs its own digit, a department and a queue", ErrInvalid)
		}
		seen[o.Digit] = true
	}
	if n.Menu == nil {
		n.Menu = []PhoneMenuOption{}
	}
	menu, err := json.Marshal(n.Menu)
	if err != nil {
		return PhoneNumber{}, err
	}
	n.TenantID = tenant
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, o := range n.Menu {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE tenant_id = $1 AND id = $2)`, tenant, o.QueueID).Scan(&ok); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("%w: menu queue %s is not the tenant's", ErrInvalid, o.QueueID)
			}
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO phone_numbers (id, tenant_id, connector_id, number, site_id, queue_id, language, menu)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (connector_id, number) DO UPDATE
			SET site_id = EXCLUDED.site_id, queue_id = EXCLUDED.queue_id, language = EXCLUDED.language, menu = EXCLUDED.menu
			WHERE phone_numbers.tenant_id = EXCLUDED.tenant_id
			RETURNING id`, dbid.New(), tenant, n.ConnectorID, n.Number, dbid.Null(n.SiteID), n.QueueID, n.Language, menu).Scan(&n.ID)
		if errors.Is(err, pgx.ErrNoRows) || pgErrCode(err) == "23503" {
			return fmt.Errorf("%w: connector, site or queue is not the tenant's", ErrInvalid)
		} else if err != nil {
			return err
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "phone_number.set",
			TargetKind: "phone_number", TargetID: n.ID, Data: map[string]any{"connector_id": n.ConnectorID, "queue_id": n.QueueID}})
	})
	if err != nil {
		return PhoneNumber{}, fmt.Errorf("set phone number: %w", err)
	}
	return n, nil
}

// PhoneNumberFor returns the hotline number of connector that a call to
// any of dialled (the forms the telephony's number may take) reached, or
// the connector's catch-all "*". ErrNotFound when neither exists.
func (s *Store) PhoneNumberFor(ctx context.Context, tenant, connector uuid.UUID, dialled []string) (PhoneNumber, error) {
	var n PhoneNumber
	var site *uuid.UUID
	var menu []byte
	err := s.pool.QueryRow(ctx, `
		SELECT id, tenant_id, connector_id, number, site_id, queue_id, language, menu FROM phone_numbers
		WHERE tenant_id = $1 AND connector_id = $2 AND (number = ANY($3) OR number = '*')
		ORDER BY number = '*' LIMIT 1`, tenant, connector, dialled).Scan(
		&n.ID, &n.TenantID, &n.ConnectorID, &n.Number, &site, &n.QueueID, &n.Language, &menu)
	if errors.Is(err, pgx.ErrNoRows) {
		return PhoneNumber{}, ErrNotFound
	} else if err != nil {
		return PhoneNumber{}, fmt.Errorf("phone number: %w", err)
	}
	n.SiteID = dbid.Deref(site)
	if err := json.Unmarshal(menu, &n.Menu); err != nil {
		return PhoneNumber{}, fmt.Errorf("phone number %s: menu: %w", n.ID, err)
	}
	return n, nil
}

// SetAgentPhone sets how agent is reached through a connector.
func (s *Store) SetAgentPhone(ctx context.Context, tenant, actor uuid.UUID, p AgentPhone) error {
	if p.Dial == "" {
		p.Dial = "client"
	}
	switch {
	case !extensionRe.MatchString(p.Extension):
		return fmt.Errorf("%w: an extension is 1–64 letters, digits or _.@+-", ErrInvalid)
	case p.Dial != "client" && p.Dial != "number":
		return fmt.Errorf("%w: dial must be client or number", ErrInvalid)
	case p.Dial == "number" && !strings.HasPrefix(p.Number, "+"):
		return fmt.Errorf("%w: dial number needs the agent's number in E.164", ErrInvalid)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO agent_phones (tenant_id, agent_id, connector_id, extension, dial, number)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id, agent_id, connector_id) DO UPDATE
			SET extension = EXCLUDED.extension, dial = EXCLUDED.dial, number = EXCLUDED.number`,
			tenant, p.AgentID, p.ConnectorID, p.Extension, p.Dial, p.Number)
		switch {
		case err == nil:
		case pgErrCode(err) == "23503":
			return fmt.Errorf("%w: agent or connector is not the tenant's", ErrInvalid)
		case pgErrCode(err) == "23505":
			return fmt.Errorf("%w: extension %s is another agent's", ErrInvalid, p.Extension)
		default:
			return fmt.Errorf("set agent phone: %w", err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "agent_phone.set",
			TargetKind: "agent", TargetID: p.AgentID, Data: map[string]any{"connector_id": p.ConnectorID, "dial": p.Dial}})
	})
}

func scanAgentPhone(r pgx.Row) (AgentPhone, error) {
	var p AgentPhone
	err := r.Scan(&p.TenantID, &p.AgentID, &p.ConnectorID, &p.Extension, &p.Dial, &p.Number)
	if errors.Is(err, pgx.ErrNoRows) {
		return AgentPhone{}, ErrNotFound
	}
	return p, err
}

// AgentByExtension returns whose phone extension is on connector.
func (s *Store) AgentByExtension(ctx context.Context, tenant, connector uuid.UUID, extension string) (AgentPhone, error) {
	return scanAgentPhone(s.pool.QueryRow(ctx, `
		SELECT tenant_id, agent_id, connector_id, extension, dial, number FROM agent_phones
		WHERE tenant_id = $1 AND connector_id = $2 AND extension = $3`, tenant, connector, extension))
}

// AgentPhoneOn returns how agent is reached through connector.
func (s *Store) AgentPhoneOn(ctx context.Context, tenant, connector, agent uuid.UUID) (AgentPhone, error) {
	return scanAgentPhone(s.pool.QueryRow(ctx, `
		SELECT tenant_id, agent_id, connector_id, extension, dial, number FROM agent_phones
		WHERE tenant_id = $1 AND connector_id = $2 AND agent_id = $3`, tenant, connector, agent))
}

// pgErrCode is err's SQLSTATE, or "" when err is not a PostgreSQL error.
func pgErrCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Site returns one of tenant's sites.
func (s *Store) Site(ctx context.Context, tenant, id uuid.UUID) (Site, error) {
	st, err := scanSite(s.pool.QueryRow(ctx, `SELECT `+siteColumns+` FROM sites WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, ErrNotFound
	} else if err != nil {
		return Site{}, fmt.Errorf("site %s: %w", id, err)
	}
	return st, nil
}
