package crm_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// mailbox adds a mailbox of o with address, routed to o's queue.
func (b bundle) mailbox(t *testing.T, o tenantOrg, address string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := b.pool.Exec(context.Background(), `
		INSERT INTO mailboxes (id, tenant_id, site_id, address, queue_id, imap_host, imap_port, imap_username, imap_password_enc)
		VALUES ($1, $2, $3, $4, $5, '127.0.0.1', 993, 'u', '\x00')`, id, o.ID, o.SiteID, address, o.QueueID); err != nil {
		t.Fatalf("mailbox: %v", err)
	}
	return id
}

var testReplyKey = crm.ReplyKey([]byte("test secret"))

// mail is an e-mail from the customer to o's mailbox mb.
func mail(o tenantOrg, mb uuid.UUID, uid uint32, id, subject, text string) crm.EmailIn {
	return crm.EmailIn{
		TenantID: o.ID, MailboxID: mb, SiteID: o.SiteID, QueueID: o.QueueID,
		Email: crm.Email{MessageID: id, FromAddr: "wang.wei@example.cn", FromName: "Wang Wei", To: []string{"service@dealer.example"},
			Subject: subject, Text: text, Folded: text},
		Checkpoint: crm.Checkpoint{MailboxID: mb, UIDValidity: 7, UID: uid},
	}
}

func (b bundle) recordEmail(t *testing.T, in crm.EmailIn) crm.EmailResult {
	t.Helper()
	res, err := b.store.RecordEmail(context.Background(), in)
	if err != nil {
		t.Fatalf("RecordEmail(%s) = %v", in.Email.MessageID, err)
	}
	return res
}

// outbound stores our reply on contact as E3's QueueReply does (an
// email_messages row, direction out).
func (b bundle) outbound(t *testing.T, o tenantOrg, contact uuid.UUID, messageID string) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), `
		INSERT INTO email_messages (id, tenant_id, contact_id, message_id, direction, subject)
		VALUES ($1, $2, $3, $4, 'out', 'Re: Brake noise')`, uuid.New(), o.ID, contact, messageID); err != nil {
		t.Fatalf("outbound: %v", err)
	}
}

