package crm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// The agent's e-mail replies and chat transcripts leave through a durable
// outbox (migration 00014): QueueReply and QueueTranscript write the row in
// the transaction that makes the reply part of the thread, and the
// connector's worker (channels/email) claims, sends and settles it with
// ClaimEmailOutbox, EmailSent and EmailAttemptFailed.

// Outbox kinds and states as stored.
const (
	OutboxReply      = "reply"
	OutboxTranscript = "transcript"

	OutboxQueued  = "queued"
	OutboxSending = "sending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// Reply is an agent's answer to an e-mail thread.
type Reply struct {
	// ClientID is the console's own id for the reply: the same id on the
	// same contact queues the reply once (a double click, a retried POST).
	ClientID string
	Text     string
	// HTML is an optional formatted version of the reply (the console's
	// editor: paragraphs, bold, italic, lists, links). It is sanitised
	// (SanitizeReplyHTML) before it is stored or sent, and when anything is
	// left the text part is made from it (ReplyHTMLText), so the two
	// alternatives say the same; Text may then be empty.
	HTML string
	// SetPending puts the thread in pending in the same transaction, once
	// the reply is queued (SetPending): "send and wait for the customer".
	SetPending bool
	// CC are extra recipients besides the customer.
	CC []string
	// AttachmentIDs are the agent's uploads on this contact
	// (StoreEmailUpload), sent in this order.
	AttachmentIDs []uuid.UUID
	// Token is the thread's reply token (ReplyToken under the server's
	// ReplyKey), put in the Message-ID and an X-Switchboard-Ref header so
	// that an answer whose client dropped the threading headers still finds
	// the thread. The caller that holds the key sets it (cmd's adapter);
	// empty: no token.
	Token string
}

// OutboxEntry is one outgoing e-mail's delivery state, as the console shows it.
type OutboxEntry struct {
	ID        uuid.UUID  `json:"id"`
	ContactID uuid.UUID  `json:"contact_id"`
	Kind      string     `json:"kind"`
	State     string     `json:"state"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	EmailID   *uuid.UUID `json:"email_id,omitempty"`
	MessageID string     `json:"message_id"`
	// NextAttemptAt is when a queued entry is tried (again).
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	FailedAt      *time.Time `json:"failed_at,omitempty"`
}

// QueuedReply is what QueueReply stored: the thread's line and the outbox
// entry that will send it.
type QueuedReply struct {
	Message Message     `json:"message"`
	Outbox  OutboxEntry `json:"outbox"`
	// Duplicate: the client id had been queued before; nothing new was stored.
	Duplicate bool `json:"duplicate"`
	// Pending: the thread is pending (waiting for the customer) now, set by
	// this reply (Reply.SetPending) or before it.
	Pending bool `json:"pending"`
}

// maxReplyBytes bounds a reply's text: a reply is typed, not pasted books.
const maxReplyBytes = 256 << 10

// replyPrefixes are the subject prefixes mail clients put on replies and
// forwards, lower-case, in English and Chinese: a subject that starts with
// one gets no second "Re:".
var replyPrefixes = []string{"re:", "re :", "aw:", "sv:", "fw:", "fwd:", "回复:", "回复：", "答复:", "答复：", "转发:", "转发："}

// ReplySubject is the subject of a reply to a message with subject s:
// "Re: " + s, unless s already starts with a reply or forward prefix
// (RFC 5322 §3.6.5: "Re: " only once).
func ReplySubject(s string) string {
	s = strings.TrimSpace(s)
	l := strings.ToLower(s)
	for _, p := range replyPrefixes {
		if strings.HasPrefix(l, p) {
			return s
		}
	}
	return "Re: " + s
}

// ReplyReferences is the References of a reply to a message with the given
// References and Message-ID: the parent's References (or, when it has none,
// its In-Reply-To) followed by the parent's Message-ID (RFC 5322 §3.6.4).
// Ids are without angle brackets; duplicates are dropped, keeping the first.
func ReplyReferences(parentRefs []string, parentInReplyTo, parentID string) []string {
	refs := parentRefs
	if len(refs) == 0 && parentInReplyTo != "" {
		refs = []string{parentInReplyTo}
	}
	out := make([]string, 0, len(refs)+1)
	seen := map[string]bool{}
	for _, r := range append(append([]string{}, refs...), parentID) {
		r = strings.Trim(strings.TrimSpace(r), "<>")
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}

// normalizeRecipients parses addresses typed by an agent into lower-case
// addr-specs; anything else is refused rather than sent somewhere unexpected.
func normalizeRecipients(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, a := range in {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		p, err := mail.ParseAddress(a)
		if err != nil || strings.ContainsAny(p.Address, "\r\n") {
			return nil, fmt.Errorf("recipient %d is not an e-mail address: %w", len(out)+1, ErrInvalid)
		}
		addr := strings.ToLower(p.Address)
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	if len(out) > 20 {
		return nil, fmt.Errorf("at most 20 recipients: %w", ErrInvalid)
	}
	return out, nil
}

// newMessageID is the Message-ID of an outgoing message, without angle
// brackets: a fresh uuid, the thread's reply token when there is one, and
// the sending mailbox's domain, which is ours to name ids in.
func newMessageID(token, mailboxAddress string) string {
	domain := "switchboard.invalid"
	if _, d, ok := strings.Cut(mailboxAddress, "@"); ok && d != "" {
		domain = d
	}
	local := dbid.New().String()
	if token != "" {
		local += "." + token
	}
	return local + "@" + domain
}

const outboxSelect = `
SELECT id, contact_id, kind, state, attempts, last_error, email_message_id, message_id,
       next_attempt_at, created_at, sent_at, failed_at
FROM email_outbox`

func scanOutbox(r pgx.CollectableRow) (OutboxEntry, error) {
	var e OutboxEntry
	err := r.Scan(&e.ID, &e.ContactID, &e.Kind, &e.State, &e.Attempts, &e.LastError, &e.EmailID, &e.MessageID,
		&e.NextAttemptAt, &e.CreatedAt, &e.SentAt, &e.FailedAt)
	return e, err
}

func outboxByID(ctx context.Context, q dbtx, tenant, id uuid.UUID) (OutboxEntry, error) {
	rows, err := q.Query(ctx, outboxSelect+` WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("outbox %s: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanOutbox)
	if errors.Is(err, pgx.ErrNoRows) {
		return OutboxEntry{}, fmt.Errorf("outbox %s: %w", id, ErrNotFound)
	} else if err != nil {
		return OutboxEntry{}, fmt.Errorf("outbox %s: %w", id, err)
	}
	return e, nil
}

// contactChannel returns a contact's channel, or ErrNotFound for a missing
// contact or another tenant's.
func contactChannel(ctx context.Context, q dbtx, tenant, contact uuid.UUID) (string, error) {
	var ch string
	err := q.QueryRow(ctx, `SELECT channel FROM contacts WHERE tenant_id = $1 AND id = $2`, tenant, contact).Scan(&ch)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("contact %s: %w", contact, ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("contact %s: %w", contact, err)
	}
	return ch, nil
}

// parentEmail is what a reply takes from the customer's message it answers.
type parentEmail struct {
	messageID, inReplyTo, subject, subjectKey, fromAddr string
	references, replyTo, mailboxIDs                     []string
	customerID                                          *uuid.UUID
}

// ErrInWrapUp: the agent is wrapping up the thread; it is closed and takes
// no reply (errors.Is ErrClosed too).
var ErrInWrapUp = fmt.Errorf("thread in wrap-up: %w", ErrClosed)

// lockReplyable locks the contact's row, then checks that agent may answer
// it: an active thread the agent holds, or a pending one (waiting for the
// customer) the agent held last. A closed thread the agent is wrapping up
// is ErrInWrapUp; anything else ErrNotHeld.
func lockReplyable(ctx context.Context, tx pgx.Tx, tenant, contact, agent uuid.UUID) (queue uuid.UUID, state string, err error) {
	err = tx.QueryRow(ctx, `SELECT queue_id, state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
		tenant, contact).Scan(&queue, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, "", ErrNotHeld
	} else if err != nil {
		return uuid.Nil, "", err
	}
	// After the lock, as a statement of its own (lockHeld says why).
	var holds, wrapping bool
	var last *uuid.UUID
	err = tx.QueryRow(ctx, `
		SELECT COALESCE(bool_or(ended_at IS NULL AND wrap_up_at IS NULL AND agent_id = $3), false),
		       COALESCE(bool_or(ended_at IS NULL AND wrap_up_at IS NOT NULL AND agent_id = $3), false),
		       (SELECT agent_id FROM assignments WHERE tenant_id = $1 AND contact_id = $2 ORDER BY started_at DESC LIMIT 1)
		FROM assignments WHERE tenant_id = $1 AND contact_id = $2`, tenant, contact, agent).Scan(&holds, &wrapping, &last)
	if err != nil {
		return uuid.Nil, "", err
	}
	switch {
	case state == StateActive && holds:
		return queue, state, nil
	case state == StatePending && last != nil && *last == agent:
		return queue, state, nil
	case state == StateClosed && wrapping:
		return uuid.Nil, "", ErrInWrapUp
	}
	return uuid.Nil, "", ErrNotHeld
}

// QueueReply stores an agent's reply to an e-mail contact the agent holds,
// or to a pending one (waiting for the customer) the agent held last, and
// queues it for sending, in one transaction (a pending thread stays
// pending): the thread's line
// (messages, author the agent), the e-mail (email_messages, direction out,
// with its Message-ID, In-Reply-To and References answering the customer's
// last message, "Re:" subject and reply token), the agent's uploads as its
// attachments, and the outbox entry. A contact of another tenant, or none,
// is ErrNotFound; one the agent does not hold, ErrNotHeld; one the agent
// has closed and wraps up, ErrInWrapUp. The same client
// id on the same contact returns the stored reply.
func (s *Store) QueueReply(ctx context.Context, tenant, agent, contact uuid.UUID, r Reply) (QueuedReply, error) {
	if r.ClientID == "" || len(r.ClientID) > 64 {
		return QueuedReply{}, fmt.Errorf("reply on %s: a client id of 1 to 64 bytes is required: %w", contact, ErrInvalid)
	}
	if len(r.HTML) > maxReplyBytes {
		return QueuedReply{}, fmt.Errorf("reply on %s: html of at most %d bytes: %w", contact, maxReplyBytes, ErrInvalid)
	}
	if r.HTML != "" {
		if r.HTML = SanitizeReplyHTML(r.HTML); r.HTML != "" {
			r.Text = ReplyHTMLText(r.HTML)
		}
	}
	if strings.TrimSpace(r.Text) == "" || len(r.Text) > maxReplyBytes {
		return QueuedReply{}, fmt.Errorf("reply on %s: text is required, at most %d bytes: %w", contact, maxReplyBytes, ErrInvalid)
	}
	if len(r.AttachmentIDs) > 20 {
		return QueuedReply{}, fmt.Errorf("reply on %s: at most 20 attachments: %w", contact, ErrInvalid)
	}
	if len(r.Token) > 64 || strings.IndexFunc(r.Token, func(c rune) bool { return !('a' <= c && c <= 'z' || '0' <= c && c <= '9') }) >= 0 {
		// It goes into the Message-ID's local part: letters and digits only.
		return QueuedReply{}, fmt.Errorf("reply on %s: malformed reply token: %w", contact, ErrInvalid)
	}
	cc, err := normalizeRecipients(r.CC)
	if err != nil {
		return QueuedReply{}, err
	}
	var out QueuedReply
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if done, err := s.storedReply(ctx, tx, tenant, contact, r.ClientID); err != nil || done != nil {
			if done != nil {
				out = *done
			}
			return err
		}
		ch, err := contactChannel(ctx, tx, tenant, contact)
		if err != nil {
			return err
		}
		queue, state, err := lockReplyable(ctx, tx, tenant, contact, agent)
		if err != nil {
			return fmt.Errorf("reply on %s by %s: %w", contact, agent, err)
		}
		if ch != "email" {
			return fmt.Errorf("reply on %s: not an e-mail contact: %w", contact, ErrInvalid)
		}
		// A second look after the contact's row lock: a concurrent request
		// with the same client id that got the lock first has committed.
		if done, err := s.storedReply(ctx, tx, tenant, contact, r.ClientID); err != nil || done != nil {
			if done != nil {
				out = *done
			}
			return err
		}
		p, err := lastCustomerEmail(ctx, tx, tenant, contact)
		if err != nil {
			return err
		}
		var mailboxID uuid.UUID
		var mailboxAddr, mailboxName string
		if err := tx.QueryRow(ctx, `
			SELECT id, address, display_name FROM mailboxes
			WHERE tenant_id = $1 AND id = ANY($2::uuid[])
			ORDER BY array_position($2::uuid[], id) LIMIT 1`, tenant, p.mailboxIDs).Scan(&mailboxID, &mailboxAddr, &mailboxName); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reply on %s: the thread's mailbox is gone: %w", contact, ErrInvalid)
		} else if err != nil {
			return fmt.Errorf("reply on %s: mailbox: %w", contact, err)
		}
		to := p.replyTo
		if len(to) == 0 {
			to = []string{p.fromAddr}
		}
		to, err = normalizeRecipients(to)
		if err != nil || len(to) == 0 {
			return fmt.Errorf("reply on %s: the customer's message has no address to answer: %w", contact, ErrInvalid)
		}
		token := r.Token
		msgID := newMessageID(token, mailboxAddr)
		refs := ReplyReferences(p.references, p.inReplyTo, p.messageID)
		subject := ReplySubject(p.subject)

		var seq int
		if err := tx.QueryRow(ctx, `
			UPDATE contacts SET last_seq = last_seq + 1, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING last_seq`, tenant, contact).Scan(&seq); err != nil {
			return fmt.Errorf("reply on %s: %w", contact, err)
		}
		lineID := dbid.New()
		if _, err := tx.Exec(ctx, `
			INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, author_id, body, idempotency_key)
			VALUES ($1, $2, $3, $4, 'agent', $5, $6, $7)`,
			lineID, tenant, contact, seq, agent, r.Text, agentMessageKey(agent, contact, r.ClientID)); err != nil {
			return fmt.Errorf("reply on %s: line: %w", contact, err)
		}
		if err := insertEvent(ctx, tx, tenant, contact, "message_out", queue, agent, map[string]any{"seq": seq, "channel": "email"}); err != nil {
			return err
		}
		emailID := dbid.New()
		if _, err := tx.Exec(ctx, `
			INSERT INTO email_messages (id, tenant_id, contact_id, customer_id, message_id, in_reply_to, "references",
			                            direction, mailbox_ids, from_addr, from_name, to_addrs, cc_addrs, subject,
			                            subject_key, text_body, quoted_folded, reply_token, message_seq, html_sanitized)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'out', ARRAY[$8::uuid], $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18)`,
			emailID, tenant, contact, p.customerID, msgID, p.messageID, refs, mailboxID, mailboxAddr, mailboxName,
			to, cc, subject, p.subjectKey, r.Text, token, seq, r.HTML); err != nil {
			return fmt.Errorf("reply on %s: e-mail: %w", contact, err)
		}
		if err := attachUploads(ctx, tx, tenant, agent, contact, emailID, r.AttachmentIDs); err != nil {
			return err
		}
		outboxID := dbid.New()
		if _, err := tx.Exec(ctx, `
			INSERT INTO email_outbox (id, tenant_id, contact_id, mailbox_id, agent_id, kind, client_id, email_message_id,
			                          to_addrs, cc_addrs, subject, text_body, message_id, in_reply_to, "references", reply_token,
			                          html_body)
			VALUES ($1, $2, $3, $4, $5, 'reply', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULLIF($16, ''))`,
			outboxID, tenant, contact, mailboxID, agent, r.ClientID, emailID, to, cc, subject, r.Text,
			msgID, p.messageID, refs, token, r.HTML); err != nil {
			return fmt.Errorf("reply on %s: outbox: %w", contact, err)
		}
		out.Pending = state == StatePending
		if r.SetPending && state != StatePending {
			if _, err := setPending(ctx, tx, tenant, agent, contact); err != nil {
				return err
			}
			out.Pending = true
		}
		if out.Message, err = messageByID(ctx, tx, tenant, lineID); err != nil {
			return err
		}
		out.Outbox, err = outboxByID(ctx, tx, tenant, outboxID)
		return err
	})
	if err != nil {
		return QueuedReply{}, err
	}
	return out, nil
}

// storedReply returns the reply already queued under clientID, or nil.
func (s *Store) storedReply(ctx context.Context, tx pgx.Tx, tenant, contact uuid.UUID, clientID string) (*QueuedReply, error) {
	var id, agent uuid.UUID
	err := tx.QueryRow(ctx, `
		SELECT id, agent_id FROM email_outbox
		WHERE tenant_id = $1 AND contact_id = $2 AND kind = 'reply' AND client_id = $3`,
		tenant, contact, clientID).Scan(&id, &agent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reply on %s: %w", contact, err)
	}
	e, err := outboxByID(ctx, tx, tenant, id)
	if err != nil {
		return nil, err
	}
	q := QueuedReply{Outbox: e, Duplicate: true}
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM contacts WHERE tenant_id = $1 AND id = $2`, tenant, contact).Scan(&state); err != nil {
		return nil, fmt.Errorf("reply on %s: %w", contact, err)
	}
	q.Pending = state == StatePending
	mid, found, err := messageByKey(ctx, tx, tenant, agentMessageKey(agent, contact, clientID))
	if err != nil {
		return nil, err
	} else if found {
		if q.Message, err = messageByID(ctx, tx, tenant, mid); err != nil {
			return nil, err
		}
	}
	return &q, nil
}

