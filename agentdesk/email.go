package agentdesk

import (
	"context"
	"errors"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// Email is what the console's e-mail panel needs of crm (crm.Store): the
// thread, the agent's replies through the outbox, uploads, canned
// responses and chat transcripts.
type Email interface {
	EmailThread(ctx context.Context, tenant, contact uuid.UUID) ([]crm.EmailItem, error)
	EmailAttachment(ctx context.Context, tenant, contact, id uuid.UUID) (crm.Attachment, error)
	QueueReply(ctx context.Context, tenant, agent, contact uuid.UUID, r crm.Reply) (crm.QueuedReply, error)
	SetPending(ctx context.Context, tenant, agent, contact uuid.UUID) (crm.Contact, error)
	RetryEmail(ctx context.Context, tenant, contact, id uuid.UUID) (crm.OutboxEntry, error)
	StoreEmailUpload(ctx context.Context, tenant, agent, contact uuid.UUID, name, contentType string, data []byte) (crm.EmailFileInfo, error)
	QueueTranscript(ctx context.Context, tenant, contact uuid.UUID, to string) (crm.OutboxEntry, error)

	CannedResponses(ctx context.Context, tenant uuid.UUID, all bool) ([]crm.CannedResponse, error)
	CannedResponse(ctx context.Context, tenant, id uuid.UUID) (crm.CannedResponse, error)
	CreateCanned(ctx context.Context, tenant, actor uuid.UUID, in crm.CannedInput) (crm.CannedResponse, error)
	UpdateCanned(ctx context.Context, tenant, id uuid.UUID, in crm.CannedInput) (crm.CannedResponse, error)
	DeleteCanned(ctx context.Context, tenant, id uuid.UUID) error
	CannedValues(ctx context.Context, tenant, agent, contact uuid.UUID) (map[string]string, error)
}

var (
	errNoEmail       = &deskError{http.StatusServiceUnavailable, "unavailable", "e-mail is not set up on this server"}
	errReplyInWrapUp = &deskError{http.StatusConflict, "in_wrap_up",
		"you closed this thread and are wrapping it up: it takes no reply; it comes back to you if the customer writes again"}
	errPendingInWrapUp = &deskError{http.StatusConflict, "in_wrap_up",
		"you closed this thread and are wrapping it up: it cannot wait for the customer; it comes back to you if the customer writes again"}
)

// EmailOutcome tells the agent who wrote an e-mail how sending it went, on
// every console they have open: email_sent, or email_failed with the
// failure class and whether it will be retried (state queued) or has been
// given up (state failed: the agent may retry it). The e-mail outbox
// (channels/email) calls it.
func (s *Server) EmailOutcome(ctx context.Context, tenant, agent uuid.UUID, e crm.OutboxEntry) {
	typ := "email_failed"
	if e.State == crm.OutboxSent {
		typ = "email_sent"
	}
	f := frame{"type": typ, "contact_id": e.ContactID, "outbox": e}
	if typ == "email_failed" {
		f["reason"] = e.LastError
		f["retrying"] = e.State == crm.OutboxQueued
	}
	s.publishUser(ctx, tenant, agent, f)
}

// emailThread answers GET /api/contacts/{id}/email: the contact's e-mails,
// oldest first, each with its sanitised HTML (never the original; its
// inline images pointed at the attachment route, see inlineImages), its
// folded text, its attachments and, for ours, the sending state.
func (s *Server) emailThread(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	items, err := s.email.EmailThread(r.Context(), sess.User.TenantID, contact)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for i := range items {
		items[i].HTML = inlineImages(contact, items[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact_id": contact, "emails": items})
}

// cidSrc matches an image source naming a part of the message, as the
// sanitiser writes it (double quotes, the value HTML-escaped).
var cidSrc = regexp.MustCompile(`(?i)\bsrc="cid:([^"]*)"`)

// inlineImages points the cid: images of an e-mail's sanitised HTML at the
// attachment route of the same contact, which checks the tenant and the
// contact on every request and serves images sandboxed and never sniffed.
// Only kept parts of this very e-mail are named; a cid: that names none
// (or a refused part) becomes about:blank, like a remote image.
func inlineImages(contact uuid.UUID, e crm.EmailItem) string {
	if e.HTML == "" || !strings.Contains(strings.ToLower(e.HTML), "cid:") {
		return e.HTML
	}
	parts := map[string]uuid.UUID{}
	for _, a := range e.Attachments {
		if a.ContentID != "" && a.Rejected == "" {
			parts[strings.ToLower(a.ContentID)] = a.ID
		}
	}
	return cidSrc.ReplaceAllStringFunc(e.HTML, func(m string) string {
		ref := html.UnescapeString(cidSrc.FindStringSubmatch(m)[1])
		// RFC 2392: the cid URL is the Content-ID, URL-encoded.
		if u, err := url.PathUnescape(ref); err == nil {
			ref = u
		}
		id, ok := parts[strings.ToLower(strings.Trim(ref, "<>"))]
		if !ok {
			return `src="about:blank"`
		}
		return `src="/api/contacts/` + contact.String() + `/email/attachments/` + id.String() + `"`
	})
}

// emailReply answers POST /api/contacts/{id}/email/reply: the reply is
// stored in the thread and queued for sending (202); its fate arrives on
// the console as email_sent or email_failed. The same client_id again
// answers 200 with the stored reply.
func (s *Server) emailReply(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	var body struct {
		ClientID      string      `json:"client_id"`
		Text          string      `json:"text"`
		HTML          string      `json:"html"`
		Pending       bool        `json:"pending"`
		CC            []string    `json:"cc"`
		AttachmentIDs []uuid.UUID `json:"attachment_ids"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.email.QueueReply(r.Context(), sess.User.TenantID, sess.User.ID, contact,
		crm.Reply{ClientID: body.ClientID, Text: body.Text, HTML: body.HTML, SetPending: body.Pending,
			CC: body.CC, AttachmentIDs: body.AttachmentIDs})
	if errors.Is(err, crm.ErrInWrapUp) {
		s.writeError(w, r, errReplyInWrapUp)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusAccepted
	if q.Duplicate {
		status = http.StatusOK
	} else {
		s.log.InfoContext(r.Context(), "e-mail reply queued", "tenant_id", sess.User.TenantID, "contact_id", contact,
			"agent_id", sess.User.ID, "outbox_id", q.Outbox.ID)
		// The agent's other consoles show the line and its state too.
		s.publishUser(r.Context(), sess.User.TenantID, sess.User.ID, frame{"type": "email_queued", "contact_id": contact, "message": q.Message, "outbox": q.Outbox})
	}
	if body.Pending && q.Pending {
		// Also for a duplicate: the first request may have died between
		// its commit and telling routing.
		s.pendingSet(r.Context(), sess.User.TenantID, sess.User.ID, contact)
	}
	writeJSON(w, status, q)
}

// emailPending answers POST /api/contacts/{id}/email/pending: the agent
// holding the thread waits for the customer (crm.SetPending). The thread
// leaves the agent's console, routing frees the agent's e-mail slot, and
// the customer's next mail brings it back, to this agent first. Setting a
// pending thread pending again answers the same.
func (s *Server) emailPending(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	ct, err := s.email.SetPending(r.Context(), sess.User.TenantID, sess.User.ID, contact)
	if errors.Is(err, crm.ErrInWrapUp) {
		s.writeError(w, r, errPendingInWrapUp)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.pendingSet(r.Context(), sess.User.TenantID, sess.User.ID, contact)
	writeJSON(w, http.StatusOK, map[string]any{"contact_id": contact, "state": ct.State})
}

// pendingSet tells the agent's consoles that a thread is pending
// (contact_pending: its card closes), then routing, last, as closeContact
// does: the console has the frame before any offer the freed slot brings.
// A lost command leaves the slot held in the engine until its next
// rebuild, which reads no open assignment for the thread.
func (s *Server) pendingSet(ctx context.Context, tenant, agent, contact uuid.UUID) {
	s.log.InfoContext(ctx, "e-mail thread pending", "tenant_id", tenant, "contact_id", contact, "agent_id", agent)
	s.publishUser(ctx, tenant, agent, frame{"type": "contact_pending", "contact_id": contact, "state": crm.StatePending})
	if err := s.command(ctx, tenant, dispatch.Command{Kind: dispatch.CmdRelease, ContactID: contact, AgentID: agent}); err != nil {
		s.log.WarnContext(ctx, "e-mail pending: tell routing", "tenant_id", tenant, "contact_id", contact, "err", err)
	}
}

// EmailWrapUpEnded tells an agent's consoles that the customer wrote again
// to a thread the agent was wrapping up: the reopening ended the wrap-up
// (crm.EmailResult.WrapUpEnded), so the wrap-up card closes (wrap_up_ended,
// reason reopened) and the thread comes back as an offer. The e-mail
// receiver (channels/email) calls it after the commit.
func (s *Server) EmailWrapUpEnded(ctx context.Context, tenant, agent, contact uuid.UUID) {
	s.publishUser(ctx, tenant, agent, frame{"type": "wrap_up_ended", "contact_id": contact, "reason": crm.WrapUpReopened})
}

// emailRetry answers POST /api/contacts/{id}/email/outbox/{outbox}/retry:
// a reply that failed for good is queued again.
func (s *Server) emailRetry(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := uuid.Parse(chi.URLParam(r, "outbox"))
	if err != nil {
		s.writeError(w, r, errBadID)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	e, err := s.email.RetryEmail(r.Context(), sess.User.TenantID, contact, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// emailUpload answers POST /api/contacts/{id}/email/uploads?name=FILE: the
// body is the file (its Content-Type as declared, at most MaxBody bytes).
// The answer's id goes in a reply's attachment_ids.
func (s *Server) emailUpload(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct == "" || strings.HasPrefix(ct, "multipart/") {
		ct = "application/octet-stream"
	}
	info, err := s.email.StoreEmailUpload(r.Context(), sess.User.TenantID, sess.User.ID, contact, uploadName(r.URL.Query().Get("name")), ct, data)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

// uploadName keeps a file name printable and short: it goes into a mail
// header and is shown as text.
func uploadName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || r == '"' || r == '/' {
			return -1
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	if name == "." || name == "" {
		name = "file"
	}
	return name
}

// emailAttachment answers GET /api/contacts/{id}/email/attachments/{attachment}.
// A mail's attachment may be of any type: only the images a browser shows
// safely are shown inline, everything else is a download, and all of it is
// sandboxed and never sniffed (writeAttachment).
func (s *Server) emailAttachment(w http.ResponseWriter, r *http.Request) {
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
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	a, err := s.email.EmailAttachment(r.Context(), sess.User.TenantID, contact, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch a.ContentType {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
	default:
		// SVG and HTML could run script if opened inline: a download.
		a.ContentType = "application/octet-stream"
	}
	writeAttachment(w, a)
}

// sendTranscript answers POST /api/contacts/{id}/transcript {"to": …}: a
// visitor asked the agent for the chat's transcript by e-mail. It goes out
// through the e-mail outbox; asking twice for one address sends once.
func (s *Server) sendTranscript(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	var body struct {
		To string `json:"to"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.email.QueueTranscript(r.Context(), sess.User.TenantID, contact, body.To)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, e)
}

// cannedList answers GET /api/canned-responses: the active ones for
// agents; with ?all=1 an admin also sees inactive ones; with
// ?contact=ID each carries "rendered", its body with the placeholders
// filled for that contact (unknown ones left visible).
func (s *Server) cannedList(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	all := r.URL.Query().Get("all") == "1" && sess.User.Role == org.RoleAdmin
	cs, err := s.email.CannedResponses(r.Context(), sess.User.TenantID, all)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c := r.URL.Query().Get("contact"); c != "" {
		contact, err := uuid.Parse(c)
		if err != nil {
			s.writeError(w, r, errBadID)
			return
		}
		vals, err := s.email.CannedValues(r.Context(), sess.User.TenantID, sess.User.ID, contact)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for i := range cs {
			out := crm.RenderCanned(cs[i].Body, vals)
			cs[i].Rendered = &out
		}
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *Server) cannedGet(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	c, err := s.email.CannedResponse(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) cannedCreate(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	var in crm.CannedInput
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.email.CreateCanned(r.Context(), sess.User.TenantID, sess.User.ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) cannedUpdate(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	var in crm.CannedInput
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.email.UpdateCanned(r.Context(), sess.User.TenantID, id, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) cannedDelete(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.email == nil {
		s.writeError(w, r, errNoEmail)
		return
	}
	if err := s.email.DeleteCanned(r.Context(), sess.User.TenantID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
