package demo

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

func testSealer(t *testing.T) *org.Sealer {
	t.Helper()
	s, err := org.NewSealer([]byte("demo-test-secret-0123456789"), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckDigit(t *testing.T) {
	// The worked example of the North American VIN check digit.
	if got := withCheckDigit("1M8GDM9A0KP042788"); got != "1M8GDM9AXKP042788" {
		t.Errorf("withCheckDigit = %s, want 1M8GDM9AXKP042788", got)
	}
}

func TestLoadIsIdempotentAndComplete(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	orgs, people := org.NewStore(pool, org.WithSealer(testSealer(t))), crm.NewStore(pool)
	var progress strings.Builder
	info, err := Load(ctx, orgs, people, "http://localhost:8080", &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "customers 300/300") {
		t.Errorf("no progress reported:\n%s", progress.String())
	}
	if strings.Contains(progress.String(), info.Phone.Secret) {
		t.Errorf("the connector's secret is in the progress output")
	}
	again, err := Load(ctx, orgs, people, "http://localhost:9090", io.Discard)
	if err != nil || !again.AlreadyPresent || again.TenantID != info.TenantID {
		t.Fatalf("second Load = %+v, %v; want the same tenant, already present", again, err)
	}
	if again.Phone == nil || *again.Phone != *info.Phone {
		t.Errorf("second Load's phone = %+v, want the first's %+v", again.Phone, info.Phone)
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

// TestPhoneDemo: the demo hotline is a generic control-mode connector whose
// callback is the simulator's endpoint, with the Pudong number, its menu,
// a catch-all and an extension per agent; a known caller's number is a
// demo customer's; another PBX URL gets a connector of its own; without a
// sealer the phone demo is skipped with a reason.
func TestPhoneDemo(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	orgs, people := org.NewStore(pool, org.WithSealer(testSealer(t))), crm.NewStore(pool)

	skipped, err := LoadWith(ctx, org.NewStore(pool), people, Options{PublicURL: "http://localhost:8080", NoPhone: true}, io.Discard)
	if err != nil || skipped.Phone != nil || skipped.PhoneNote == "" {
		t.Fatalf("LoadWith(NoPhone) = phone %+v, note %q, %v; want no phone and a reason", skipped.Phone, skipped.PhoneNote, err)
	}
	// The next start, with a sealer, adds the phone demo to the loaded group.
	info, err := LoadWith(ctx, orgs, people, Options{PublicURL: "http://localhost:8080"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := info.Phone
	if p == nil || p.CallbackURL != DefaultPBXURL || p.Number != HotlineNumber || len(p.Secret) < 16 {
		t.Fatalf("phone = %+v, want the default PBX URL, the hotline and a secret", p)
	}
	pc, err := orgs.PhoneConnector(ctx, p.ConnectorID)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Name != PhoneConnectorName || pc.Kind != "generic" || pc.Mode != "control" || pc.Secret != p.Secret || pc.TenantID != info.TenantID {
		t.Errorf("connector = %s %s %s, tenant %s; want %q generic control of the demo tenant with the returned secret",
			pc.Name, pc.Kind, pc.Mode, pc.TenantID, PhoneConnectorName)
	}
	qs, err := orgs.Queues(ctx, info.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	queue := map[uuid.UUID]string{}
	for _, q := range qs {
		queue[q.ID] = q.Name
	}
	site, err := orgs.SiteByChatKey(ctx, SiteKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, dialled := range [][]string{{HotlineNumber}, {"+862160009999"}} {
		n, err := orgs.PhoneNumberFor(ctx, info.TenantID, p.ConnectorID, dialled)
		if err != nil {
			t.Fatalf("PhoneNumberFor(%v): %v", dialled, err)
		}
		var menu []string
		for _, o := range n.Menu {
			menu = append(menu, o.Digit+" "+o.Department+" "+queue[o.QueueID])
		}
		want := []string{"1 enquiries Enquiries", "2 sales Sales", "3 service Service"}
		if n.SiteID != site.ID || queue[n.QueueID] != "Enquiries" || strings.Join(menu, ", ") != strings.Join(want, ", ") {
			t.Errorf("number for %v = site %s, queue %s, menu %v; want Pudong, Enquiries, %v", dialled, n.SiteID, queue[n.QueueID], menu, want)
		}
	}
	agents, err := orgs.Agents(ctx, info.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	exts := map[string]bool{}
	for _, a := range agents {
		ap, err := orgs.AgentPhoneOn(ctx, info.TenantID, p.ConnectorID, a.ID)
		if err != nil {
			t.Errorf("agent %s has no phone on the demo connector: %v", a.Name, err)
			continue
		}
		exts[ap.Extension] = true
	}
	for _, l := range Logins() {
		if (l.Role == "agent") != (l.Extension != "") {
			t.Errorf("login %s (%s) has extension %q; want one exactly for agents", l.Email, l.Role, l.Extension)
		}
		if l.Extension != "" && !exts[l.Extension] {
			t.Errorf("extension %s of %s is not configured", l.Extension, l.Email)
		}
	}
	if !exts["8001"] || len(exts) != 12 {
		t.Errorf("extensions = %v, want 8001–8012", exts)
	}
	// Every known caller number is a demo customer's.
	for _, number := range CallerNumbers() {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM customer_identities WHERE kind = 'phone' AND value = $1`, number).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("caller number %d…: %d customers have it, want 1", len(number), n)
		}
	}
	// Found again on the next start; another URL gets its own connector.
	same, err := LoadWith(ctx, orgs, people, Options{PublicURL: "http://localhost:8080"}, io.Discard)
	if err != nil || same.Phone == nil || *same.Phone != *p {
		t.Fatalf("LoadWith again = %+v, %v; want the same connector and secret", same.Phone, err)
	}
	other, err := LoadWith(ctx, orgs, people, Options{PublicURL: "http://localhost:8080", PBXURL: "http://127.0.0.1:9999/pbx"}, io.Discard)
	if err != nil || other.Phone == nil || other.Phone.ConnectorID == p.ConnectorID || other.Phone.CallbackURL != "http://127.0.0.1:9999/pbx" {
		t.Fatalf("LoadWith(other PBX URL) = %+v, %v; want a new connector calling that URL", other.Phone, err)
	}
	found, err := FindPhone(ctx, orgs, DefaultPBXURL)
	if err != nil || found != *p {
		t.Errorf("FindPhone(default URL) = %+v, %v; want %+v", found, err, *p)
	}
	if _, err := FindPhone(ctx, org.NewStore(pool), DefaultPBXURL); err == nil {
		t.Errorf("FindPhone without a sealer opened the secret")
	}
}
