package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/redistest"
)

// BenchmarkChatToOffer measures a visitor's first chat line (sent on the
// visitor socket) to the offer with its screen-pop arriving on the agent's
// socket, through PostgreSQL, NOTIFY, the routing engine and Redis. Each
// iteration then accepts and closes the chat so the agent is free again.
func BenchmarkChatToOffer(b *testing.B) {
	a := startApp(b, map[string]string{"SWITCHBOARD_LOG_LEVEL": "warn", "SWITCHBOARD_CHAT_CONNECTS_PER_MINUTE": "1000000",
		// One load generator is one address; the limits are not what is measured.
		"SWITCHBOARD_CHAT_ADDRESS_MESSAGES_PER_SECOND": "1000000"})
	c, _ := a.login(b, "lina@huadong.example")
	agent, _, err := a.dial(b, "/ws/agent", c.Jar, a.url)
	if err != nil {
		b.Fatal(err)
	}
	agent.expect("snapshot", nil)
	agent.send(map[string]any{"type": "presence", "id": "p", "state": "available"})
	agent.expect("ack", nil)

	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		visitor, _, err := a.dial(b, "/chat/ws?site=demo-pudong", nil, a.url)
		if err != nil {
			b.Fatal(err)
		}
		visitor.send(map[string]any{"type": "hello", "name": "Bench", "email": fmt.Sprintf("bench%d@example.com", i)})
		visitor.expect("welcome", nil)
		b.StartTimer()
		start := time.Now()
		visitor.send(map[string]any{"type": "message", "client_id": "m", "body": "hello"})
		offer := agent.expect("offer", nil)
		lat = append(lat, time.Since(start))
		b.StopTimer()
		agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": offer["offer_id"]})
		assigned := agent.expect("assigned", nil)
		agent.send(map[string]any{"type": "close", "id": "c", "contact_id": path(assigned, "contact", "id"), "wrap_up": ""})
		agent.expect("contact_closed", nil)
		visitor.conn.Close()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[min(n-1, n*99/100)].Microseconds()), "p99-µs")
	}
}

// BenchmarkFloor measures, on the same machine and servers, what the chat
// path cannot go below: a Redis publish reaching a subscriber, plus one
// round trip on the agent's websocket (a frame the server answers at once).
// The routing issue's goal for BenchmarkChatToOffer is at most twice this.
func BenchmarkFloor(b *testing.B) {
	a := startApp(b, map[string]string{"SWITCHBOARD_LOG_LEVEL": "warn"})
	c, _ := a.login(b, "lina@huadong.example")
	agent, _, err := a.dial(b, "/ws/agent", c.Jar, a.url)
	if err != nil {
		b.Fatal(err)
	}
	agent.expect("snapshot", nil)
	rdb, _ := redistest.New(b)
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, "floor")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		b.Fatal(err)
	}
	msgs := sub.Channel()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := rdb.Publish(ctx, "floor", "x").Err(); err != nil {
			b.Fatal(err)
		}
		<-msgs
		// An invalid presence is refused at once, without any I/O.
		agent.send(map[string]any{"type": "presence", "id": fmt.Sprint(i), "state": "floor"})
		agent.expect("error", nil)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[min(n-1, n*99/100)].Microseconds()), "p99-µs")
	}
}