// lastCustomerEmail is the newest message of the thread a customer sent
// (noise excluded): the one a reply answers.
func lastCustomerEmail(ctx context.Context, tx pgx.Tx, tenant, contact uuid.UUID) (parentEmail, error) {
	var p parentEmail
	var mailboxes []uuid.UUID
	err := tx.QueryRow(ctx, `
		SELECT message_id, in_reply_to, "references", subject, subject_key, from_addr, reply_to_addrs,
		       mailbox_ids, customer_id
		FROM email_messages
		WHERE tenant_id = $1 AND contact_id = $2 AND direction = 'in' AND noise = ''
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenant, contact).Scan(
		&p.messageID, &p.inReplyTo, &p.references, &p.subject, &p.subjectKey, &p.fromAddr, &p.replyTo,
		&mailboxes, &p.customerID)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("reply on %s: the thread has no customer e-mail to answer: %w", contact, ErrInvalid)
	} else if err != nil {
		return p, fmt.Errorf("reply on %s: last e-mail: %w", contact, err)
	}
	for _, m := range mailboxes {
		p.mailboxIDs = append(p.mailboxIDs, m.String())
	}
	return p, nil
}

// attachUploads moves the agent's uploads on the contact into the reply's
// attachments, in the order given; an id that is not such an upload (another
// agent's, another contact's, already sent) refuses the whole reply.
func attachUploads(ctx context.Context, tx pgx.Tx, tenant, agent, contact, emailID uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("reply on %s: attachment listed twice: %w", contact, ErrInvalid)
		}
		seen[id] = true
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO email_attachments (id, tenant_id, email_id, contact_id, filename, content_type, size, sha256, data, created_at)
		SELECT u.id, u.tenant_id, $4, u.contact_id, u.name, u.content_type, u.size, u.sha256, u.data,
		       now() + (a.ord * interval '1 microsecond')
		FROM unnest($5::uuid[]) WITH ORDINALITY AS a (id, ord)
		JOIN email_uploads u ON u.id = a.id
		WHERE u.tenant_id = $1 AND u.contact_id = $2 AND u.uploaded_by = $3`,
		tenant, contact, agent, emailID, ids)
	if err != nil {
		return fmt.Errorf("reply on %s: attachments: %w", contact, err)
	}
	if int(tag.RowsAffected()) != len(ids) {
		return fmt.Errorf("reply on %s: an attachment is not this agent's upload on this contact: %w", contact, ErrInvalid)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM email_uploads WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, tenant, ids); err != nil {
		return fmt.Errorf("reply on %s: attachments: %w", contact, err)
	}
	return nil
}

