package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
)

// WebhookEvents lists every event name an endpoint may subscribe to.
var WebhookEvents = []string{
	EventCustomerCreated, EventCustomerUpdated,
	EventContactCreated, EventContactClosed,
	EventOrderCreated, EventOrderUpdated,
	EventDealCreated, EventDealUpdated,
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
	if !webhookEventName.MatchString(event) {
		return fmt.Errorf("webhook event %q: %w", event, ErrInvalid)
	}
	if data == nil {
		data = map[string]any{}
	}
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("webhook %s: payload: %w", event, err)
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
	_, err = tx.Exec(ctx, `
		INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, customer_id, payload)
		SELECT gen_random_uuid(), e.tenant_id, e.id, $2, $3, $4
		FROM webhook_endpoints e
		WHERE e.tenant_id = $1 AND e.active AND (e.events = '{}' OR $2 = ANY (e.events))`,
		tenant, event, customer, payload)
	if err != nil {
		return fmt.Errorf("webhook %s: enqueue: %w", event, err)
	}
	return nil
}
