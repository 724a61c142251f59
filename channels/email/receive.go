package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// Recorder is what the Receiver needs of crm.
type Recorder interface {
	RecordEmails(ctx context.Context, ins []crm.EmailIn) ([]crm.EmailResult, error)
	RecordRejected(ctx context.Context, tenant uuid.UUID, c crm.Checkpoint, reason string) error
}

// Announcer tells routing and the contact's watchers of what was recorded;
// channels.Intake implements it.
type Announcer interface {
	AnnounceHook(tenant uuid.UUID) func(crm.InboundResult) (string, string)
	Recorded(ctx context.Context, tenant uuid.UUID, res crm.InboundResult, line bool)
}

// WrapUpTeller tells an agent's consoles that a customer's mail reopened a
// thread the agent was wrapping up, which ended the wrap-up; the agent
// desk (agentdesk.Server) implements it.
type WrapUpTeller interface {
	EmailWrapUpEnded(ctx context.Context, tenant, agent, contact uuid.UUID)
}

// Receiver turns fetched messages into recorded e-mails: parsed, threaded
// and stored with the mailbox checkpoint in one transaction, then
// announced. The ingester may move past the messages only when Receive
// returns nil.
type Receiver struct {
	store    Recorder
	announce Announcer
	wrapUps  WrapUpTeller
	replyKey []byte
	lim      Limits
	policy   crm.EmailPolicy
	log      *slog.Logger
}

// NewReceiver returns a Receiver. w, which may be nil, hears of wrap-ups
// that a reopening ended; replyKey verifies reply tokens (crm.ReplyKey of
// the server secret); lim bounds parsing; policy holds the threading
// windows (zero: crm's defaults).
func NewReceiver(store Recorder, a Announcer, w WrapUpTeller, replyKey []byte, lim Limits, policy crm.EmailPolicy, log *slog.Logger) *Receiver {
	return &Receiver{store: store, announce: a, wrapUps: w, replyKey: replyKey, lim: lim.withDefaults(), policy: policy, log: log}
}

