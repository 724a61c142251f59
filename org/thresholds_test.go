package org_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

func TestQueueThresholds(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := org.NewStore(pool)
	a, b := setupOn(t, s, "a"), setupOn(t, s, "b")
	ctx := context.Background()
	q, err := s.CreateQueue(ctx, org.Queue{TenantID: a.tenant.ID, Name: "Sales", SLA: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.QueueThresholds(ctx, a.tenant.ID); err != nil || len(got) != 0 {
		t.Fatalf("QueueThresholds before any = %v, %v, want none (defaults apply)", got, err)
	}
	set := org.QueueThresholds{SLGoal: 0.9, SLRed: 0.7, WaitAmber: 15 * time.Second, WaitRed: 45 * time.Second}
	if got, err := s.SetQueueThresholds(ctx, a.tenant.ID, q.ID, a.agent.ID, set); err != nil || got != set {
		t.Fatalf("SetQueueThresholds = %+v, %v, want %+v", got, err, set)
	}
	set.SLGoal = 0.85
	if _, err := s.SetQueueThresholds(ctx, a.tenant.ID, q.ID, a.agent.ID, set); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueueThresholds(ctx, a.tenant.ID)
	if want := map[uuid.UUID]org.QueueThresholds{q.ID: set}; err != nil || !cmp.Equal(got, want) {
		t.Errorf("QueueThresholds = %v, %v, want %v", got, err, want)
	}
	if got := auditActions(t, pool, a.tenant.ID, q.ID); !cmp.Equal(got, []string{org.AuditQueueThresholds, org.AuditQueueThresholds}) {
		t.Errorf("audit = %v, want two %s", got, org.AuditQueueThresholds)
	}
	// Another tenant's queue is not found, and its list stays empty.
	if _, err := s.SetQueueThresholds(ctx, b.tenant.ID, q.ID, b.agent.ID, set); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("SetQueueThresholds(another tenant's queue) = %v, want ErrNotFound", err)
	}
	if got, _ := s.QueueThresholds(ctx, b.tenant.ID); len(got) != 0 {
		t.Errorf("tenant b sees thresholds %v", got)
	}
	for _, bad := range []org.QueueThresholds{
		{SLGoal: 1, SLRed: 0.5, WaitAmber: time.Second, WaitRed: time.Second},
		{SLGoal: 0.8, SLRed: 0.9, WaitAmber: time.Second, WaitRed: time.Second},
		{SLGoal: 0.8, SLRed: 0, WaitAmber: time.Second, WaitRed: time.Second},
		{SLGoal: 0.8, SLRed: 0.6, WaitAmber: 0, WaitRed: time.Second},
		{SLGoal: 0.8, SLRed: 0.6, WaitAmber: 30 * time.Second, WaitRed: 20 * time.Second},
		{SLGoal: 0.8, SLRed: 0.6, WaitAmber: 1500 * time.Millisecond, WaitRed: 20 * time.Second},
		{SLGoal: 0.8, SLRed: 0.6, WaitAmber: time.Second, WaitRed: 25 * time.Hour},
	} {
		if _, err := s.SetQueueThresholds(ctx, a.tenant.ID, q.ID, a.agent.ID, bad); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("SetQueueThresholds(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}
