package crm

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// E-mail noise kinds (email_messages.noise): mail that never opens a
// contact and never triggers anything.
const (
	NoiseAutoReply = "auto_reply"
	NoiseList      = "list"
	NoiseBounce    = "bounce"
	NoiseOwn       = "own" // sent from one of the tenant's own mailboxes
)

// Defaults of EmailPolicy.
const (
	DefaultReopenWindow  = 7 * 24 * time.Hour
	DefaultSubjectWindow = 14 * 24 * time.Hour
)

// EmailPolicy holds the threading windows.
type EmailPolicy struct {
	// ReopenWindow: a reply to a thread closed at most this long ago
	// reopens it; to one closed longer ago, it opens a new contact that
	// follows the old one.
	ReopenWindow time.Duration
	// SubjectWindow: the last-resort rule (same customer, same subject)
	// looks back this far.
	SubjectWindow time.Duration
}

func (p EmailPolicy) withDefaults() EmailPolicy {
	if p.ReopenWindow <= 0 {
		p.ReopenWindow = DefaultReopenWindow
	}
	if p.SubjectWindow <= 0 {
		p.SubjectWindow = DefaultSubjectWindow
	}
	return p
}

// Checkpoint is a mailbox's IMAP position after a message: written in the
// transaction that records the message, so both commit together.
type Checkpoint struct {
	MailboxID   uuid.UUID
	UIDValidity uint32
	UID         uint32
}

// Email is a parsed e-mail as crm stores it (channels/email parses).
type Email struct {
	MessageID          string // without angle brackets; required
	MessageIDSynthetic bool
	InReplyTo          string
	References         []string
	FromAddr, FromName string
	ReplyTo, To, Cc    []string // normalised addresses
	Subject            string
	Text, Folded       string
	HTMLSanitized      string
	HTMLOriginal       string
	AutoSubmitted      bool
	// Noise is "", NoiseAutoReply, NoiseList or NoiseBounce; RecordEmail
	// adds NoiseOwn for mail from the tenant's own mailboxes.
	Noise string
	// BounceRecipient and BounceStatus: what a DSN reported failing;
	// BounceOf is the Message-ID of the returned message.
	BounceRecipient, BounceStatus, BounceOf string
	SentAt                                  time.Time // the Date header; zero when unreadable
	Attachments                             []EmailAttachment
}

// EmailAttachment is one file part: kept (Data) or refused (Rejected).
type EmailAttachment struct {
	Filename, ContentType, ContentID string
	Inline                           bool
	Size                             int64
	Data                             []byte
	Rejected                         string
}

// EmailIn is one delivery of an e-mail into one of the tenant's mailboxes.
type EmailIn struct {
	TenantID uuid.UUID
	// MailboxID is the mailbox it was delivered to; SiteID and QueueID are
	// that mailbox's, where a new thread goes.
	MailboxID, SiteID, QueueID uuid.UUID
	Email                      Email
	// TokenContacts are the contacts named by reply tokens the message
	// carried, already verified (ParseReplyToken).
	TokenContacts []uuid.UUID
	Checkpoint    Checkpoint // MailboxID uuid.Nil: none
	Policy        EmailPolicy
	// Announce is as Inbound's: the NOTIFY sent inside the transaction
	// when the thread waits in a queue afterwards.
	Announce func(InboundResult) (channel, payload string)
	// Rejected, when set, records the delivery as refused mail with this
	// reason (RecordRejected) instead: RecordEmails then reads only
	// TenantID and Checkpoint.
	Rejected string
}

// How an e-mail found its thread (EmailResult.Threaded).
const (
	ThreadByReference = "reference" // In-Reply-To / References named a stored message
	ThreadByToken     = "token"     // a reply token we sent
	ThreadBySubject   = "subject"   // same customer, same subject, within the window
	ThreadNew         = "new"       // a new contact
	ThreadNone        = "none"      // noise that matched no thread: stored, no contact
)

// EmailResult is what RecordEmail made durable.
type EmailResult struct {
	InboundResult
	EmailID  uuid.UUID
	Threaded string
	// Reopened: the thread was pending or recently closed and waits again.
	Reopened bool
	// WrapUpEnded is the agent whose wrap-up of the thread the reopening
	// ended (event wrap_up_ended, reason reopened), or uuid.Nil: their
	// consoles still show the wrap-up and must be told.
	WrapUpEnded uuid.UUID
	// Follows is the old closed contact a new one continues, or uuid.Nil.
	Follows uuid.UUID
	// Line: a conversation line (messages row) was written for the e-mail.
	Line  bool
	Noise string
}

