package crm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Sides of a conversation, for read receipts.
const (
	SideCustomer = "customer"
	SideAgent    = "agent"
)

// MarkRead records that side has read the contact's lines up to seq and
// returns that side's read seq afterwards. It never goes back and never
// passes the contact's last line, so a repeat or a late copy is harmless.
// An agent (side agent) must hold the contact (ErrNotHeld); for the
// customer side agent is ignored. Another tenant's contact is ErrNotFound.
func (s *Store) MarkRead(ctx context.Context, tenant, contactID uuid.UUID, side string, agent uuid.UUID, seq int) (int, error) {
	if seq < 0 {
		return 0, fmt.Errorf("mark read: seq: %w", ErrInvalid)
	}
	var q string
	args := []any{tenant, contactID, seq}
	switch side {
	case SideCustomer:
		q = `UPDATE contacts SET customer_read_seq = GREATEST(customer_read_seq, LEAST($3, last_seq))
			WHERE tenant_id = $1 AND id = $2 RETURNING customer_read_seq`
	case SideAgent:
		q = `UPDATE contacts c SET agent_read_seq = GREATEST(agent_read_seq, LEAST($3, last_seq))
			WHERE c.tenant_id = $1 AND c.id = $2 AND EXISTS (
			    SELECT 1 FROM assignments a WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id
			    AND a.agent_id = $4 AND a.ended_at IS NULL)
			RETURNING agent_read_seq`
		args = append(args, agent)
	default:
		return 0, fmt.Errorf("mark read: side %q: %w", side, ErrInvalid)
	}
	var got int
	err := s.pool.QueryRow(ctx, q, args...).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		if side == SideAgent {
			return 0, fmt.Errorf("mark read %s: %w", contactID, ErrNotHeld)
		}
		return 0, fmt.Errorf("mark read %s: %w", contactID, ErrNotFound)
	} else if err != nil {
		return 0, fmt.Errorf("mark read %s: %w", contactID, err)
	}
	return got, nil
}

// CustomerEnd is what EndByCustomer did.
type CustomerEnd struct {
	Contact Contact
	// Agent held the contact (uuid.Nil when it was still queued); their
	// wrap-up started, as if they had closed it.
	Agent uuid.UUID
	// WasQueued: the contact was waiting, and is now abandoned.
	WasQueued bool
}

