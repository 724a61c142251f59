package agentdesk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// MailboxAdmin is what the desk needs of org to let admins configure the
// tenant's e-mail mailboxes. org.Store implements it.
type MailboxAdmin interface {
	Mailboxes(ctx context.Context, tenant uuid.UUID) ([]org.Mailbox, error)
	CreateMailbox(ctx context.Context, tenant, actor uuid.UUID, in org.MailboxSettings) (org.Mailbox, error)
	UpdateMailbox(ctx context.Context, tenant, id, actor uuid.UUID, in org.MailboxSettings) (org.Mailbox, error)
	DeleteMailbox(ctx context.Context, tenant, id, actor uuid.UUID) error
}

var (
	errNoMailboxes  = &deskError{http.StatusServiceUnavailable, "unavailable", "mailboxes are not available on this server"}
	errMailboxInUse = &deskError{http.StatusConflict, "in_use", "the mailbox has mail; deactivate it instead (PATCH active=false)"}
)

// mailboxJSON is a mailbox as the API shows it: every setting but the
// passwords, which are write-only (has_smtp_password says whether one is
// set; an IMAP password always is).
type mailboxJSON struct {
	ID              uuid.UUID  `json:"id"`
	SiteID          *uuid.UUID `json:"site_id"`
	Address         string     `json:"address"`
	DisplayName     string     `json:"display_name"`
	QueueID         uuid.UUID  `json:"queue_id"`
	IMAPHost        string     `json:"imap_host"`
	IMAPPort        int        `json:"imap_port"`
	IMAPSecurity    string     `json:"imap_security"`
	IMAPUsername    string     `json:"imap_username"`
	Folder          string     `json:"folder"`
	SMTPHost        string     `json:"smtp_host"`
	SMTPPort        int        `json:"smtp_port"`
	SMTPSecurity    string     `json:"smtp_security"`
	SMTPUsername    string     `json:"smtp_username"`
	HasSMTPPassword bool       `json:"has_smtp_password"`
	Active          bool       `json:"active"`
	UIDValidity     uint32     `json:"uid_validity"`
	LastUID         uint32     `json:"last_uid"`
	LastError       string     `json:"last_error"`
	LastErrorAt     *time.Time `json:"last_error_at"`
	LastOKAt        *time.Time `json:"last_ok_at"`
	CreatedAt       time.Time  `json:"created_at"`
}

func mailboxOut(m org.Mailbox) mailboxJSON {
	out := mailboxJSON{ID: m.ID, Address: m.Address, DisplayName: m.DisplayName, QueueID: m.QueueID,
		IMAPHost: m.IMAPHost, IMAPPort: m.IMAPPort, IMAPSecurity: m.IMAPSecurity, IMAPUsername: m.IMAPUsername, Folder: m.Folder,
		SMTPHost: m.SMTPHost, SMTPPort: m.SMTPPort, SMTPSecurity: m.SMTPSecurity, SMTPUsername: m.SMTPUsername,
		HasSMTPPassword: m.HasSMTPPassword, Active: m.Active, UIDValidity: m.UIDValidity, LastUID: m.LastUID,
		LastError: m.LastError, CreatedAt: m.CreatedAt}
	if m.SiteID != uuid.Nil {
		out.SiteID = &m.SiteID
	}
	if !m.LastErrorAt.IsZero() {
		out.LastErrorAt = &m.LastErrorAt
	}
	if !m.LastOKAt.IsZero() {
		out.LastOKAt = &m.LastOKAt
	}
	return out
}

// mailboxBody is a POST or PATCH body: fields left out stay (PATCH) or take
// their defaults (POST); site_id null means group-wide.
type mailboxBody struct {
	SiteID       json.RawMessage `json:"site_id"`
	Address      *string         `json:"address"`
	DisplayName  *string         `json:"display_name"`
	QueueID      *uuid.UUID      `json:"queue_id"`
	IMAPHost     *string         `json:"imap_host"`
	IMAPPort     *int            `json:"imap_port"`
	IMAPSecurity *string         `json:"imap_security"`
	IMAPUsername *string         `json:"imap_username"`
	IMAPPassword *string         `json:"imap_password"`
	Folder       *string         `json:"folder"`
	SMTPHost     *string         `json:"smtp_host"`
	SMTPPort     *int            `json:"smtp_port"`
	SMTPSecurity *string         `json:"smtp_security"`
	SMTPUsername *string         `json:"smtp_username"`
	SMTPPassword *string         `json:"smtp_password"`
	Active       *bool           `json:"active"`
}

func (b mailboxBody) settings() (org.MailboxSettings, error) {
	in := org.MailboxSettings{Address: b.Address, DisplayName: b.DisplayName, QueueID: b.QueueID, IMAPHost: b.IMAPHost,
		IMAPPort: b.IMAPPort, IMAPSecurity: b.IMAPSecurity, IMAPUsername: b.IMAPUsername, IMAPPassword: b.IMAPPassword,
		Folder: b.Folder, SMTPHost: b.SMTPHost, SMTPPort: b.SMTPPort, SMTPSecurity: b.SMTPSecurity,
		SMTPUsername: b.SMTPUsername, SMTPPassword: b.SMTPPassword, Active: b.Active}
	if len(b.SiteID) > 0 {
		var site *uuid.UUID
		if err := json.Unmarshal(b.SiteID, &site); err != nil {
			return org.MailboxSettings{}, &deskError{http.StatusBadRequest, "bad_json", "site_id must be a site's id or null"}
		}
		id := uuid.Nil
		if site != nil {
			id = *site
		}
		in.SiteID = &id
	}
	return in, nil
}

func (s *Server) listMailboxes(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.mailboxes == nil {
		s.writeError(w, r, errNoMailboxes)
		return
	}
	ms, err := s.mailboxes.Mailboxes(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]mailboxJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, mailboxOut(m))
	}
	writeJSON(w, http.StatusOK, out)
}

// createMailbox adds a mailbox; the ingester starts reading it within a
// minute (its reload).
func (s *Server) createMailbox(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.mailboxes == nil {
		s.writeError(w, r, errNoMailboxes)
		return
	}
	var body mailboxBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := body.settings()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.mailboxes.CreateMailbox(r.Context(), sess.User.TenantID, sess.User.ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Ids only: the address and the servers stay out of the log.
	s.log.InfoContext(r.Context(), "mailbox created", "tenant_id", sess.User.TenantID, "mailbox_id", m.ID, "user_id", sess.User.ID)
	writeJSON(w, http.StatusCreated, mailboxOut(m))
}

func (s *Server) updateMailbox(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.mailboxes == nil {
		s.writeError(w, r, errNoMailboxes)
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body mailboxBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := body.settings()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.mailboxes.UpdateMailbox(r.Context(), sess.User.TenantID, id, sess.User.ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "mailbox updated", "tenant_id", sess.User.TenantID, "mailbox_id", id, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, mailboxOut(m))
}

// deleteMailbox removes a mailbox without mail; one with mail is 409 (the
// threads keep naming it): deactivate it instead.
func (s *Server) deleteMailbox(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.mailboxes == nil {
		s.writeError(w, r, errNoMailboxes)
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.mailboxes.DeleteMailbox(r.Context(), sess.User.TenantID, id, sess.User.ID); err != nil {
		if errors.Is(err, org.ErrInUse) {
			err = errMailboxInUse
		}
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "mailbox deleted", "tenant_id", sess.User.TenantID, "mailbox_id", id, "user_id", sess.User.ID)
	w.WriteHeader(http.StatusNoContent)
}