// OutboundEmail is one claimed outbox entry with everything the sender
// needs but the mailbox's SMTP settings.
type OutboundEmail struct {
	ID, TenantID, ContactID, MailboxID uuid.UUID
	AgentID                            *uuid.UUID
	Kind                               string
	To, CC                             []string
	Subject, Text, HTML                string
	MessageID, InReplyTo               string // without angle brackets
	References                         []string
	ReplyToken                         string
	// Attempt is this attempt's number (1 for the first): the fence that
	// EmailHanded, EmailSent and EmailAttemptFailed check.
	Attempt int
	// Uncertain: the previous attempt handed the message to the SMTP
	// server (EmailHanded) and its outcome is unknown (its worker died, or
	// the connection broke after the message's end), so the server may
	// have accepted it. This attempt sends the same message again (same
	// Message-ID and Date): clients that de-duplicate by Message-ID show
	// one copy.
	Uncertain   bool
	CreatedAt   time.Time
	Attachments []EmailFile
}

// EmailFile is one attachment of an outgoing e-mail.
type EmailFile struct {
	Name, ContentType string
	Data              []byte
}

// ClaimEmailOutbox takes up to limit due entries for sending by moving
// their next attempt past lease and counting the attempt, in one statement:
// SKIP LOCKED keeps concurrent workers off each other's rows and the moved
// time keeps them off once this commits; an entry whose worker died is due
// again when its lease has passed.
func (s *Store) ClaimEmailOutbox(ctx context.Context, limit int, lease time.Duration) ([]OutboundEmail, error) {
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT id,
			       handed_attempt > 0 AND handed_attempt = attempts
			       AND (state = 'sending' OR last_error LIKE 'uncertain:%') AS uncertain
			FROM email_outbox
			WHERE state IN ('queued', 'sending') AND next_attempt_at <= now()
			ORDER BY next_attempt_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED)
		UPDATE email_outbox o
		SET state = 'sending', attempts = o.attempts + 1,
		    next_attempt_at = now() + $2::bigint * interval '1 microsecond',
		    uncertain_resends = o.uncertain_resends + due.uncertain::int
		FROM due WHERE o.id = due.id
		RETURNING o.id, o.tenant_id, o.contact_id, o.mailbox_id, o.agent_id, o.kind, o.to_addrs, o.cc_addrs,
		          o.subject, o.text_body, COALESCE(o.html_body, ''), o.message_id, o.in_reply_to, o."references",
		          o.reply_token, o.attempts, o.created_at, o.email_message_id, due.uncertain`,
		limit, lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("claim e-mail outbox: %w", err)
	}
	type claimed struct {
		OutboundEmail
		emailID *uuid.UUID
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.ID, &c.TenantID, &c.ContactID, &c.MailboxID, &c.AgentID, &c.Kind, &c.To, &c.CC,
			&c.Subject, &c.Text, &c.HTML, &c.MessageID, &c.InReplyTo, &c.References,
			&c.ReplyToken, &c.Attempt, &c.CreatedAt, &c.emailID, &c.Uncertain)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim e-mail outbox: %w", err)
	}
	out := make([]OutboundEmail, 0, len(cs))
	for _, c := range cs {
		if c.emailID != nil {
			rows, err := s.pool.Query(ctx, `
				SELECT filename, content_type, data FROM email_attachments
				WHERE tenant_id = $1 AND email_id = $2 AND data IS NOT NULL
				ORDER BY created_at, id`, c.TenantID, *c.emailID)
			if err != nil {
				return nil, fmt.Errorf("outbox %s attachments: %w", c.ID, err)
			}
			c.Attachments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EmailFile, error) {
				var f EmailFile
				return f, r.Scan(&f.Name, &f.ContentType, &f.Data)
			})
			if err != nil {
				return nil, fmt.Errorf("outbox %s attachments: %w", c.ID, err)
			}
		}
		out = append(out, c.OutboundEmail)
	}
	return out, nil
}

// EmailHanded records, in a commit of its own, that attempt of the entry is
// about to hand the message to the SMTP server (right before DATA): from
// now on a lost outcome means the message may have been delivered, and
// the next attempt is Uncertain. ok is false when the attempt is no longer
// the entry's current one (its lease ran out and another worker took it):
// the caller must not send, so two workers never both hand it over.
func (s *Store) EmailHanded(ctx context.Context, tenant, id uuid.UUID, attempt int) (ok bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE email_outbox SET handed_attempt = $3, handed_at = now()
		WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND state = 'sending'`, tenant, id, attempt)
	if err != nil {
		return false, fmt.Errorf("outbox %s handed: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// EmailSent records that attempt of the entry was accepted by the SMTP
// server. ok is false when the attempt was no longer the entry's current
// one (its lease ran out and another worker took it): nothing is recorded.
func (s *Store) EmailSent(ctx context.Context, tenant, id uuid.UUID, attempt int) (e OutboxEntry, ok bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var emailID *uuid.UUID
		err := tx.QueryRow(ctx, `
			UPDATE email_outbox SET state = 'sent', sent_at = now(), last_error = ''
			WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND state = 'sending'
			RETURNING email_message_id`, tenant, id, attempt).Scan(&emailID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("outbox %s sent: %w", id, err)
		}
		ok = true
		if emailID != nil {
			if _, err := tx.Exec(ctx, `UPDATE email_messages SET sent_at = now() WHERE tenant_id = $1 AND id = $2`, tenant, *emailID); err != nil {
				return fmt.Errorf("outbox %s sent: %w", id, err)
			}
		}
		e, err = outboxByID(ctx, tx, tenant, id)
		return err
	})
	return e, ok, err
}

