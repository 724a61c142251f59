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

// PhoneConnectorUpdate is what an admin changes on a connector: nil fields
// stay as they are. The kind is fixed: it decides the connector's URLs.
type PhoneConnectorUpdate struct {
	Name, Mode  *string
	Secret      *string // a new secret; sealed, never read back
	CallbackURL *string
	AccountSID  *string
	APIBase     *string
	Address     *string
	Username    *string
	Context     *string
	Active      *bool
}

// changed names the fields in set, for the audit: names only, never
// values (a secret, or a user name that may name a person).
func (in PhoneConnectorUpdate) changed() []string {
	out := []string{}
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", in.Name != nil}, {"mode", in.Mode != nil}, {"secret", in.Secret != nil},
		{"callback_url", in.CallbackURL != nil}, {"account_sid", in.AccountSID != nil}, {"api_base", in.APIBase != nil},
		{"address", in.Address != nil}, {"username", in.Username != nil}, {"context", in.Context != nil},
		{"active", in.Active != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// TenantPhoneConnector returns one of tenant's connectors, active or not,
// without its secret: what the admin pages show. ErrNotFound for another
// tenant's id.
func (s *Store) TenantPhoneConnector(ctx context.Context, tenant, id uuid.UUID) (PhoneConnector, error) {
	c, err := s.scanPhoneConnector(s.pool.QueryRow(ctx,
		`SELECT `+phoneConnectorColumns+` FROM phone_connectors WHERE tenant_id = $1 AND id = $2`, tenant, id), false)
	if errors.Is(err, pgx.ErrNoRows) {
		return PhoneConnector{}, ErrNotFound
	} else if err != nil {
		return PhoneConnector{}, fmt.Errorf("phone connector %s: %w", id, err)
	}
	return c, nil
}

// UpdatePhoneConnector changes a connector's settings. The result carries
// no secret. A Zammad-format connector has no secret to change: its URL
// token is rotated instead (RotatePhoneConnectorToken).
func (s *Store) UpdatePhoneConnector(ctx context.Context, tenant, id, actor uuid.UUID, in PhoneConnectorUpdate) (PhoneConnector, error) {
	if s.sealer == nil {
		return PhoneConnector{}, errors.New("update phone connector: no sealer configured")
	}
	var out PhoneConnector
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The current secret is opened only to validate the settings as a
		// whole when no new one comes; it is not written back.
		c, err := s.scanPhoneConnector(tx.QueryRow(ctx, `SELECT `+phoneConnectorColumns+` FROM phone_connectors
			WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id), in.Secret == nil)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if c.Kind == "zammad" && in.Secret != nil {
			return fmt.Errorf("%w: a Zammad-format connector has no secret; rotate its URL token instead", ErrInvalid)
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&c.Name, in.Name)
		c.Name = strings.TrimSpace(c.Name)
		set(&c.Mode, in.Mode)
		set(&c.Secret, in.Secret)
		set(&c.CallbackURL, in.CallbackURL)
		set(&c.AccountSID, in.AccountSID)
		set(&c.APIBase, in.APIBase)
		set(&c.Address, in.Address)
		set(&c.Username, in.Username)
		set(&c.Context, in.Context)
		if in.Active != nil {
			c.Active = *in.Active
		}
		if err := (PhoneConnectorSettings{Name: c.Name, Kind: c.Kind, Mode: c.Mode, Secret: c.Secret, CallbackURL: c.CallbackURL,
			AccountSID: c.AccountSID, APIBase: c.APIBase, Address: c.Address, Username: c.Username, Context: c.Context}).validate(); err != nil {
			return err
		}
		var sealed []byte // nil: the stored secret stays
		if in.Secret != nil {
			sealed = s.sealer.Seal([]byte(*in.Secret), phoneSealContext(tenant, id))
		}
		if _, err := tx.Exec(ctx, `
			UPDATE phone_connectors SET name = $3, mode = $4, secret_enc = coalesce($5, secret_enc), callback_url = $6,
				account_sid = $7, api_base = $8, address = $9, username = $10, context = $11, active = $12
			WHERE tenant_id = $1 AND id = $2`,
			tenant, id, c.Name, c.Mode, sealed, c.CallbackURL, c.AccountSID, c.APIBase, c.Address, c.Username, c.Context, c.Active); err != nil {
			return err
		}
		c.Secret = ""
		out = c
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "phone_connector.update",
			TargetKind: "phone_connector", TargetID: id, Data: map[string]any{"changed": in.changed(), "mode": c.Mode, "active": c.Active}})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			return PhoneConnector{}, err
		}
		return PhoneConnector{}, fmt.Errorf("update phone connector %s: %w", id, err)
	}
	return out, nil
}

// DeactivatePhoneConnector stops a connector: its webhooks and token are
// refused and the AMI link closes at the next reload. Calls, numbers and
// agents' phones stay on record, so it can be switched on again
// (UpdatePhoneConnector with Active). Deactivating twice is no error.
func (s *Store) DeactivatePhoneConnector(ctx context.Context, tenant, id, actor uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var was bool
		err := tx.QueryRow(ctx, `SELECT active FROM phone_connectors WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id).Scan(&was)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE phone_connectors SET active = false WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "phone_connector.deactivate",
			TargetKind: "phone_connector", TargetID: id, Data: map[string]any{"was_active": was}})
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("deactivate phone connector %s: %w", id, err)
	}
	return err
}

