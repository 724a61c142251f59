package org

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Transport security of an IMAP or SMTP connection.
const (
	SecurityTLS      = "tls"      // TLS from the first byte (IMAPS 993, SMTPS 465)
	SecurityStartTLS = "starttls" // plain connection upgraded with STARTTLS
	SecurityNone     = "none"     // plain text: loopback hosts only
)

// ErrInUse: the record is referenced by history (a mailbox by its mail) and
// cannot be deleted; deactivate it instead.
var ErrInUse = errors.New("in use")

// Mailbox is one shared inbox of a tenant (migration 00012): where the
// e-mail connector reads new mail over IMAP and sends replies over SMTP.
type Mailbox struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	SiteID      uuid.UUID // uuid.Nil: group-wide
	Address     string    // normalised: lower-case addr-spec
	DisplayName string
	QueueID     uuid.UUID // new threads arriving here are routed to it

	IMAPHost     string
	IMAPPort     int
	IMAPSecurity string
	IMAPUsername string
	// IMAPPassword is filled only by the reads meant for the connector
	// (AllActiveMailboxes, MailboxByAddress, MailboxWithCredentials); it
	// never leaves the server.
	IMAPPassword string `json:"-"`
	Folder       string

	SMTPHost        string // empty: replies cannot be sent from this mailbox
	SMTPPort        int
	SMTPSecurity    string
	SMTPUsername    string
	SMTPPassword    string `json:"-"` // as IMAPPassword; empty: no AUTH
	HasSMTPPassword bool

	Active bool
	// The checkpoint: UIDVALIDITY of the folder and the highest UID
	// recorded. Only crm's recording transaction advances it.
	UIDValidity uint32
	LastUID     uint32

	// The ingester's health: the kind of the last error (never a secret or
	// message text) and when the last session was good.
	LastError   string
	LastErrorAt time.Time
	LastOKAt    time.Time
	CreatedAt   time.Time
}

// MailboxSettings are what an admin sets on a mailbox. On create every
// field but the SMTP ones, SiteID and DisplayName is required; on update a
// nil field is left as it is.
type MailboxSettings struct {
	SiteID       *uuid.UUID // uuid.Nil: group-wide
	Address      *string
	DisplayName  *string
	QueueID      *uuid.UUID
	IMAPHost     *string
	IMAPPort     *int
	IMAPSecurity *string
	IMAPUsername *string
	IMAPPassword *string
	Folder       *string
	SMTPHost     *string
	SMTPPort     *int
	SMTPSecurity *string
	SMTPUsername *string
	SMTPPassword *string // "" removes it (no AUTH)
	Active       *bool
}

// Option configures a Store.
type Option func(*Store)

// WithSealer lets the Store seal and open mailbox passwords. Without one,
// creating a mailbox with a password and reading credentials fail.
func WithSealer(se *Sealer) Option { return func(s *Store) { s.sealer = se } }

// Sealer encrypts secrets that org must store and use again (mail server
// passwords), with AES-256-GCM under a key derived from the server secret.
// The key comes from HKDF-SHA256 with a purpose label, so the same
// SWITCHBOARD_SECRET that signs visitor tokens never is this key itself.
type Sealer struct{ aead cipher.AEAD }

// sealVersion prefixes every sealed value, so a later key or algorithm can
// be told apart from this one.
const sealVersion = 1

// NewSealer derives the key for purpose from secret (at least 16 bytes).
func NewSealer(secret []byte, purpose string) (*Sealer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("%w: the secret must be at least 16 bytes", ErrInvalid)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "switchboard "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain. context is authenticated but not stored: the same
// context must be given to Open, which binds a sealed value to its row (a
// password copied into another tenant's mailbox does not open).
func (s *Sealer) Seal(plain []byte, context string) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails (crypto/rand)
	return s.aead.Seal(out, out[1:], plain, []byte(context))
}

