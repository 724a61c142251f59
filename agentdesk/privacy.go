package agentdesk

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// Privacy is what the desk needs of crm to show customers as the viewer may
// see them: scoped and masked screen-pops, visibility checks, audited full
// views, ownership and sharing. crm.Store implements it.
type Privacy interface {
	// ScreenPopFor is the screen-pop as viewer may see it: identities
	// masked, a customer outside their scope restricted.
	ScreenPopFor(ctx context.Context, tenant, contact, viewer uuid.UUID) (crm.ScreenPop, error)
	ScopeFor(ctx context.Context, tenant, user uuid.UUID, role org.Role, userSite uuid.UUID) (crm.Scope, error)
	VisibleTo(ctx context.Context, tenant uuid.UUID, scope crm.Scope, customer uuid.UUID) error
	Reveal(ctx context.Context, tenant, actor uuid.UUID, role org.Role, scope crm.Scope, customer uuid.UUID) ([]crm.Identity, error)
	// AuditCallbackDial records the full view of the number the agent
	// holding a callback attempt dials.
	AuditCallbackDial(ctx context.Context, tenant, agent, contact uuid.UUID) error
	SetOwner(ctx context.Context, tenant, actor uuid.UUID, actorRole org.Role, customer, owner uuid.UUID) (uuid.UUID, error)
	ShareCustomer(ctx context.Context, tenant, actor uuid.UUID, actorRole org.Role, customer, site, team uuid.UUID) (crm.Share, error)
	// UnshareCustomer withdraws one share (admins: privacy_admin.go).
	UnshareCustomer(ctx context.Context, tenant, actor, customer, share uuid.UUID) error
}

// customerID parses the route's {id}.
func customerID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, errBadID
	}
	return id, nil
}

// decodeOptionalJSON decodes a body when there is one (strictly, like
// decodeJSON); an empty body leaves v as it is.
func decodeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decodeJSON(r, v)
}

// revealCustomer: POST /api/customers/{id}/reveal returns the customer's
// identities in full to a role at or above the tenant's reveal_role
// (default supervisor; others get 403) and audits the view (who, when,
// which customer; never the values). A customer outside the caller's scope
// is 404. The answer must not be cached.
func (s *Server) revealCustomer(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeOptionalJSON(r, &struct{}{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	sc, err := s.scopeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ids, err := s.contacts.Reveal(r.Context(), sess.User.TenantID, sess.User.ID, sess.User.Role, sc, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ids == nil {
		ids = []crm.Identity{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"customer_id": id, "identities": ids})
}

// setCustomerOwner: POST /api/customers/{id}/owner {"owner_id": id|null}.
// An agent may claim an unowned customer (owner_id: themselves) or release
// their own (null); supervisors and admins set anyone (crm.SetOwner). The
// field is required: an empty object does not release by accident.
func (s *Server) setCustomerOwner(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		OwnerID json.RawMessage `json:"owner_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(body.OwnerID) == 0 {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "owner_id is required (null releases the customer)"})
		return
	}
	var owner *uuid.UUID
	if err := json.Unmarshal(body.OwnerID, &owner); err != nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "owner_id must be a user id or null"})
		return
	}
	if _, err := s.requireVisible(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	to := uuid.Nil
	if owner != nil {
		to = *owner
	}
	prev, err := s.contacts.SetOwner(r.Context(), sess.User.TenantID, sess.User.ID, sess.User.Role, id, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer_id": id, "owner_id": owner, "previous_owner_id": nullID(prev)})
}

// shareCustomer: POST /api/customers/{id}/shares {"site_id": id} or
// {"team_id": id} makes the customer visible to that site or team beyond
// its site of record. The owner, supervisors and admins may (crm). Sharing
// again answers the existing share.
func (s *Server) shareCustomer(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		SiteID uuid.UUID `json:"site_id"`
		TeamID uuid.UUID `json:"team_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.requireVisible(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	sh, err := s.contacts.ShareCustomer(r.Context(), sess.User.TenantID, sess.User.ID, sess.User.Role, id, body.SiteID, body.TeamID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sh)
}