// EmailAttemptFailed records a failed attempt: with a retryAt the entry is
// queued again for then; with a zero retryAt it has failed for good (a
// permanent refusal, or too many attempts) and stays failed until an agent
// retries it (RetryEmail). reason names the failure class only ("smtp 451",
// "dial"), never an address or text. ok is as for EmailSent.
func (s *Store) EmailAttemptFailed(ctx context.Context, tenant, id uuid.UUID, attempt int, reason string, retryAt time.Time) (e OutboxEntry, ok bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var contact uuid.UUID
		var agent *uuid.UUID
		var err error
		if retryAt.IsZero() {
			err = tx.QueryRow(ctx, `
				UPDATE email_outbox SET state = 'failed', failed_at = now(), last_error = $4
				WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND state = 'sending'
				RETURNING contact_id, agent_id`, tenant, id, attempt, reason).Scan(&contact, &agent)
		} else {
			err = tx.QueryRow(ctx, `
				UPDATE email_outbox SET state = 'queued', next_attempt_at = $4, last_error = $5
				WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND state = 'sending'
				RETURNING contact_id, agent_id`, tenant, id, attempt, retryAt, reason).Scan(&contact, &agent)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("outbox %s failed: %w", id, err)
		}
		ok = true
		if retryAt.IsZero() {
			// The thread keeps the failure: the timeline and statistics
			// see that the reply never left.
			var queue uuid.UUID
			if err := tx.QueryRow(ctx, `SELECT queue_id FROM contacts WHERE tenant_id = $1 AND id = $2`, tenant, contact).Scan(&queue); err != nil {
				return fmt.Errorf("outbox %s failed: %w", id, err)
			}
			a := uuid.Nil
			if agent != nil {
				a = *agent
			}
			if err := insertEvent(ctx, tx, tenant, contact, "email_failed", queue, a, map[string]any{"outbox_id": id, "reason": reason}); err != nil {
				return err
			}
		}
		e, err = outboxByID(ctx, tx, tenant, id)
		return err
	})
	return e, ok, err
}