// Open decrypts what Seal returned for the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, errors.New("sealed value: unknown format")
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		// The usual cause: SWITCHBOARD_SECRET changed since it was sealed.
		return nil, errors.New("sealed value: does not open with this server's secret")
	}
	return plain, nil
}

// MailboxSealContext is the context a mailbox's password is sealed under.
func MailboxSealContext(tenant, mailbox uuid.UUID, field string) string {
	return "mailbox:" + tenant.String() + ":" + mailbox.String() + ":" + field
}

// NormalizeMailboxAddress returns the lower-case addr-spec of s ("Sales
// <Sales@Example.cn>" → "sales@example.cn").
func NormalizeMailboxAddress(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%w: %q is not an e-mail address", ErrInvalid, s)
	}
	return strings.ToLower(a.Address), nil
}

// isLoopback: plain-text mail connections are allowed only to these hosts,
// so a password never crosses a network in the clear.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkEndpoint(kind, host string, port int, security string) error {
	if host == "" || strings.ContainsAny(host, " /:@") && net.ParseIP(host) == nil {
		return fmt.Errorf("%w: %s host must be a host name or address", ErrInvalid, kind)
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("%w: %s port must be 1 to 65535", ErrInvalid, kind)
	}
	switch security {
	case SecurityTLS, SecurityStartTLS:
	case SecurityNone:
		if !isLoopback(host) {
			return fmt.Errorf("%w: %s security \"none\" is allowed only for a loopback host; use tls or starttls", ErrInvalid, kind)
		}
	default:
		return fmt.Errorf("%w: %s security is tls, starttls or none", ErrInvalid, kind)
	}
	return nil
}

// validate checks a complete mailbox (after a create's defaults or an
// update's changes are applied).
func (m *Mailbox) validate() error {
	addr, err := NormalizeMailboxAddress(m.Address)
	if err != nil {
		return err
	}
	m.Address = addr
	if m.QueueID == uuid.Nil {
		return fmt.Errorf("%w: a mailbox needs a queue", ErrInvalid)
	}
	if len(m.DisplayName) > 200 {
		return fmt.Errorf("%w: display name is too long", ErrInvalid)
	}
	if err := checkEndpoint("IMAP", m.IMAPHost, m.IMAPPort, m.IMAPSecurity); err != nil {
		return err
	}
	if m.IMAPUsername == "" || m.IMAPPassword == "" {
		return fmt.Errorf("%w: IMAP needs a username and a password", ErrInvalid)
	}
	if m.Folder == "" || strings.ContainsAny(m.Folder, "\r\n") {
		return fmt.Errorf("%w: folder must be a mailbox name such as INBOX", ErrInvalid)
	}
	if m.SMTPHost != "" {
		if err := checkEndpoint("SMTP", m.SMTPHost, m.SMTPPort, m.SMTPSecurity); err != nil {
			return err
		}
		if m.SMTPPassword != "" && m.SMTPUsername == "" {
			return fmt.Errorf("%w: an SMTP password needs an SMTP username", ErrInvalid)
		}
	}
	return nil
}

// apply copies the set fields of in onto m.
func (in MailboxSettings) apply(m *Mailbox) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	if in.SiteID != nil {
		m.SiteID = *in.SiteID
	}
	if in.QueueID != nil {
		m.QueueID = *in.QueueID
	}
	set(&m.Address, in.Address)
	set(&m.DisplayName, in.DisplayName)
	set(&m.IMAPHost, in.IMAPHost)
	set(&m.IMAPSecurity, in.IMAPSecurity)
	set(&m.IMAPUsername, in.IMAPUsername)
	set(&m.Folder, in.Folder)
	set(&m.SMTPHost, in.SMTPHost)
	set(&m.SMTPSecurity, in.SMTPSecurity)
	set(&m.SMTPUsername, in.SMTPUsername)
	if in.IMAPPassword != nil {
		m.IMAPPassword = *in.IMAPPassword // passwords keep their spaces
	}
	if in.SMTPPassword != nil {
		m.SMTPPassword = *in.SMTPPassword
	}
	if in.IMAPPort != nil {
		m.IMAPPort = *in.IMAPPort
	}
	if in.SMTPPort != nil {
		m.SMTPPort = *in.SMTPPort
	}
	if in.Active != nil {
		m.Active = *in.Active
	}
}

