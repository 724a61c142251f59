package demo

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

func TestCheckDigit(t *testing.T) {
	// The worked example of the North American VIN check digit.
	if got := withCheckDigit("1M8GDM9A0KP042788"); got != "1M8GDM9AXKP042788" {
		t.Errorf("withCheckDigit = %s, want 1M8GDM9AXKP042788", got)
	}
}

func TestLoadIsIdempotentAndComplete(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	orgs, people := org.NewStore(pool), crm.NewStore(pool)
	var progress strings.Builder
	info, err := Load(ctx, orgs, people, "http://localhost:8080", &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "customers 300/300") {
		t.Errorf("no progress reported:\n%s", progress.String())
	}
	again, err := Load(ctx, orgs, people, "http://localhost:9090", io.Discard)
	if err != nil || !again.AlreadyPresent || again.TenantID != info.TenantID {
		t.Fatalf("second Load = %+v, %v; want the same tenant, already present", again, err)
	}
	counts := map[string]int{}
	for _, q := range []string{"tenants", "sites", "queues", "users", "agents", "customers", "vehicles", "service_orders"} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[q] = n
	}
	if counts["tenants"] != 1 || counts["sites"] != 2 || counts["queues"] != 3 || counts["agents"] != 12 || counts["customers"] != 300 {
		t.Errorf("demo data counts = %v", counts)
	}
	if counts["vehicles"] < 300 || counts["service_orders"] < 50 {
		t.Errorf("too few vehicles or service orders: %v", counts)
	}
	site, err := orgs.SiteByChatKey(ctx, SiteKey)
	if err != nil || len(site.AllowedOrigins) != 1 || site.AllowedOrigins[0] != "http://localhost:9090" {
		t.Errorf("demo site origins = %v, %v; want the latest public URL", site.AllowedOrigins, err)
	}
	// The demo page chats into Enquiries: it must be open at any hour.
	qs, err := orgs.Queues(ctx, info.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		switch {
		case q.Name == "Enquiries" && q.Calendar != nil:
			t.Errorf("Enquiries has a calendar %+v; the demo chat would be closed after hours", q.Calendar)
		case q.Name == "Service" && (q.Calendar == nil || len(q.Calendar.Weekly) != 6 || len(q.Calendar.Exceptions) != 2):
			t.Errorf("Service calendar = %+v, want Monday to Saturday with a holiday and a make-up day", q.Calendar)
		}
	}
	var bad int
	pool.QueryRow(ctx, `SELECT count(*) FROM vehicles WHERE length(vin) <> 17`).Scan(&bad)
	if bad != 0 {
		t.Errorf("%d vehicles with a VIN that is not 17 characters", bad)
	}
}
