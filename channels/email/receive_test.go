package email

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// enqueuer and publisher are hand-written fakes of interfaces channels
// defines; the database is real.
type enqueuer struct {
	mu    sync.Mutex
	tasks []routing.Task
}

func (e *enqueuer) Enqueue(_ context.Context, _ uuid.UUID, t routing.Task) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tasks = append(e.tasks, t)
	return nil
}

// refusing is crm's store refusing one message as invalid, as crm does
// a message it cannot store (a Message-ID over 998 bytes, which the parser
// never lets through).
type refusing struct{ *crm.Store }

func (r refusing) RecordEmails(ctx context.Context, ins []crm.EmailIn) ([]crm.EmailResult, error) {
	for _, in := range ins {
		if in.Email.MessageID == "unstorable@example.net" {
			return nil, fmt.Errorf("message refused for the test: %w", crm.ErrInvalid)
		}
	}
	return r.Store.RecordEmails(ctx, ins)
}

type publisher struct{ n int }

func (p *publisher) Publish(context.Context, string, []byte) error { p.n++; return nil }

// TestReceiveCorpus hands the corpus over one message per Receive (one
// transaction each) and all in one Receive (one transaction, falling back
// to one per message for the one crm cannot store); the outcome is the same.
func TestReceiveCorpus(t *testing.T) {
	for _, batch := range []int{1, 100} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) { testReceiveCorpus(t, batch) })
	}
}

