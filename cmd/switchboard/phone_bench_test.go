package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkCTICallToOffer measures the phone issue's goal: a new call
// posted to the generic CTI webhook → the offer, and then its screen-pop,
// read from the agent's socket. The webhook answers only once the call's
// contact has committed, so the span holds the signature check, the
// hotline's reads, crm's transaction, NOTIFY, routing, Redis and the
// socket. The floor, sampled in every iteration under the same load, is
// one commit of a one-row insert + one Redis publish reaching a subscriber
// + one round trip on the agent's websocket. Each caller is a new number
// (a new customer, as a first call is); each iteration then accepts and
// has the caller hang up, so the agent is free again (the missed call's
// callback is not started during the run).
func BenchmarkCTICallToOffer(b *testing.B) {
	env := benchEnv()
	// Each caller hangs up once accepted: a missed call, owed a callback.
	// Those callbacks must not start during the run and take the offers.
	env["SWITCHBOARD_CALLBACK_INTERVAL"] = "1h"
	a := startApp(b, env)
	rig := newPhoneRig(b, a)
	agent := benchAgent(b, a)
	ctx := context.Background()
	// A number with no menu: straight to its queue, as a known caller is.
	var numberQueue string
	if err := rig.pool.QueryRow(ctx, `UPDATE phone_numbers SET menu = '[]' WHERE connector_id = $1 RETURNING queue_id::text`,
		rig.connector).Scan(&numberQueue); err != nil {
		b.Fatal(err)
	}
	if _, err := rig.pool.Exec(ctx, `CREATE TABLE bench_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		b.Fatal(err)
	}
	floor := newFloorProbe(b, agent)

	var offers, pops, floors []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		start := time.Now()
		if _, err := rig.pool.Exec(ctx, `INSERT INTO bench_floor DEFAULT VALUES`); err != nil {
			b.Fatal(err)
		}
		floors = append(floors, time.Since(start)+floor.sample(b))
		call := fmt.Sprintf("bench-%d", i)
		b.StartTimer()
		start = time.Now()
		status, route := rig.post(b, map[string]any{"event": "new_call", "call_id": call,
			"from": fmt.Sprintf("+86139%08d", 10000000+i), "to": "+862160009000"})
		if status != http.StatusOK || route["action"] != "queue" {
			b.Fatalf("new_call: %d %v", status, route)
		}
		offer, at := agent.expect(b, "offer")
		if got := path(offer, "contact", "id"); got != route["contact_id"] {
			b.Fatalf("offered contact %v, want the call's %v", got, route["contact_id"])
		}
		offers = append(offers, at.Sub(start))
		if _, ok := offer["screen_pop"]; !ok {
			_, at = agent.expect(b, "screen_pop")
		}
		pops = append(pops, at.Sub(start))
		b.StopTimer()
		agent.send(b, map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
		agent.expect(b, "assigned")
		rig.pbx.next(b, "connect")
		rig.post(b, map[string]any{"event": "hangup", "call_id": call, "cause": "normal"})
		agent.expect(b, "contact_withdrawn")
		b.StartTimer()
	}
	b.StopTimer()
	reportLatency(b, "offer-", offers)
	reportLatency(b, "pop-", pops)
	reportLatency(b, "floor-", floors)
	slices.Sort(pops)
	slices.Sort(floors)
	if n := len(pops); n > 0 {
		b.ReportMetric(float64(pops[pct(n, 99)])/float64(floors[pct(n, 99)]), "pop-p99/floor-p99")
	}
}
