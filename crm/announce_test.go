package crm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/crm"
)

// TestRecordInboundAnnounces checks the NOTIFY that RecordInbound sends
// inside its transaction: delivered once the contact is committed, again for
// a resent duplicate that still waits, and a NOTIFY that fails takes the
// whole write with it.
func TestRecordInboundAnnounces(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	const channel = "crm_test_announce"
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "UNLISTEN *")
	next := func(wait time.Duration) (string, bool) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		n, err := conn.Conn().WaitForNotification(wctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return "", false
		} else if err != nil {
			t.Fatal(err)
		}
		return n.Payload, true
	}
	announce := func(res crm.InboundResult) (string, string) {
		return channel, res.ContactID.String() + " " + res.State
	}

	in := inbound(b.a, "mail-1", "first@example.cn")
	in.Announce = announce
	res, err := b.store.RecordInbound(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := next(5 * time.Second); !ok || p != res.ContactID.String()+" queued" {
		t.Errorf("notification after a new contact = %q, %v; want %q", p, ok, res.ContactID.String()+" queued")
	}

	// The source resends: the first notification may be the one lost.
	dup, err := b.store.RecordInbound(ctx, in)
	if err != nil || !dup.Duplicate {
		t.Fatalf("resend = %+v, %v; want a duplicate", dup, err)
	}
	if p, ok := next(5 * time.Second); !ok || p != res.ContactID.String()+" queued" {
		t.Errorf("notification after a resend = %q, %v; want the contact again", p, ok)
	}

	// pg_notify refuses an empty channel name: nothing is stored, and
	// nothing is announced.
	bad := inbound(b.a, "mail-2", "second@example.cn")
	bad.Announce = func(crm.InboundResult) (string, string) { return "", "x" }
	if _, err := b.store.RecordInbound(ctx, bad); err == nil {
		t.Fatal("RecordInbound with a failing NOTIFY succeeded, want an error")
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE idempotency_key = 'mail-2'`); n != 0 {
		t.Errorf("a failed NOTIFY left %d messages stored, want 0", n)
	}
	if p, ok := next(200 * time.Millisecond); ok {
		t.Errorf("unexpected notification %q", p)
	}
}
