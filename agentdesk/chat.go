package agentdesk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// ChatDesk is what the console's chat panel needs beyond lines and closes:
// read receipts, typing, attachments (crm.Store and channels.Intake).
type ChatDesk interface {
	MarkRead(ctx context.Context, tenant, contact uuid.UUID, side string, agent uuid.UUID, seq int) (int, error)
	AttachmentOf(ctx context.Context, tenant, contact, id uuid.UUID) (crm.Attachment, error)
	Holder(ctx context.Context, tenant, contact uuid.UUID) (uuid.UUID, error)
	Signal(ctx context.Context, tenant uuid.UUID, s channels.Signal)
	// An agent's attachment: stored, tied to the agent's line, sent.
	Contact(ctx context.Context, tenant, id uuid.UUID) (crm.Contact, error)
	SaveAttachment(ctx context.Context, tenant, contact uuid.UUID, name, contentType string, data []byte) (crm.AttachmentInfo, error)
	LinkAgentAttachment(ctx context.Context, tenant, contact, agent, id uuid.UUID, clientID string) (crm.AttachmentInfo, error)
	Reply(ctx context.Context, tenant, agent, contact uuid.UUID, clientID, body string) (crm.Message, error)
}

// ChatSites are the sites' widget settings and customer-token secrets (org.Store).
type ChatSites interface {
	ChatSettings(ctx context.Context, tenant, site uuid.UUID) (org.ChatSettings, error)
	SetChatSettings(ctx context.Context, tenant, actor uuid.UUID, cs org.ChatSettings) (org.ChatSettings, error)
	RotateChatSecret(ctx context.Context, tenant, actor, site uuid.UUID) ([]byte, error)
}

var errNoChat = &deskError{http.StatusServiceUnavailable, "unavailable", "chat is not set up on this server"}

// typingEvery is how often an agent's typing is passed on per contact; the
// console sends more often than that only when misbehaving.
const typingEvery = 2 * time.Second

// typing passes the agent's typing to the visitor. Never stored, never
// acked; too frequent frames are dropped.
func (c *agentConsole) typing(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	if c.s.chatDesk == nil {
		return errNoChat
	}
	if c.lastTyping == nil {
		c.lastTyping = map[uuid.UUID]time.Time{}
	}
	if time.Since(c.lastTyping[contact]) < typingEvery {
		return nil
	}
	c.lastTyping[contact] = time.Now()
	holder, err := c.s.chatDesk.Holder(ctx, c.tenant, contact)
	if err != nil || holder != c.agent {
		return crm.ErrNotHeld
	}
	c.s.chatDesk.Signal(ctx, c.tenant, channels.Signal{Kind: channels.EventTyping, ContactID: contact, Side: crm.SideAgent, Name: c.sess.User.DisplayName})
	return nil
}

// read records that the agent has read a held contact up to seq; the
// visitor sees ✓✓ and the agent's other tabs stay in step.
func (c *agentConsole) read(ctx context.Context, f clientFrame) error {
	contact, err := parseID("contact_id", f.ContactID)
	if err != nil {
		return err
	}
	if f.Seq < 0 {
		return invalid("seq must not be negative")
	}
	if c.s.chatDesk == nil {
		return errNoChat
	}
	seq, err := c.s.chatDesk.MarkRead(ctx, c.tenant, contact, crm.SideAgent, c.agent, f.Seq)
	if err != nil {
		return err
	}
	c.send(frame{"type": "ack", "ref": f.ID, "seq": seq})
	c.s.chatDesk.Signal(ctx, c.tenant, channels.Signal{Kind: channels.EventRead, ContactID: contact, Side: crm.SideAgent, Seq: seq})
	return nil
}

