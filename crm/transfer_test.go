package crm

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
)

func TestTransferRequeuesWithOriginalAge(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	s := NewStore(pool)
	tenant, other, q1, q2, foreignQ, agent := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	mustExec(t, pool, `INSERT INTO tenants (id, name) VALUES ($1, 'T'), ($2, 'Other')`, tenant, other)
	mustExec(t, pool, `INSERT INTO queues (id, tenant_id, name) VALUES ($1, $3, 'Enquiries'), ($2, $3, 'Sales'), ($4, $5, 'Theirs')`, q1, q2, tenant, foreignQ, other)
	mustExec(t, pool, `INSERT INTO users (id, tenant_id, email, display_name, password_hash, role) VALUES ($1, $2, 'a@x.io', 'A', 'x', 'agent')`, agent, tenant)
	mustExec(t, pool, `INSERT INTO agents (id, tenant_id) VALUES ($1, $2)`, agent, tenant)
	mustExec(t, pool, `INSERT INTO routing_lease (tenant_id, holder, epoch, expires_at) VALUES ($1, 'n', 1, now() + interval '1 minute')`, tenant)
	in, err := s.RecordInbound(ctx, Inbound{TenantID: tenant, QueueID: q1, Channel: "chat", Identities: []Identity{{Kind: "email", Value: "c@x.io"}}, Body: "hi", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Assign(ctx, Assignment{TenantID: tenant, ContactID: in.ContactID, AgentID: agent, OfferID: uuid.New(), Epoch: 1, Holder: "n"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transfer(ctx, tenant, agent, in.ContactID, foreignQ); !errors.Is(err, ErrNotFound) {
		t.Errorf("transfer to another tenant's queue = %v, want ErrNotFound", err)
	}
	if _, err := s.Transfer(ctx, tenant, agent, in.ContactID, q1); !errors.Is(err, ErrInvalid) {
		t.Errorf("transfer to its own queue = %v, want ErrInvalid", err)
	}
	if _, err := s.Transfer(ctx, tenant, uuid.New(), in.ContactID, q2); !errors.Is(err, ErrNotHeld) {
		t.Errorf("transfer by an agent not holding it = %v, want ErrNotHeld", err)
	}
	c, err := s.Transfer(ctx, tenant, agent, in.ContactID, q2)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != StateQueued || c.QueueID != q2 || !c.ArrivedAt.Equal(in.ArrivedAt) {
		t.Errorf("after transfer: %+v, want queued in Sales with the original arrival %v", c, in.ArrivedAt)
	}
	var open, ended int
	pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE ended_at IS NULL), count(*) FILTER (WHERE end_reason = 'transferred') FROM assignments`).Scan(&open, &ended)
	if open != 0 || ended != 1 {
		t.Errorf("assignments: %d open, %d transferred; want 0 and 1", open, ended)
	}
	queued, _ := s.Queued(ctx, tenant)
	if len(queued) != 1 || queued[0].QueueID != q2 {
		t.Errorf("Queued = %+v, want the contact waiting in Sales", queued)
	}
	if _, err := s.Transfer(ctx, tenant, agent, in.ContactID, q1); !errors.Is(err, ErrNotHeld) {
		t.Errorf("second transfer by the former holder = %v, want ErrNotHeld", err)
	}
}