const mailboxColumns = `id, tenant_id, site_id, address, display_name, queue_id, imap_host, imap_port, imap_security,
	imap_username, imap_password_enc, folder, smtp_host, smtp_port, smtp_security, smtp_username, smtp_password_enc,
	active, uid_validity, last_uid, last_error, last_error_at, last_ok_at, created_at`

// scanMailbox reads a row; with open, it decrypts the passwords too. When
// a password does not open, the mailbox comes back without passwords
// beside the error, so the caller can name it.
func (s *Store) scanMailbox(row pgx.Row, open bool) (Mailbox, error) {
	var m Mailbox
	var site *uuid.UUID
	var imapEnc, smtpEnc []byte
	var validity, last int64
	var errAt, okAt *time.Time
	if err := row.Scan(&m.ID, &m.TenantID, &site, &m.Address, &m.DisplayName, &m.QueueID, &m.IMAPHost, &m.IMAPPort,
		&m.IMAPSecurity, &m.IMAPUsername, &imapEnc, &m.Folder, &m.SMTPHost, &m.SMTPPort, &m.SMTPSecurity,
		&m.SMTPUsername, &smtpEnc, &m.Active, &validity, &last, &m.LastError, &errAt, &okAt, &m.CreatedAt); err != nil {
		return Mailbox{}, err
	}
	m.SiteID = dbid.Deref(site)
	m.UIDValidity, m.LastUID = uint32(validity), uint32(last)
	if errAt != nil {
		m.LastErrorAt = *errAt
	}
	if okAt != nil {
		m.LastOKAt = *okAt
	}
	m.HasSMTPPassword = smtpEnc != nil
	if !open {
		return m, nil
	}
	if s.sealer == nil {
		return Mailbox{}, errors.New("mailbox credentials: no sealer configured")
	}
	p, err := s.sealer.Open(imapEnc, MailboxSealContext(m.TenantID, m.ID, "imap"))
	if err != nil {
		return m, fmt.Errorf("mailbox %s IMAP password: %w", m.ID, err)
	}
	m.IMAPPassword = string(p)
	if smtpEnc != nil {
		p, err := s.sealer.Open(smtpEnc, MailboxSealContext(m.TenantID, m.ID, "smtp"))
		if err != nil {
			return m, fmt.Errorf("mailbox %s SMTP password: %w", m.ID, err)
		}
		m.SMTPPassword = string(p)
	}
	return m, nil
}

func (s *Store) sealPasswords(m Mailbox) (imapEnc, smtpEnc []byte, err error) {
	if s.sealer == nil {
		return nil, nil, errors.New("mailbox credentials: no sealer configured")
	}
	imapEnc = s.sealer.Seal([]byte(m.IMAPPassword), MailboxSealContext(m.TenantID, m.ID, "imap"))
	if m.SMTPPassword != "" {
		smtpEnc = s.sealer.Seal([]byte(m.SMTPPassword), MailboxSealContext(m.TenantID, m.ID, "smtp"))
	}
	return imapEnc, smtpEnc, nil
}

// mailboxWriteError turns constraint violations into the caller's mistakes.
func mailboxWriteError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%w: another mailbox of this tenant has that address", ErrInvalid)
		case pe.Code == "23503" && strings.Contains(pe.ConstraintName, "queue"):
			return fmt.Errorf("%w: no such queue", ErrInvalid)
		case pe.Code == "23503" && strings.Contains(pe.ConstraintName, "site"):
			return fmt.Errorf("%w: no such site", ErrInvalid)
		}
	}
	return err
}