// Receive parses msgs and records them, in order, on their threads with
// the checkpoint at the last (mailbox, uidValidity, UID) in one
// transaction, then announces the threads that wait in a queue. A message
// that cannot be parsed, or that crm cannot store, is recorded as rejected
// with the reason and the checkpoint still advances past it: one bad
// message never blocks the mailbox. An error means the stored checkpoint
// names the last message stored: none of msgs, or, after a batch fell back
// to one transaction per message, a prefix of them.
func (r *Receiver) Receive(ctx context.Context, mb org.Mailbox, uidValidity uint32, msgs []Fetched) error {
	ins := make([]crm.EmailIn, len(msgs))
	problems := make([]int, len(msgs))
	for i, f := range msgs {
		ins[i], problems[i] = r.prepare(ctx, mb, uidValidity, f)
	}
	if len(ins) == 1 {
		return r.record(ctx, mb, ins, problems)
	}
	res, err := r.store.RecordEmails(ctx, ins)
	if errors.Is(err, crm.ErrInvalid) {
		// One of them cannot be stored: find it by storing them one at a
		// time, each with its own checkpoint.
		for i := range ins {
			if err := r.record(ctx, mb, ins[i:i+1], problems[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	return r.finish(ctx, mb, ins, problems, res, err)
}

// record stores one message, as rejected when crm refuses it.
func (r *Receiver) record(ctx context.Context, mb org.Mailbox, ins []crm.EmailIn, problems []int) error {
	res, err := r.store.RecordEmails(ctx, ins)
	if errors.Is(err, crm.ErrInvalid) {
		// A message crm cannot store (say, a Message-ID over 998 bytes) is
		// refused for good, not retried forever.
		r.log.WarnContext(ctx, "e-mail rejected", "tenant_id", mb.TenantID, "mailbox_id", mb.ID, "uid", ins[0].Checkpoint.UID, "kind", "unstorable")
		return r.store.RecordRejected(ctx, mb.TenantID, ins[0].Checkpoint, err.Error())
	}
	return r.finish(ctx, mb, ins, problems, res, err)
}

// finish announces and logs what RecordEmails stored.
func (r *Receiver) finish(ctx context.Context, mb org.Mailbox, ins []crm.EmailIn, problems []int, results []crm.EmailResult, err error) error {
	if err != nil {
		first, last := ins[0].Checkpoint.UID, ins[len(ins)-1].Checkpoint.UID
		return fmt.Errorf("record e-mail UIDs %d–%d of mailbox %s: %w", first, last, mb.ID, err)
	}
	for i, res := range results {
		if ins[i].Rejected != "" {
			continue
		}
		if res.WrapUpEnded != uuid.Nil && r.wrapUps != nil {
			// Before routing hears of the thread: the wrap-up card closes
			// before the offer that brings the thread back.
			r.wrapUps.EmailWrapUpEnded(ctx, mb.TenantID, res.WrapUpEnded, res.ContactID)
		}
		if res.ContactID != uuid.Nil && res.Noise == "" {
			r.announce.Recorded(ctx, mb.TenantID, res.InboundResult, res.Line)
		} else if res.ContactID != uuid.Nil && res.Line && !res.Duplicate {
			// Noise on a thread: its watchers see the line; routing hears
			// nothing (the state did not change).
			quiet := res.InboundResult
			quiet.State = ""
			r.announce.Recorded(ctx, mb.TenantID, quiet, true)
		}
		r.log.InfoContext(ctx, "e-mail recorded", "tenant_id", mb.TenantID, "mailbox_id", mb.ID, "uid", ins[i].Checkpoint.UID,
			"email_id", res.EmailID, "contact_id", res.ContactID, "threaded", res.Threaded, "noise", res.Noise,
			"duplicate", res.Duplicate, "new_contact", res.NewContact, "reopened", res.Reopened, "problems", problems[i])
	}
	return nil
}

// prepare parses one fetched message into what crm stores; a message that
// cannot be parsed becomes a rejected one, with the reason.
func (r *Receiver) prepare(ctx context.Context, mb org.Mailbox, uidValidity uint32, f Fetched) (crm.EmailIn, int) {
	cp := crm.Checkpoint{MailboxID: mb.ID, UIDValidity: uidValidity, UID: f.UID}
	msg, err := Parse(f.Raw, r.lim)
	if err != nil {
		// The reason is stored, not logged: a parser error can quote a
		// header line, and headers carry addresses and names.
		r.log.WarnContext(ctx, "e-mail rejected", "tenant_id", mb.TenantID, "mailbox_id", mb.ID, "uid", f.UID, "kind", rejectKind(err))
		return crm.EmailIn{TenantID: mb.TenantID, Checkpoint: cp, Rejected: err.Error()}, 0
	}
	in := crm.EmailIn{
		TenantID: mb.TenantID, MailboxID: mb.ID, SiteID: mb.SiteID, QueueID: mb.QueueID,
		Email: toCRM(msg), Checkpoint: cp, Policy: r.policy,
		Announce: r.announce.AnnounceHook(mb.TenantID),
	}
	for _, t := range msg.ReplyTokens {
		if c, err := crm.ParseReplyToken(r.replyKey, mb.TenantID, t); err == nil {
			in.TokenContacts = append(in.TokenContacts, c)
		}
	}
	return in, len(msg.Problems)
}

// Reject records a message the ingester will not fetch (over the size
// limit by its RFC822.SIZE) and moves the checkpoint past it.
func (r *Receiver) Reject(ctx context.Context, mb org.Mailbox, uidValidity, uid uint32, reason string) error {
	return r.store.RecordRejected(ctx, mb.TenantID, crm.Checkpoint{MailboxID: mb.ID, UIDValidity: uidValidity, UID: uid}, reason)
}

// toCRM maps a parsed message to what crm stores.
func toCRM(m *Message) crm.Email {
	e := crm.Email{
		MessageID: m.MessageID, MessageIDSynthetic: m.MessageIDSynthetic, InReplyTo: m.InReplyTo, References: m.References,
		FromAddr: m.From.Addr, FromName: m.From.Name, Subject: m.Subject, Text: m.Text, Folded: m.Folded,
		HTMLSanitized: m.HTMLSanitized, HTMLOriginal: m.HTMLOriginal, AutoSubmitted: m.AutoSubmitted, Noise: m.Noise,
		SentAt: m.Date,
	}
	for _, a := range m.ReplyTo {
		e.ReplyTo = append(e.ReplyTo, a.Addr)
	}
	for _, a := range m.To {
		e.To = append(e.To, a.Addr)
	}
	for _, a := range m.Cc {
		e.Cc = append(e.Cc, a.Addr)
	}
	if m.Bounce != nil {
		e.BounceRecipient, e.BounceStatus, e.BounceOf = m.Bounce.Recipient, m.Bounce.Status, m.Bounce.OriginalMessageID
	}
	for _, a := range m.Attachments {
		e.Attachments = append(e.Attachments, crm.EmailAttachment{Filename: a.Filename, ContentType: a.ContentType,
			ContentID: a.ContentID, Inline: a.Inline, Size: a.Size, Data: a.Data, Rejected: a.Rejected})
	}
	return e
}

// rejectKind names a parse error's class for logs.
func rejectKind(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	default:
		return "other"
	}
}
