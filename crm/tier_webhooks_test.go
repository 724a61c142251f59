package crm_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// tierHooks returns the customer.updated payloads queued for tenant, in
// the order they were queued.
func tierHooks(t *testing.T, b bundle, tenant uuid.UUID) []map[string]any {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `
		SELECT payload FROM webhook_outbox WHERE tenant_id = $1 AND event = $2 ORDER BY created_at, payload->>'customer_id'`,
		tenant, crm.EventCustomerUpdated)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func endpoint(t *testing.T, b bundle, tenant uuid.UUID) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), `
		INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, 'https://erp.example/hook', 'sixteen-byte-secret')`,
		uuid.New(), tenant); err != nil {
		t.Fatal(err)
	}
}

// TestTierChangeSendsWebhook: a customer whose computed tier changes gets
// one customer.updated webhook, queued in the run's transaction, with its
// id and new tier only; a change of revenue alone, an unchanged tier and
// another tenant's run send none.
func TestTierChangeSendsWebhook(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	a := b.a.ID
	endpoint(t, b, a)
	endpoint(t, b, b.b.ID)
	big := customerAt(t, b, a, b.a.SiteID)
	small := customerAt(t, b, a, b.a.SiteID)
	customerAt(t, b, a, b.a.SiteID) // no revenue: stays standard
	order := func(c uuid.UUID, amount string) {
		t.Helper()
		if _, err := b.store.AddServiceOrder(ctx, a, c, crm.NewServiceOrder{Number: "SO-" + uuid.NewString(), Amount: amount}); err != nil {
			t.Fatal(err)
		}
	}
	order(big, "5000")
	order(small, "100")
	// Creating customers and orders may queue webhooks of their own:
	// count from here.
	if _, err := b.pool.Exec(ctx, `DELETE FROM webhook_outbox`); err != nil {
		t.Fatal(err)
	}

	// Two with revenue: gold is rank ≤ ceil(0.4) = 1, growth rank ≤ 1: big
	// becomes gold; small's revenue changes but it stays standard.
	now := time.Now().Add(time.Minute)
	run, err := b.store.RecomputeTiers(ctx, a, 365*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if run.Changed != 2 || run.Retiered != 1 {
		t.Errorf("run = %+v, want 2 changed (revenue), 1 retiered", run)
	}
	want := []map[string]any{{"customer_id": big.String(), "tier": "gold", "change": "tier"}}
	if diff := cmp.Diff(want, tierHooks(t, b, a)); diff != "" {
		t.Errorf("webhooks after the first run (-want +got):\n%s", diff)
	}

	// Nothing changed: nothing sent.
	if _, err := b.store.RecomputeTiers(ctx, a, 365*24*time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if got := tierHooks(t, b, a); len(got) != 1 {
		t.Errorf("webhooks after an unchanged run = %v, want still 1", got)
	}

	// small overtakes big: both change tier.
	order(small, "9000")
	if _, err := b.pool.Exec(ctx, `DELETE FROM webhook_outbox`); err != nil {
		t.Fatal(err)
	}
	run, err = b.store.RecomputeTiers(ctx, a, 365*24*time.Hour, now)
	if err != nil || run.Retiered != 2 {
		t.Fatalf("third run = %+v, %v, want 2 retiered", run, err)
	}
	got := map[string]string{}
	for _, h := range tierHooks(t, b, a) {
		if len(h) != 3 {
			t.Errorf("payload %v carries more than the id, the tier and the change", h)
		}
		got[h["customer_id"].(string)] = h["tier"].(string)
	}
	if diff := cmp.Diff(map[string]string{small.String(): "gold", big.String(): "standard"}, got); diff != "" {
		t.Errorf("tiers sent (-want +got):\n%s", diff)
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1`, b.b.ID); n != 0 {
		t.Errorf("tenant b's endpoint got %d webhooks of tenant a's run", n)
	}
}
