package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/agentdesk"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
	"github.com/switchboard-cc/switchboard/stats"
)

// BenchmarkWallboardFanout (issue 8): one wallboard update reaching 1,000
// and 5,000 open wallboard sockets, against a bare broadcast of the same
// bytes on the same topic measured in the same run, rounds interleaved.
//
// The update is the whole publishing path of the node holding a tenant's
// routing lease: agentdesk's Notifier.Gauges turning routing's gauges
// (12 queues, 150 agents) and today's counts into JSON with Erlang C and
// thresholds, the unreturned-callbacks count, the Redis pipeline storing the
// last gauges and the minute's sample, and the publish; then the running
// server's sockets deliver it. The bare broadcast is the publish alone.
// A round ends when the last socket has read its frame.
//
//	go test ./cmd/switchboard -run '^$' -bench WallboardFanout -benchtime 20x
func BenchmarkWallboardFanout(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, sockets int) {
	a := startApp(b, benchEnv())
	fx := newWallFixture(b, a)
	ctx := context.Background()
	tenant := fx.site.TenantID
	sup, _ := a.login(b, "supervisor@huadong.example")

	// The sockets: each reader counts the frames carrying this round's mark.
	var mark atomic.Pointer[[]byte]
	none := []byte("\x00no round\x00")
	mark.Store(&none)
	var round sync.WaitGroup
	var conns []*websocket.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	d := websocket.Dialer{Jar: sup.Jar, HandshakeTimeout: 30 * time.Second}
	url := strings.Replace(a.url, "http", "ws", 1) + "/ws/wallboard"
	for i := range sockets {
		c, _, err := d.Dial(url, http.Header{"Origin": {a.url}})
		if err != nil {
			b.Fatalf("socket %d: %v", i, err)
		}
		conns = append(conns, c)
		go func() {
			for {
				_, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Contains(p, *mark.Load()) {
					round.Done()
				}
			}
		}()
	}

	// A second desk on the same Redis prefix publishes, as the lease
	// holder's node would; the sockets are the running server's.
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	bb := bus.New(rdb, a.prefix, log)
	desk, err := agentdesk.NewServer(agentdesk.Config{PublicURL: a.url}, agentdesk.Deps{
		Bus: bb, Log: log, Limiter: ratelimit.New(rdb, a.prefix), Chat: http.NotFoundHandler(),
		Registry: prometheus.NewRegistry(), Callbacks: crm.NewStore(fx.pool), Wallboard: org.NewStore(fx.pool),
	})
	if err != nil {
		b.Fatal(err)
	}
	notifier := desk.Notifier()
	g, today := benchGauges(tenant)

	// The bare broadcast sends the bytes the notifier published, with only
	// the round's mark changed: capture them once.
	topic := agentdesk.WallboardTopic(tenant)
	capture := rdb.Subscribe(ctx, a.prefix+topic)
	if _, err := capture.Receive(ctx); err != nil {
		b.Fatal(err)
	}
	var sample []byte
	markOf := func(i int, viaNotifier bool) []byte {
		kind := 'b'
		if viaNotifier {
			kind = 'w'
		}
		return []byte(fmt.Sprintf("bench-%07d-%c", i, kind))
	}

	var wall, bare []time.Duration
	measure := func(i int, viaNotifier bool) time.Duration {
		m := markOf(i, viaNotifier)
		mark.Store(&m)
		round.Add(sockets)
		var payload []byte
		if !viaNotifier {
			payload = bytes.Replace(sample, markOf(-1, true), m, 1)
		}
		g.Queues[0].Name = string(m)
		start := time.Now()
		if viaNotifier {
			g.At = start
			notifier.Gauges(ctx, tenant, g, today)
		} else if err := bb.Publish(ctx, topic, payload); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { round.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("round %d: not every socket got the frame within 60 s", i)
		}
		return time.Since(start)
	}
	measure(-1, true)
	for msg := range capture.Channel() {
		if strings.Contains(msg.Payload, string(markOf(-1, true))) {
			sample = []byte(msg.Payload)
			break
		}
	}
	capture.Close()
	measure(-2, false)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		// Alternate which goes first, so neither always follows the other.
		if i%2 == 0 {
			wall = append(wall, measure(i, true))
			bare = append(bare, measure(i, false))
		} else {
			bare = append(bare, measure(i, false))
			wall = append(wall, measure(i, true))
		}
		i++
	}
	b.StopTimer()
	reportLatency(b, "wallboard-", wall)
	reportLatency(b, "bare-", bare)
	b.ReportMetric(float64(median(wall))/float64(median(bare)), "p50-ratio")
	b.ReportMetric(float64(len(sample)), "update-bytes")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// benchGauges is a dealer group's busy moment: 12 queues with contacts
// waiting, 150 agents in every state, today's counts and arrivals.
func benchGauges(tenant uuid.UUID) (routing.Gauges, dispatch.Today) {
	now := time.Now()
	g := routing.Gauges{At: now}
	today := dispatch.Today{Queues: map[uuid.UUID]stats.Counts{}, SLA: map[uuid.UUID]time.Duration{},
		Arrivals: map[uuid.UUID]stats.Rate{}, Agents: map[uuid.UUID]stats.AgentCounts{}}
	for i := range 12 {
		q := uuid.New()
		g.Queues = append(g.Queues, routing.QueueGauge{QueueID: q, Name: fmt.Sprintf("Queue %02d", i), Waiting: i % 5, Offered: i % 2,
			OldestArrival: now.Add(-time.Duration(i*7) * time.Second), Available: 10 + i})
		today.Queues[q] = stats.Counts{Offered: 300 + i, Answered: 280, AnsweredWithin: 240, Abandoned: 12, Handled: 270,
			HandleTime: 270 * 200 * time.Second, WaitAnswered: 280 * 12 * time.Second}
		today.SLA[q] = 20 * time.Second
		today.Arrivals[q] = stats.Rate{N: 60 + i, Over: 30 * time.Minute}
	}
	presences := []org.Presence{org.Available, org.Available, org.Away, org.Offline}
	for i := range 150 {
		id := uuid.New()
		g.Agents = append(g.Agents, routing.AgentGauge{AgentID: id, Name: fmt.Sprintf("Agent %03d", i), Presence: presences[i%4],
			Connected: i%4 != 3, Load: map[org.Channel]int{org.Chat: i % 3}, PresenceSince: now.Add(-time.Duration(i) * time.Minute)})
		today.Agents[id] = stats.AgentCounts{Accepted: i % 20, Handled: i % 20, Staffed: time.Hour, Handling: 40 * time.Minute}
	}
	return g, today
}