func TestEmailThreadingRules(t *testing.T) {
	b := setup(t)
	o := b.a
	mb := b.mailbox(t, o, "service@dealer.example")

	first := b.recordEmail(t, mail(o, mb, 1, "m1@example.cn", "Brake noise", "The brakes squeak."))
	if first.Threaded != crm.ThreadNew || !first.NewContact || first.Seq != 1 || first.State != crm.StateQueued || first.CustomerID == uuid.Nil {
		t.Fatalf("first mail = %+v, want a new queued contact with a customer", first)
	}
	var validity, last int64
	b.pool.QueryRow(context.Background(), `SELECT uid_validity, last_uid FROM mailboxes WHERE id = $1`, mb).Scan(&validity, &last)
	if validity != 7 || last != 1 {
		t.Errorf("checkpoint = %d/%d, want 7/1", validity, last)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE contact_id = $1 AND body = 'The brakes squeak.'`, first.ContactID); n != 1 {
		t.Errorf("conversation lines = %d, want 1 (the folded text)", n)
	}
	b.outbound(t, o, first.ContactID, "out-1@dealer.example")

	// 1. In-Reply-To names our outbound mail; the subject is new.
	in := mail(o, mb, 2, "m2@example.cn", "completely different", "Thursday is fine.")
	in.Email.InReplyTo = "out-1@dealer.example"
	if r := b.recordEmail(t, in); r.ContactID != first.ContactID || r.Threaded != crm.ThreadByReference || r.Seq != 2 {
		t.Errorf("reply by In-Reply-To = %s %s seq %d, want %s reference 2", r.ContactID, r.Threaded, r.Seq, first.ContactID)
	}
	// References alone, naming the customer's own earlier message.
	in = mail(o, mb, 3, "m3@example.cn", "another subject", "Also the wipers.")
	in.Email.References = []string{"unknown@elsewhere", "m1@example.cn"}
	if r := b.recordEmail(t, in); r.ContactID != first.ContactID || r.Threaded != crm.ThreadByReference {
		t.Errorf("reply by References = %s %s", r.ContactID, r.Threaded)
	}
	// 2. No threading headers, a new subject, but our reply token.
	tok := crm.ReplyToken(testReplyKey, o.ID, first.ContactID)
	contact, err := crm.ParseReplyToken(testReplyKey, o.ID, tok)
	if err != nil || contact != first.ContactID {
		t.Fatalf("ParseReplyToken(ReplyToken) = %s, %v", contact, err)
	}
	in = mail(o, mb, 4, "m4@example.cn", "[#"+tok+"] from my phone", "Sent from my phone.")
	in.TokenContacts = []uuid.UUID{contact}
	if r := b.recordEmail(t, in); r.ContactID != first.ContactID || r.Threaded != crm.ThreadByToken {
		t.Errorf("reply by token = %s %s", r.ContactID, r.Threaded)
	}
	// 3. Only the customer and the subject match: prefixes in several languages.
	for i, subject := range []string{"Re: Brake noise", "回复: 转发：Brake  noise", "AW: SV: brake noise", "答复: Fwd: Brake noise"} {
		r := b.recordEmail(t, mail(o, mb, uint32(5+i), "s"+subject+"@example.cn", subject, "again"))
		if r.ContactID != first.ContactID || r.Threaded != crm.ThreadBySubject {
			t.Errorf("subject %q = %s %s, want %s subject", subject, r.ContactID, r.Threaded, first.ContactID)
		}
	}
	// A fresh message with a new subject opens a new contact.
	fresh := b.recordEmail(t, mail(o, mb, 20, "m20@example.cn", "Trade-in offer", "What is my car worth?"))
	if fresh.ContactID == first.ContactID || fresh.Threaded != crm.ThreadNew || fresh.CustomerID != first.CustomerID {
		t.Errorf("new subject = %+v, want a new contact for the same customer", fresh)
	}
	// The subject rule looks back 14 days only.
	b.pool.Exec(context.Background(), `UPDATE email_messages SET created_at = now() - interval '15 days' WHERE contact_id = $1`, fresh.ContactID)
	if r := b.recordEmail(t, mail(o, mb, 21, "m21@example.cn", "Re: Trade-in offer", "Still interested.")); r.ContactID == fresh.ContactID {
		t.Errorf("subject match after 15 days threaded onto %s", r.ContactID)
	}
	// Someone else with the same subject is not threaded onto this customer's contact.
	other := mail(o, mb, 22, "m22@example.cn", "Re: Brake noise", "Mine too.")
	other.Email.FromAddr = "li.ming@example.cn"
	if r := b.recordEmail(t, other); r.ContactID == first.ContactID {
		t.Error("another customer's mail with the same subject joined the thread")
	}
	tampered := []byte(tok)
	tampered[10] = map[bool]byte{true: 'b', false: 'a'}[tampered[10] == 'a']
	if _, err := crm.ParseReplyToken(testReplyKey, o.ID, string(tampered)); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("tampered token: %v, want ErrInvalid", err)
	}
	if _, err := crm.ParseReplyToken(crm.ReplyKey([]byte("other secret")), o.ID, tok); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("token under another key: %v, want ErrInvalid", err)
	}
}

func TestEmailReopen(t *testing.T) {
	b := setup(t)
	o := b.a
	mb := b.mailbox(t, o, "service@dealer.example")
	ctx := context.Background()
	first := b.recordEmail(t, mail(o, mb, 1, "m1@example.cn", "Brake noise", "The brakes squeak."))
	b.assign(t, o, first.ContactID, o.Agent)
	if _, err := b.store.Close(ctx, o.ID, o.Agent, first.ContactID, "booked"); err != nil {
		t.Fatal(err)
	}
	b.pool.Exec(ctx, `UPDATE assignments SET ended_at = now() WHERE contact_id = $1`, first.ContactID)

	// Closed a moment ago: reopened, its agent preferred.
	in := mail(o, mb, 2, "m2@example.cn", "Re: Brake noise", "It squeaks again.")
	in.Email.InReplyTo = "m1@example.cn"
	r := b.recordEmail(t, in)
	if r.ContactID != first.ContactID || !r.Reopened || r.State != crm.StateQueued {
		t.Fatalf("reply to a recently closed thread = %+v, want it reopened and queued", r)
	}
	if !slices.Equal(r.Preference.Agents, []uuid.UUID{o.Agent}) || r.Preference.Reason != "last_agent" {
		t.Errorf("preference = %+v, want the last agent", r.Preference)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'reopened'`, first.ContactID); n != 1 {
		t.Errorf("reopened events = %d, want 1", n)
	}

	// Pending (waiting for the customer): reopened too.
	b.pool.Exec(ctx, `UPDATE contacts SET state = 'pending' WHERE id = $1`, first.ContactID)
	in = mail(o, mb, 3, "m3@example.cn", "Re: Brake noise", "Here are the photos.")
	in.Email.InReplyTo = "m2@example.cn"
	if r := b.recordEmail(t, in); r.ContactID != first.ContactID || !r.Reopened || r.State != crm.StateQueued {
		t.Errorf("reply to a pending thread = %+v", r)
	}

	// Closed 8 days ago: a new contact that follows the old one.
	b.pool.Exec(ctx, `UPDATE contacts SET state = 'closed', closed_at = now() - interval '8 days' WHERE id = $1`, first.ContactID)
	in = mail(o, mb, 4, "m4@example.cn", "Re: Brake noise", "Again, a month later.")
	in.Email.InReplyTo = "m3@example.cn"
	r = b.recordEmail(t, in)
	if r.ContactID == first.ContactID || !r.NewContact || r.Follows != first.ContactID {
		t.Fatalf("reply to an old closed thread = %+v, want a new contact following %s", r, first.ContactID)
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND follows_contact_id = $2`, r.ContactID, first.ContactID); n != 1 {
		t.Error("new contact does not link to the old one")
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND state = 'closed'`, first.ContactID); n != 1 {
		t.Error("the old thread was reopened")
	}
}

