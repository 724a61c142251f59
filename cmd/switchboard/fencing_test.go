package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
	"github.com/switchboard-cc/switchboard/routing/lease"
)

// TestOldHolderCannotAcceptAfterTakeover: node A holds the routing lease and
// offers a contact; A pauses without renewing; node B takes the lease over
// and offers the same contact to another agent. When A wakes up and commits
// its agent's accept, the fenced transaction refuses it, B's accept wins, and
// the contact has exactly one assignment.
func TestOldHolderCannotAcceptAfterTakeover(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	orgs, people := org.NewStore(pool), crm.NewStore(pool)
	tn, err := orgs.CreateTenant(ctx, "Fence Group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	q, err := orgs.CreateQueue(ctx, org.Queue{TenantID: tn.ID, Name: "Enquiries"})
	if err != nil {
		t.Fatal(err)
	}
	agent := func(email string) uuid.UUID {
		u, err := orgs.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: email, DisplayName: email, Password: "long enough", Role: org.RoleAgent})
		if err != nil {
			t.Fatal(err)
		}
		if err := orgs.CreateAgent(ctx, tn.ID, u.ID, nil, nil); err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	agentA, agentB := agent("a@example.com"), agent("b@example.com")
	res, err := people.RecordInbound(ctx, crm.Inbound{TenantID: tn.ID, QueueID: q.ID, Channel: org.Chat,
		Identities: []crm.Identity{{Kind: "email", Value: "c@example.com"}}, Body: "hi", IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	assign := assigner{people}

	a, err := lease.Acquire(ctx, pool, tn.ID, "node-a", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // node A pauses; its lease runs out
	b, err := lease.Acquire(ctx, pool, tn.ID, "node-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	errA := assign.Assign(ctx, tn.ID, res.ContactID, agentA, uuid.New(), a.Epoch, a.Holder)
	if !errors.Is(errA, dispatch.ErrFenced) {
		t.Fatalf("old holder's accept = %v, want dispatch.ErrFenced", errA)
	}
	if err := assign.Assign(ctx, tn.ID, res.ContactID, agentB, uuid.New(), b.Epoch, b.Holder); err != nil {
		t.Fatalf("new holder's accept = %v", err)
	}
	// And a second accept of the same contact, even by the holder, is refused.
	if err := assign.Assign(ctx, tn.ID, res.ContactID, agentA, uuid.New(), b.Epoch, b.Holder); !errors.Is(err, dispatch.ErrGone) {
		t.Errorf("second accept = %v, want dispatch.ErrGone", err)
	}
	var open int
	var holder uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT count(*), min(agent_id::text)::uuid FROM assignments WHERE contact_id = $1 AND ended_at IS NULL`, res.ContactID).Scan(&open, &holder); err != nil {
		t.Fatal(err)
	}
	if open != 1 || holder != agentB {
		t.Errorf("%d open assignments held by %v, want exactly one, node B's agent %v", open, holder, agentB)
	}
}