// RecordEmail stores one delivery of an e-mail and the mailbox checkpoint in
// one transaction. Threading, in this order: a stored message (ours or the
// customer's) named by In-Reply-To or References; a verified reply token;
// the same customer and subject within the subject window; else a new
// contact. A reply to a pending thread or one closed within the reopen
// window queues it again with its last agent preferred; to an older closed
// thread it opens a new contact that follows it. Noise (auto-replies, list
// mail, bounces, our own mail) is stored on a thread it matches but opens
// and reopens nothing; a bounce marks the failing address on the customer.
// A second delivery of the same message (another mailbox, a re-scan) adds
// its mailbox and writes nothing else (Duplicate).
func (s *Store) RecordEmail(ctx context.Context, in EmailIn) (EmailResult, error) {
	res, err := s.RecordEmails(ctx, []EmailIn{in})
	if err != nil {
		return EmailResult{}, err
	}
	return res[0], nil
}

// RecordEmails stores several deliveries of one tenant's mail, in order, as
// RecordEmail does each, in one transaction: all of them and each mailbox's
// checkpoint at its last delivery commit together, or nothing does. An
// EmailIn with Rejected set is stored as refused mail. The results are in
// the order of ins (a rejected delivery's is zero).
func (s *Store) RecordEmails(ctx context.Context, ins []EmailIn) ([]EmailResult, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	tenant := ins[0].TenantID
	var keys []string
	for i := range ins {
		in := &ins[i]
		e := in.Email
		switch {
		case in.TenantID == uuid.Nil || in.TenantID != tenant:
			return nil, fmt.Errorf("record e-mail: one tenant is required: %w", ErrInvalid)
		case in.Rejected != "":
			if in.Checkpoint.MailboxID == uuid.Nil {
				return nil, fmt.Errorf("record rejected mail: mailbox is required: %w", ErrInvalid)
			}
			continue
		case e.MessageID == "", len(e.MessageID) > 998:
			return nil, fmt.Errorf("record e-mail: tenant and message id are required: %w", ErrInvalid)
		case in.QueueID == uuid.Nil:
			return nil, fmt.Errorf("record e-mail: the mailbox's queue is required: %w", ErrInvalid)
		}
		in.Policy = in.Policy.withDefaults()
		keys = append(keys, "email:"+tenant.String()+":"+e.MessageID)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := make([]EmailResult, len(ins))
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Copies of one message arriving at two mailboxes at once are
		// serialised here; the second sees the first's row. All of the
		// batch's locks at once, in sorted order, so that two batches
		// sharing messages queue instead of deadlocking.
		if len(keys) > 0 {
			if _, err := tx.Exec(ctx, `
				SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))
				FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS sorted`, keys); err != nil {
				return fmt.Errorf("record e-mail: lock: %w", err)
			}
		}
		last := map[uuid.UUID]Checkpoint{}
		var order []uuid.UUID
		for i, in := range ins {
			if in.Rejected != "" {
				if err := insertRejected(ctx, tx, in.TenantID, in.Checkpoint, in.Rejected); err != nil {
					return err
				}
			} else {
				r, err := recordEmail(ctx, tx, in)
				if err != nil {
					return err
				}
				out[i] = r
			}
			if c := in.Checkpoint; c.MailboxID != uuid.Nil {
				if _, ok := last[c.MailboxID]; !ok {
					order = append(order, c.MailboxID)
				}
				last[c.MailboxID] = c
			}
		}
		for _, mb := range order {
			if err := writeCheckpoint(ctx, tx, tenant, last[mb]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lookup is what one round trip finds out about a delivery before it is
// threaded.
type lookup struct {
	mailboxes []uuid.UUID
	own       bool
	// dup: the message is stored already (id, contact, noise).
	dup        bool
	dupID      uuid.UUID
	dupContact *uuid.UUID
	dupNoise   string
	// refThread is the contact of a stored message named by In-Reply-To or
	// References, locked, with its state.
	refThread               uuid.UUID
	refState                string
	refClosedAt             *time.Time
	refQueue                uuid.UUID
	tokenThread             uuid.UUID
	customer, subjectThread uuid.UUID
}

// look runs the lookups of threading as one batch (one round trip): the
// tenant's mailboxes, the duplicate check (which adds this delivery's
// mailboxes to a stored copy), the thread by reference (locked), by token,
// and the customer with their thread by subject.
func look(ctx context.Context, tx pgx.Tx, in EmailIn, refs []string, subjectKey string) (lookup, error) {
	e := in.Email
	var l lookup
	addrs := append(append([]string{}, e.To...), e.Cc...)
	b := &pgx.Batch{}
	b.Queue(`
		SELECT COALESCE(array_agg(id ORDER BY id) FILTER (WHERE id = $2 OR address = ANY($3)), '{}'),
		       COALESCE(bool_or(address = $4), false)
		FROM mailboxes WHERE tenant_id = $1`, in.TenantID, dbid.Null(in.MailboxID), addrs, e.FromAddr,
	).QueryRow(func(r pgx.Row) error { return r.Scan(&l.mailboxes, &l.own) })
	// A stored copy gets this delivery's mailboxes; a re-scan that brings
	// none new writes nothing (rewriting the row would copy its text).
	b.Queue(`
		WITH found AS (
		    SELECT e.id, e.contact_id, e.noise, e.mailbox_ids,
		           ARRAY(SELECT id FROM mailboxes WHERE tenant_id = $1 AND (id = $3 OR address = ANY($4))) AS delivered
		    FROM email_messages e WHERE e.tenant_id = $1 AND e.message_id = $2),
		added AS (
		    UPDATE email_messages e SET mailbox_ids = ARRAY(SELECT DISTINCT unnest(f.mailbox_ids || f.delivered) ORDER BY 1)
		    FROM found f WHERE e.tenant_id = $1 AND e.id = f.id AND NOT f.mailbox_ids @> f.delivered)
		SELECT id, contact_id, noise FROM found`, in.TenantID, e.MessageID, dbid.Null(in.MailboxID), addrs,
	).QueryRow(func(r pgx.Row) error {
		err := r.Scan(&l.dupID, &l.dupContact, &l.dupNoise)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		l.dup = err == nil
		return err
	})
	if len(refs) > 0 {
		b.Queue(`
			SELECT c.id, c.state, c.closed_at, c.queue_id FROM contacts c
			WHERE c.tenant_id = $1 AND c.id = (
			    SELECT contact_id FROM email_messages
			    WHERE tenant_id = $1 AND message_id = ANY($2) AND contact_id IS NOT NULL
			    ORDER BY created_at DESC LIMIT 1)
			FOR UPDATE`, in.TenantID, refs,
		).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&l.refThread, &l.refState, &l.refClosedAt, &l.refQueue)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	}
	if len(in.TokenContacts) > 0 {
		b.Queue(`
			SELECT id FROM contacts WHERE tenant_id = $1 AND id = ANY($2) AND channel = 'email'
			ORDER BY created_at DESC LIMIT 1`, in.TenantID, in.TokenContacts,
		).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&l.tokenThread)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	}
	if e.FromAddr != "" {
		// The one live customer with this address (none when several),
		// and their latest thread with this subject within the window.
		b.Queue(`
			SELECT cu.id, (
			    SELECT contact_id FROM email_messages
			    WHERE tenant_id = $1 AND customer_id = cu.id AND $3 <> '' AND subject_key = $3 AND contact_id IS NOT NULL
			      AND created_at > now() - make_interval(secs => $4)
			    ORDER BY created_at DESC LIMIT 1)
			FROM (SELECT DISTINCT ci.customer_id AS id FROM customer_identities ci
			      WHERE ci.tenant_id = $1 AND ci.kind = 'email' AND ci.value = $2
			        -- A sub-plan per address found, not a join: without
			        -- statistics (a new tenant's tables) the planner would
			        -- walk every customer of the tenant.
			        AND (SELECT c.deleted_at IS NULL FROM customers c WHERE c.tenant_id = $1 AND c.id = ci.customer_id)
			      LIMIT 2) AS cu`,
			in.TenantID, e.FromAddr, subjectKey, in.Policy.SubjectWindow.Seconds(),
		).Query(func(rows pgx.Rows) error {
			type found struct {
				customer uuid.UUID
				thread   *uuid.UUID
			}
			fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (found, error) {
				var f found
				return f, r.Scan(&f.customer, &f.thread)
			})
			if err == nil && len(fs) == 1 {
				l.customer, l.subjectThread = fs[0].customer, dbid.Deref(fs[0].thread)
			}
			return err
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return lookup{}, fmt.Errorf("record e-mail: look-up: %w", err)
	}
	if in.MailboxID != uuid.Nil && !slices.Contains(l.mailboxes, in.MailboxID) {
		return lookup{}, fmt.Errorf("record e-mail: mailbox %s: %w", in.MailboxID, ErrNotFound)
	}
	return l, nil
}

func recordEmail(ctx context.Context, tx pgx.Tx, in EmailIn) (EmailResult, error) {
	e := in.Email
	refs := slices.Compact(append(append([]string{}, e.References...), e.InReplyTo, e.BounceOf))
	refs = slices.DeleteFunc(refs, func(r string) bool { return r == "" })
	subjectKey := SubjectKey(e.Subject)
	l, err := look(ctx, tx, in, refs, subjectKey)
	if err != nil {
		return EmailResult{}, err
	}
	if l.dup {
		return emailDuplicate(ctx, tx, in, l)
	}
	res := EmailResult{EmailID: dbid.New(), Noise: e.Noise}
	if l.own && res.Noise == "" {
		res.Noise = NoiseOwn
	}

	// 1. In-Reply-To and References; 2. a reply token we sent; 3. last
	// resort: the same customer and subject within the window. Not for
	// noise: an auto-reply's subject proves nothing.
	var thread uuid.UUID
	var locked *threadState
	customer := uuid.Nil
	if res.Noise == "" {
		customer = l.customer
	}
	switch {
	case l.refThread != uuid.Nil:
		thread, res.Threaded = l.refThread, ThreadByReference
		locked = &threadState{state: l.refState, closedAt: l.refClosedAt, queue: l.refQueue}
	case l.tokenThread != uuid.Nil:
		thread, res.Threaded = l.tokenThread, ThreadByToken
	case customer != uuid.Nil && l.subjectThread != uuid.Nil:
		thread, res.Threaded = l.subjectThread, ThreadBySubject
	}

	if res.Noise != "" {
		if err := recordNoise(ctx, tx, in, &res, thread, locked); err != nil {
			return EmailResult{}, err
		}
		var tail pgx.Batch
		queueInsertEmail(&tail, in, res, l.mailboxes, subjectKey)
		if err := tx.SendBatch(ctx, &tail).Close(); err != nil {
			return EmailResult{}, fmt.Errorf("record e-mail: insert: %w", err)
		}
		return res, nil
	}
	// The e-mail's row rides in the round trip of its conversation line.
	tail := func(b *pgx.Batch, r EmailResult) {
		queueClearFailing(b, in.TenantID, e.FromAddr)
		queueInsertEmail(b, in, r, l.mailboxes, subjectKey)
	}
	if err := recordCustomerMail(ctx, tx, in, &res, thread, locked, tail); err != nil {
		return EmailResult{}, err
	}
	return res, nil
}

// threadState is a thread's contact as read under its row lock.
type threadState struct {
	state    string
	closedAt *time.Time
	queue    uuid.UUID
}

// recordCustomerMail appends a customer's mail to its thread (reopening it
// when due) or opens a new contact.
func recordCustomerMail(ctx context.Context, tx pgx.Tx, in EmailIn, res *EmailResult, thread uuid.UUID, locked *threadState,
	tail func(*pgx.Batch, EmailResult)) error {
	withTail := func(ib Inbound) Inbound {
		ib.tail = func(b *pgx.Batch, ir InboundResult) {
			r := *res
			r.InboundResult, r.Line = ir, true
			tail(b, r)
		}
		return ib
	}
	if thread != uuid.Nil {
		if locked == nil {
			var t threadState
			err := tx.QueryRow(ctx, `SELECT state, closed_at, queue_id FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
				in.TenantID, thread).Scan(&t.state, &t.closedAt, &t.queue)
			if err != nil {
				return fmt.Errorf("record e-mail: thread %s: %w", thread, err)
			}
			locked = &t
		}
		state, closedAt := locked.state, locked.closedAt
		reopen := state == StatePending
		if state == StateClosed && closedAt != nil && time.Since(*closedAt) <= in.Policy.ReopenWindow {
			// Reopened through pending, RecordInbound's own reopening:
			// queued again as a new wait, event 'reopened'.
			if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'pending', closed_at = NULL WHERE tenant_id = $1 AND id = $2`,
				in.TenantID, thread); err != nil {
				return fmt.Errorf("record e-mail: reopen %s: %w", thread, err)
			}
			reopen, state = true, StatePending
			// Its agent may still be wrapping it up: the wrap-up ends now,
			// so that the open assignment does not keep the thread from
			// being offered (routing frees the slot when it hears of the
			// thread waiting again).
			ended, err := endWrapUpOnReopen(ctx, tx, in.TenantID, thread, locked.queue)
			if err != nil {
				return err
			}
			res.WrapUpEnded = ended
		} else if state == StateClosed || state == StateAbandoned {
			res.Follows, thread = thread, uuid.Nil
		}
		if thread != uuid.Nil {
			ib := withTail(inboundOf(in, thread, res.EmailID))
			ib.lockedState = state // locked above: recordInbound need not again
			r, err := recordInbound(ctx, tx, ib, nil)
			if err != nil {
				return err
			}
			res.InboundResult, res.Line, res.Reopened = r, true, reopen
			if reopen {
				if res.Preference, err = preferLastAgent(ctx, tx, in.TenantID, thread, r.QueueID); err != nil {
					return err
				}
			}
			return nil
		}
	}
	ids := emailIdentities(in.Email)
	r, err := recordInbound(ctx, tx, withTail(inboundOf(in, uuid.Nil, res.EmailID)), ids)
	if err != nil {
		return err
	}
	res.InboundResult, res.Line, res.Threaded = r, true, ThreadNew
	if res.Follows != uuid.Nil {
		if _, err := tx.Exec(ctx, `UPDATE contacts SET follows_contact_id = $3 WHERE tenant_id = $1 AND id = $2`,
			in.TenantID, r.ContactID, res.Follows); err != nil {
			return fmt.Errorf("record e-mail: follows %s: %w", res.Follows, err)
		}
		if err := insertEvent(ctx, tx, in.TenantID, r.ContactID, "follows", r.QueueID, uuid.Nil,
			map[string]any{"contact_id": res.Follows}); err != nil {
			return err
		}
	}
	return nil
}

// WrapUpReopened: the wrap-up ended because the customer wrote again and
// the thread was reopened (event 'wrap_up_ended', reason).
const WrapUpReopened = "reopened"

// endWrapUpOnReopen ends the open wrap-up assignment of a thread being
// reopened, if there is one, with event 'wrap_up_ended' (reason reopened),
// and returns the agent whose wrap-up it was (uuid.Nil: none), whose
// consoles must be told.
func endWrapUpOnReopen(ctx context.Context, tx pgx.Tx, tenant, contact, queue uuid.UUID) (uuid.UUID, error) {
	var agent uuid.UUID
	err := tx.QueryRow(ctx, `
		WITH ended AS (
			UPDATE assignments SET ended_at = GREATEST(now(), wrap_up_at), end_reason = 'completed'
			WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL AND wrap_up_at IS NOT NULL
			RETURNING agent_id, ended_at),
		event AS (
			INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, data, at)
			SELECT $1, $2, 'wrap_up_ended', $3, agent_id, $4, ended_at FROM ended)
		SELECT agent_id FROM ended`,
		tenant, contact, queue, map[string]any{"reason": WrapUpReopened}).Scan(&agent)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil
	} else if err != nil {
		return uuid.Nil, fmt.Errorf("record e-mail: end the wrap-up of %s: %w", contact, err)
	}
	return agent, nil
}

// inboundOf is the conversation line of an e-mail, for recordInbound.
func inboundOf(in EmailIn, contact, emailID uuid.UUID) Inbound {
	body := in.Email.Folded
	if strings.TrimSpace(body) == "" {
		body = in.Email.Text
	}
	return Inbound{
		TenantID: in.TenantID, SiteID: in.SiteID, QueueID: in.QueueID, Channel: org.Email,
		ContactID: contact, Name: in.Email.FromName, Subject: in.Email.Subject, Body: body,
		IdempotencyKey: "email:" + emailID.String(), Announce: in.Announce,
	}
}

// emailIdentities resolve the customer: From, and Reply-To when it names
// other addresses.
func emailIdentities(e Email) []Identity {
	var ids []Identity
	for _, a := range append([]string{e.FromAddr}, e.ReplyTo...) {
		if n, err := NormalizeEmail(a); err == nil {
			ids = append(ids, Identity{Kind: KindEmail, Value: n})
		}
	}
	ids, _ = cleanIdentities(ids)
	return ids
}

// recordNoise stores noise on the thread it matched, as a line that changes
// nothing (no state, no event, no announcement), or on no thread at all.
// A bounce marks the failing address.
func recordNoise(ctx context.Context, tx pgx.Tx, in EmailIn, res *EmailResult, thread uuid.UUID, locked *threadState) error {
	e := in.Email
	if e.Noise == NoiseBounce && e.BounceRecipient != "" {
		if _, err := tx.Exec(ctx, `
			UPDATE customer_identities SET failing_at = now(), failure_reason = $3
			WHERE tenant_id = $1 AND kind = 'email' AND value = $2`,
			in.TenantID, e.BounceRecipient, bounceReason(e.BounceStatus)); err != nil {
			return fmt.Errorf("record e-mail: mark failing: %w", err)
		}
	}
	if thread == uuid.Nil {
		res.Threaded = ThreadNone
		return nil
	}
	var state string
	var seq int
	if locked != nil {
		state = locked.state
	} else if err := tx.QueryRow(ctx, `SELECT state FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, in.TenantID, thread).Scan(&state); err != nil {
		return fmt.Errorf("record e-mail: thread %s: %w", thread, err)
	}
	res.ContactID, res.State = thread, state
	if state == StateClosed || state == StateAbandoned {
		// Kept with the thread's e-mails, not added to a finished conversation.
		return nil
	}
	if err := tx.QueryRow(ctx, `
		UPDATE contacts SET last_seq = last_seq + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2
		RETURNING last_seq`, in.TenantID, thread).Scan(&seq); err != nil {
		return fmt.Errorf("record e-mail: thread %s: %w", thread, err)
	}
	body := noiseLine(e)
	var id uuid.UUID
	if err := tx.QueryRow(ctx, `
		INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, body, idempotency_key)
		VALUES ($1, $2, $3, $4, 'system', $5, $6) RETURNING id`,
		dbid.New(), in.TenantID, thread, seq, body, "email:"+res.EmailID.String()).Scan(&id); err != nil {
		return fmt.Errorf("record e-mail: line on %s: %w", thread, err)
	}
	res.MessageID, res.Seq, res.Line = id, seq, true
	var err error
	res.Message, err = messageByID(ctx, tx, in.TenantID, id)
	return err
}

// noiseLine is how noise reads in the conversation: a system line, so that
// nobody mistakes an out-of-office note for the customer's answer.
func noiseLine(e Email) string {
	text := e.Folded
	if strings.TrimSpace(text) == "" {
		text = e.Text
	}
	switch e.Noise {
	case NoiseBounce:
		return strings.TrimSpace("Delivery failed (" + bounceReason(e.BounceStatus) + ")")
	case NoiseAutoReply:
		return "Automatic reply: " + text
	default:
		return text
	}
}

func bounceReason(status string) string {
	if status == "" {
		return "bounce"
	}
	return "bounce " + status
}

// queueClearFailing: mail from an address shows it works again.
func queueClearFailing(b *pgx.Batch, tenant uuid.UUID, addr string) {
	b.Queue(`
		UPDATE customer_identities SET failing_at = NULL, failure_reason = ''
		WHERE tenant_id = $1 AND kind = 'email' AND value = $2 AND failing_at IS NOT NULL`, tenant, addr)
}

// preferLastAgent offers a reopened thread first to the agent who last
// held it.
func preferLastAgent(ctx context.Context, tx pgx.Tx, tenant, contact, queue uuid.UUID) (Preference, error) {
	var agent uuid.UUID
	err := tx.QueryRow(ctx, `
		SELECT a.agent_id FROM assignments a JOIN agents ag ON ag.tenant_id = a.tenant_id AND ag.id = a.agent_id
		WHERE a.tenant_id = $1 AND a.contact_id = $2 ORDER BY a.started_at DESC LIMIT 1`, tenant, contact).Scan(&agent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Preference{}, nil
	} else if err != nil {
		return Preference{}, fmt.Errorf("last agent of %s: %w", contact, err)
	}
	p := Preference{Agents: []uuid.UUID{agent}, Reason: "last_agent"}
	if p.Until, err = setPreference(ctx, tx, tenant, contact, queue, p); err != nil {
		return Preference{}, err
	}
	return p, nil
}

// emailDuplicate answers a second delivery of a stored message: its
// mailboxes are added, nothing else is written, and a thread that still
// waits is announced again (the first announcement may have been lost).
// (look has added the mailboxes already.)
func emailDuplicate(ctx context.Context, tx pgx.Tx, in EmailIn, l lookup) (EmailResult, error) {
	id, contact, noise := l.dupID, l.dupContact, l.dupNoise
	res := EmailResult{EmailID: id, Noise: noise, Threaded: ThreadNone}
	res.Duplicate = true
	if contact == nil {
		return res, nil
	}
	r, found, err := inboundByKey(ctx, tx, in.TenantID, "email:"+id.String())
	if err != nil {
		return EmailResult{}, err
	}
	if found {
		res.InboundResult, res.Line = r, true
		if noise == "" {
			if err := announce(ctx, tx, Inbound{Announce: in.Announce}, r); err != nil {
				return EmailResult{}, err
			}
		}
	} else {
		res.ContactID = *contact
	}
	res.Duplicate = true
	return res, nil
}

// queueInsertEmail adds the e-mail's row and its attachments' to b.
func queueInsertEmail(b *pgx.Batch, in EmailIn, res EmailResult, mailboxes []uuid.UUID, subjectKey string) {
	e := in.Email
	// Most mail folds nothing away: the folded text is then not stored a
	// second time ('' reads as the whole text, see EmailThread).
	folded := e.Folded
	if folded == e.Text {
		folded = ""
	}
	var seq *int
	if res.Line {
		seq = &res.Seq
	}
	b.Queue(`
		INSERT INTO email_messages (id, tenant_id, contact_id, customer_id, message_id, message_id_synthetic, in_reply_to,
		    "references", direction, mailbox_ids, from_addr, from_name, reply_to_addrs, to_addrs, cc_addrs, subject,
		    subject_key, text_body, html_sanitized, html_original, quoted_folded, auto_submitted, noise,
		    bounce_recipient, bounce_status, message_seq, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'in', $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
		    $22, $23, $24, $25, $26)`,
		res.EmailID, in.TenantID, dbid.Null(res.ContactID), dbid.Null(res.CustomerID), e.MessageID, e.MessageIDSynthetic,
		e.InReplyTo, nonNil(e.References), mailboxes, e.FromAddr, e.FromName, nonNil(e.ReplyTo), nonNil(e.To), nonNil(e.Cc),
		e.Subject, subjectKey, e.Text, e.HTMLSanitized, e.HTMLOriginal, folded, e.AutoSubmitted, res.Noise,
		e.BounceRecipient, e.BounceStatus, seq, nullTime(e.SentAt))
	for _, a := range e.Attachments {
		var sum []byte
		if a.Data != nil {
			h := sha256.Sum256(a.Data)
			sum = h[:]
		}
		rejected := a.Rejected
		if a.Data == nil && rejected == "" {
			rejected = "no data"
		}
		b.Queue(`
			INSERT INTO email_attachments (id, tenant_id, email_id, contact_id, filename, content_type, content_id, inline,
			    size, sha256, data, rejected_reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			dbid.New(), in.TenantID, res.EmailID, dbid.Null(res.ContactID), a.Filename, a.ContentType, a.ContentID,
			a.Inline, a.Size, sum, a.Data, rejected)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeCheckpoint advances a mailbox's checkpoint; a new UIDVALIDITY
// starts it again from uid.
func writeCheckpoint(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, c Checkpoint) error {
	if c.MailboxID == uuid.Nil {
		return nil
	}
	tag, err := tx.Exec(ctx, `
		UPDATE mailboxes SET last_uid = CASE WHEN uid_validity = $3 THEN GREATEST(last_uid, $4) ELSE $4 END,
		       uid_validity = $3
		WHERE tenant_id = $1 AND id = $2`, tenant, c.MailboxID, int64(c.UIDValidity), int64(c.UID))
	if err != nil {
		return fmt.Errorf("checkpoint of mailbox %s: %w", c.MailboxID, err)
	} else if tag.RowsAffected() == 0 {
		return fmt.Errorf("checkpoint of mailbox %s: %w", c.MailboxID, ErrNotFound)
	}
	return nil
}

// RecordRejected records a message the parser refused, with the reason
// (never its content), and moves the checkpoint past it in the same
// transaction: one bad message never blocks a mailbox. Recording it twice
// is a no-op.
func (s *Store) RecordRejected(ctx context.Context, tenant uuid.UUID, c Checkpoint, reason string) error {
	if c.MailboxID == uuid.Nil || reason == "" {
		return fmt.Errorf("record rejected mail: mailbox and reason are required: %w", ErrInvalid)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := insertRejected(ctx, tx, tenant, c, reason); err != nil {
			return err
		}
		return writeCheckpoint(ctx, tx, tenant, c)
	})
}

func insertRejected(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, c Checkpoint, reason string) error {
	// Parser errors can quote the bytes they choked on; PostgreSQL text
	// takes neither NUL nor invalid UTF-8.
	reason = strings.ReplaceAll(strings.ToValidUTF8(reason, "\uFFFD"), "\x00", "")
	if len(reason) > 500 {
		reason = strings.ToValidUTF8(reason[:500], "")
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO email_rejected (id, tenant_id, mailbox_id, uid_validity, uid, reason)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, mailbox_id, uid_validity, uid) DO NOTHING`,
		dbid.New(), tenant, c.MailboxID, int64(c.UIDValidity), int64(c.UID), reason)
	if pgCode(err) == codeForeignKeyViolation {
		return fmt.Errorf("record rejected mail: mailbox %s: %w", c.MailboxID, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("record rejected mail: %w", err)
	}
	return nil
}

// subjectPrefix matches one reply or forward prefix as mail clients write
// them in English, Chinese (full-width colon too), German, Nordic and
// Dutch, with an optional counter ("Re[2]:") and a reply token tag.
var subjectPrefix = regexp.MustCompile(`(?i)^\s*((re|fw|fwd|aw|wg|sv|vs|antw|rif|tr|回复|回覆|答复|答覆|转发|轉寄|转寄)\s*(\[\d+\]|\(\d+\))?\s*[:：]|\[#?sb1[a-z2-7]{42}\])\s*`)

// SubjectKey is the subject as the last-resort threading key: reply and
// forward prefixes stripped ("Re:", "Fwd:", "回复:", "转发:", "答复:", "AW:",
// "SV:"), spaces collapsed, lower case.
func SubjectKey(subject string) string {
	s := subject
	for i := 0; i < 20; i++ {
		t := subjectPrefix.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	return strings.ToLower(s)
}

// Reply tokens name a contact in outbound mail ("sb1" and 42 base32
// characters: the contact id and 80 bits of HMAC-SHA256 under the tenant),
// so a reply whose client dropped In-Reply-To and References still finds its
// thread. They cannot be guessed or moved to another tenant.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

const tokenMACBytes = 10

// ReplyKey derives the reply-token key from the server secret
// (SWITCHBOARD_SECRET), bound to its purpose.
func ReplyKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("switchboard e-mail reply token v1"))
	return m.Sum(nil)
}

func tokenMAC(key []byte, tenant, contact uuid.UUID) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(tenant[:])
	m.Write(contact[:])
	return m.Sum(nil)[:tokenMACBytes]
}

// ReplyToken returns the token for contact under key (ReplyKey).
func ReplyToken(key []byte, tenant, contact uuid.UUID) string {
	b := append(contact[:len(contact):len(contact)], tokenMAC(key, tenant, contact)...)
	return "sb1" + strings.ToLower(tokenEncoding.EncodeToString(b))
}

// ParseReplyToken returns the contact a token names, if it was made by key
// for tenant; anything else is ErrInvalid.
func ParseReplyToken(key []byte, tenant uuid.UUID, s string) (uuid.UUID, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sb1")
	if !ok || len(rest) != 42 {
		return uuid.Nil, fmt.Errorf("reply token: %w", ErrInvalid)
	}
	b, err := tokenEncoding.DecodeString(strings.ToUpper(rest))
	if err != nil || len(b) != 16+tokenMACBytes {
		return uuid.Nil, fmt.Errorf("reply token: %w", ErrInvalid)
	}
	contact, _ := uuid.FromBytes(b[:16])
	if !hmac.Equal(b[16:], tokenMAC(key, tenant, contact)) {
		return uuid.Nil, fmt.Errorf("reply token: %w", ErrInvalid)
	}
	return contact, nil
}
