package crm_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/crm"
)

// TestDisposition: a code must be one of the contact's queue's codes; only
// the holder may set it; Done without one is refused when the queue has
// codes; the stored code shows on the contact and rides in the 'closed'
// and 'wrap_up_ended' events (and nothing of the note does).
func TestDisposition(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	if _, err := b.pool.Exec(ctx, `UPDATE queues SET wrap_up_seconds = 45, dispositions = '{"Booked service","Quote sent"}' WHERE id = $1`, b.a.QueueID); err != nil {
		t.Fatal(err)
	}
	res := b.record(t, inbound(b.a, "d-1", "dispo@example.com"))
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "Quote sent", false); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("SetDisposition before assignment = %v, want ErrNotHeld", err)
	}
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	for _, tc := range []struct {
		name     string
		agent    bool // b.a.Agent, else Agent2
		tenantB  bool
		code     string
		required bool
		want     error
	}{
		{"unknown code", true, false, "Sold a car", false, crm.ErrInvalid},
		{"case differs", true, false, "quote sent", false, crm.ErrInvalid},
		{"required, none stored", true, false, "", true, crm.ErrInvalid},
		{"not required", true, false, "", false, nil},
		{"other agent", false, false, "Quote sent", false, crm.ErrNotHeld},
		{"other tenant", true, true, "Quote sent", false, crm.ErrNotHeld},
	} {
		agent, tenant := b.a.Agent, b.a.ID
		if !tc.agent {
			agent = b.a.Agent2
		}
		if tc.tenantB {
			tenant = b.b.ID
		}
		if err := b.store.SetDisposition(ctx, tenant, agent, res.ContactID, tc.code, tc.required); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: SetDisposition(%q) = %v, want %v", tc.name, tc.code, err, tc.want)
		}
	}
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "Quote sent", false); err != nil {
		t.Fatalf("SetDisposition(Quote sent) = %v", err)
	}
	c, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, "customer will think about it")
	if err != nil {
		t.Fatal(err)
	}
	if c.Disposition != "Quote sent" || len(c.Dispositions) != 2 {
		t.Errorf("Close = disposition %q, codes %q; want Quote sent of 2 codes", c.Disposition, c.Dispositions)
	}
	// In wrap-up the agent may change their mind; an empty required code
	// is fine now that one is stored.
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "Booked service", true); err != nil {
		t.Fatalf("SetDisposition in wrap-up = %v", err)
	}
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "", true); err != nil {
		t.Errorf("SetDisposition(\"\", required) with one stored = %v, want nil", err)
	}
	if _, err := b.store.EndWrapUp(ctx, b.a.ID, b.a.Agent, res.ContactID, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	var closed, ended, stored string
	if err := b.pool.QueryRow(ctx, `
		SELECT (SELECT data::text FROM contact_events WHERE contact_id = $1 AND kind = 'closed'),
		       (SELECT data::text FROM contact_events WHERE contact_id = $1 AND kind = 'wrap_up_ended'),
		       (SELECT disposition FROM contacts WHERE id = $1)`, res.ContactID).Scan(&closed, &ended, &stored); err != nil {
		t.Fatal(err)
	}
	if stored != "Booked service" {
		t.Errorf("contacts.disposition = %q, want Booked service", stored)
	}
	if want := `"disposition": "Quote sent"`; !strings.Contains(closed, want) || strings.Contains(closed, "think") {
		t.Errorf("closed event data = %s, want %s and no note", closed, want)
	}
	if want := `"disposition": "Booked service"`; !strings.Contains(ended, want) || !strings.Contains(ended, `"reason": "done"`) {
		t.Errorf("wrap_up_ended event data = %s, want %s with the reason", ended, want)
	}
	// After the wrap-up ended (a late Done) the code may still be set.
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "Quote sent", true); err != nil {
		t.Errorf("SetDisposition after wrap-up = %v", err)
	}
}

// TestDispositionNone: a queue without codes refuses any code and never
// requires one; events carry no disposition key.
func TestDispositionNone(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	res := b.record(t, inbound(b.a, "d-2", "nocodes@example.com"))
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "Booked service", false); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("SetDisposition on a queue without codes = %v, want ErrInvalid", err)
	}
	if err := b.store.SetDisposition(ctx, b.a.ID, b.a.Agent, res.ContactID, "", true); err != nil {
		t.Errorf("SetDisposition(\"\", required) without codes = %v, want nil", err)
	}
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, res.ContactID, ""); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND data ? 'disposition'`, res.ContactID); n != 0 {
		t.Errorf("events with a disposition = %d, want 0", n)
	}
}
