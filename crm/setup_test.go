package crm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// tenantOrg is one tenant's fixture: a site, a queue, two agents, and a routing
// lease held by "node-1" at epoch 1.
type tenantOrg struct {
	ID, SiteID, QueueID uuid.UUID
	Agent, Agent2       uuid.UUID
}

const (
	leaseHolder = "node-1"
	leaseEpoch  = 1
)

type bundle struct {
	store *crm.Store
	pool  *pgxpool.Pool
	a, b  tenantOrg
}

func setup(t *testing.T) bundle {
	t.Helper()
	pool, _ := pgtest.New(t)
	return bundle{store: crm.NewStore(pool), pool: pool, a: makeTenant(t, pool, "a"), b: makeTenant(t, pool, "b")}
}

func makeTenant(t *testing.T, pool *pgxpool.Pool, name string) tenantOrg {
	t.Helper()
	ctx := context.Background()
	o := tenantOrg{ID: uuid.New(), SiteID: uuid.New(), QueueID: uuid.New(), Agent: uuid.New(), Agent2: uuid.New()}
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (id, name) VALUES ($1, $2)`, []any{o.ID, "Tenant " + name}},
		{`INSERT INTO sites (id, tenant_id, name, chat_key) VALUES ($1, $2, $3, $4)`, []any{o.SiteID, o.ID, "Site " + name, "key-" + o.SiteID.String()}},
		{`INSERT INTO queues (id, tenant_id, site_id, name) VALUES ($1, $2, $3, 'Enquiries')`, []any{o.QueueID, o.ID, o.SiteID}},
		{`INSERT INTO routing_lease (tenant_id, holder, epoch, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')`, []any{o.ID, leaseHolder, leaseEpoch}},
	}
	for i, agent := range []uuid.UUID{o.Agent, o.Agent2} {
		stmts = append(stmts,
			struct {
				sql  string
				args []any
			}{`INSERT INTO users (id, tenant_id, site_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, $5, 'x', 'agent')`,
				[]any{agent, o.ID, o.SiteID, fmt.Sprintf("agent%d-%s@example.com", i+1, name), fmt.Sprintf("Agent %d %s", i+1, name)}},
			struct {
				sql  string
				args []any
			}{`INSERT INTO agents (id, tenant_id) VALUES ($1, $2)`, []any{agent, o.ID}})
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("fixture %q: %v", s.sql, err)
		}
	}
	return o
}

// inbound is a first e-mail from address to o's queue.
func inbound(o tenantOrg, key, address string) crm.Inbound {
	return crm.Inbound{
		TenantID: o.ID, SiteID: o.SiteID, QueueID: o.QueueID, Channel: org.Email,
		Identities:     []crm.Identity{{Kind: crm.KindEmail, Value: address}},
		Name:           "Wang Wei",
		Subject:        "Is my car ready?",
		Body:           "Hello, is my car ready?",
		IdempotencyKey: key,
	}
}

func (b bundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// record stores in or fails the test.
func (b bundle) record(t *testing.T, in crm.Inbound) crm.InboundResult {
	t.Helper()
	res, err := b.store.RecordInbound(context.Background(), in)
	if err != nil {
		t.Fatalf("RecordInbound(%s) = %v", in.IdempotencyKey, err)
	}
	return res
}

// assign gives contact to agent under o's lease, or fails the test.
func (b bundle) assign(t *testing.T, o tenantOrg, contact, agent uuid.UUID) uuid.UUID {
	t.Helper()
	offer := uuid.New()
	err := b.store.Assign(context.Background(), crm.Assignment{TenantID: o.ID, ContactID: contact, AgentID: agent, OfferID: offer, Epoch: leaseEpoch, Holder: leaseHolder})
	if err != nil {
		t.Fatalf("Assign(%s to %s) = %v", contact, agent, err)
	}
	return offer
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
