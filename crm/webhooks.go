package crm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// Webhook event names. Receivers subscribe to some of them, or to all.
const (
	EventCustomerCreated = "customer.created"
	EventCustomerUpdated = "customer.updated"
	EventContactCreated  = "contact.created"
	EventContactClosed   = "contact.closed"
	EventOrderCreated    = "order.created"
	EventOrderUpdated    = "order.updated"
	EventDealCreated     = "deal.created"
	EventDealUpdated     = "deal.updated"
	EventVehicleCreated  = "vehicle.created"
	EventVehicleUpdated  = "vehicle.updated"
	EventVehicleDeleted  = "vehicle.deleted"
	EventFollowUpCreated = "follow_up.created"
	EventFollowUpUpdated = "follow_up.updated"
	EventFollowUpDone    = "follow_up.done"
	EventFollowUpDeleted = "follow_up.deleted"
)

// WebhookEvents lists every event name an endpoint may subscribe to.
var WebhookEvents = []string{
	EventCustomerCreated, EventCustomerUpdated,
	EventContactCreated, EventContactClosed,
	EventOrderCreated, EventOrderUpdated,
	EventDealCreated, EventDealUpdated,
	EventVehicleCreated, EventVehicleUpdated, EventVehicleDeleted,
	EventFollowUpCreated, EventFollowUpUpdated, EventFollowUpDone, EventFollowUpDeleted,
}

var webhookEventName = regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)

// enqueueWebhook writes event for every active endpoint of tenant that
// subscribes to it, inside tx: the outbox rows commit or roll back with the
// change they announce, so a receiver never hears of a change that did not
// happen, and a crash after commit loses nothing (crm/webhook delivers
// them). It is one statement whether or not the tenant has endpoints.
//
// data is the payload: ids and changed fields. It may carry a customer's
// personal data (a dealer's ERP needs it); data["customer_id"] (a uuid.UUID
// or its string) is copied to the rows' customer_id column so that purging
// that customer finds and erases them.
func enqueueWebhook(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, event string, data map[string]any) error {
	sql, args, err := webhookStmt(tenant, event, data)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("webhook %s: enqueue: %w", event, err)
	}
	return nil
}

// queueWebhook adds enqueueWebhook's statement to b.
func queueWebhook(b *pgx.Batch, tenant uuid.UUID, event string, data map[string]any) error {
	sql, args, err := webhookStmt(tenant, event, data)
	if err != nil {
		return err
	}
	b.Queue(sql, args...)
	return nil
}

func webhookStmt(tenant uuid.UUID, event string, data map[string]any) (string, []any, error) {
	if !webhookEventName.MatchString(event) {
		return "", nil, fmt.Errorf("webhook event %q: %w", event, ErrInvalid)
	}
	if data == nil {
		data = map[string]any{}
	}
	payload, err := json.Marshal(data)
	if err != nil {
		return "", nil, fmt.Errorf("webhook %s: payload: %w", event, err)
	}
	var customer *uuid.UUID
	switch v := data["customer_id"].(type) {
	case uuid.UUID:
		if v != uuid.Nil {
			customer = &v
		}
	case *uuid.UUID:
		if v != nil && *v != uuid.Nil {
			customer = v
		}
	case string:
		if id, err := uuid.Parse(v); err == nil {
			customer = &id
		}
	}
	// gen_random_uuid: one id per endpoint in a single set-based insert;
	// the delivery order comes from created_at, not from the id.
	return `
		INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, customer_id, payload)
		SELECT gen_random_uuid(), e.tenant_id, e.id, $2, $3, $4
		FROM webhook_endpoints e
		WHERE e.tenant_id = $1 AND e.active AND (e.events = '{}' OR $2 = ANY (e.events))`,
		[]any{tenant, event, customer, payload}, nil
}

// inboundWebhook is contact.created's payload: ids and routing facts, no
// message text (receivers that need the customer hear customer events).
func inboundWebhook(in Inbound, res InboundResult) map[string]any {
	return map[string]any{
		"contact_id": res.ContactID, "channel": in.Channel, "queue_id": in.QueueID,
		"site_id": nullID(in.SiteID), "customer_id": nullID(res.CustomerID),
		"candidates": res.Candidates, "new_customer": res.NewCustomer, "arrived_at": res.ArrivedAt,
	}
}

// contactWebhook is contact.closed's payload. The wrap-up note is the
// agent's free text and stays out.
func contactWebhook(c Contact) map[string]any {
	return map[string]any{
		"contact_id": c.ID, "channel": c.Channel, "queue_id": c.QueueID, "state": c.State,
		"site_id": c.SiteID, "customer_id": c.CustomerID, "arrived_at": c.ArrivedAt, "closed_at": c.ClosedAt,
	}
}

// vehicleWebhook is a vehicle event's payload: the vehicle with every
// customer linked to it. customer_id (the column purge erases by) is the
// customer the change came through, else the vehicle's first linked one: a
// vehicle's plate and VIN are a customer's data too.
func vehicleWebhook(v VehicleRecord, through uuid.UUID) map[string]any {
	if through == uuid.Nil && len(v.Customers) > 0 {
		through = v.Customers[0].CustomerID
	}
	return map[string]any{"vehicle_id": v.ID, "customer_id": nullID(through), "vehicle": v}
}

// followUpWebhook is a follow-up event's payload: the whole follow-up,
// its note included (the task's own text, which receivers that sync tasks
// need; purging the customer erases these rows with the note).
func followUpWebhook(f FollowUp) map[string]any {
	return map[string]any{"follow_up_id": f.ID, "customer_id": f.CustomerID, "follow_up": f}
}

