package crm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

func TestReplySubject(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Is my car ready?", "Re: Is my car ready?"},
		{"Re: Is my car ready?", "Re: Is my car ready?"},
		{"RE: booking", "RE: booking"},
		{"Fwd: invoice", "Fwd: invoice"},
		{"回复：保养预约", "回复：保养预约"},
		{"保养预约", "Re: 保养预约"},
		{"  Reply needed ", "Re: Reply needed"}, // "Reply" is not "Re:"
	} {
		if got := crm.ReplySubject(c.in); got != c.want {
			t.Errorf("ReplySubject(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestReplyReferences(t *testing.T) {
	for _, c := range []struct {
		refs      []string
		inReplyTo string
		id        string
		want      []string
	}{
		{nil, "", "a@x", []string{"a@x"}},
		{nil, "a@x", "b@x", []string{"a@x", "b@x"}},                           // no References: In-Reply-To stands in (§3.6.4)
		{[]string{"a@x", "b@x"}, "b@x", "c@x", []string{"a@x", "b@x", "c@x"}}, // parent's chain, then the parent
		{[]string{"<a@x>", "a@x"}, "", "<c@x>", []string{"a@x", "c@x"}},       // brackets dropped, duplicates once
		{[]string{"a@x", "c@x"}, "", "c@x", []string{"a@x", "c@x"}},           // a parent listed in its own chain once
	} {
		got := crm.ReplyReferences(c.refs, c.inReplyTo, c.id)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ReplyReferences(%q, %q, %q) (-want +got):\n%s", c.refs, c.inReplyTo, c.id, diff)
		}
	}
}

// emailThread is an e-mail contact of o held by o.Agent, with two
// customer messages (synthetic: written for this test, not from a client's
// export) addressed to mailbox.
type emailThread struct {
	contact, mailbox uuid.UUID
}

func makeMailbox(t *testing.T, b bundle, o tenantOrg, address string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := b.pool.Exec(context.Background(), `
		INSERT INTO mailboxes (id, tenant_id, site_id, address, display_name, queue_id, imap_host, imap_port, imap_username,
		                       imap_password_enc, smtp_host, smtp_port)
		VALUES ($1, $2, $3, $4, 'Service Desk', $5, 'localhost', 993, 'u', '\x00', 'localhost', 587)`,
		id, o.ID, o.SiteID, address, o.QueueID); err != nil {
		t.Fatalf("mailbox: %v", err)
	}
	return id
}

func makeEmailThread(t *testing.T, b bundle, o tenantOrg) emailThread {
	t.Helper()
	ctx := context.Background()
	mb := makeMailbox(t, b, o, "service-"+o.ID.String()[:8]+"@dealer.example")
	res := b.record(t, inbound(o, "mail-"+uuid.NewString(), "wang.wei@example.cn"))
	b.assign(t, o, res.ContactID, o.Agent)
	for i, m := range []struct {
		id, irt, subject string
		refs             []string
	}{
		{"first." + res.ContactID.String() + "@mail.example.cn", "", "Is my car ready?", []string{}},
		{"second." + res.ContactID.String() + "@mail.example.cn", "older@dealer.example", "Re: Is my car ready?", []string{"root@mail.example.cn", "older@dealer.example"}},
	} {
		if _, err := b.pool.Exec(ctx, `
			INSERT INTO email_messages (id, tenant_id, contact_id, customer_id, message_id, in_reply_to, "references", direction,
			                            mailbox_ids, from_addr, from_name, reply_to_addrs, to_addrs, subject, subject_key,
			                            text_body, created_at)
			SELECT $1, $2, $3, c.customer_id, $4, $5, $6, 'in', ARRAY[$7::uuid], 'wang.wei@example.cn', 'Wang Wei',
			       $8, ARRAY['service@dealer.example'], $9, 'is my car ready?', 'Hello', now() - $10 * interval '1 minute'
			FROM contacts c WHERE c.tenant_id = $2 AND c.id = $3`,
			uuid.New(), o.ID, res.ContactID, m.id, m.irt, m.refs, mb,
			map[bool][]string{true: {"Wang.Wei+reply@Example.cn"}, false: {}}[i == 1], m.subject, 10-i); err != nil {
			t.Fatalf("email_messages: %v", err)
		}
	}
	return emailThread{contact: res.ContactID, mailbox: mb}
}

func TestQueueReply(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	th := makeEmailThread(t, b, b.a)
	up, err := b.store.StoreEmailUpload(ctx, b.a.ID, b.a.Agent, th.contact, "quote.pdf", "application/pdf", []byte("%PDF-1.4 synthetic"))
	if err != nil {
		t.Fatalf("StoreEmailUpload = %v", err)
	}
	token := crm.ReplyToken(crm.ReplyKey([]byte("test-secret-0123456789")), b.a.ID, th.contact)
	reply := crm.Reply{ClientID: "c1", Text: "Your car is ready.", CC: []string{"Li Na <LI.NA@example.cn>"}, AttachmentIDs: []uuid.UUID{up.ID}, Token: token}
	q, err := b.store.QueueReply(ctx, b.a.ID, b.a.Agent, th.contact, reply)
	if err != nil {
		t.Fatalf("QueueReply = %v", err)
	}
	if q.Duplicate || q.Message.AuthorKind != "agent" || q.Message.Body != reply.Text || q.Outbox.State != crm.OutboxQueued || q.Outbox.Kind != crm.OutboxReply {
		t.Errorf("QueueReply = %+v, want a new agent line and a queued reply", q)
	}
	var (
		irt, subject, from, msgID string
		refs, to, cc              []string
		mailboxes                 []uuid.UUID
		seq                       int
	)
	err = b.pool.QueryRow(ctx, `
		SELECT message_id, in_reply_to, "references", subject, from_addr, to_addrs, cc_addrs, mailbox_ids, message_seq
		FROM email_messages WHERE tenant_id = $1 AND contact_id = $2 AND direction = 'out'`, b.a.ID, th.contact).Scan(
		&msgID, &irt, &refs, &subject, &from, &to, &cc, &mailboxes, &seq)
	if err != nil {
		t.Fatalf("out e-mail: %v", err)
	}
	second := "second." + th.contact.String() + "@mail.example.cn"
	if irt != second {
		t.Errorf("In-Reply-To = %q, want the customer's last message %q", irt, second)
	}
	if diff := cmp.Diff([]string{"root@mail.example.cn", "older@dealer.example", second}, refs); diff != "" {
		t.Errorf("References (-want +got):\n%s", diff)
	}
	if subject != "Re: Is my car ready?" {
		t.Errorf("subject = %q, want one Re:", subject)
	}
	if !strings.Contains(msgID, "."+token+"@") || !strings.HasSuffix(msgID, "@dealer.example") || msgID != q.Outbox.MessageID || strings.ContainsAny(msgID, "<>") {
		t.Errorf("Message-ID = %q (outbox %q), want ours on the mailbox's domain, without brackets", msgID, q.Outbox.MessageID)
	}
	if diff := cmp.Diff([]string{"wang.wei+reply@example.cn"}, to); diff != "" {
		t.Errorf("To (Reply-To wins over From) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"li.na@example.cn"}, cc); diff != "" {
		t.Errorf("CC (-want +got):\n%s", diff)
	}
	if from != "service-"+b.a.ID.String()[:8]+"@dealer.example" || len(mailboxes) != 1 || mailboxes[0] != th.mailbox || seq != q.Message.Seq {
		t.Errorf("from %q mailboxes %v seq %d, want the thread's mailbox and line %d", from, mailboxes, seq, q.Message.Seq)
	}
	if n := b.count(t, `SELECT count(*) FROM email_attachments a JOIN email_messages m ON m.id = a.email_id WHERE m.direction = 'out' AND a.filename = 'quote.pdf'`); n != 1 {
		t.Errorf("reply attachments = %d, want the upload moved in", n)
	}
	if n := b.count(t, `SELECT count(*) FROM email_uploads`); n != 0 {
		t.Errorf("uploads left = %d, want 0", n)
	}

	// The same client id again: the stored reply, nothing new.
	again, err := b.store.QueueReply(ctx, b.a.ID, b.a.Agent, th.contact, reply)
	if err != nil || !again.Duplicate || again.Outbox.ID != q.Outbox.ID || again.Message.ID != q.Message.ID {
		t.Errorf("QueueReply again = %+v, %v; want the stored reply as a duplicate", again, err)
	}
	if n := b.count(t, `SELECT count(*) FROM email_outbox`); n != 1 {
		t.Errorf("outbox rows = %d, want 1", n)
	}

	// Refusals.
	for _, c := range []struct {
		name          string
		tenant, agent uuid.UUID
		contact       uuid.UUID
		r             crm.Reply
		want          error
	}{
		{"not held", b.a.ID, b.a.Agent2, th.contact, crm.Reply{ClientID: "x", Text: "hi"}, crm.ErrNotHeld},
		{"other tenant", b.b.ID, b.b.Agent, th.contact, crm.Reply{ClientID: "x", Text: "hi"}, crm.ErrNotFound},
		{"no such contact", b.a.ID, b.a.Agent, uuid.New(), crm.Reply{ClientID: "x", Text: "hi"}, crm.ErrNotFound},
		{"no text", b.a.ID, b.a.Agent, th.contact, crm.Reply{ClientID: "x", Text: " "}, crm.ErrInvalid},
		{"no client id", b.a.ID, b.a.Agent, th.contact, crm.Reply{Text: "hi"}, crm.ErrInvalid},
		{"bad cc", b.a.ID, b.a.Agent, th.contact, crm.Reply{ClientID: "x", Text: "hi", CC: []string{"a@b\r\nBcc: x@y"}}, crm.ErrInvalid},
		{"upload already sent", b.a.ID, b.a.Agent, th.contact, crm.Reply{ClientID: "x", Text: "hi", AttachmentIDs: []uuid.UUID{up.ID}}, crm.ErrInvalid},
	} {
		if _, err := b.store.QueueReply(ctx, c.tenant, c.agent, c.contact, c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: QueueReply = %v, want %v", c.name, err, c.want)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM email_outbox`); n != 1 {
		t.Errorf("outbox rows after refusals = %d, want 1", n)
	}
	// Another agent's upload is not this agent's to send.
	b.assign(t, b.a, b.record(t, inbound(b.a, "other", "x@example.cn")).ContactID, b.a.Agent2)
	if _, err := b.store.StoreEmailUpload(ctx, b.a.ID, b.a.Agent2, th.contact, "x.txt", "text/plain", []byte("x")); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("StoreEmailUpload by an agent not holding = %v, want ErrNotHeld", err)
	}

	thread, err := b.store.EmailThread(ctx, b.a.ID, th.contact)
	if err != nil || len(thread) != 3 || thread[2].Direction != "out" || thread[2].Outbox == nil || len(thread[2].Attachments) != 1 {
		t.Fatalf("EmailThread = %+v, %v; want two in and the reply with its outbox state and attachment", thread, err)
	}
	if _, err := b.store.EmailThread(ctx, b.b.ID, th.contact); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("EmailThread of another tenant's contact = %v, want ErrNotFound", err)
	}
	if _, err := b.store.EmailAttachment(ctx, b.b.ID, th.contact, thread[2].Attachments[0].ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("EmailAttachment of another tenant = %v, want ErrNotFound", err)
	}
}

func TestOutboxClaimAndSettle(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	th := makeEmailThread(t, b, b.a)
	q, err := b.store.QueueReply(ctx, b.a.ID, b.a.Agent, th.contact, crm.Reply{ClientID: "c1", Text: "Ready."})
	if err != nil {
		t.Fatalf("QueueReply = %v", err)
	}
	claimed, err := b.store.ClaimEmailOutbox(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].Attempt != 1 || claimed[0].MessageID != q.Outbox.MessageID {
		t.Fatalf("ClaimEmailOutbox = %+v, %v; want the reply, attempt 1", claimed, err)
	}
	if again, _ := b.store.ClaimEmailOutbox(ctx, 10, time.Minute); len(again) != 0 {
		t.Errorf("second claim within the lease = %d rows, want 0", len(again))
	}
	// A temporary failure: queued again for the given time.
	e, ok, err := b.store.EmailAttemptFailed(ctx, b.a.ID, q.Outbox.ID, 1, "smtp 451", time.Now().Add(-time.Second))
	if err != nil || !ok || e.State != crm.OutboxQueued || e.LastError != "smtp 451" {
		t.Fatalf("EmailAttemptFailed(retry) = %+v, %v, %v", e, ok, err)
	}
	claimed, _ = b.store.ClaimEmailOutbox(ctx, 10, time.Minute)
	if len(claimed) != 1 || claimed[0].Attempt != 2 {
		t.Fatalf("claim after the retry time = %+v, want attempt 2", claimed)
	}
	// The first attempt's late outcome is fenced off.
	if _, ok, err := b.store.EmailSent(ctx, b.a.ID, q.Outbox.ID, 1); ok || err != nil {
		t.Errorf("EmailSent(stale attempt) = %v, %v; want nothing recorded", ok, err)
	}
	e, ok, err = b.store.EmailSent(ctx, b.a.ID, q.Outbox.ID, 2)
	if err != nil || !ok || e.State != crm.OutboxSent || e.SentAt == nil {
		t.Fatalf("EmailSent = %+v, %v, %v", e, ok, err)
	}
	if n := b.count(t, `SELECT count(*) FROM email_messages WHERE direction = 'out' AND sent_at IS NOT NULL`); n != 1 {
		t.Errorf("sent e-mails = %d, want 1", n)
	}
	if again, _ := b.store.ClaimEmailOutbox(ctx, 10, 0); len(again) != 0 {
		t.Errorf("claim after sent = %d rows, want 0", len(again))
	}

	// A permanent failure stays failed, is in the contact's events, and an
	// agent's retry queues it again with fresh attempts.
	q2, _ := b.store.QueueReply(ctx, b.a.ID, b.a.Agent, th.contact, crm.Reply{ClientID: "c2", Text: "Also…"})
	claimed, _ = b.store.ClaimEmailOutbox(ctx, 10, time.Minute)
	if len(claimed) != 1 {
		t.Fatalf("claim = %d rows, want 1", len(claimed))
	}
	e, ok, err = b.store.EmailAttemptFailed(ctx, b.a.ID, q2.Outbox.ID, claimed[0].Attempt, "smtp 550", time.Time{})
	if err != nil || !ok || e.State != crm.OutboxFailed || e.FailedAt == nil {
		t.Fatalf("EmailAttemptFailed(final) = %+v, %v, %v", e, ok, err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'email_failed'`, th.contact); n != 1 {
		t.Errorf("email_failed events = %d, want 1", n)
	}
	if _, err := b.store.RetryEmail(ctx, b.b.ID, th.contact, q2.Outbox.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("RetryEmail by another tenant = %v, want ErrNotFound", err)
	}
	e, err = b.store.RetryEmail(ctx, b.a.ID, th.contact, q2.Outbox.ID)
	if err != nil || e.State != crm.OutboxQueued || e.Attempts != 0 {
		t.Errorf("RetryEmail = %+v, %v; want queued, 0 attempts", e, err)
	}
	if _, err := b.store.RetryEmail(ctx, b.a.ID, th.contact, q2.Outbox.ID); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("RetryEmail of a queued entry = %v, want ErrConflict", err)
	}
}

func TestCannedResponses(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	th := makeEmailThread(t, b, b.a)
	if _, err := b.pool.Exec(ctx, `UPDATE customers SET name = '王<伟>' WHERE id = (SELECT customer_id FROM contacts WHERE id = $1)`, th.contact); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO service_orders (id, tenant_id, number, customer_id, status)
		SELECT $1, tenant_id, 'SO-1001', customer_id, 'ready' FROM contacts WHERE id = $2`, uuid.New(), th.contact); err != nil {
		t.Fatal(err)
	}
	title, body := "Car ready", "Dear {{customer.name}}, order {{ order.number }} is ready. {{agent.name}} {{customer.phone}} {{nope}}"
	c, err := b.store.CreateCanned(ctx, b.a.ID, b.a.Agent, crm.CannedInput{Title: &title, Body: &body})
	if err != nil {
		t.Fatalf("CreateCanned = %v", err)
	}
	vals, err := b.store.CannedValues(ctx, b.a.ID, b.a.Agent, th.contact)
	if err != nil {
		t.Fatalf("CannedValues = %v", err)
	}
	want := "Dear 王<伟>, order SO-1001 is ready. Agent 1 a {{customer.phone}} {{nope}}"
	if got := crm.RenderCanned(c.Body, vals); got != want {
		t.Errorf("RenderCanned = %q, want %q (unknown placeholders left visible)", got, want)
	}
	wantHTML := "Dear 王&lt;伟&gt;, order SO-1001 is ready. Agent 1 a {{customer.phone}} {{nope}}"
	if got := crm.RenderCannedHTML(c.Body, vals); got != wantHTML {
		t.Errorf("RenderCannedHTML = %q, want %q", got, wantHTML)
	}
	if _, err := b.store.CannedValues(ctx, b.b.ID, b.b.Agent, th.contact); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("CannedValues for another tenant's contact = %v, want ErrNotFound", err)
	}

	off := false
	if _, err := b.store.UpdateCanned(ctx, b.b.ID, c.ID, crm.CannedInput{Active: &off}); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("UpdateCanned by another tenant = %v, want ErrNotFound", err)
	}
	if err := b.store.DeleteCanned(ctx, b.b.ID, c.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("DeleteCanned by another tenant = %v, want ErrNotFound", err)
	}
	if u, err := b.store.UpdateCanned(ctx, b.a.ID, c.ID, crm.CannedInput{Active: &off}); err != nil || u.Active || u.Body != body {
		t.Errorf("UpdateCanned = %+v, %v; want inactive, body kept", u, err)
	}
	if l, _ := b.store.CannedResponses(ctx, b.a.ID, false); len(l) != 0 {
		t.Errorf("active canned responses = %d, want 0", len(l))
	}
	if l, _ := b.store.CannedResponses(ctx, b.a.ID, true); len(l) != 1 {
		t.Errorf("all canned responses = %d, want 1", len(l))
	}
	if l, _ := b.store.CannedResponses(ctx, b.b.ID, true); len(l) != 0 {
		t.Errorf("tenant b's canned responses = %d, want 0", len(l))
	}
	empty := ""
	if _, err := b.store.UpdateCanned(ctx, b.a.ID, c.ID, crm.CannedInput{Title: &empty}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("UpdateCanned(empty title) = %v, want ErrInvalid", err)
	}
	if err := b.store.DeleteCanned(ctx, b.a.ID, c.ID); err != nil {
		t.Errorf("DeleteCanned = %v", err)
	}
}

