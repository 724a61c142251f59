package org_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-cc/switchboard/org"
)

// TestQueueDispositions: codes round-trip through UpdateQueue and are
// audited as set; an empty list clears them; nil leaves them; bad lists
// are refused with nothing changed or audited.
func TestQueueDispositions(t *testing.T) {
	b := setupAdmin(t)
	ctx := context.Background()
	codes := []string{"Booked service", "Quote sent", "No action", "已预约"}
	got, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{Dispositions: codes}, strategies)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(codes, got.Dispositions); diff != "" {
		t.Errorf("UpdateQueue dispositions (-want +got):\n%s", diff)
	}
	read, err := b.store.Queue(ctx, b.tenant.ID, b.sales.ID)
	if err != nil || !cmp.Equal(codes, read.Dispositions) {
		t.Errorf("Queue = %q, %v; want %q", read.Dispositions, err, codes)
	}
	log, err := b.store.AuditLog(ctx, b.tenant.ID, 0, 10)
	if err != nil || len(log) != 1 || log[0].Action != "queue.update" {
		t.Fatalf("AuditLog = %+v, %v; want one queue.update", log, err)
	}
	if a, _ := log[0].Data["dispositions"].([]any); len(a) != len(codes) || a[0] != codes[0] {
		t.Errorf("audit data = %v, want the codes", log[0].Data)
	}

	// Another setting leaves the codes alone.
	if got, err = b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{Priority: ptr(2)}, strategies); err != nil || !cmp.Equal(codes, got.Dispositions) {
		t.Errorf("UpdateQueue(priority) = %q, %v; want the codes kept", got.Dispositions, err)
	}

	audited := b.auditCount(t)
	many := make([]string, org.MaxDispositions+1)
	for i := range many {
		many[i] = "code " + strings.Repeat("x", i+1)
	}
	for _, bad := range [][]string{
		many,
		{"Booked", "Booked"},
		{""},
		{" padded"},
		{strings.Repeat("长", org.MaxDispositionLen+1)},
		{"line\nbreak"},
	} {
		if _, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{Dispositions: bad}, strategies); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("UpdateQueue(dispositions %q) = %v, want ErrInvalid", bad, err)
		}
	}
	if n := b.auditCount(t); n != audited {
		t.Errorf("audit entries after refusals = %d, want %d", n, audited)
	}
	longest := strings.Repeat("长", org.MaxDispositionLen)
	if _, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{Dispositions: []string{longest}}, strategies); err != nil {
		t.Errorf("UpdateQueue(a %d-character code) = %v, want it accepted", org.MaxDispositionLen, err)
	}

	got, err = b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{Dispositions: []string{}}, strategies)
	if err != nil || got.Dispositions != nil {
		t.Errorf("UpdateQueue(no codes) = %q, %v; want none", got.Dispositions, err)
	}
	if read, _ := b.store.Queue(ctx, b.tenant.ID, b.sales.ID); read.Dispositions != nil {
		t.Errorf("Queue after clearing = %q, want none", read.Dispositions)
	}
}