// relaySignal turns a contact topic's typing, read and ended signals into
// console frames; false when the payload is not a signal. It runs on the
// mailbox goroutine.
func (c *agentConsole) relaySignal(payload []byte) bool {
	var sg channels.Signal
	if err := json.Unmarshal(payload, &sg); err != nil {
		return false
	}
	switch sg.Kind {
	case channels.EventTyping:
		if sg.Side == crm.SideCustomer {
			c.send(frame{"type": "typing", "contact_id": sg.ContactID, "author_kind": "customer"})
		}
	case channels.EventRead:
		c.send(frame{"type": "read", "contact_id": sg.ContactID, "side": sg.Side, "seq": sg.Seq})
	case channels.EventEnded:
		f := frame{"type": "contact_closed", "contact_id": sg.ContactID, "state": sg.State, "ended_by": "customer"}
		if sg.WrapUpUntil != nil {
			f["wrap_up_until"] = sg.WrapUpUntil.UTC()
		}
		if u := c.subs[sg.ContactID]; u != nil {
			u()
			delete(c.subs, sg.ContactID)
		}
		c.send(f)
	case channels.EventWait:
		// For the visitor only.
	default:
		return false
	}
	return true
}

// contactAttachment serves a chat attachment to an agent of the contact's
// tenant: another tenant's ids, or an attachment of another contact, are
// not found.
func (s *Server) contactAttachment(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := uuid.Parse(chi.URLParam(r, "attachment"))
	if err != nil {
		s.writeError(w, r, errBadID)
		return
	}
	if s.chatDesk == nil {
		s.writeError(w, r, errNoChat)
		return
	}
	a, err := s.chatDesk.AttachmentOf(r.Context(), sess.User.TenantID, contact, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeAttachment(w, a)
}

var (
	errNotYours       = &deskError{http.StatusConflict, "not_held", "you do not hold this chat"}
	errNoAttachments  = &deskError{http.StatusForbidden, "forbidden", "this site's chats take no attachments"}
	errAttachmentSize = &deskError{http.StatusRequestEntityTooLarge, "too_large", "the file is larger than this site's chats take"}
	errAttachmentType = &deskError{http.StatusUnsupportedMediaType, "unsupported_type", "only PNG, JPEG, GIF, WebP images and PDF files can be sent"}
)

// chatUpload answers POST /api/contacts/{id}/chat/attachments?name=FILE&client_id=ID:
// the body is the file. The agent must hold the chat; the file is held to
// the visitor's rules (the site's size limit and whether it takes files at
// all; the type by content, never by name) and to MaxBody. It is stored,
// tied to the agent's line with client_id (the file's name is its text),
// and the line is sent as any other: the visitor's widget shows it as a
// link (a thumbnail for images) that only that visitor's token and the
// tenant's agents can fetch. The same client_id again returns the line
// already sent. The answer is the stored line.
func (s *Server) chatUpload(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.chatDesk == nil || s.chatSites == nil {
		s.writeError(w, r, errNoChat)
		return
	}
	ctx, tenant, agent := r.Context(), sess.User.TenantID, sess.User.ID
	clientID := r.URL.Query().Get("client_id")
	if clientID == "" || len(clientID) > 64 {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "client_id must be 1 to 64 characters"})
		return
	}
	holder, err := s.chatDesk.Holder(ctx, tenant, contact)
	if errors.Is(err, crm.ErrNotFound) || (err == nil && holder != agent) {
		// Another tenant's chat, one nobody holds, or a colleague's.
		s.writeError(w, r, errNotYours)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.chatDesk.Contact(ctx, tenant, contact)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.Channel != org.Chat || c.SiteID == nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "only a chat takes attachments here"})
		return
	}
	cs, err := s.chatSites.ChatSettings(ctx, tenant, *c.SiteID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !cs.Attachments {
		s.writeError(w, r, errNoAttachments)
		return
	}
	if r.ContentLength > int64(cs.MaxAttachmentBytes) {
		s.writeError(w, r, errAttachmentSize)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(cs.MaxAttachmentBytes)+1))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || len(data) > cs.MaxAttachmentBytes {
		s.writeError(w, r, errAttachmentSize)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	ct, err := crm.SniffChatAttachment(data)
	if err != nil {
		s.writeError(w, r, errAttachmentType)
		return
	}
	info, err := s.chatDesk.SaveAttachment(ctx, tenant, contact, uploadName(r.URL.Query().Get("name")), ct, data)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.chatDesk.LinkAgentAttachment(ctx, tenant, contact, agent, info.ID, clientID); errors.Is(err, crm.ErrConflict) {
		// client_id names a line that already has its file: a resend,
		// answered with that line below.
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.chatDesk.Reply(ctx, tenant, agent, contact, clientID, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

// isChatUpload: the path is chatUpload's, whose body limit is the site's
// (limitBody).
func isChatUpload(p string) bool {
	id, ok := strings.CutPrefix(p, "/api/contacts/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, "/chat/attachments")
	return ok && id != "" && !strings.Contains(id, "/")
}

// writeAttachment sends a stored attachment with its checked type, never
// sniffed, never HTML; PDF is downloaded, not shown; opened directly it is
// sandboxed.
func writeAttachment(w http.ResponseWriter, a crm.Attachment) {
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(a.Data)))
	disposition := "inline"
	if !strings.HasPrefix(a.ContentType, "image/") {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": a.Name}))
	w.Write(a.Data)
}

// chatSettingsBody is the admin API's shape of a site's widget settings.
type chatSettingsBody struct {
	NameField           string          `json:"name_field"`
	EmailField          string          `json:"email_field"`
	PhoneField          string          `json:"phone_field"`
	Topics              []org.ChatTopic `json:"topics"`
	Language            string          `json:"language"`
	ShowWait            bool            `json:"show_wait"`
	AbandonAfterSeconds int             `json:"abandon_after_seconds"`
	OfflineMode         string          `json:"offline_mode"`
	OfflineWhen         string          `json:"offline_when"` // empty: closed
	Attachments         bool            `json:"attachments"`
	MaxAttachmentBytes  int             `json:"max_attachment_bytes"`
	CustomerSystem      string          `json:"customer_system"`
}

func chatSettingsJSON(cs org.ChatSettings) map[string]any {
	return map[string]any{"site_id": cs.SiteID, "name_field": cs.NameField, "email_field": cs.EmailField, "phone_field": cs.PhoneField,
		"topics": cs.Topics, "language": cs.Language, "show_wait": cs.ShowWait, "abandon_after_seconds": int(cs.AbandonAfter / time.Second),
		"offline_mode": cs.OfflineMode, "offline_when": cs.OfflineWhen, "attachments": cs.Attachments, "max_attachment_bytes": cs.MaxAttachmentBytes,
		"customer_system": cs.CustomerSystem, "has_secret": cs.HasSecret}
}

// siteChatSettings answers GET /api/sites/{id}/chat-settings.
func (s *Server) siteChatSettings(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	site, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.chatSites == nil {
		s.writeError(w, r, errNoChat)
		return
	}
	cs, err := s.chatSites.ChatSettings(r.Context(), sess.User.TenantID, site)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, chatSettingsJSON(cs))
}

// setSiteChatSettings answers PUT /api/sites/{id}/chat-settings: the whole
// settings (a PUT, so nothing is left over from before).
func (s *Server) setSiteChatSettings(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	site, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.chatSites == nil {
		s.writeError(w, r, errNoChat)
		return
	}
	var b chatSettingsBody
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Topics == nil {
		b.Topics = []org.ChatTopic{}
	}
	if b.OfflineWhen == "" {
		b.OfflineWhen = org.OfflineClosed
	}
	cs, err := s.chatSites.SetChatSettings(r.Context(), sess.User.TenantID, sess.User.ID, org.ChatSettings{
		SiteID: site, NameField: b.NameField, EmailField: b.EmailField, PhoneField: b.PhoneField, Topics: b.Topics,
		Language: b.Language, ShowWait: b.ShowWait, AbandonAfter: time.Duration(b.AbandonAfterSeconds) * time.Second,
		OfflineMode: b.OfflineMode, OfflineWhen: b.OfflineWhen, Attachments: b.Attachments, MaxAttachmentBytes: b.MaxAttachmentBytes, CustomerSystem: b.CustomerSystem,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, chatSettingsJSON(cs))
}

// rotateChatSecret answers POST /api/sites/{id}/chat-secret: a new secret
// for the site's customer tokens, shown this once (base64url); tokens
// signed with the old one are refused from now on.
func (s *Server) rotateChatSecret(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	site, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.chatSites == nil {
		s.writeError(w, r, errNoChat)
		return
	}
	secret, err := s.chatSites.RotateChatSecret(r.Context(), sess.User.TenantID, sess.User.ID, site)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"site_id": site, "secret": base64.RawURLEncoding.EncodeToString(secret)})
}