func testReceiveCorpus(t *testing.T, batch int) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	tenant, site, queue, mbID := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (id, name) VALUES ($1, 'T')`, []any{tenant}},
		{`INSERT INTO sites (id, tenant_id, name, chat_key) VALUES ($1, $2, 'S', $3)`, []any{site, tenant, site.String()}},
		{`INSERT INTO queues (id, tenant_id, site_id, name) VALUES ($1, $2, $3, 'Service')`, []any{queue, tenant, site}},
		{`INSERT INTO mailboxes (id, tenant_id, site_id, address, queue_id, imap_host, imap_port, imap_username, imap_password_enc)
		  VALUES ($1, $2, $3, 'service@dealer.example', $4, '127.0.0.1', 993, 'u', '\x00')`, []any{mbID, tenant, site, queue}},
	} {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatal(err)
		}
	}
	mb := org.Mailbox{ID: mbID, TenantID: tenant, SiteID: site, QueueID: queue, Address: "service@dealer.example"}
	q, pub := &enqueuer{}, &publisher{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	intake := channels.NewIntake(crm.NewStore(pool), q, pub, log)
	r := NewReceiver(refusing{crm.NewStore(pool)}, intake, nil, crm.ReplyKey([]byte("s")), Limits{MaxAttachmentBytes: 64 << 10}, crm.EmailPolicy{}, log)
	count := func(sql string, args ...any) int {
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	uid := uint32(0)
	var pending []Fetched
	flush := func() {
		t.Helper()
		if len(pending) == 0 {
			return
		}
		if err := r.Receive(ctx, mb, 42, pending); err != nil {
			t.Fatalf("Receive(UIDs %d–%d) = %v", pending[0].UID, uid, err)
		}
		pending = nil
	}
	receive := func(raw []byte) {
		t.Helper()
		uid++
		if pending = append(pending, Fetched{UID: uid, Raw: raw}); len(pending) >= batch {
			flush()
		}
	}
	for _, f := range []string{"gmail_reply_zh.eml", "outlook_reply_exchange.eml", "foxmail_gbk_reply.eml", "forward.eml",
		"attachment_over_limit.eml", "no_message_id.eml", "html_only_script.eml", "big5_evolution_reply.eml", "forward_applemail_rfc822.eml"} {
		receive(readFixture(t, f))
	}
	// Noise: auto-replies to mail we never sent (synthetic, Exchange's
	// out-of-office, Zimbra's vacation), list messages, bounces (one
	// without a Message-ID).
	for _, f := range []string{"auto_reply_zh.eml", "list_reply_gb18030.eml", "dsn_exchange2007.eml",
		"auto_reply_exchange_oof.eml", "auto_reply_zimbra.eml", "iso2022jp_outlook_list.eml", "no_message_id_postmaster.eml"} {
		receive(readFixture(t, f))
	}
	// A resend of a customer's message and of one without Message-ID.
	receive(readFixture(t, "gmail_reply_zh.eml"))
	receive(readFixture(t, "no_message_id.eml"))
	receive(readFixture(t, "no_message_id_postmaster.eml"))
	// A message crm refuses (ErrInvalid, as for a Message-ID over 998
	// bytes), and one that cannot be parsed.
	receive([]byte("From: a@example.net\r\nTo: service@dealer.example\r\nMessage-ID: <unstorable@example.net>\r\n" +
		"Subject: refused by crm\r\n\r\nBody.\r\n"))
	receive([]byte("\x00\x01 not mail"))
	flush()

	if n := count(`SELECT count(*) FROM contacts WHERE tenant_id = $1 AND state = 'queued'`, tenant); n != 9 {
		t.Errorf("queued contacts = %d, want 9 (one per customer message, none for noise or resends)", n)
	}
	q.mu.Lock()
	tasks := len(q.tasks)
	q.mu.Unlock()
	if tasks < 9 {
		t.Errorf("routing heard of %d contacts, want at least 9", tasks)
	}
	if n := count(`SELECT count(*) FROM email_messages WHERE tenant_id = $1`, tenant); n != 16 {
		t.Errorf("e-mails stored = %d, want 16", n)
	}
	if n := count(`SELECT count(*) FROM email_messages WHERE tenant_id = $1 AND contact_id IS NULL AND noise IN ('auto_reply', 'list', 'bounce')`, tenant); n != 7 {
		t.Errorf("noise without a contact = %d, want 7", n)
	}
	if n := count(`SELECT count(*) FROM customers WHERE tenant_id = $1 AND name = '王小明'`, tenant); n != 1 {
		t.Errorf("customers named from the GBK From = %d, want 1", n)
	}
	if n := count(`SELECT count(*) FROM email_attachments WHERE tenant_id = $1 AND rejected_reason LIKE 'too large%' AND data IS NULL AND size = 102400`, tenant); n != 1 {
		t.Errorf("refused attachments = %d, want 1", n)
	}
	if n := count(`SELECT count(*) FROM email_rejected WHERE tenant_id = $1 AND uid = $2`, tenant, uid); n != 1 {
		t.Errorf("rejected = %d, want the unparseable message", n)
	}
	if n := count(`SELECT count(*) FROM email_rejected WHERE tenant_id = $1 AND uid = $2 AND reason LIKE '%refused for the test%'`, tenant, uid-1); n != 1 {
		t.Errorf("rejected = %d, want the message crm refused", n)
	}
	if n := count(`SELECT count(*) FROM mailboxes WHERE id = $1 AND uid_validity = 42 AND last_uid = $2`, mbID, uid); n != 1 {
		t.Errorf("checkpoint did not reach uid %d", uid)
	}
	if n := count(`SELECT count(*) FROM messages m JOIN email_messages e ON e.contact_id = m.contact_id AND e.message_seq = m.seq
		WHERE e.tenant_id = $1 AND e.message_id = 'CAJedcCznj8Ve7GOJxopG6X9eDXfi8MMKr+BtTZK7D1xDf0PaBQ@mail.gmail.com'
		AND m.body = E'Hi,\n\nSorry for my late reply. I will try to simulate a device in qemu to test.\n\nBest regards,\nZheng'`, tenant); n != 1 {
		t.Error("the Gmail reply's conversation line is not its folded text")
	}
	// The real Big5 reply: decoded, its quote and attribution folded away.
	if n := count(`SELECT count(*) FROM messages m JOIN email_messages e ON e.contact_id = m.contact_id AND e.message_seq = m.seq
		WHERE e.tenant_id = $1 AND e.message_id = '1008836323.972.6.camel@star7.planet.rcn.com.hk' AND m.body = $2`, tenant, big5Answer); n != 1 {
		t.Error("the Big5 reply's conversation line is not its folded answer")
	}
	// The real Apple Mail forward: its sender named from the unpadded
	// encoded word, the forwarded message kept as an attachment.
	if n := count(`SELECT count(*) FROM customers WHERE tenant_id = $1 AND name = 'xpto'`, tenant); n != 1 {
		t.Errorf("customers named from Apple Mail's unpadded encoded word = %d, want 1", n)
	}
	if n := count(`SELECT count(*) FROM email_attachments WHERE tenant_id = $1 AND filename = 'original.eml' AND content_type = 'message/rfc822' AND rejected_reason = '' AND data IS NOT NULL`, tenant); n != 1 {
		t.Errorf("forwarded messages kept = %d, want 1", n)
	}
}
