package crm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/crm/webhook"
)

// hookSink is a receiver on a real HTTP test server: it verifies each
// delivery's signature as a receiver would (webhook.Verify) and keeps the
// bodies in arrival order.
type hookSink struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []webhook.Body
	bad    int
}

func newHookSink(t *testing.T) *hookSink {
	h := &hookSink{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		var b webhook.Body
		if webhook.Verify(h.secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute) != nil ||
			json.Unmarshal(body, &b) != nil || b.Event != r.Header.Get(webhook.HeaderEvent) {
			h.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.got = append(h.got, b)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// deliver runs the real worker until the outbox is empty of due rows and
// returns what arrived since the last call, oldest first.
func (h *hookSink) deliver(t *testing.T, b bundle) []webhook.Body {
	t.Helper()
	w := webhook.New(b.pool, webhook.Config{Timeout: 10 * time.Second, AllowPrivate: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for {
		n, err := w.DeliverDue(ctxT(t))
		if err != nil {
			t.Fatalf("DeliverDue = %v", err)
		}
		if n == 0 {
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bad != 0 {
		t.Fatalf("%d deliveries failed the signature check", h.bad)
	}
	out := h.got
	h.got = nil
	// One statement's rows share created_at only across endpoints; ours is
	// one endpoint, and the worker claims by next_attempt_at: order by the
	// outbox time to compare with the writes' order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].CreatedAt.Before(out[j-1].CreatedAt); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func events(bs []webhook.Body) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Event)
	}
	return strings.Join(s, " ")
}

func dataOf(t *testing.T, b webhook.Body) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b.Data, &m); err != nil {
		t.Fatalf("%s data: %v", b.Event, err)
	}
	return m
}

// TestVehicleAndFollowUpWebhooksDelivered: vehicle and follow-up changes
// go through the outbox like customers' and arrive signed at a real HTTP
// receiver with their records in the payload; writes that change nothing
// send nothing; another tenant's receiver hears none of it.
func TestVehicleAndFollowUpWebhooksDelivered(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	store := b.store.WithPrivateWebhooks(true)
	sink := newHookSink(t)
	ep, err := store.CreateWebhookEndpoint(ctx, b.a.ID, b.a.Agent, crm.NewWebhookEndpoint{URL: sink.srv.URL + "/hook",
		Events: []string{crm.EventVehicleCreated, crm.EventVehicleUpdated, crm.EventVehicleDeleted,
			crm.EventFollowUpCreated, crm.EventFollowUpUpdated, crm.EventFollowUpDone, crm.EventFollowUpDeleted}})
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint = %v", err)
	}
	sink.secret = ep.Secret
	other := newHookSink(t)
	oep, err := store.CreateWebhookEndpoint(ctx, b.b.ID, b.b.Agent, crm.NewWebhookEndpoint{URL: other.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	other.secret = oep.Secret

	// Synthetic customers.
	c1, err := store.NewCustomerRecord(ctx, b.a.ID, uuid.Nil, crm.CustomerFields{Name: ptr("Synthetic Li")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := store.NewCustomerRecord(ctx, b.a.ID, uuid.Nil, crm.CustomerFields{Name: ptr("Synthetic Li Jr")}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Vehicles: create, change, the same change again, a second customer,
	// an upsert twice, delete.
	v, err := store.CreateVehicle(ctx, b.a.ID, c1.ID, "owner", crm.VehicleFields{VIN: ptr("1M8GDM9AXKP042788"), Plate: ptr("沪A12345"), Make: ptr("Volkswagen")})
	if err != nil {
		t.Fatalf("CreateVehicle = %v", err)
	}
	if _, _, err := store.UpdateVehicle(ctx, b.a.ID, v.ID, crm.VehicleFields{MileageKM: ptr(42000)}); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := store.UpdateVehicle(ctx, b.a.ID, v.ID, crm.VehicleFields{MileageKM: ptr(42000)}); err != nil || changed {
		t.Fatalf("UpdateVehicle(same) = %v, %v; want unchanged", changed, err)
	}
	if _, err := store.LinkVehicle(ctx, b.a.ID, c2.ID, v.ID, "driver"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.LinkVehicle(ctx, b.a.ID, c2.ID, v.ID, "driver"); err != nil {
		t.Fatal(err)
	}
	up := crm.VehicleUpsert{VehicleFields: crm.VehicleFields{VIN: ptr("1HGCM82633A004352"), Model: ptr("Accord")},
		Customers: []crm.VehicleOwner{{CustomerRef: crm.CustomerRef{CustomerID: c2.ID}}}}
	uv, outcome, err := store.UpsertVehicle(ctx, b.a.ID, "dms", "V-1", up)
	if err != nil || outcome != crm.UpsertCreated {
		t.Fatalf("UpsertVehicle = %q, %v", outcome, err)
	}
	if _, outcome, err := store.UpsertVehicle(ctx, b.a.ID, "dms", "V-1", up); err != nil || outcome != crm.UpsertUnchanged {
		t.Fatalf("UpsertVehicle again = %q, %v; want unchanged", outcome, err)
	}
	got := sink.deliver(t, b)
	if e := events(got); e != "vehicle.created vehicle.updated vehicle.updated vehicle.created" {
		t.Fatalf("delivered %q, want created, updated (mileage), updated (second customer), created (upsert)", e)
	}
	first := dataOf(t, got[0])
	veh, _ := first["vehicle"].(map[string]any)
	if first["vehicle_id"] != v.ID.String() || first["customer_id"] != c1.ID.String() || veh["vin"] != "1M8GDM9AXKP042788" || veh["plate"] != "沪A12345" {
		t.Errorf("vehicle.created data = %v, want the vehicle with its VIN and plate, through customer %s", first, c1.ID)
	}
	if veh := dataOf(t, got[1])["vehicle"].(map[string]any); veh["mileage_km"] != float64(42000) {
		t.Errorf("vehicle.updated carries mileage %v, want 42000", veh["mileage_km"])
	}
	linked := dataOf(t, got[2])
	if cs, _ := linked["vehicle"].(map[string]any)["customers"].([]any); len(cs) != 2 || linked["customer_id"] != c2.ID.String() {
		t.Errorf("vehicle.updated after linking = %v, want both customers, through %s", linked, c2.ID)
	}
	if d := dataOf(t, got[3]); d["vehicle_id"] != uv.ID.String() || d["vehicle"].(map[string]any)["external_id"] != "V-1" {
		t.Errorf("upsert's vehicle.created = %v", d)
	}

	// A vehicle a service order names stays; one that none does goes.
	if _, err := store.CreateOrder(ctx, b.a.ID, c2.ID, crm.OrderFields{Number: ptr("RO-1"), VehicleID: &uv.ID}); err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteVehicle(ctx, b.a.ID, uv.ID); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("DeleteVehicle(with an order) = %v, want ErrConflict", err)
	}
	if err := store.DeleteVehicle(ctx, b.b.ID, v.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("DeleteVehicle(tenant b, a's vehicle) = %v, want ErrNotFound", err)
	}
	if err := store.DeleteVehicle(ctx, b.a.ID, v.ID); err != nil {
		t.Fatalf("DeleteVehicle = %v", err)
	}
	if _, err := store.Vehicle(ctx, b.a.ID, v.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Vehicle after delete = %v, want ErrNotFound", err)
	}
	got = sink.deliver(t, b)
	if e := events(got); e != "vehicle.deleted" {
		t.Fatalf("delivered %q after the deletes, want vehicle.deleted only", e)
	}
	if d := dataOf(t, got[0]); d["vehicle_id"] != v.ID.String() || d["vehicle"].(map[string]any)["vin"] != "1M8GDM9AXKP042788" {
		t.Errorf("vehicle.deleted data = %v, want the vehicle as it was", d)
	}

	// Follow-ups: create, change, complete, complete again, delete.
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	f, err := store.CreateFollowUp(ctx, b.a.ID, c1.ID, b.a.Agent, crm.NewFollowUp{AssignedTo: b.a.Agent, Kind: "callback", DueAt: due, Note: "call about the quote"})
	if err != nil {
		t.Fatalf("CreateFollowUp = %v", err)
	}
	later := due.Add(24 * time.Hour)
	if _, changed, err := store.UpdateFollowUp(ctx, b.a.ID, f.ID, crm.FollowUpFields{DueAt: &later, AssignedTo: &b.a.Agent2}); err != nil || !changed {
		t.Fatalf("UpdateFollowUp = %v, %v", changed, err)
	}
	done, err := store.CompleteFollowUp(ctx, b.a.ID, f.ID)
	if err != nil || done.DoneAt == nil {
		t.Fatalf("CompleteFollowUp = %+v, %v", done, err)
	}
	again, err := store.CompleteFollowUp(ctx, b.a.ID, f.ID)
	if err != nil || again.DoneAt == nil || !again.DoneAt.Equal(*done.DoneAt) {
		t.Errorf("CompleteFollowUp again = %+v, %v; want the first completion time kept", again, err)
	}
	if err := store.DeleteFollowUp(ctx, b.b.ID, f.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("DeleteFollowUp(tenant b) = %v, want ErrNotFound", err)
	}
	if err := store.DeleteFollowUp(ctx, b.a.ID, f.ID); err != nil {
		t.Fatalf("DeleteFollowUp = %v", err)
	}
	got = sink.deliver(t, b)
	if e := events(got); e != "follow_up.created follow_up.updated follow_up.done follow_up.deleted" {
		t.Fatalf("delivered %q, want created, updated, done (once), deleted", e)
	}
	want := []struct {
		assigned uuid.UUID
		due      time.Time
		done     bool
	}{{b.a.Agent, due, false}, {b.a.Agent2, later, false}, {b.a.Agent2, later, true}, {b.a.Agent2, later, true}}
	for i, g := range got {
		d := dataOf(t, g)
		fu, _ := d["follow_up"].(map[string]any)
		dueAt, _ := time.Parse(time.RFC3339Nano, fu["due_at"].(string))
		if d["follow_up_id"] != f.ID.String() || d["customer_id"] != c1.ID.String() || fu["assigned_to"] != want[i].assigned.String() ||
			!dueAt.Equal(want[i].due) || (fu["done_at"] != nil) != want[i].done || fu["note"] != "call about the quote" {
			t.Errorf("%s data = %v, want assigned %s, due %v, done %v", g.Event, d, want[i].assigned, want[i].due, want[i].done)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE tenant_id = $1`, b.b.ID); n != 0 {
		t.Errorf("%d outbox rows for tenant b, want 0", n)
	}
	if got := other.deliver(t, b); len(got) != 0 {
		t.Errorf("tenant b's receiver got %q", events(got))
	}
	if n := b.count(t, `SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL`); n != 0 {
		t.Errorf("%d rows left undelivered", n)
	}
	_ = context.Background
}