// EndByCustomer ends a chat from the customer's side. A queued contact is
// abandoned (reason customer_ended); an active one is closed with end
// reason customer_ended and its agent's wrap-up starts (Contact.WrapUpUntil,
// as Close). Ending an ended contact is ErrClosed.
func (s *Store) EndByCustomer(ctx context.Context, tenant, contactID uuid.UUID) (CustomerEnd, error) {
	var out CustomerEnd
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		var queue uuid.UUID
		err := tx.QueryRow(ctx, `SELECT state, queue_id FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			tenant, contactID).Scan(&state, &queue)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("end by customer %s: %w", contactID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("end by customer %s: %w", contactID, err)
		}
		switch state {
		case StateQueued:
			if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'abandoned', closed_at = now(), updated_at = now()
				WHERE tenant_id = $1 AND id = $2`, tenant, contactID); err != nil {
				return fmt.Errorf("end by customer %s: %w", contactID, err)
			}
			if err := insertEvent(ctx, tx, tenant, contactID, "abandoned", queue, uuid.Nil, map[string]any{"reason": "customer_ended"}); err != nil {
				return err
			}
			out.WasQueued = true
		case StateActive, StatePending:
			var agent *uuid.UUID
			var secs int
			var until time.Time
			if err := tx.QueryRow(ctx, `
				UPDATE contacts c SET state = 'closed', closed_at = now(), updated_at = now()
				FROM queues q
				WHERE c.tenant_id = $1 AND c.id = $2 AND q.tenant_id = c.tenant_id AND q.id = c.queue_id
				RETURNING q.wrap_up_seconds, now() + make_interval(secs => q.wrap_up_seconds),
				          (SELECT a.agent_id FROM assignments a WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id AND a.ended_at IS NULL)`,
				tenant, contactID).Scan(&secs, &until, &agent); err != nil {
				return fmt.Errorf("end by customer %s: %w", contactID, err)
			}
			out.Agent = dbid.Deref(agent)
			if out.Agent != uuid.Nil {
				if _, err := tx.Exec(ctx, `UPDATE assignments SET wrap_up_at = now()
					WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL AND wrap_up_at IS NULL`, tenant, contactID); err != nil {
					return fmt.Errorf("end by customer %s: start wrap-up: %w", contactID, err)
				}
			}
			if err := insertEvent(ctx, tx, tenant, contactID, "closed", queue, out.Agent,
				map[string]any{"end_reason": "customer_ended", "wrap_up_seconds": secs}); err != nil {
				return err
			}
			if out.Agent != uuid.Nil && secs == 0 {
				if err := endWrapUp(ctx, tx, tenant, contactID, out.Agent, queue, time.Time{}, "none"); err != nil {
					return fmt.Errorf("end by customer %s: %w", contactID, err)
				}
			}
			c, err := contactByID(ctx, tx, tenant, contactID)
			if err != nil {
				return err
			}
			if out.Agent != uuid.Nil && secs > 0 {
				c.WrapUpUntil = &until
			}
			out.Contact = c
			return enqueueWebhook(ctx, tx, tenant, EventContactClosed, contactWebhook(c))
		default:
			return fmt.Errorf("end by customer %s: %w", contactID, ErrClosed)
		}
		out.Contact, err = contactByID(ctx, tx, tenant, contactID)
		return err
	})
	if err != nil {
		return CustomerEnd{}, err
	}
	return out, nil
}

// AttachmentInfo describes a stored attachment, without its bytes.
type AttachmentInfo struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
}

// Attachment is a stored attachment with its bytes and owners.
type Attachment struct {
	AttachmentInfo
	ContactID uuid.UUID
	SHA256    [32]byte
	Data      []byte
}