// nullID is id for a payload, with uuid.Nil as JSON null.
func nullID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// WebhookEndpoint is a receiver of a tenant's webhooks.
type WebhookEndpoint struct {
	ID     uuid.UUID `json:"id"`
	URL    string    `json:"url"`
	Events []string  `json:"events"` // empty: every event
	Active bool      `json:"active"`
	// Secret signs the deliveries. It is returned once, by
	// CreateWebhookEndpoint; listings leave it empty.
	Secret    string     `json:"secret,omitempty"`
	CreatedBy *uuid.UUID `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// NewWebhookEndpoint is an endpoint to register. An empty Secret is
// generated (32 random bytes).
type NewWebhookEndpoint struct {
	URL    string
	Events []string
	Secret string
}

// WithPrivateWebhooks returns a Store like s that lets webhook receivers
// live at loopback, private, link-local and CGNAT addresses
// (SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE: tests, single-network deployments).
// By default they are refused: a tenant's admin must not make the server
// POST into its own network.
func (s *Store) WithPrivateWebhooks(allow bool) *Store {
	c := *s
	c.webhookAddrs.AllowPrivate = allow
	return &c
}

// CreateWebhookEndpoint registers a receiver; the audit log records who
// did, with the endpoint's id and events (not its URL or secret). A URL
// whose host is, or resolves to, an address the server's network policy
// refuses (loopback, private, link-local, CGNAT, multicast, unspecified)
// is ErrInvalid; crm/webhook checks the dialled address again at each
// delivery, so a name that resolves elsewhere later is refused then.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, tenant, actor uuid.UUID, n NewWebhookEndpoint) (WebhookEndpoint, error) {
	u, err := url.Parse(n.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(n.URL) > 2048 {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint: url must be an absolute http(s) URL without credentials: %w", ErrInvalid)
	}
	if err := s.webhookAddrs.CheckHost(ctx, nil, u.Hostname()); err != nil {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint: url must reach a public address (%v): %w", err, ErrInvalid)
	}
	events := slices.Clone(n.Events)
	slices.Sort(events)
	events = slices.Compact(events)
	for _, e := range events {
		if !slices.Contains(WebhookEvents, e) {
			return WebhookEndpoint{}, fmt.Errorf("webhook endpoint: unknown event %q: %w", e, ErrInvalid)
		}
	}
	if events == nil {
		events = []string{}
	}
	secret := n.Secret
	if secret == "" {
		b := make([]byte, 32)
		rand.Read(b)
		secret = "whsec_" + hex.EncodeToString(b)
	} else if len(secret) < 16 || len(secret) > 256 {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint: secret must have 16 to 256 characters: %w", ErrInvalid)
	}
	e := WebhookEndpoint{ID: dbid.New(), URL: n.URL, Events: events, Active: true, Secret: secret, CreatedBy: dbid.Null(actor)}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO webhook_endpoints (id, tenant_id, url, secret, events, created_by)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
			e.ID, tenant, e.URL, secret, events, dbid.Null(actor)).Scan(&e.CreatedAt); err != nil {
			return mapWriteError("create webhook endpoint", err)
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "webhook.create",
			TargetKind: "webhook_endpoint", TargetID: e.ID, Data: map[string]any{"events": events}})
	})
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return e, nil
}

// WebhookEndpoints lists a tenant's receivers, oldest first, without
// their secrets.
func (s *Store) WebhookEndpoints(ctx context.Context, tenant uuid.UUID) ([]WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, url, events, active, created_by, created_at FROM webhook_endpoints
		WHERE tenant_id = $1 ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookEndpoint, error) {
		var e WebhookEndpoint
		err := r.Scan(&e.ID, &e.URL, &e.Events, &e.Active, &e.CreatedBy, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", err)
	}
	return out, nil
}

// DeleteWebhookEndpoint removes a receiver and, with it, its undelivered
// and delivered outbox rows: nobody is left to send them to.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, tenant, actor, id uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
		}
		return org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: actor, Action: "webhook.delete",
			TargetKind: "webhook_endpoint", TargetID: id})
	})
}

// WebhookDelivery is one outbox row as admins see it: its state, never its
// payload (which may carry personal data).
type WebhookDelivery struct {
	ID            uuid.UUID  `json:"id"`
	EndpointID    uuid.UUID  `json:"endpoint_id"`
	Event         string     `json:"event"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"` // null once delivered or failed
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	FailedAt      *time.Time `json:"failed_at,omitempty"`
	LastStatus    int        `json:"last_status"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
}

// WebhookDeliveries returns the newest deliveries of the tenant (of one
// endpoint unless endpoint is uuid.Nil), at most limit (1 to 500, default
// 50). An endpoint that is not the tenant's is ErrNotFound.
func (s *Store) WebhookDeliveries(ctx context.Context, tenant, endpoint uuid.UUID, limit int) ([]WebhookDelivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if endpoint != uuid.Nil {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2)`,
			tenant, endpoint).Scan(&ok); err != nil {
			return nil, fmt.Errorf("webhook deliveries: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("webhook endpoint %s: %w", endpoint, ErrNotFound)
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, endpoint_id, event, attempts,
		       CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN next_attempt_at END,
		       delivered_at, failed_at, last_status, last_error, created_at
		FROM webhook_outbox
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR endpoint_id = $2)
		ORDER BY created_at DESC, id LIMIT $3`, tenant, dbid.Null(endpoint), limit)
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookDelivery, error) {
		var d WebhookDelivery
		err := r.Scan(&d.ID, &d.EndpointID, &d.Event, &d.Attempts, &d.NextAttemptAt, &d.DeliveredAt, &d.FailedAt,
			&d.LastStatus, &d.LastError, &d.CreatedAt)
		return d, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	return out, nil
}
