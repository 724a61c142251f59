package crm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// TestWebhookOutboxFanOut: a new contact and its close write one outbox
// row per subscribed endpoint of the tenant, in the change's transaction;
// a duplicate inbound writes none; other tenants' and unsubscribed
// endpoints get nothing.
func TestWebhookOutboxFanOut(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	contacts, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{
		URL: "https://erp.example.com/hooks", Events: []string{crm.EventContactClosed, crm.EventContactCreated}})
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint = %v", err)
	}
	if !strings.HasPrefix(contacts.Secret, "whsec_") {
		t.Errorf("generated secret %q, want a whsec_ prefix", contacts.Secret)
	}
	customersOnly, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{
		URL: "https://crm.example.com/hooks", Events: []string{crm.EventCustomerUpdated}, Secret: "0123456789abcdef"})
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint = %v", err)
	}
	all, err := b.store.CreateWebhookEndpoint(ctx, b.b.ID, b.b.Agent, crm.NewWebhookEndpoint{URL: "http://b.example.com/"})
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint(tenant b) = %v", err)
	}

	res := b.record(t, inbound(b.a, "k1", "wang.wei@example.cn"))
	b.record(t, inbound(b.a, "k1", "wang.wei@example.cn")) // the same item again: a duplicate
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1 AND endpoint_id = $2 AND event = 'contact.created'
		AND customer_id = $3 AND payload->>'contact_id' = $4`, b.a.ID, contacts.ID, res.CustomerID, res.ContactID.String()); n != 1 {
		t.Errorf("%d contact.created rows for the contacts endpoint, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE endpoint_id = ANY ($1)`, []uuid.UUID{customersOnly.ID, all.ID}); n != 0 {
		t.Errorf("%d rows for an unsubscribed or other tenant's endpoint, want 0", n)
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE payload::text LIKE '%Hello%' OR payload::text LIKE '%wang.wei%'`); n != 0 {
		t.Errorf("%d contact payloads carry message text or the address, want 0", n)
	}

	b.assign(t, b.a, res.ContactID, b.a.Agent)
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "called back"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE endpoint_id = $1 AND event = 'contact.closed'
		AND payload->>'state' = 'closed' AND payload::text NOT LIKE '%called back%'`, contacts.ID); n != 1 {
		t.Errorf("%d contact.closed rows without the wrap-up note, want 1", n)
	}

	ds, err := b.store.WebhookDeliveries(ctx, b.a.ID, uuid.Nil, 10)
	if err != nil || len(ds) != 2 || ds[0].Event != crm.EventContactClosed || ds[0].NextAttemptAt == nil {
		t.Errorf("WebhookDeliveries = %+v, %v; want contact.closed then contact.created, due", ds, err)
	}
	// Another tenant's endpoint is not found, for reading and deleting.
	if _, err := b.store.WebhookDeliveries(ctx, b.b.ID, contacts.ID, 10); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("WebhookDeliveries(tenant b, a's endpoint) = %v, want ErrNotFound", err)
	}
	if err := b.store.DeleteWebhookEndpoint(ctx, b.b.ID, b.b.Agent, contacts.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("DeleteWebhookEndpoint(tenant b, a's endpoint) = %v, want ErrNotFound", err)
	}
	if err := b.store.DeleteWebhookEndpoint(ctx, b.a.ID, b.a.Agent, contacts.ID); err != nil {
		t.Fatalf("DeleteWebhookEndpoint = %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE endpoint_id = $1`, contacts.ID); n != 0 {
		t.Errorf("%d outbox rows left for a deleted endpoint, want 0", n)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action IN ('webhook.create', 'webhook.delete')`, b.a.ID); n != 3 {
		t.Errorf("%d audit rows for webhook changes, want 3", n)
	}
	eps, err := b.store.WebhookEndpoints(ctx, b.a.ID)
	if err != nil || len(eps) != 1 || eps[0].ID != customersOnly.ID || eps[0].Secret != "" {
		t.Errorf("WebhookEndpoints = %+v, %v; want only the customers endpoint, without its secret", eps, err)
	}
}

func TestWebhookEndpointRefusals(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	for _, n := range []crm.NewWebhookEndpoint{
		{URL: "ftp://example.com/"},
		{URL: "/relative"},
		{URL: "https://user:pw@example.com/"},
		{URL: "https://example.com/", Events: []string{"customer.exploded"}},
		{URL: "https://example.com/", Secret: "short"},
	} {
		if _, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, n); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("CreateWebhookEndpoint(%+v) = %v, want ErrInvalid", n, err)
		}
	}
}

// TestWebhookEndpointRefusesInternalAddresses: by default a receiver URL
// whose host is, or is named as, a loopback, private, link-local, CGNAT,
// multicast or unspecified address is refused at registration with a
// clear ErrInvalid; a Store with private receivers allowed (the tests'
// setting) takes the private ones, never multicast or unspecified.
func TestWebhookEndpointRefusesInternalAddresses(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	refused := []string{
		"http://127.0.0.1:8080/hook", "http://[::1]/", "http://localhost/hook", "https://10.0.0.5/",
		"https://172.20.1.1/", "https://192.168.1.10/", "https://[fd12:3456::1]/", "http://169.254.169.254/latest/meta-data",
		"https://[fe80::1]/", "https://100.64.12.1/", "https://224.0.0.1/", "http://0.0.0.0:9000/", "https://[::]/",
		"http://[::ffff:127.0.0.1]/",
	}
	for _, u := range refused {
		_, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{URL: u})
		if !errors.Is(err, crm.ErrInvalid) || !strings.Contains(err.Error(), "url must reach a public address") {
			t.Errorf("CreateWebhookEndpoint(%s) = %v, want ErrInvalid naming the address rule", u, err)
		}
	}
	for _, u := range []string{"https://93.184.216.34/hook", "https://erp.example.com/hook"} {
		if _, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{URL: u}); err != nil {
			t.Errorf("CreateWebhookEndpoint(%s) = %v, want it registered", u, err)
		}
	}
	allow := b.store.WithPrivateWebhooks(true)
	for i, u := range refused {
		_, err := allow.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{URL: u})
		always := strings.Contains(u, "224.") || strings.Contains(u, "0.0.0.0") || strings.Contains(u, "[::]")
		if always != (err != nil) {
			t.Errorf("allowing private: CreateWebhookEndpoint(%s) = %v, want refused %v", refused[i], err, always)
		}
	}
	// The default Store is untouched by WithPrivateWebhooks.
	if _, err := b.store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{URL: refused[0]}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("default Store after WithPrivateWebhooks: %v, want ErrInvalid", err)
	}
}
