package main

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// wrapUpSetup gives the demo's Enquiries queue a short wrap-up time and
// agent lina one chat slot, and waits for routing to have read both (it
// re-reads queues and agents at every sweep).
func wrapUpSetup(t *testing.T, a *app, wrap time.Duration) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `UPDATE queues SET wrap_up_seconds = $1 WHERE name = 'Enquiries'`, int(wrap/time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE agents SET capacity_chat = 1 WHERE id = (SELECT id FROM users WHERE email = 'lina@huadong.example')`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // two sweeps at 500 ms
	return pool
}

// chatTo has a new visitor write and returns the visitor.
func chatTo(t *testing.T, a *app, email string) *wsClient {
	t.Helper()
	v := a.visitor(t, "Wrap "+email, email)
	v.send(map[string]any{"type": "message", "client_id": "1", "body": "hello"})
	v.expect("ack", nil)
	return v
}

// takeAndClose accepts the agent's next offer and closes the chat; it
// returns the contact and the wrap-up deadline the console was given.
func takeAndClose(t *testing.T, agent *wsClient) (string, time.Time) {
	t.Helper()
	o := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
	contact := path(agent.expect("assigned", nil), "contact", "id").(string)
	time.Sleep(300 * time.Millisecond) // some talk time
	agent.send(map[string]any{"type": "close", "id": "c", "contact_id": contact})
	agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "c" })
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contact })
	until, err := time.Parse(time.RFC3339Nano, closed["wrap_up_until"].(string))
	if err != nil {
		t.Fatalf("contact_closed wrap_up_until = %v: %v", closed["wrap_up_until"], err)
	}
	return contact, until
}

// noOffer fails if the agent is offered anything for d.
func noOffer(t *testing.T, agent *wsClient, d time.Duration, why string) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-agent.in:
			if f["type"] == "offer" {
				t.Fatalf("offered %v %s", path(f, "contact", "id"), why)
			}
		case <-deadline:
			return
		}
	}
}

// TestWrapUpHoldsTheSlot: with a 3 s wrap-up and one chat slot, the agent
// is not offered the next waiting chat after closing until they press Done
// or the wrap-up time runs out; then they are, at once. The wallboard's AHT
// includes the wrap-up.
func TestWrapUpHoldsTheSlot(t *testing.T) {
	for _, tc := range []struct {
		name string
		done bool
	}{{"done", true}, {"timeout", false}} {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, nil)
			pool := wrapUpSetup(t, a, 3*time.Second)
			agent := a.availableAgent(t, "lina@huadong.example")
			sup, _ := a.login(t, "supervisor@huadong.example")
			wall, _, err := a.dial(t, "/ws/wallboard", sup.Jar, a.url)
			if err != nil {
				t.Fatal(err)
			}
			chatTo(t, a, "first."+tc.name+"@example.com")
			first, until := takeAndClose(t, agent)
			if left := time.Until(until); left < 2*time.Second || left > 3*time.Second {
				t.Errorf("wrap-up deadline in %v, want about the queue's 3 s", left)
			}
			chatTo(t, a, "second."+tc.name+"@example.com")
			noOffer(t, agent, 1500*time.Millisecond, "during the wrap-up, with the only slot held")

			if tc.done {
				agent.send(map[string]any{"type": "done", "id": "d", "contact_id": first, "wrap_up": "Quoted a service"})
				agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "d" })
				if f := agent.expect("wrap_up_ended", nil); f["contact_id"] != first || f["reason"] != "done" {
					t.Errorf("wrap_up_ended = %v, want contact %s, done", f, first)
				}
				pressed := time.Now()
				agent.expect("offer", nil)
				if waited := time.Since(pressed); waited > time.Second {
					t.Errorf("next offer %v after Done, want at once", waited)
				}
				if time.Now().After(until) {
					t.Errorf("offered only after the deadline; Done did not free the slot")
				}
			} else {
				// Routing tells the console first, then offers in the freed slot.
				if f := agent.expect("wrap_up_ended", nil); f["contact_id"] != first || f["reason"] != "timeout" {
					t.Errorf("wrap_up_ended = %v, want contact %s, timeout", f, first)
				}
				agent.expect("offer", nil)
				if early := time.Until(until); early > 50*time.Millisecond {
					t.Errorf("offered %v before the wrap-up deadline", early)
				} else if late := -early; late > 1500*time.Millisecond {
					t.Errorf("offered %v after the deadline, want at once", late)
				}
			}

			// The assignment ended (at the deadline, for a timeout), and the
			// AHT on the wallboard is talk + wrap-up: started to ended.
			var handle float64
			var endedAtDeadline bool
			err = pool.QueryRow(context.Background(), `
				SELECT extract(epoch FROM ended_at - started_at), ended_at = wrap_up_at + interval '3 seconds'
				FROM assignments WHERE contact_id = $1 AND ended_at IS NOT NULL`, first).Scan(&handle, &endedAtDeadline)
			if err != nil {
				t.Fatalf("ended assignment: %v", err)
			}
			if endedAtDeadline != !tc.done {
				t.Errorf("assignment ended at the deadline = %v, want %v", endedAtDeadline, !tc.done)
			}
			g := wall.expect("gauges", func(f map[string]any) bool {
				qs, _ := path(f, "gauges", "queues").([]any)
				for _, q := range qs {
					if path(q, "name") == "Enquiries" && path(q, "today", "aht_seconds") != nil {
						return true
					}
				}
				return false
			})
			for _, q := range path(g, "gauges", "queues").([]any) {
				if path(q, "name") != "Enquiries" {
					continue
				}
				aht, wrap := path(q, "today", "aht_seconds").(float64), path(q, "today", "avg_wrap_up_seconds").(float64)
				if math.Abs(aht-handle) > 0.002 {
					t.Errorf("wallboard AHT = %.3f s, want %.3f s (talk + wrap-up)", aht, handle)
				}
				if wantWrap := 3.0; !tc.done && math.Abs(wrap-wantWrap) > 0.002 || tc.done && (wrap < 1.5 || wrap >= 3) {
					t.Errorf("wallboard average wrap-up = %.3f s (done %v)", wrap, tc.done)
				}
			}
		})
	}
}

// TestWrapUpSurvivesARoutingRestart: the routing node stops mid-wrap-up;
// the node that takes over reads the wrap-up back and keeps the agent's
// slot held until the original deadline, then offers the waiting chat.
func TestWrapUpSurvivesARoutingRestart(t *testing.T) {
	first := startApp(t, map[string]string{"SWITCHBOARD_NODE_ID": "node-1"})
	second := startApp(t, map[string]string{"SWITCHBOARD_NODE_ID": "node-2", "DATABASE_URL": first.dsn, "SWITCHBOARD_REDIS_PREFIX": first.prefix})
	wrapUpSetup(t, first, 6*time.Second)
	agent := second.availableAgent(t, "lina@huadong.example")
	chatTo(t, second, "before.restart@example.com")
	contact, until := takeAndClose(t, agent)
	chatTo(t, second, "during.restart@example.com")

	first.stop() // the routing node goes; node-2 takes the lease over and rebuilds
	noOffer(t, agent, time.Until(until)-200*time.Millisecond, "before the wrap-up deadline, after the takeover")
	if f := agent.expect("wrap_up_ended", nil); f["contact_id"] != contact || f["reason"] != "timeout" {
		t.Errorf("wrap_up_ended = %v, want contact %s, timeout", f, contact)
	}
	agent.expect("offer", nil)
	if late := time.Since(until); late > 2*time.Second {
		t.Errorf("offered %v after the deadline, want at once", late)
	}
	pool, err := pgxpool.New(context.Background(), first.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var holder string
	var atDeadline bool
	pool.QueryRow(context.Background(), `SELECT holder FROM routing_lease`).Scan(&holder)
	if err := pool.QueryRow(context.Background(), `SELECT ended_at = wrap_up_at + interval '6 seconds' FROM assignments WHERE contact_id = $1`, contact).Scan(&atDeadline); err != nil || !atDeadline {
		t.Errorf("assignment ended at its deadline = %v, %v; want true", atDeadline, err)
	}
	if holder != "node-2" {
		t.Errorf("routing lease held by %q, want node-2 after the restart", holder)
	}
}
