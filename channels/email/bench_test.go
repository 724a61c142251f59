package email_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/dovecottest"
)

// quietAnnouncer stands in for channels.Intake in the benchmark: routing
// is not running, so nothing is listening for the announcement.
type quietAnnouncer struct{}

func (quietAnnouncer) AnnounceHook(uuid.UUID) func(crm.InboundResult) (string, string) { return nil }
func (quietAnnouncer) Recorded(context.Context, uuid.UUID, crm.InboundResult, bool)    {}

// benchCorpus is synthetic: n messages of about 5 KB (text/plain, UTF-8
// with some Chinese) from n/5 customers, every fifth a new thread and the
// others replies in it (In-Reply-To and References to the thread's first
// message), so threading does real work.
func benchCorpus(n int) [][]byte {
	para := strings.Repeat("您好，我的车什么时候可以取？Is my car ready for pick-up after the 20,000 km service? ", 48)
	out := make([][]byte, n)
	for i := range out {
		cust, k := i/5, i%5
		first := fmt.Sprintf("<bench-%d-0@example.net>", cust)
		hdr := fmt.Sprintf("From: Customer %[1]d <bench.customer%[1]d@example.net>\r\nTo: service@dealer.example\r\n"+
			"Message-ID: <bench-%[1]d-%[2]d@example.net>\r\nDate: Mon, 2 Mar 2026 10:%02[2]d:00 +0800\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", cust, k)
		subj := fmt.Sprintf("Subject: Service booking %d\r\n", cust)
		if k > 0 {
			subj = fmt.Sprintf("Subject: Re: Service booking %d\r\nIn-Reply-To: %s\r\nReferences: %s\r\n", cust, first, first)
		}
		out[i] = []byte(hdr + subj + "\r\n" + para[:min(len(para), 4800)] + "\r\n")
	}
	return out
}

// BenchmarkIngestDovecot measures the ingest rate from a real Dovecot with
// E2's Receiver (parse, threading, customer resolution, commit with the
// checkpoint): 500 messages of ~5 KB, then a second pass over the same
// folder from checkpoint 0, which must insert nothing. Run with
// -benchtime=1x (each iteration re-reads the same mailbox).
func BenchmarkIngestDovecot(b *testing.B) {
	const n = 500
	bd := setup(b, dovecottest.Options{}, "INBOX", "")
	bd.dove.Deliver(b, "INBOX", benchCorpus(n)...)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	recv := email.NewReceiver(crm.NewStore(bd.pool), quietAnnouncer{}, nil, crm.ReplyKey([]byte("bench secret 0123456789")),
		email.Limits{}, crm.EmailPolicy{}, quiet)
	cfg := testConfig()
	cfg.Batch, cfg.Commit = 100, 0 // the defaults: fetch 100, commit 50
	ctx := context.Background()
	count := func() int {
		var c int
		bd.pool.QueryRow(ctx, `SELECT count(*) FROM email_messages`).Scan(&c)
		return c
	}
	for i := 0; i < b.N; i++ {
		// Each pass reads the folder from the start; only the first inserts.
		bd.pool.Exec(ctx, `UPDATE mailboxes SET uid_validity = 0, last_uid = 0`)
		before := count()
		start := time.Now()
		ing := email.NewIngester(cfg, bd.orgs, recv, quiet)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ing.Run(rctx) }()
		deadline := time.Now().Add(5 * time.Minute)
		var firstAt time.Time
		for {
			_, last, _ := bd.orgs.MailboxCheckpoint(ctx, bd.mailbox.TenantID, bd.mailbox.ID)
			if last > 0 && firstAt.IsZero() {
				firstAt = time.Now()
			}
			if last == n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("pass %d: checkpoint at %d of %d after 5 minutes", i, last, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		cancel()
		<-done
		inserted := count() - before
		if i == 0 {
			if inserted != n {
				b.Fatalf("first pass inserted %d, want %d", inserted, n)
			}
			b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
		} else if inserted != 0 {
			b.Fatalf("pass %d over the same mailbox inserted %d, want 0", i, inserted)
		} else {
			b.ReportMetric(float64(n)/elapsed.Seconds(), "rescan-msgs/s")
		}
		b.Logf("pass %d: %d messages in %v (%.0f/s), inserted %d; first commit after %v", i, n, elapsed.Round(time.Millisecond),
			float64(n)/elapsed.Seconds(), inserted, firstAt.Sub(start).Round(time.Millisecond))
	}
}

// BenchmarkParseBenchCorpus: the parse share of the ingest benchmark's
// time, per ~5 KB message.
func BenchmarkParseBenchCorpus(b *testing.B) {
	msgs := benchCorpus(100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := email.Parse(msgs[i%len(msgs)], email.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
