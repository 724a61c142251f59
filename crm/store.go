package crm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/internal/netguard"
	"github.com/switchboard-cc/switchboard/org"
)

// Contact states as stored.
const (
	StateQueued    = "queued"
	StateActive    = "active"
	StatePending   = "pending"
	StateClosed    = "closed"
	StateAbandoned = "abandoned"
)

// Store reads and writes crm's tables.
type Store struct {
	pool *pgxpool.Pool
	// webhookAddrs vets webhook receivers' URLs (webhooks.go).
	webhookAddrs netguard.Policy
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// dbtx is what both the pool and a transaction offer, so that a read can run
// inside a write's transaction or on its own.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// nullTime maps the zero time, "now", to SQL NULL, which the queries turn
// into now() so that the database's clock decides.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, fn)
}

// Contact is one conversation on one channel, as the console shows it.
type Contact struct {
	ID           uuid.UUID   `json:"id"`
	Channel      org.Channel `json:"channel"`
	QueueID      uuid.UUID   `json:"queue_id"`
	QueueName    string      `json:"queue_name"`
	State        string      `json:"state"`
	Subject      string      `json:"subject"`
	ArrivedAt    time.Time   `json:"arrived_at"`
	CustomerID   *uuid.UUID  `json:"customer_id"` // null while unknown or ambiguous
	CustomerName string      `json:"customer_name"`
	// Candidates are the customers the contact's identities matched when
	// they matched several; the agent chooses in the screen-pop.
	Candidates []uuid.UUID `json:"candidates,omitempty"`
	SiteID     *uuid.UUID  `json:"site_id,omitempty"`
	Priority   int         `json:"-"`
	ClosedAt   *time.Time  `json:"closed_at,omitempty"`
	WrapUp     string      `json:"wrap_up,omitempty"`
	// Disposition is the code the agent chose at wrap-up, one of its
	// queue's Dispositions (the codes the console offers; none: the queue
	// asks for no code).
	Disposition  string   `json:"disposition,omitempty"`
	Dispositions []string `json:"dispositions,omitempty"`
	// WrapUpUntil is set while the agent wraps up the closed contact: the
	// assignment holds their slot until then (Close, HeldContacts).
	WrapUpUntil *time.Time `json:"wrap_up_until,omitempty"`
	// CustomerReadSeq and AgentReadSeq are the highest seq each side has
	// read (MarkRead): the console's and the widget's read receipts.
	CustomerReadSeq int `json:"customer_read_seq"`
	AgentReadSeq    int `json:"agent_read_seq"`
}

const contactSelect = `
SELECT c.id, c.channel, c.queue_id, q.name, c.state, c.subject, c.arrived_at, c.customer_id,
       COALESCE(cu.name, ''), c.candidates, c.site_id, c.priority, c.closed_at, c.wrap_up,
       c.customer_read_seq, c.agent_read_seq, COALESCE(c.disposition, ''), q.dispositions
FROM contacts c
JOIN queues q ON q.tenant_id = c.tenant_id AND q.id = c.queue_id
LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id AND cu.deleted_at IS NULL`

func scanContact(r pgx.CollectableRow) (Contact, error) {
	var c Contact
	err := r.Scan(&c.ID, &c.Channel, &c.QueueID, &c.QueueName, &c.State, &c.Subject, &c.ArrivedAt, &c.CustomerID,
		&c.CustomerName, &c.Candidates, &c.SiteID, &c.Priority, &c.ClosedAt, &c.WrapUp, &c.CustomerReadSeq, &c.AgentReadSeq,
		&c.Disposition, &c.Dispositions)
	if len(c.Candidates) == 0 {
		c.Candidates = nil
	}
	if len(c.Dispositions) == 0 {
		c.Dispositions = nil
	}
	return c, err
}