func TestEmailToAndCCOneContactAndIdempotency(t *testing.T) {
	b := setup(t)
	o := b.a
	service := b.mailbox(t, o, "service@dealer.example")
	sales := b.mailbox(t, o, "sales@dealer.example")
	in := mail(o, service, 10, "both@example.cn", "Service and a new car", "Two questions.")
	in.Email.To, in.Email.Cc = []string{"service@dealer.example"}, []string{"sales@dealer.example"}
	r1 := b.recordEmail(t, in)
	in2 := in
	in2.MailboxID, in2.Checkpoint = sales, crm.Checkpoint{MailboxID: sales, UIDValidity: 3, UID: 55}
	r2 := b.recordEmail(t, in2)
	if !r2.Duplicate || r2.ContactID != r1.ContactID {
		t.Errorf("second mailbox's copy = %+v, want the duplicate of %s", r2, r1.ContactID)
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, o.ID); n != 1 {
		t.Errorf("contacts = %d, want 1", n)
	}
	var ids []uuid.UUID
	b.pool.QueryRow(context.Background(), `SELECT mailbox_ids FROM email_messages WHERE message_id = 'both@example.cn'`).Scan(&ids)
	if len(ids) != 2 || !slices.Contains(ids, service) || !slices.Contains(ids, sales) {
		t.Errorf("mailbox_ids = %v, want both mailboxes", ids)
	}
	if n := b.count(t, `SELECT count(*) FROM mailboxes WHERE (id = $1 AND last_uid = 10) OR (id = $2 AND last_uid = 55 AND uid_validity = 3)`, service, sales); n != 2 {
		t.Error("both checkpoints should have advanced")
	}
	// The same delivery again (a re-scan): nothing new.
	r3 := b.recordEmail(t, in)
	if !r3.Duplicate || r3.ContactID != r1.ContactID {
		t.Errorf("resend = %+v", r3)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE tenant_id = $1`, o.ID); n != 1 {
		t.Errorf("conversation lines = %d, want 1", n)
	}
	// A message without Message-ID arrives with the synthetic id Parse gives it.
	nm := mail(o, service, 11, "sha256-abc@no-message-id.switchboard.invalid", "No id", "hello")
	nm.Email.MessageIDSynthetic = true
	b.recordEmail(t, nm)
	if !b.recordEmail(t, nm).Duplicate {
		t.Error("a message without Message-ID was recorded twice")
	}
}

func TestEmailNoiseAndBounces(t *testing.T) {
	b := setup(t)
	o := b.a
	mb := b.mailbox(t, o, "service@dealer.example")
	ctx := context.Background()
	first := b.recordEmail(t, mail(o, mb, 1, "m1@example.cn", "Brake noise", "The brakes squeak."))
	b.pool.Exec(ctx, `UPDATE contacts SET state = 'pending' WHERE id = $1`, first.ContactID)
	contacts := func() int { return b.count(t, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, o.ID) }

	// An auto-reply on the thread: stored there as a system line, the
	// pending thread is not reopened.
	ar := mail(o, mb, 2, "auto@example.cn", "自动回复: Brake noise", "我正在休假。")
	ar.Email.Noise, ar.Email.AutoSubmitted, ar.Email.InReplyTo = crm.NoiseAutoReply, true, "m1@example.cn"
	r := b.recordEmail(t, ar)
	if r.ContactID != first.ContactID || r.State != crm.StatePending || r.Reopened || r.Message.AuthorKind != "system" {
		t.Errorf("auto-reply on a thread = %+v", r)
	}
	// One that matches nothing: stored, no contact.
	ar2 := mail(o, mb, 3, "auto2@example.cn", "Out of office", "Away.")
	ar2.Email.Noise = crm.NoiseAutoReply
	if r := b.recordEmail(t, ar2); r.ContactID != uuid.Nil || r.Threaded != crm.ThreadNone {
		t.Errorf("unmatched auto-reply = %+v, want no contact", r)
	}
	// Mail from one of our own mailboxes never opens a contact.
	own := mail(o, mb, 4, "own@dealer.example", "Loop?", "Sent by us.")
	own.Email.FromAddr = "service@dealer.example"
	if r := b.recordEmail(t, own); r.ContactID != uuid.Nil || r.Noise != crm.NoiseOwn {
		t.Errorf("own mail = %+v, want noise own without a contact", r)
	}
	// List mail.
	list := mail(o, mb, 5, "list@example.cn", "Newsletter", "News.")
	list.Email.Noise = crm.NoiseList
	b.recordEmail(t, list)
	if n := contacts(); n != 1 {
		t.Errorf("contacts = %d after noise, want 1", n)
	}
	// A bounce of our mail to the customer marks the address failing.
	bounce := mail(o, mb, 6, "dsn@mx.example.cn", "Undeliverable: Re: Brake noise", "Delivery has failed.")
	bounce.Email.FromAddr, bounce.Email.Noise = "mailer-daemon@mx.example.cn", crm.NoiseBounce
	bounce.Email.BounceRecipient, bounce.Email.BounceStatus = "wang.wei@example.cn", "5.1.1"
	b.recordEmail(t, bounce)
	var reason string
	b.pool.QueryRow(ctx, `SELECT failure_reason FROM customer_identities WHERE tenant_id = $1 AND value = 'wang.wei@example.cn' AND failing_at IS NOT NULL`, o.ID).Scan(&reason)
	if reason != "bounce 5.1.1" {
		t.Errorf("failure_reason = %q, want the bounce status", reason)
	}
	if n := contacts(); n != 1 {
		t.Errorf("contacts = %d after a bounce, want 1", n)
	}
	// Mail from the address again clears the mark.
	b.recordEmail(t, mail(o, mb, 7, "m7@example.cn", "Re: Brake noise", "Back again."))
	if n := b.count(t, `SELECT count(*) FROM customer_identities WHERE tenant_id = $1 AND failing_at IS NOT NULL`, o.ID); n != 0 {
		t.Errorf("failing identities = %d after the address wrote again, want 0", n)
	}
	// Rejected mail: a reason, the checkpoint moves, a repeat is a no-op.
	cp := crm.Checkpoint{MailboxID: mb, UIDValidity: 7, UID: 9}
	for range 2 {
		if err := b.store.RecordRejected(ctx, o.ID, cp, "malformed message: header"); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM email_rejected WHERE mailbox_id = $1 AND uid = 9`, mb); n != 1 {
		t.Errorf("rejected rows = %d, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM mailboxes WHERE id = $1 AND last_uid = 9`, mb); n != 1 {
		t.Error("checkpoint did not move past the rejected message")
	}
}

func TestEmailTenantIsolation(t *testing.T) {
	b := setup(t)
	mbA := b.mailbox(t, b.a, "service@dealer-a.example")
	mbB := b.mailbox(t, b.b, "service@dealer-b.example")
	a := b.recordEmail(t, mail(b.a, mbA, 1, "a1@example.cn", "Brake noise", "A's thread."))

	// B's mail naming A's message, A's contact by token, A's subject: all new in B.
	in := mail(b.b, mbB, 1, "b1@example.cn", "Re: Brake noise", "B's mail.")
	in.Email.InReplyTo = "a1@example.cn"
	in.TokenContacts = []uuid.UUID{a.ContactID}
	r := b.recordEmail(t, in)
	if r.ContactID == a.ContactID || r.Threaded != crm.ThreadNew || r.CustomerID == a.CustomerID {
		t.Errorf("tenant B's mail = %+v, want a new contact and customer in B", r)
	}
	// A's token does not verify under B.
	if _, err := crm.ParseReplyToken(testReplyKey, b.b.ID, crm.ReplyToken(testReplyKey, b.a.ID, a.ContactID)); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("A's token under B: %v, want ErrInvalid", err)
	}
	// B cannot record into, or checkpoint, A's mailbox.
	in = mail(b.b, mbA, 2, "b2@example.cn", "x", "y")
	if _, err := b.store.RecordEmail(context.Background(), in); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("B recording into A's mailbox: %v, want ErrNotFound", err)
	}
	if err := b.store.RecordRejected(context.Background(), b.b.ID, crm.Checkpoint{MailboxID: mbA, UIDValidity: 1, UID: 5}, "x"); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("B rejecting into A's mailbox: %v, want ErrNotFound", err)
	}
	// The same Message-ID in both tenants is two messages.
	same := mail(b.b, mbB, 3, "a1@example.cn", "Brake noise", "Same id, other tenant.")
	if r := b.recordEmail(t, same); r.Duplicate {
		t.Error("tenant B's message was taken for a duplicate of tenant A's")
	}
}

func TestSubjectKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Brake noise", "brake noise"},
		{"Re: RE: Fwd: Brake  noise", "brake noise"},
		{"回复：转发: 保养预约", "保养预约"},
		{"答复: AW: SV: Re[2]: Offer", "offer"},
		{"WG: Angebot", "angebot"},
		{"Regarding the offer", "regarding the offer"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := crm.SubjectKey(tt.in); got != tt.want {
			t.Errorf("SubjectKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