// CreateMailbox adds a mailbox to tenant; actor is audited. Defaults: port
// 993 with TLS, folder INBOX, SMTP 587 with STARTTLS, active.
func (s *Store) CreateMailbox(ctx context.Context, tenant, actor uuid.UUID, in MailboxSettings) (Mailbox, error) {
	m := Mailbox{ID: dbid.New(), TenantID: tenant, IMAPPort: 993, IMAPSecurity: SecurityTLS, Folder: "INBOX",
		SMTPPort: 587, SMTPSecurity: SecurityStartTLS, Active: true}
	in.apply(&m)
	if err := m.validate(); err != nil {
		return Mailbox{}, err
	}
	imapEnc, smtpEnc, err := s.sealPasswords(m)
	if err != nil {
		return Mailbox{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO mailboxes (id, tenant_id, site_id, address, display_name, queue_id, imap_host, imap_port, imap_security,
				imap_username, imap_password_enc, folder, smtp_host, smtp_port, smtp_security, smtp_username, smtp_password_enc, active)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			RETURNING created_at`,
			m.ID, tenant, dbid.Null(m.SiteID), m.Address, m.DisplayName, m.QueueID, m.IMAPHost, m.IMAPPort, m.IMAPSecurity,
			m.IMAPUsername, imapEnc, m.Folder, m.SMTPHost, m.SMTPPort, m.SMTPSecurity, m.SMTPUsername, smtpEnc, m.Active).Scan(&m.CreatedAt)
		if err != nil {
			return mailboxWriteError(err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "mailbox.create", TargetKind: "mailbox",
			TargetID: m.ID, Data: map[string]any{"queue_id": m.QueueID, "site_id": dbid.Null(m.SiteID), "active": m.Active}})
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("create mailbox: %w", err)
	}
	m.HasSMTPPassword = smtpEnc != nil
	m.IMAPPassword, m.SMTPPassword = "", ""
	return m, nil
}

// UpdateMailbox changes the set fields of one of tenant's mailboxes. A new
// server, account or folder starts the checkpoint over (UIDs are only
// meaningful within one folder); the Message-ID de-duplication keeps the
// re-read from inserting mail twice.
func (s *Store) UpdateMailbox(ctx context.Context, tenant, id, actor uuid.UUID, in MailboxSettings) (Mailbox, error) {
	var out Mailbox
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		m, err := s.scanMailbox(tx.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id), true)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		before := m
		in.apply(&m)
		if err := m.validate(); err != nil {
			return err
		}
		imapEnc, smtpEnc, err := s.sealPasswords(m)
		if err != nil {
			return err
		}
		moved := m.IMAPHost != before.IMAPHost || m.IMAPPort != before.IMAPPort || m.IMAPUsername != before.IMAPUsername || m.Folder != before.Folder
		if moved {
			m.UIDValidity, m.LastUID = 0, 0
		}
		_, err = tx.Exec(ctx, `
			UPDATE mailboxes SET site_id = $3, address = $4, display_name = $5, queue_id = $6, imap_host = $7, imap_port = $8,
				imap_security = $9, imap_username = $10, imap_password_enc = $11, folder = $12, smtp_host = $13, smtp_port = $14,
				smtp_security = $15, smtp_username = $16, smtp_password_enc = $17, active = $18, uid_validity = $19, last_uid = $20
			WHERE tenant_id = $1 AND id = $2`,
			tenant, id, dbid.Null(m.SiteID), m.Address, m.DisplayName, m.QueueID, m.IMAPHost, m.IMAPPort, m.IMAPSecurity,
			m.IMAPUsername, imapEnc, m.Folder, m.SMTPHost, m.SMTPPort, m.SMTPSecurity, m.SMTPUsername, smtpEnc, m.Active,
			int64(m.UIDValidity), int64(m.LastUID))
		if err != nil {
			return mailboxWriteError(err)
		}
		// Which settings changed, never their values: hosts and user names
		// may name people, passwords are secrets.
		changed := []string{}
		for name, ch := range map[string]bool{"site_id": in.SiteID != nil, "address": in.Address != nil, "display_name": in.DisplayName != nil,
			"queue_id": in.QueueID != nil, "imap": in.IMAPHost != nil || in.IMAPPort != nil || in.IMAPSecurity != nil || in.IMAPUsername != nil,
			"imap_password": in.IMAPPassword != nil, "folder": in.Folder != nil,
			"smtp":          in.SMTPHost != nil || in.SMTPPort != nil || in.SMTPSecurity != nil || in.SMTPUsername != nil,
			"smtp_password": in.SMTPPassword != nil, "active": in.Active != nil} {
			if ch {
				changed = append(changed, name)
			}
		}
		m.HasSMTPPassword = smtpEnc != nil
		out = m
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "mailbox.update", TargetKind: "mailbox",
			TargetID: id, Data: map[string]any{"changed": changed, "active": m.Active, "checkpoint_reset": moved}})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			return Mailbox{}, err
		}
		return Mailbox{}, fmt.Errorf("update mailbox %s: %w", id, err)
	}
	out.IMAPPassword, out.SMTPPassword = "", ""
	return out, nil
}

// DeleteMailbox removes a mailbox that has no mail yet. One with history
// (messages received, rejected messages, outbox rows) is ErrInUse:
// deactivate it.
func (s *Store) DeleteMailbox(ctx context.Context, tenant, id, actor uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Received mail names its mailboxes in an array (email_messages,
		// 00013), which no foreign key guards: threads answered from this
		// mailbox would lose their sender. Rare admin call, so the scan of
		// the tenant's mail is affordable.
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM email_messages WHERE tenant_id = $1 AND $2 = ANY (mailbox_ids))`,
			tenant, id).Scan(&used); err != nil {
			return err
		} else if used {
			return ErrInUse
		}
		tag, err := tx.Exec(ctx, `DELETE FROM mailboxes WHERE tenant_id = $1 AND id = $2`, tenant, id)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" {
			return ErrInUse
		} else if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "mailbox.delete", TargetKind: "mailbox", TargetID: id})
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInUse) {
		return fmt.Errorf("delete mailbox %s: %w", id, err)
	}
	return err
}

