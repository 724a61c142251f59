package agentdesk

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// PrivacyAdmin is what the desk needs of org to let admins set who sees
// customers (the tenant's visibility and reveal role) and the teams that
// customers can be shared with. org.Store implements it; every write is
// audited in its transaction.
type PrivacyAdmin interface {
	PrivacySettings(ctx context.Context, tenant uuid.UUID) (org.PrivacySettings, error)
	SetPrivacySettings(ctx context.Context, tenant, actor uuid.UUID, in org.PrivacyUpdate) (org.PrivacySettings, error)
	Teams(ctx context.Context, tenant uuid.UUID) ([]org.Team, error)
	CreateTeam(ctx context.Context, tenant, actor uuid.UUID, in org.TeamSettings) (org.Team, error)
	UpdateTeam(ctx context.Context, tenant, id, actor uuid.UUID, in org.TeamSettings) (org.Team, error)
	DeleteTeam(ctx context.Context, tenant, id, actor uuid.UUID) error
	AddTeamMember(ctx context.Context, tenant, team, user, actor uuid.UUID) (org.Team, error)
	RemoveTeamMember(ctx context.Context, tenant, team, user, actor uuid.UUID) (org.Team, error)
}

var errNoPrivacyAdmin = &deskError{http.StatusServiceUnavailable, "unavailable", "privacy settings and teams are not available on this server"}

// privacyAdmin returns the admin store, or answers 503 and false.
func (s *Server) privacyAdminOr503(w http.ResponseWriter, r *http.Request) (PrivacyAdmin, bool) {
	if s.privacyAdmin == nil {
		s.writeError(w, r, errNoPrivacyAdmin)
		return nil, false
	}
	return s.privacyAdmin, true
}

// privacySettings: GET /api/settings/privacy.
func (s *Server) privacySettings(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	p, err := pa.PrivacySettings(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// setPrivacySettings: PATCH /api/settings/privacy {"customer_visibility":
// "group"|"site", "reveal_role": "agent"|"supervisor"|"admin"}; fields
// left out stay.
func (s *Server) setPrivacySettings(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	var body struct {
		CustomerVisibility *string   `json:"customer_visibility"`
		RevealRole         *org.Role `json:"reveal_role"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := pa.SetPrivacySettings(r.Context(), sess.User.TenantID, sess.User.ID,
		org.PrivacyUpdate{CustomerVisibility: body.CustomerVisibility, RevealRole: body.RevealRole})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "privacy settings changed", "tenant_id", sess.User.TenantID, "user_id", sess.User.ID,
		"customer_visibility", p.CustomerVisibility, "reveal_role", p.RevealRole)
	writeJSON(w, http.StatusOK, p)
}

// teamBody is a POST or PATCH body of a team: site_id null means no site.
type teamBody struct {
	Name   *string         `json:"name"`
	SiteID json.RawMessage `json:"site_id"`
}

func (b teamBody) settings() (org.TeamSettings, error) {
	in := org.TeamSettings{Name: b.Name}
	if len(b.SiteID) > 0 {
		var site *uuid.UUID
		if err := json.Unmarshal(b.SiteID, &site); err != nil {
			return org.TeamSettings{}, &deskError{http.StatusBadRequest, "bad_json", "site_id must be a site's id or null"}
		}
		id := uuid.Nil
		if site != nil {
			id = *site
		}
		in.SiteID = &id
	}
	return in, nil
}

// listTeams: GET /api/teams, with members.
func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	teams, err := pa.Teams(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if teams == nil {
		teams = []org.Team{}
	}
	writeJSON(w, http.StatusOK, teams)
}

// createTeam: POST /api/teams {"name": …, "site_id": …|null} answers 201.
func (s *Server) createTeam(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	var body teamBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := body.settings()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := pa.CreateTeam(r.Context(), sess.User.TenantID, sess.User.ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "team created", "tenant_id", sess.User.TenantID, "team_id", t.ID, "user_id", sess.User.ID)
	writeJSON(w, http.StatusCreated, t)
}

// updateTeam: PATCH /api/teams/{id}; fields left out stay.
func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body teamBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := body.settings()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := pa.UpdateTeam(r.Context(), sess.User.TenantID, id, sess.User.ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "team updated", "tenant_id", sess.User.TenantID, "team_id", id, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, t)
}

// deleteTeam: DELETE /api/teams/{id} removes the team, its memberships and
// the shares made with it; 204.
func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := pa.DeleteTeam(r.Context(), sess.User.TenantID, id, sess.User.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "team deleted", "tenant_id", sess.User.TenantID, "team_id", id, "user_id", sess.User.ID)
	w.WriteHeader(http.StatusNoContent)
}

// putTeamMember: PUT /api/teams/{id}/members/{user} adds the user (again:
// no change) and answers the team; deleteTeamMember: DELETE takes them
// out (404 when not a member).
func (s *Server) putTeamMember(w http.ResponseWriter, r *http.Request) {
	s.changeTeamMember(w, r, true)
}

func (s *Server) deleteTeamMember(w http.ResponseWriter, r *http.Request) {
	s.changeTeamMember(w, r, false)
}

func (s *Server) changeTeamMember(w http.ResponseWriter, r *http.Request, add bool) {
	sess, _ := sessionFrom(r.Context())
	pa, ok := s.privacyAdminOr503(w, r)
	if !ok {
		return
	}
	team, err := pathID(r, "id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := pathID(r, "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeOptionalJSON(r, &struct{}{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	change := pa.RemoveTeamMember
	if add {
		change = pa.AddTeamMember
	}
	t, err := change(r.Context(), sess.User.TenantID, team, user, sess.User.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "team members changed", "tenant_id", sess.User.TenantID, "team_id", team,
		"member_id", user, "added", add, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, t)
}

// unshareCustomer: DELETE /api/customers/{id}/shares/{share} withdraws one
// share of the customer (crm audits it); 204.
func (s *Server) unshareCustomer(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	share, err := pathID(r, "share")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.contacts.UnshareCustomer(r.Context(), sess.User.TenantID, sess.User.ID, id, share); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "customer unshared", "tenant_id", sess.User.TenantID, "customer_id", id,
		"share_id", share, "user_id", sess.User.ID)
	w.WriteHeader(http.StatusNoContent)
}