// RotatePhoneConnectorToken gives a Zammad-format connector a new URL token
// and returns it; the old one is refused from the commit on. Only the new
// token's hash is stored, so this is the one time it is shown.
func (s *Store) RotatePhoneConnectorToken(ctx context.Context, tenant, id, actor uuid.UUID) (string, error) {
	b := make([]byte, 24)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var kind string
		err := tx.QueryRow(ctx, `SELECT kind FROM phone_connectors WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id).Scan(&kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if kind != "zammad" {
			return fmt.Errorf("%w: only a Zammad-format connector has a URL token; change the secret instead", ErrInvalid)
		}
		if _, err := tx.Exec(ctx, `UPDATE phone_connectors SET url_token_hash = $3 WHERE tenant_id = $1 AND id = $2`, tenant, id, h[:]); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "phone_connector.rotate_token",
			TargetKind: "phone_connector", TargetID: id})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			return "", err
		}
		return "", fmt.Errorf("rotate phone connector token %s: %w", id, err)
	}
	return token, nil
}

// phoneConnectorExists is ErrNotFound unless connector is tenant's.
func phoneConnectorExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, tenant, connector uuid.UUID) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM phone_connectors WHERE tenant_id = $1 AND id = $2)`,
		tenant, connector).Scan(&ok); err != nil {
		return err
	} else if !ok {
		return ErrNotFound
	}
	return nil
}

// PhoneNumbers lists the hotline numbers of one of tenant's connectors,
// the catch-all "*" last. ErrNotFound when the connector is not tenant's.
func (s *Store) PhoneNumbers(ctx context.Context, tenant, connector uuid.UUID) ([]PhoneNumber, error) {
	if err := phoneConnectorExists(ctx, s.pool, tenant, connector); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("phone numbers: %w", err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, tenant_id, connector_id, number, site_id, queue_id, language, menu FROM phone_numbers
		WHERE tenant_id = $1 AND connector_id = $2 ORDER BY number = '*', number`, tenant, connector)
	if err != nil {
		return nil, fmt.Errorf("phone numbers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PhoneNumber, error) {
		var n PhoneNumber
		var site *uuid.UUID
		var menu []byte
		if err := r.Scan(&n.ID, &n.TenantID, &n.ConnectorID, &n.Number, &site, &n.QueueID, &n.Language, &menu); err != nil {
			return PhoneNumber{}, err
		}
		n.SiteID = dbid.Deref(site)
		if err := json.Unmarshal(menu, &n.Menu); err != nil {
			return PhoneNumber{}, fmt.Errorf("phone number %s: menu: %w", n.ID, err)
		}
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("phone numbers: %w", err)
	}
	return out, nil
}

// DeletePhoneNumber removes a hotline number from one of tenant's
// connectors; number is the number as set ("+862160001000", "*") or its
// id. Calls to it keep their record; new ones go to the catch-all, or are
// refused without one. ErrNotFound when there is no such number.
func (s *Store) DeletePhoneNumber(ctx context.Context, tenant, connector, actor uuid.UUID, number string) error {
	id, _ := uuid.Parse(number) // a number never parses as an id
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var gone uuid.UUID
		err := tx.QueryRow(ctx, `DELETE FROM phone_numbers WHERE tenant_id = $1 AND connector_id = $2 AND (number = $3 OR id = $4)
			RETURNING id`, tenant, connector, number, id).Scan(&gone)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "phone_number.delete",
			TargetKind: "phone_number", TargetID: gone, Data: map[string]any{"connector_id": connector}})
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete phone number: %w", err)
	}
	return err
}

// AgentPhones lists how agents are reached through one of tenant's
// connectors, by extension. ErrNotFound when the connector is not tenant's.
func (s *Store) AgentPhones(ctx context.Context, tenant, connector uuid.UUID) ([]AgentPhone, error) {
	if err := phoneConnectorExists(ctx, s.pool, tenant, connector); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("agent phones: %w", err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT tenant_id, agent_id, connector_id, extension, dial, number FROM agent_phones
		WHERE tenant_id = $1 AND connector_id = $2 ORDER BY extension`, tenant, connector)
	if err != nil {
		return nil, fmt.Errorf("agent phones: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentPhone, error) { return scanAgentPhone(r) })
	if err != nil {
		return nil, fmt.Errorf("agent phones: %w", err)
	}
	return out, nil
}

// DeleteAgentPhone removes how agent is reached through connector: the
// connector then neither connects calls to them nor pops their rings.
// ErrNotFound when there is no such setting in tenant.
func (s *Store) DeleteAgentPhone(ctx context.Context, tenant, connector, agent, actor uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM agent_phones WHERE tenant_id = $1 AND connector_id = $2 AND agent_id = $3`,
			tenant, connector, agent)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "agent_phone.delete",
			TargetKind: "agent", TargetID: agent, Data: map[string]any{"connector_id": connector}})
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete agent phone: %w", err)
	}
	return err
}