// RetryEmail queues a failed entry of the contact again, at once, with a
// fresh count of attempts. Any agent of the tenant may ask (the agent who
// wrote it may be gone); an entry that is not failed is ErrConflict.
func (s *Store) RetryEmail(ctx context.Context, tenant, contact, id uuid.UUID) (OutboxEntry, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE email_outbox SET state = 'queued', next_attempt_at = now(), attempts = 0, failed_at = NULL
		WHERE tenant_id = $1 AND contact_id = $2 AND id = $3 AND state = 'failed'`, tenant, contact, id)
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("retry outbox %s: %w", id, err)
	}
	e, err := outboxByID(ctx, s.pool, tenant, id)
	if err != nil {
		return OutboxEntry{}, err
	}
	if e.ContactID != contact {
		return OutboxEntry{}, fmt.Errorf("retry outbox %s: %w", id, ErrNotFound)
	}
	if tag.RowsAffected() == 0 {
		return e, fmt.Errorf("retry outbox %s: not failed: %w", id, ErrConflict)
	}
	return e, nil
}

// EmailOutbox lists a contact's outgoing entries, oldest first.
func (s *Store) EmailOutbox(ctx context.Context, tenant, contact uuid.UUID) ([]OutboxEntry, error) {
	rows, err := s.pool.Query(ctx, outboxSelect+` WHERE tenant_id = $1 AND contact_id = $2 ORDER BY created_at, id`, tenant, contact)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", contact, err)
	}
	es, err := pgx.CollectRows(rows, scanOutbox)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", contact, err)
	}
	return es, nil
}

// EmailItem is one e-mail of a thread as the console's e-mail panel shows it.
type EmailItem struct {
	ID        uuid.UUID `json:"id"`
	Direction string    `json:"direction"` // in, out
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	FromName  string    `json:"from_name"`
	To        []string  `json:"to"`
	CC        []string  `json:"cc"`
	Subject   string    `json:"subject"`
	At        time.Time `json:"at"`
	// Text is the whole plain text; Folded is what to show first, the
	// quoted history folded away ("show quoted" shows Text).
	Text   string `json:"text"`
	Folded string `json:"folded"`
	// HTML is the sanitised HTML only, never the original.
	HTML        string          `json:"html,omitempty"`
	Noise       string          `json:"noise,omitempty"`
	Seq         *int            `json:"seq,omitempty"`
	Attachments []EmailFileInfo `json:"attachments"`
	// Outbox is the delivery state of an outgoing e-mail.
	Outbox *OutboxEntry `json:"outbox,omitempty"`
}

// EmailFileInfo describes an attachment without its bytes. A refused one
// (too large, say) has no bytes and says why.
type EmailFileInfo struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Inline      bool      `json:"inline"`
	// ContentID is the part's Content-ID without angle brackets: what the
	// message's HTML names it by (cid:).
	ContentID string `json:"content_id,omitempty"`
	Rejected  string `json:"rejected,omitempty"`
}

// EmailThread returns a contact's e-mails, oldest first, with their
// attachments and, for outgoing ones, their delivery state. A contact of
// another tenant, or none, is ErrNotFound.
func (s *Store) EmailThread(ctx context.Context, tenant, contact uuid.UUID) ([]EmailItem, error) {
	if _, err := contactChannel(ctx, s.pool, tenant, contact); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, direction, message_id, from_addr, from_name, to_addrs, cc_addrs, subject,
		       COALESCE(sent_at, created_at), text_body, quoted_folded, html_sanitized, noise, message_seq
		FROM email_messages WHERE tenant_id = $1 AND contact_id = $2
		ORDER BY created_at, id`, tenant, contact)
	if err != nil {
		return nil, fmt.Errorf("e-mail thread of %s: %w", contact, err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EmailItem, error) {
		var e EmailItem
		err := r.Scan(&e.ID, &e.Direction, &e.MessageID, &e.From, &e.FromName, &e.To, &e.CC, &e.Subject,
			&e.At, &e.Text, &e.Folded, &e.HTML, &e.Noise, &e.Seq)
		if e.Folded == "" {
			e.Folded = e.Text
		}
		e.Attachments = []EmailFileInfo{}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("e-mail thread of %s: %w", contact, err)
	}
	byID := make(map[uuid.UUID]*EmailItem, len(items))
	for i := range items {
		byID[items[i].ID] = &items[i]
	}
	rows, err = s.pool.Query(ctx, `
		SELECT email_id, id, filename, content_type, size, inline, content_id, rejected_reason
		FROM email_attachments WHERE tenant_id = $1 AND contact_id = $2 ORDER BY created_at, id`, tenant, contact)
	if err != nil {
		return nil, fmt.Errorf("e-mail thread of %s: %w", contact, err)
	}
	var emailID uuid.UUID
	var f EmailFileInfo
	if _, err := pgx.ForEachRow(rows, []any{&emailID, &f.ID, &f.Name, &f.ContentType, &f.Size, &f.Inline, &f.ContentID, &f.Rejected}, func() error {
		if e := byID[emailID]; e != nil {
			e.Attachments = append(e.Attachments, f)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("e-mail thread of %s: %w", contact, err)
	}
	outbox, err := s.EmailOutbox(ctx, tenant, contact)
	if err != nil {
		return nil, err
	}
	for i := range outbox {
		if id := outbox[i].EmailID; id != nil && byID[*id] != nil {
			byID[*id].Outbox = &outbox[i]
		}
	}
	if items == nil {
		items = []EmailItem{}
	}
	return items, nil
}

// EmailAttachment returns one attachment of a contact's e-mails, or ErrNotFound
// (also for another contact's or tenant's, and for a refused one).
func (s *Store) EmailAttachment(ctx context.Context, tenant, contact, id uuid.UUID) (Attachment, error) {
	var a Attachment
	err := s.pool.QueryRow(ctx, `
		SELECT id, filename, content_type, size, data FROM email_attachments
		WHERE tenant_id = $1 AND contact_id = $2 AND id = $3 AND data IS NOT NULL`, tenant, contact, id).Scan(
		&a.ID, &a.Name, &a.ContentType, &a.Size, &a.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Attachment{}, fmt.Errorf("e-mail attachment %s: %w", id, ErrNotFound)
	} else if err != nil {
		return Attachment{}, fmt.Errorf("e-mail attachment %s: %w", id, err)
	}
	a.ContactID = contact
	return a, nil
}

// maxUploadBytes bounds one file an agent attaches to a reply.
const maxUploadBytes = 10 << 20

// StoreEmailUpload keeps a file the agent will attach to a reply on an
// e-mail contact they hold; QueueReply moves it into the reply. The caller
// has chosen a safe content type.
func (s *Store) StoreEmailUpload(ctx context.Context, tenant, agent, contact uuid.UUID, name, contentType string, data []byte) (EmailFileInfo, error) {
	if len(data) == 0 || len(data) > maxUploadBytes {
		return EmailFileInfo{}, fmt.Errorf("upload on %s: 1 byte to %d bytes: %w", contact, maxUploadBytes, ErrInvalid)
	}
	info := EmailFileInfo{ID: dbid.New(), Name: name, ContentType: contentType, Size: int64(len(data))}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ch, err := contactChannel(ctx, tx, tenant, contact)
		if err != nil {
			return err
		}
		if _, err := lockHeld(ctx, tx, tenant, contact, agent); err != nil {
			return fmt.Errorf("upload on %s by %s: %w", contact, agent, err)
		}
		if ch != "email" {
			return fmt.Errorf("upload on %s: not an e-mail contact: %w", contact, ErrInvalid)
		}
		sum := sha256.Sum256(data)
		_, err = tx.Exec(ctx, `
			INSERT INTO email_uploads (id, tenant_id, contact_id, uploaded_by, name, content_type, size, sha256, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			info.ID, tenant, contact, agent, name, contentType, len(data), sum[:], data)
		if err != nil {
			return fmt.Errorf("upload on %s: %w", contact, err)
		}
		return nil
	})
	if err != nil {
		return EmailFileInfo{}, err
	}
	return info, nil
}

// QueueTranscript queues a chat's transcript by e-mail to the address a
// visitor gave, from the mailbox of the chat's site (or a group-wide one)
// that can send. The text is the conversation up to now. One address gets
// one transcript per chat: asking again returns the queued entry. A chat of
// another tenant, or none, is ErrNotFound; a tenant with no mailbox that
// can send, ErrInvalid.
func (s *Store) QueueTranscript(ctx context.Context, tenant, contact uuid.UUID, to string) (OutboxEntry, error) {
	addrs, err := normalizeRecipients([]string{to})
	if err != nil || len(addrs) != 1 {
		return OutboxEntry{}, fmt.Errorf("transcript of %s: one e-mail address is required: %w", contact, ErrInvalid)
	}
	sum := sha256.Sum256([]byte(addrs[0]))
	clientID := fmt.Sprintf("%x", sum[:16])
	var out OutboxEntry
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var ch, siteName, zone string
		var site *uuid.UUID
		err := tx.QueryRow(ctx, `
			SELECT c.channel, c.site_id, COALESCE(st.name, ''), COALESCE(st.zone, 'UTC')
			FROM contacts c LEFT JOIN sites st ON st.tenant_id = c.tenant_id AND st.id = c.site_id
			WHERE c.tenant_id = $1 AND c.id = $2 FOR UPDATE OF c`, tenant, contact).Scan(&ch, &site, &siteName, &zone)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("transcript of %s: %w", contact, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("transcript of %s: %w", contact, err)
		}
		if ch != "chat" {
			return fmt.Errorf("transcript of %s: not a chat: %w", contact, ErrInvalid)
		}
		var id uuid.UUID
		err = tx.QueryRow(ctx, `
			SELECT id FROM email_outbox WHERE tenant_id = $1 AND contact_id = $2 AND kind = 'transcript' AND client_id = $3`,
			tenant, contact, clientID).Scan(&id)
		if err == nil {
			out, err = outboxByID(ctx, tx, tenant, id)
			return err
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("transcript of %s: %w", contact, err)
		}
		// The site's own mailbox first, then a group-wide one.
		var mailboxID uuid.UUID
		var mailboxAddr string
		err = tx.QueryRow(ctx, `
			SELECT id, address FROM mailboxes
			WHERE tenant_id = $1 AND active AND smtp_host <> '' AND (site_id = $2 OR site_id IS NULL)
			ORDER BY site_id IS NULL, created_at, id LIMIT 1`, tenant, site).Scan(&mailboxID, &mailboxAddr)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("transcript of %s: no mailbox can send: %w", contact, ErrInvalid)
		} else if err != nil {
			return fmt.Errorf("transcript of %s: %w", contact, err)
		}
		rows, err := tx.Query(ctx, messageSelect+` WHERE m.tenant_id = $1 AND m.contact_id = $2 ORDER BY m.seq`, tenant, contact)
		if err != nil {
			return fmt.Errorf("transcript of %s: %w", contact, err)
		}
		lines, err := pgx.CollectRows(rows, scanMessage)
		if err != nil {
			return fmt.Errorf("transcript of %s: %w", contact, err)
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			loc = time.UTC
		}
		subject := "Chat transcript"
		if siteName != "" {
			subject += " – " + siteName
		}
		text := TranscriptText(lines, loc)
		outID := dbid.New()
		if _, err := tx.Exec(ctx, `
			INSERT INTO email_outbox (id, tenant_id, contact_id, mailbox_id, kind, client_id, to_addrs, subject, text_body, message_id)
			VALUES ($1, $2, $3, $4, 'transcript', $5, $6, $7, $8, $9)`,
			outID, tenant, contact, mailboxID, clientID, addrs, subject, text, newMessageID("", mailboxAddr)); err != nil {
			return fmt.Errorf("transcript of %s: %w", contact, err)
		}
		out, err = outboxByID(ctx, tx, tenant, outID)
		return err
	})
	if err != nil {
		return OutboxEntry{}, err
	}
	return out, nil
}

// TranscriptText renders a chat's lines as plain text, one line each with
// its time in loc and its author ("You" for the visitor, the agent's name,
// nothing for the system); attachments are named, not included.
func TranscriptText(lines []Message, loc *time.Location) string {
	var b strings.Builder
	for _, m := range lines {
		who := "You"
		switch m.AuthorKind {
		case "agent":
			who = m.AuthorName
			if who == "" {
				who = "Agent"
			}
		case "system":
			who = ""
		}
		fmt.Fprintf(&b, "[%s] ", m.At.In(loc).Format("2006-01-02 15:04"))
		if who != "" {
			b.WriteString(who + ": ")
		}
		b.WriteString(m.Body)
		if m.Attachment != nil {
			fmt.Fprintf(&b, " [attachment: %s]", m.Attachment.Name)
		}
		b.WriteString("\n")
	}
	return b.String()
}