// Mailboxes lists tenant's mailboxes by address, without their passwords.
func (s *Store) Mailboxes(ctx context.Context, tenant uuid.UUID) ([]Mailbox, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE tenant_id = $1 ORDER BY address`, tenant)
	if err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mailbox, error) { return s.scanMailbox(r, false) })
}

// Mailbox returns one of tenant's mailboxes without its passwords.
func (s *Store) Mailbox(ctx context.Context, tenant, id uuid.UUID) (Mailbox, error) {
	m, err := s.scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE tenant_id = $1 AND id = $2`, tenant, id), false)
	if errors.Is(err, pgx.ErrNoRows) {
		return Mailbox{}, ErrNotFound
	} else if err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", id, err)
	}
	return m, nil
}

// MailboxWithCredentials returns one of tenant's mailboxes with its
// passwords opened, for the connector that logs in with them.
func (s *Store) MailboxWithCredentials(ctx context.Context, tenant, id uuid.UUID) (Mailbox, error) {
	m, err := s.scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE tenant_id = $1 AND id = $2`, tenant, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Mailbox{}, ErrNotFound
	} else if err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %s: %w", id, err)
	}
	return m, nil
}

// MailboxByAddress returns tenant's mailbox with that address (any form
// NormalizeMailboxAddress accepts), passwords opened: the outbox sends
// from it.
func (s *Store) MailboxByAddress(ctx context.Context, tenant uuid.UUID, address string) (Mailbox, error) {
	addr, err := NormalizeMailboxAddress(address)
	if err != nil {
		return Mailbox{}, ErrNotFound
	}
	m, err := s.scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE tenant_id = $1 AND address = $2`, tenant, addr), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Mailbox{}, ErrNotFound
	} else if err != nil {
		return Mailbox{}, fmt.Errorf("mailbox by address: %w", err)
	}
	return m, nil
}