func contactByID(ctx context.Context, q dbtx, tenant, id uuid.UUID) (Contact, error) {
	rows, err := q.Query(ctx, contactSelect+` WHERE c.tenant_id = $1 AND c.id = $2`, tenant, id)
	if err != nil {
		return Contact{}, fmt.Errorf("contact %s: %w", id, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanContact)
	if errors.Is(err, pgx.ErrNoRows) {
		return Contact{}, fmt.Errorf("contact %s: %w", id, ErrNotFound)
	} else if err != nil {
		return Contact{}, fmt.Errorf("contact %s: %w", id, err)
	}
	return c, nil
}

// Contact returns one contact of tenant.
func (s *Store) Contact(ctx context.Context, tenant, contactID uuid.UUID) (Contact, error) {
	return contactByID(ctx, s.pool, tenant, contactID)
}

// Message is one line of a conversation.
type Message struct {
	ID         uuid.UUID  `json:"id"`
	ContactID  uuid.UUID  `json:"contact_id"`
	Seq        int        `json:"seq"`
	AuthorKind string     `json:"author_kind"` // customer, agent, system
	AuthorID   *uuid.UUID `json:"author_id,omitempty"`
	AuthorName string     `json:"author_name"`
	Body       string     `json:"body"`
	At         time.Time  `json:"at"`
	// ClientID is the sender's own id for the line (see clientIDFromKey), so
	// that a client can match the stored line to the one it sent.
	ClientID string `json:"client_id,omitempty"`
	// Attachment is the file a chat line carries, if any (chat.go).
	Attachment *AttachmentInfo `json:"attachment,omitempty"`
}

// messageSelect names an agent's line by the agent and a customer's by the
// contact's customer (empty while the customer is unknown or ambiguous).
const messageSelect = `
SELECT m.id, m.contact_id, m.seq, m.author_kind, m.author_id,
       CASE m.author_kind WHEN 'agent' THEN COALESCE(u.display_name, '')
                          WHEN 'customer' THEN COALESCE(cu.name, '')
                          ELSE '' END,
       m.body, m.created_at, COALESCE(m.idempotency_key, ''),
       ca.id, COALESCE(ca.name, ''), COALESCE(ca.content_type, ''), COALESCE(ca.size, 0)
FROM messages m
JOIN contacts c ON c.tenant_id = m.tenant_id AND c.id = m.contact_id
LEFT JOIN chat_attachments ca ON ca.tenant_id = m.tenant_id AND ca.message_key = m.idempotency_key
LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id AND cu.deleted_at IS NULL
LEFT JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.author_id`

func scanMessage(r pgx.CollectableRow) (Message, error) {
	var m Message
	var key string
	var att AttachmentInfo
	var attID *uuid.UUID
	err := r.Scan(&m.ID, &m.ContactID, &m.Seq, &m.AuthorKind, &m.AuthorID, &m.AuthorName, &m.Body, &m.At, &key,
		&attID, &att.Name, &att.ContentType, &att.Size)
	m.ClientID = clientIDFromKey(key)
	if attID != nil {
		att.ID = *attID
		m.Attachment = &att
	}
	return m, err
}

func messageByID(ctx context.Context, q dbtx, tenant, id uuid.UUID) (Message, error) {
	rows, err := q.Query(ctx, messageSelect+` WHERE m.tenant_id = $1 AND m.id = $2`, tenant, id)
	if err != nil {
		return Message{}, fmt.Errorf("message %s: %w", id, err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMessage)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, fmt.Errorf("message %s: %w", id, ErrNotFound)
	} else if err != nil {
		return Message{}, fmt.Errorf("message %s: %w", id, err)
	}
	return m, nil
}

// Idempotency-key conventions whose last part is the sender's own id for the
// line: the chat connector's "chat:<visitor>:<client_id>" and
// AppendAgentMessage's "agent:<agent>:<contact>:<client_id>".
func clientIDFromKey(key string) string {
	kind, rest, ok := strings.Cut(key, ":")
	if !ok {
		return ""
	}
	switch kind {
	case "chat":
		if _, c, ok := strings.Cut(rest, ":"); ok {
			return c
		}
	case "agent":
		if parts := strings.SplitN(rest, ":", 3); len(parts) == 3 {
			return parts[2]
		}
	}
	return ""
}

func agentMessageKey(agent, contact uuid.UUID, clientID string) string {
	return "agent:" + agent.String() + ":" + contact.String() + ":" + clientID
}

// Messages returns the lines of a contact with seq greater than afterSeq, in
// seq order: what a client that saw afterSeq has missed.
func (s *Store) Messages(ctx context.Context, tenant, contactID uuid.UUID, afterSeq int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, messageSelect+`
		WHERE m.tenant_id = $1 AND m.contact_id = $2 AND m.seq > $3 ORDER BY m.seq`, tenant, contactID, afterSeq)
	if err != nil {
		return nil, fmt.Errorf("messages of %s: %w", contactID, err)
	}
	ms, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("messages of %s: %w", contactID, err)
	}
	if len(ms) == 0 {
		// Nothing new, or no such contact: only the second is an error.
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2)`, tenant, contactID).Scan(&ok); err != nil {
			return nil, fmt.Errorf("messages of %s: %w", contactID, err)
		}
		if !ok {
			return nil, fmt.Errorf("messages of %s: %w", contactID, ErrNotFound)
		}
		return []Message{}, nil
	}
	return ms, nil
}

// insertEvent appends to a contact's event log.
// queueEvent adds insertEvent's statement to b.
func queueEvent(b *pgx.Batch, tenant, contact uuid.UUID, kind string, queue, agent uuid.UUID, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	b.Queue(`
		INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, data)
		VALUES ($1, $2, $3, $4, $5, $6)`, tenant, contact, kind, dbid.Null(queue), dbid.Null(agent), data)
}

func insertEvent(ctx context.Context, q dbtx, tenant, contact uuid.UUID, kind string, queue, agent uuid.UUID, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	_, err := q.Exec(ctx, `
		INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, data)
		VALUES ($1, $2, $3, $4, $5, $6)`, tenant, contact, kind, dbid.Null(queue), dbid.Null(agent), data)
	if err != nil {
		return fmt.Errorf("event %s on %s: %w", kind, contact, err)
	}
	return nil
}
