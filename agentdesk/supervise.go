package agentdesk

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// decodeJSON reads a small JSON body strictly: unknown fields, trailing
// data and wrong types are a 400 with the reason.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err // MaxBytesError maps to 413
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &deskError{http.StatusBadRequest, "bad_json", "request body: " + err.Error()}
	}
	if dec.More() {
		return &deskError{http.StatusBadRequest, "bad_json", "request body: trailing data"}
	}
	return nil
}

func urlID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, errBadID
	}
	return id, nil
}

// forcePresence sets an agent's presence for them (a supervisor sending an
// agent on a break, or back to work). The agent's consoles are told.
func (s *Server) forcePresence(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	agent, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.accounts.ForcePresence(r.Context(), sess.User.TenantID, agent, sess.User.ID, org.Presence(body.State), body.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.command(r.Context(), sess.User.TenantID, dispatch.Command{Kind: dispatch.CmdPresence, AgentID: agent}); err != nil {
		s.log.WarnContext(r.Context(), "force presence: tell routing", "agent_id", agent, "err", err)
	}
	s.publishUser(r.Context(), sess.User.TenantID, agent, frame{"type": "presence", "state": a.Presence, "reason": a.Reason})
	s.log.InfoContext(r.Context(), "presence forced", "by", sess.User.ID, "agent_id", agent, "state", a.Presence)
	writeJSON(w, http.StatusOK, map[string]any{"agent_id": a.ID, "state": a.Presence, "reason": a.Reason})
}

// moveContact moves a waiting contact to another queue; it keeps its age.
func (s *Server) moveContact(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		QueueID uuid.UUID `json:"queue_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.QueueID == uuid.Nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "queue_id is required"})
		return
	}
	c, err := s.contacts.MoveQueued(r.Context(), sess.User.TenantID, contact, body.QueueID, sess.User.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Routing drops its copy (and any open offer) and reads the queue anew.
	if err := s.command(r.Context(), sess.User.TenantID, dispatch.Command{Kind: dispatch.CmdCancel, ContactID: contact, Requeue: true}); err != nil {
		s.log.WarnContext(r.Context(), "move contact: tell routing", "contact_id", contact, "err", err)
	}
	s.log.InfoContext(r.Context(), "contact moved", "by", sess.User.ID, "contact_id", contact, "queue_id", body.QueueID)
	writeJSON(w, http.StatusOK, map[string]any{"contact_id": c.ID, "queue_id": c.QueueID, "queue_name": c.QueueName, "state": c.State})
}