func TestQueueTranscript(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	in := inbound(b.a, "chat-1", "visitor@example.cn")
	in.Channel, in.Body = org.Chat, "Hi, what time do you open?"
	res := b.record(t, in)
	if _, err := b.store.QueueTranscript(ctx, b.a.ID, res.ContactID, "visitor@example.cn"); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("QueueTranscript with no mailbox = %v, want ErrInvalid", err)
	}
	makeMailbox(t, b, b.a, "chat@dealer.example")
	b.assign(t, b.a, res.ContactID, b.a.Agent)
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, res.ContactID, "l1", "At 8:30."); err != nil {
		t.Fatal(err)
	}
	e, err := b.store.QueueTranscript(ctx, b.a.ID, res.ContactID, "Visitor@Example.cn")
	if err != nil || e.Kind != crm.OutboxTranscript || e.State != crm.OutboxQueued {
		t.Fatalf("QueueTranscript = %+v, %v", e, err)
	}
	again, err := b.store.QueueTranscript(ctx, b.a.ID, res.ContactID, "visitor@example.cn")
	if err != nil || again.ID != e.ID {
		t.Errorf("QueueTranscript again = %+v, %v; want the same entry", again, err)
	}
	claimed, err := b.store.ClaimEmailOutbox(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %+v, %v", claimed, err)
	}
	got := claimed[0]
	if !strings.Contains(got.Text, "You: Hi, what time do you open?") || !strings.Contains(got.Text, "Agent 1 a: At 8:30.") ||
		got.Subject != "Chat transcript – Site a" || got.AgentID != nil || len(got.To) != 1 || got.To[0] != "visitor@example.cn" {
		t.Errorf("transcript = %+v", got)
	}
	if _, err := b.store.QueueTranscript(ctx, b.b.ID, res.ContactID, "visitor@example.cn"); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("QueueTranscript of another tenant's chat = %v, want ErrNotFound", err)
	}
}