// AllActiveMailboxes lists every tenant's active mailboxes with their
// passwords opened, for the ingester. A mailbox whose password does not
// open (the server secret changed) is left out and reported in skipped, so
// one bad row does not stop every other mailbox.
func (s *Store) AllActiveMailboxes(ctx context.Context) (ms []Mailbox, skipped []uuid.UUID, err error) {
	rows, err := s.pool.Query(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE active ORDER BY tenant_id, address`)
	if err != nil {
		return nil, nil, fmt.Errorf("active mailboxes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := s.scanMailbox(rows, true)
		if err != nil && m.ID != uuid.Nil {
			skipped = append(skipped, m.ID)
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("active mailboxes: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("active mailboxes: %w", err)
	}
	return ms, skipped, nil
}

// MailboxCheckpoint reads the committed checkpoint of a mailbox: where its
// ingester resumes.
func (s *Store) MailboxCheckpoint(ctx context.Context, tenant, id uuid.UUID) (uidValidity, lastUID uint32, err error) {
	var v, l int64
	err = s.pool.QueryRow(ctx, `SELECT uid_validity, last_uid FROM mailboxes WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&v, &l)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, ErrNotFound
	} else if err != nil {
		return 0, 0, fmt.Errorf("mailbox %s checkpoint: %w", id, err)
	}
	return uint32(v), uint32(l), nil
}

// ResetMailboxCheckpoint records that the folder's UIDVALIDITY changed from
// old to new: the stored UIDs mean nothing any more, so the checkpoint
// starts over at UID 0 of the new validity. It changes nothing (and says
// false) when the stored validity is no longer old: another session moved
// it first.
func (s *Store) ResetMailboxCheckpoint(ctx context.Context, tenant, id uuid.UUID, old, new uint32) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE mailboxes SET uid_validity = $4, last_uid = 0
		WHERE tenant_id = $1 AND id = $2 AND uid_validity = $3`, tenant, id, int64(old), int64(new))
	if err != nil {
		return false, fmt.Errorf("mailbox %s reset checkpoint: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimMailbox takes or renews holder's lease on a mailbox for ttl: only
// the holder ingests it, so several nodes do not read one mailbox at once.
// False: another holder's lease is still running (or the mailbox is gone
// or inactive).
func (s *Store) ClaimMailbox(ctx context.Context, tenant, id uuid.UUID, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE mailboxes SET ingest_holder = $3, ingest_until = now() + $4 * interval '1 millisecond'
		WHERE tenant_id = $1 AND id = $2 AND active
		  AND (ingest_holder = $3 OR ingest_until IS NULL OR ingest_until < now())`,
		tenant, id, holder, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("mailbox %s claim: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseMailbox gives holder's lease up, so another node may take over at
// once (a clean shutdown).
func (s *Store) ReleaseMailbox(ctx context.Context, tenant, id uuid.UUID, holder string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE mailboxes SET ingest_until = NULL WHERE tenant_id = $1 AND id = $2 AND ingest_holder = $3`, tenant, id, holder)
	if err != nil {
		return fmt.Errorf("mailbox %s release: %w", id, err)
	}
	return nil
}

// SetMailboxHealth records the outcome of an ingest session: errKind ""
// for a good one, else a short kind such as "login" or "connect" (never a
// password, an address or message text).
func (s *Store) SetMailboxHealth(ctx context.Context, tenant, id uuid.UUID, errKind string) error {
	var err error
	if errKind == "" {
		_, err = s.pool.Exec(ctx, `UPDATE mailboxes SET last_ok_at = now(), last_error = '' WHERE tenant_id = $1 AND id = $2`, tenant, id)
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE mailboxes SET last_error = $3, last_error_at = now() WHERE tenant_id = $1 AND id = $2`, tenant, id, errKind)
	}
	if err != nil {
		return fmt.Errorf("mailbox %s health: %w", id, err)
	}
	return nil
}