// SaveAttachment stores a file on a chat contact. The caller has checked
// its type by content and its size against the site's limit; the table
// admits only the allowed types. The contact must be open.
func (s *Store) SaveAttachment(ctx context.Context, tenant, contactID uuid.UUID, name, contentType string, data []byte) (AttachmentInfo, error) {
	if len(data) == 0 || len(name) > 255 {
		return AttachmentInfo{}, fmt.Errorf("save attachment: %w", ErrInvalid)
	}
	info := AttachmentInfo{ID: dbid.New(), Name: name, ContentType: contentType, Size: len(data)}
	sum := sha256.Sum256(data)
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO chat_attachments (id, tenant_id, contact_id, name, content_type, size, sha256, data)
		SELECT $3, c.tenant_id, c.id, $4, $5, $6, $7, $8 FROM contacts c
		WHERE c.tenant_id = $1 AND c.id = $2 AND c.state IN ('queued', 'active', 'pending')`,
		tenant, contactID, info.ID, name, contentType, len(data), sum[:], data)
	if pgCode(err) == "23514" { // check_violation: a type the table does not admit
		return AttachmentInfo{}, fmt.Errorf("save attachment: type %q: %w", contentType, ErrInvalid)
	} else if err != nil {
		return AttachmentInfo{}, fmt.Errorf("save attachment: %w", err)
	} else if tag.RowsAffected() == 0 {
		if err := contactExists(ctx, s.pool, tenant, contactID); err != nil {
			return AttachmentInfo{}, fmt.Errorf("save attachment: %w", err)
		}
		return AttachmentInfo{}, fmt.Errorf("save attachment on %s: %w", contactID, ErrClosed)
	}
	return info, nil
}

// LinkAttachment ties an attachment of the contact to the message whose
// idempotency key is messageKey, before that message is stored, so the
// stored line carries it (messageSelect joins on the key). Linking it to
// the same key again is a no-op; to another key, or an attachment of
// another contact, is ErrNotFound.
func (s *Store) LinkAttachment(ctx context.Context, tenant, contactID, id uuid.UUID, messageKey string) (AttachmentInfo, error) {
	var info AttachmentInfo
	err := s.pool.QueryRow(ctx, `
		UPDATE chat_attachments SET message_key = $4
		WHERE tenant_id = $1 AND contact_id = $2 AND id = $3 AND (message_key IS NULL OR message_key = $4)
		RETURNING id, name, content_type, size`, tenant, contactID, id, messageKey).Scan(&info.ID, &info.Name, &info.ContentType, &info.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return AttachmentInfo{}, fmt.Errorf("attachment %s: %w", id, ErrNotFound)
	} else if err != nil {
		return AttachmentInfo{}, fmt.Errorf("attachment %s: %w", id, err)
	}
	return info, nil
}

// AttachmentOf returns an attachment with its bytes, only when it belongs
// to contact (uuid.Nil: any contact of the tenant; the caller has checked
// who may see it). Anything else is ErrNotFound.
func (s *Store) AttachmentOf(ctx context.Context, tenant, contactID, id uuid.UUID) (Attachment, error) {
	var a Attachment
	var sum []byte
	err := s.pool.QueryRow(ctx, `
		SELECT id, contact_id, name, content_type, size, sha256, data FROM chat_attachments
		WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR contact_id = $3)`,
		tenant, id, dbid.Null(contactID)).Scan(&a.ID, &a.ContactID, &a.Name, &a.ContentType, &a.Size, &sum, &a.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Attachment{}, fmt.Errorf("attachment %s: %w", id, ErrNotFound)
	} else if err != nil {
		return Attachment{}, fmt.Errorf("attachment %s: %w", id, err)
	}
	copy(a.SHA256[:], sum)
	return a, nil
}

// ChatAttachmentTypes are the files a chat line may carry, from either
// side: images a browser shows in an <img>, and PDF. Nothing a browser
// would run. chat_attachments admits only these.
var ChatAttachmentTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}

// chatMagic is each allowed type's leading bytes; http.DetectContentType
// agrees with them, and both must.
var chatMagic = map[string][][]byte{
	"image/png":       {[]byte("\x89PNG\r\n\x1a\n")},
	"image/jpeg":      {[]byte("\xff\xd8\xff")},
	"image/gif":       {[]byte("GIF87a"), []byte("GIF89a")},
	"image/webp":      {[]byte("RIFF")}, // and "WEBP" at offset 8, checked below
	"application/pdf": {[]byte("%PDF-")},
}

// SniffChatAttachment returns the type of data by its content, one of
// ChatAttachmentTypes, or ErrInvalid: a file named .png that holds HTML is
// refused, whatever its name or declared type says.
func SniffChatAttachment(data []byte) (string, error) {
	ct, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	for _, p := range chatMagic[ct] {
		if bytes.HasPrefix(data, p) {
			if ct == "image/webp" && (len(data) < 12 || string(data[8:12]) != "WEBP") {
				break
			}
			return ct, nil
		}
	}
	return "", fmt.Errorf("attachment: only PNG, JPEG, GIF, WebP images and PDF files: %w", ErrInvalid)
}

// LinkAgentAttachment ties an attachment of the contact to the agent's
// line with clientID (AppendAgentMessage's), before that line is stored,
// as LinkAttachment does for a visitor's. A line that already has another
// file (the same upload sent again) is ErrConflict.
func (s *Store) LinkAgentAttachment(ctx context.Context, tenant, contactID, agent, id uuid.UUID, clientID string) (AttachmentInfo, error) {
	info, err := s.LinkAttachment(ctx, tenant, contactID, id, agentMessageKey(agent, contactID, clientID))
	if pgCode(err) == codeUniqueViolation {
		return AttachmentInfo{}, fmt.Errorf("attachment %s: line %q has a file: %w", id, clientID, ErrConflict)
	}
	return info, err
}
