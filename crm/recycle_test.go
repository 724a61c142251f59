package crm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// tally folds the tenant's whole event log into stats, as the wallboard
// and reports do.
func (b bundle) tally(t *testing.T, o tenantOrg) (stats.Counts, map[string]int) {
	t.Helper()
	// EventsSince's query, without its cursor: the cursor waits for every
	// transaction of the cluster (other tests' too) to end.
	rows, err := b.pool.Query(context.Background(), `
		SELECT e.kind, e.contact_id, coalesce(e.queue_id, c.queue_id), coalesce(e.agent_id, '00000000-0000-0000-0000-000000000000'),
		       c.channel, e.at
		FROM contact_events e JOIN contacts c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id
		WHERE e.tenant_id = $1 ORDER BY e.xact_id, e.id`, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tl := stats.NewTally(func(uuid.UUID) stats.Policy { return stats.Policy{SLA: 20 * time.Second} })
	kinds := map[string]int{}
	for rows.Next() {
		var e stats.Event
		if err := rows.Scan(&e.Kind, &e.ContactID, &e.QueueID, &e.AgentID, &e.Channel, &e.At); err != nil {
			t.Fatal(err)
		}
		tl.Add(e)
		kinds[e.Kind]++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return tl.Queue(o.QueueID), kinds
}

func TestPurgeKeepsStatisticsAndLeavesNoPersonalData(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	// Synthetic personal data, unique in the database so that any trace of
	// it after the purge is found.
	const (
		name  = "Purgeable Qin 秦始皇"
		tel   = "+8613912345671"
		mail  = "purge.me@example.cn"
		plate = "沪C99887"
		note  = "lives at 1 Purge Road"
	)
	c, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: name, Notes: note,
		Identities: []crm.Identity{phone(tel), email(mail)}})
	if err != nil {
		t.Fatal(err)
	}
	keep := b.customer(t, b.a.ID, "Keeper", phone("+8613700137001"))
	if _, err := b.store.AddVehicle(ctx, b.a.ID, c, crm.NewVehicle{Plate: plate, VIN: testVIN}, "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddServiceOrder(ctx, b.a.ID, c, crm.NewServiceOrder{Number: "SO-P1", Description: "for " + name, Amount: "500"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO follow_ups (id, tenant_id, customer_id, assigned_to, kind, due_at, note)
		VALUES ($1, $2, $3, $4, 'callback', now(), $5)`, uuid.New(), b.a.ID, c, b.a.Agent, "call "+tel); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ScheduleCallback(ctx, b.a.ID, crm.NewCallback{CustomerID: c, QueueID: b.a.QueueID, DueAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// A second callback, due now and started: its attempt is a contact of
	// the customer that points back at it.
	if _, err := b.store.ScheduleCallback(ctx, b.a.ID, crm.NewCallback{CustomerID: c, QueueID: b.a.QueueID, Phone: tel}); err != nil {
		t.Fatal(err)
	}
	if due, err := b.store.StartDueCallbacks(ctx, time.Now().Add(time.Second), 10); err != nil || len(due.Started) != 1 {
		t.Fatalf("StartDueCallbacks = %+v, %v; want one started", due, err)
	}
	endpoint := uuid.New()
	if _, err := b.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, 'https://erp.example/hook', 'sixteen-byte-secret')`,
		endpoint, b.a.ID); err != nil {
		t.Fatal(err)
	}
	// Two conversations: answered and closed, and one left waiting.
	in := inbound(b.a, "p-1", mail)
	in.Subject, in.Body = "Car for "+name, "My number is "+tel
	first := b.record(t, in).ContactID
	b.assign(t, b.a, first, b.a.Agent)
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, first, "r1", "Hello "+name+", we will call "+tel); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, first, "customer "+mail); err != nil {
		t.Fatal(err)
	}
	in2 := inbound(b.a, "p-2", mail)
	in2.Body = "plate " + plate
	second := b.record(t, in2).ContactID
	// The keeper's own conversation must come through untouched.
	kin := inbound(b.a, "k-1", "keeper@example.cn")
	kin.Identities = []crm.Identity{phone("+8613700137001")}
	keepContact := b.record(t, kin).ContactID

	// What the newer channels keep of a conversation: a chat attachment; an
	// e-mail with an attachment, answered by the agent with a file (outbox
	// row, reply attachment) and another upload not yet sent; a bounce of
	// mail to the customer (noise, no contact). The keeper's e-mail with
	// its attachment must come through untouched.
	if _, err := b.store.SaveAttachment(ctx, b.a.ID, second, "Purgeable licence.png", "image/png", []byte("png "+plate)); err != nil {
		t.Fatal(err)
	}
	mbAddr := "service-" + b.a.ID.String()[:8] + "@dealer.example"
	mb := makeMailbox(t, b, b.a, mbAddr)
	emailIn := func(uid uint32, e crm.Email) crm.EmailResult {
		t.Helper()
		return b.recordEmail(t, crm.EmailIn{TenantID: b.a.ID, MailboxID: mb, SiteID: b.a.SiteID, QueueID: b.a.QueueID,
			Email: e, Checkpoint: crm.Checkpoint{MailboxID: mb, UIDValidity: 7, UID: uid}})
	}
	pdf := func(text string) []byte { return []byte("%PDF-1.4 synthetic " + text) }
	emailed := emailIn(1, crm.Email{MessageID: "purge-1@mail.example.cn", FromAddr: mail, FromName: name, To: []string{mbAddr},
		Subject: "Plate " + plate, Text: "Call me on " + tel, Folded: "Call me on " + tel,
		HTMLSanitized: "<p>" + name + "</p>", HTMLOriginal: "<p>" + name + " " + tel + "</p>",
		Attachments: []crm.EmailAttachment{{Filename: "秦始皇 licence.pdf", ContentType: "application/pdf",
			Size: int64(len(pdf(testVIN))), Data: pdf(testVIN)}}})
	if emailed.ContactID == uuid.Nil {
		t.Fatalf("fixture: the customer's e-mail opened no contact: %+v", emailed)
	}
	b.assign(t, b.a, emailed.ContactID, b.a.Agent)
	sent, err := b.store.StoreEmailUpload(ctx, b.a.ID, b.a.Agent, emailed.ContactID, "Purgeable quote.pdf", "application/pdf", pdf(tel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.StoreEmailUpload(ctx, b.a.ID, b.a.Agent, emailed.ContactID, "秦始皇 draft.pdf", "application/pdf", pdf(plate)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.QueueReply(ctx, b.a.ID, b.a.Agent, emailed.ContactID,
		crm.Reply{ClientID: "r-purge", Text: "Dear " + name + ", your plate " + plate, AttachmentIDs: []uuid.UUID{sent.ID}}); err != nil {
		t.Fatal(err)
	}
	emailIn(2, crm.Email{MessageID: "bounce-1@dealer.example", FromAddr: "mailer-daemon@dealer.example", To: []string{mbAddr},
		Subject: "Undelivered: " + name, Text: "No such user: " + mail, Folded: "No such user",
		Noise: crm.NoiseBounce, BounceRecipient: mail, BounceStatus: "5.1.1", BounceOf: "unknown@dealer.example"})
	kept := emailIn(3, crm.Email{MessageID: "keeper-1@mail.example.cn", FromAddr: "keeper@example.cn", FromName: "Keeper", To: []string{mbAddr},
		Subject: "Keeper's question", Text: "keeper text", Folded: "keeper text",
		Attachments: []crm.EmailAttachment{{Filename: "keeper.pdf", ContentType: "application/pdf", Size: int64(len(pdf("k"))), Data: pdf("k")}}})
	emailsBefore := b.count(t, `SELECT count(*) FROM email_messages WHERE tenant_id = $1`, b.a.ID)
	if _, err := b.pool.Exec(ctx, `INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, customer_id, payload)
		VALUES ($1, $2, $3, 'customer.updated', $4, $5)`, uuid.New(), b.a.ID, endpoint, c,
		map[string]any{"customer_id": c, "name": name, "phone": tel}); err != nil {
		t.Fatal(err)
	}
	// A call from the customer's phone, with its recording link (still in
	// the menu: no contact, so the statistics fixture stays as it is).
	connector := uuid.New()
	if _, err := b.pool.Exec(ctx, `INSERT INTO phone_connectors (id, tenant_id, name, kind, mode, secret_enc)
		VALUES ($1, $2, 'PBX', 'generic', 'observe', '\x00')`, connector, b.a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.StartCall(ctx, crm.NewCall{TenantID: b.a.ID, ConnectorID: connector, CallID: "purge-call",
		From: tel, FromE164: true, Dialled: "+862160001000"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ApplyCallEvent(ctx, crm.CallEvent{TenantID: b.a.ID, ConnectorID: connector, CallID: "purge-call",
		EventID: "rec", Kind: "recording", Recording: "https://pbx.example/rec/Purgeable.wav"}); err != nil {
		t.Fatal(err)
	}
	statsBefore, kindsBefore := b.tally(t, b.a)
	messagesBefore := b.count(t, `SELECT count(*) FROM messages WHERE tenant_id = $1`, b.a.ID)

	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, c); err != nil {
		t.Fatal(err)
	}
	bin, err := b.store.RecycleBin(ctx, b.a.ID, time.Time{}, 10)
	if err != nil || len(bin) != 1 || bin[0].ID != c || bin[0].Name != name {
		t.Fatalf("RecycleBin = %+v, %v", bin, err)
	}
	if n, err := b.store.Purge(ctx, b.a.ID, time.Hour); err != nil || n != 0 {
		t.Fatalf("Purge before the retention ran out = %d, %v; want 0", n, err)
	}
	if n, err := b.store.Purge(ctx, b.b.ID, 0); err != nil || n != 0 {
		t.Fatalf("Purge(tenant b) = %d, %v; want 0", n, err)
	}
	if n, err := b.store.Purge(ctx, b.a.ID, 0); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}

	statsAfter, kindsAfter := b.tally(t, b.a)
	// Offered: the customer's three e-mail contacts and the keeper's two
	// (the callback's attempt is due, not offered); answered: the first and
	// the emailed one.
	if statsBefore.Offered != 5 || statsBefore.Answered != 2 {
		t.Fatalf("fixture: stats before %+v", statsBefore)
	}
	if diff := cmp.Diff(statsBefore, statsAfter); diff != "" {
		t.Errorf("queue statistics changed by the purge (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(kindsBefore, kindsAfter); diff != "" {
		t.Errorf("event counts changed by the purge (-before +after):\n%s", diff)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE tenant_id = $1`, b.a.ID); n != messagesBefore {
		t.Errorf("%d messages after purge, want %d (rows kept, bodies erased)", n, messagesBefore)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE contact_id = ANY ($1) AND (body <> '' OR NOT purged)`, []uuid.UUID{first, second}); n != 0 {
		t.Errorf("%d purged contacts' messages keep a body", n)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE contact_id = $1 AND body <> '' AND NOT purged`, keepContact); n != 1 {
		t.Error("the keeper's message was touched")
	}
	var channel org.Channel
	var queue uuid.UUID
	var closedAt *time.Time
	if err := b.pool.QueryRow(ctx, `SELECT channel, queue_id, closed_at FROM contacts WHERE id = $1`, first).Scan(&channel, &queue, &closedAt); err != nil ||
		channel != org.Email || queue != b.a.QueueID || closedAt == nil {
		t.Errorf("purged contact lost its statistics columns: %s %s %v %v", channel, queue, closedAt, err)
	}
	if r, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{phone("+8613700137001")}, ""); err != nil || r.CustomerID != keep {
		t.Errorf("keeper after purge: %+v, %v", r, err)
	}

	// The newer channels: e-mail rows kept (threads and counts stay) but
	// emptied; files, uploads, outbox rows and callbacks gone; the
	// keeper's e-mail and file untouched.
	if n := b.count(t, `SELECT count(*) FROM email_messages WHERE tenant_id = $1`, b.a.ID); n != emailsBefore {
		t.Errorf("%d e-mails after purge, want %d (rows kept, contents erased)", n, emailsBefore)
	}
	for what, q := range map[string]string{
		"chat attachments of the customer's contacts": `SELECT count(*) FROM chat_attachments WHERE contact_id = ANY ($1)`,
		"e-mail attachments of the customer's e-mail": `SELECT count(*) FROM email_attachments WHERE contact_id = ANY ($1)
			OR email_id IN (SELECT id FROM email_messages WHERE contact_id = ANY ($1))`,
		"pending uploads":                `SELECT count(*) FROM email_uploads WHERE contact_id = ANY ($1)`,
		"outbox rows":                    `SELECT count(*) FROM email_outbox WHERE contact_id = ANY ($1)`,
		"callbacks and attempts' links":  `SELECT (SELECT count(*) FROM callbacks) + (SELECT count(*) FROM contacts WHERE callback_id IS NOT NULL) + 0 * cardinality($1::uuid[])`,
		"e-mails with addresses or text": `SELECT count(*) FROM email_messages WHERE (contact_id = ANY ($1) OR noise = 'bounce') AND (from_addr <> '' OR from_name <> '' OR to_addrs <> '{}' OR cc_addrs <> '{}' OR reply_to_addrs <> '{}' OR subject <> '' OR subject_key <> '' OR text_body <> '' OR html_sanitized <> '' OR html_original <> '' OR quoted_folded <> '' OR bounce_recipient <> '')`,
	} {
		if n := b.count(t, q, []uuid.UUID{first, second, emailed.ContactID}); n != 0 {
			t.Errorf("%d %s left after the purge", n, what)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM email_attachments a JOIN email_messages e ON e.id = a.email_id
		WHERE e.id = $1 AND e.from_addr = 'keeper@example.cn' AND a.filename = 'keeper.pdf' AND a.data IS NOT NULL`, kept.EmailID); n != 1 {
		t.Error("the keeper's e-mail or its attachment was touched")
	}

	// No trace of the personal data in any column of any table.
	tables, err := b.pool.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var s string
		if err := tables.Scan(&s); err != nil {
			t.Fatal(err)
		}
		names = append(names, s)
	}
	if len(names) < 20 {
		t.Fatalf("only %d tables found", len(names))
	}
	secrets := []string{"Purgeable", "秦始皇", tel, "13912345671", mail, "purge.me", plate, "C99887", testVIN, "Purge Road"}
	for _, table := range names {
		for _, secret := range secrets {
			if n := b.count(t, `SELECT count(*) FROM `+table+` t WHERE strpos(t::text, $1) > 0`, secret); n != 0 {
				t.Errorf("%d rows of %s still hold %q after the purge", n, table, secret)
			}
		}
	}
	// A row's text shows bytea as hex: look into file bytes on their own.
	cols, err := b.pool.Query(ctx, `SELECT quote_ident(table_name), quote_ident(column_name) FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type = 'bytea'`)
	if err != nil {
		t.Fatal(err)
	}
	var byteCols [][2]string
	for cols.Next() {
		var tc [2]string
		if err := cols.Scan(&tc[0], &tc[1]); err != nil {
			t.Fatal(err)
		}
		byteCols = append(byteCols, tc)
	}
	if len(byteCols) < 4 {
		t.Fatalf("only %d bytea columns found: %v", len(byteCols), byteCols)
	}
	for _, tc := range byteCols {
		for _, secret := range secrets {
			if n := b.count(t, `SELECT count(*) FROM `+tc[0]+` WHERE position(convert_to($1, 'UTF8') IN `+tc[1]+`) > 0`, secret); n != 0 {
				t.Errorf("%d rows of %s.%s still hold %q in their bytes after the purge", n, tc[0], tc[1], secret)
			}
		}
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, c); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("Restore(purged) = %v, want ErrConflict", err)
	}
}

func TestDeleteRestore(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	c := b.customer(t, b.a.ID, "Soft", phone("+8613600136000"))
	if err := b.store.Delete(ctx, b.b.ID, b.b.Agent, c); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Delete from another tenant = %v, want ErrNotFound", err)
	}
	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, c); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, c); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	// A deleted customer no longer resolves: the next contact makes a new one.
	if r, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{phone("+8613600136000")}, ""); err != nil || r.CustomerID == c {
		t.Errorf("Resolve(deleted customer's phone) = %+v, %v", r, err)
	}
	if bin, _ := b.store.RecycleBin(ctx, b.b.ID, time.Time{}, 10); len(bin) != 0 {
		t.Errorf("tenant b's recycle bin shows %v", bin)
	}
	if err := b.store.Restore(ctx, b.b.ID, b.b.Agent, c); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Restore from another tenant = %v, want ErrNotFound", err)
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, c); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, c); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("Restore(live) = %v, want ErrConflict", err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE target_id = $1 AND action IN ('customer.delete', 'customer.restore')`, c); n != 2 {
		t.Errorf("%d delete/restore audit entries, want 2", n)
	}
}
