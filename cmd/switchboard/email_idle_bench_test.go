package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dovecottest"
	"github.com/switchboard-cc/switchboard/org"
)

// BenchmarkIdleToOffer measures new mail → offer with IDLE: a message is
// appended to a real Dovecot's INBOX (the clock starts as the APPEND is
// sent, on a connection already logged in) while the running app's
// ingester waits in IDLE on that mailbox, and stops when the agent's
// console socket reads the offer frame. Between them: Dovecot's IDLE
// notification, UID FETCH, parse, crm.RecordEmails with the checkpoint,
// the NOTIFY, the routing engine, Redis and the websocket. Each iteration
// then accepts and closes the contact so the agent is free again. The
// messages are synthetic: a new customer and a new thread each time.
// Run with -benchtime 60x for 60 samples.
func BenchmarkIdleToOffer(b *testing.B) {
	dove := dovecottest.New(b, dovecottest.Options{})
	env := benchEnv()
	env["SWITCHBOARD_EMAIL_RELOAD_INTERVAL"] = "200ms"
	a := startApp(b, env)
	agent := benchAgent(b, a)
	mailboxOnDovecot(b, a, dove)
	// Let the ingester start its session and reach IDLE on the empty
	// folder.
	time.Sleep(2 * time.Second)

	c := dove.Client(b)
	b.Cleanup(func() { c.Close() })
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		raw := fmt.Appendf(nil, "From: Bench Customer %[1]d <idle.bench%[1]d@example.net>\r\nTo: service@huadong.example\r\n"+
			"Subject: Idle bench %[1]d\r\nMessage-ID: <idle-bench-%[1]d-%[2]s@example.net>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\n\r\nSynthetic benchmark mail %[1]d: is my car ready?\r\n", i, uuid.NewString()[:8])
		start := time.Now()
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		offer, at := agent.expect(b, "offer")
		lat = append(lat, at.Sub(start))
		b.StopTimer()
		agent.finish(b, offer)
		b.StartTimer()
	}
	b.StopTimer()
	reportLatency(b, "", lat)
	if len(lat) > 0 {
		s := slices.Clone(lat)
		slices.Sort(s)
		b.ReportMetric(float64(s[0])/1e3, "min-µs")
		b.ReportMetric(float64(s[len(s)-1])/1e3, "max-µs")
	}
}

// mailboxOnDovecot gives the demo tenant a mailbox on dove's INBOX routed
// to the demo site's chat queue (whose agent is lina), sealed under the
// app's secret as the admin API would store it.
func mailboxOnDovecot(b testing.TB, a *app, dove *dovecottest.Server) org.Mailbox {
	b.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	sealer, err := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials") // startApp's secret
	if err != nil {
		b.Fatal(err)
	}
	orgs := org.NewStore(pool, org.WithSealer(sealer))
	site, err := orgs.SiteByChatKey(ctx, "demo-pudong")
	if err != nil {
		b.Fatal(err)
	}
	var admin uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'admin@huadong.example'`).Scan(&admin); err != nil {
		b.Fatal(err)
	}
	host, portStr, _ := strings.Cut(dove.Addr, ":")
	port, _ := strconv.Atoi(portStr)
	str := func(s string) *string { return &s }
	queue := site.ChatQueueID
	m, err := orgs.CreateMailbox(ctx, site.TenantID, admin, org.MailboxSettings{
		Address: str("service@huadong.example"), QueueID: &queue,
		IMAPHost: &host, IMAPPort: &port, IMAPSecurity: str(org.SecurityNone), IMAPUsername: &dove.User,
		IMAPPassword: &dove.Password, Folder: str("INBOX"),
	})
	if err != nil {
		b.Fatalf("CreateMailbox = %v", err)
	}
	return m
}
