package agentdesk

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// APIKeys is what the desk needs of org to let systems (a DMS, an ERP) in
// with API keys and to let admins manage them. org.Store implements it.
type APIKeys interface {
	VerifyAPIKey(ctx context.Context, token string) (org.APIKey, error)
	CreateAPIKey(ctx context.Context, tenant, actor uuid.UUID, name, role string, scopes ...string) (org.APIKey, string, error)
	APIKeys(ctx context.Context, tenant uuid.UUID) ([]org.APIKey, error)
	RevokeAPIKey(ctx context.Context, tenant, actor, id uuid.UUID) (org.APIKey, error)
}

var (
	errBadKey      = &deskError{http.StatusUnauthorized, "bad_api_key", "unknown, revoked or malformed API key"}
	errReadOnlyKey = &deskError{http.StatusForbidden, "forbidden", "this API key may only read"}
	errNoTimeline  = &deskError{http.StatusForbidden, "forbidden", `this API key may not read timelines (it needs the "timeline" scope)`}
	errNoRecords   = &deskError{http.StatusServiceUnavailable, "unavailable", "the CRM API is not available on this server"}
)

const callerKey ctxKey = 100 // distinct from sessionKey's iota values

// caller is who makes a CRM API request: a person with a session or a
// system with an API key. Both act within one tenant.
type caller struct {
	tenant uuid.UUID
	// user is the session's user, or the user who created the API key (the
	// audit's actor for changes a system makes).
	user uuid.UUID
	// key is the API key's id; uuid.Nil for a session.
	key uuid.UUID
	// scopes are the API key's (org.ScopeTimeline); none for a session,
	// whose role decides.
	scopes []string
	sess   session
}

func (c caller) viaKey() bool { return c.key != uuid.Nil }

// hasScope tells whether the caller's API key has scope; a session has
// none (its role decides what it may do).
func (c caller) hasScope(scope string) bool {
	for _, s := range c.scopes {
		if s == scope {
			return true
		}
	}
	return false
}

func callerOf(r *http.Request) caller {
	if c, ok := r.Context().Value(callerKey).(caller); ok {
		return c
	}
	sess, _ := sessionFrom(r.Context())
	return caller{tenant: sess.User.TenantID, user: sess.User.ID, sess: sess}
}

// scope is what the caller may see of the tenant's customers: a session's
// user as crm.ScopeFor says, a system the whole tenant (it feeds the CRM,
// and its key was issued by an admin for the group).
func (s *Server) scope(r *http.Request, c caller) (crm.Scope, error) {
	if c.viaKey() {
		return crm.Scope{AllSites: true}, nil
	}
	u := c.sess.User
	return s.contacts.ScopeFor(r.Context(), u.TenantID, u.ID, u.Role, u.SiteID)
}

// mayView answers crm.ErrNotFound (404) when the caller may not see
// customer, as for a missing one.
func (s *Server) mayView(r *http.Request, c caller, customer uuid.UUID) error {
	sc, err := s.scope(r, c)
	if err != nil {
		return err
	}
	return s.contacts.VisibleTo(r.Context(), c.tenant, sc, customer)
}

// crmAuth lets in people with a session whose role allows need (with the
// same-origin and CSRF checks as every session route), and systems with an
// API key: "Authorization: Bearer sbk_…". Key requests carry no cookies, so
// CSRF does not apply to them; a session's request never skips it, because
// only a request with an Authorization header takes the key path, and a
// browser never adds one on its own. A read key may only GET.
func (s *Server) crmAuth(need org.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		viaSession := s.requireRole(need)(s.sameOrigin(s.requireCSRF(next)))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			if h == "" {
				viaSession.ServeHTTP(w, r)
				return
			}
			if s.keys == nil {
				s.writeError(w, r, errBadKey)
				return
			}
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				s.writeError(w, r, errBadKey)
				return
			}
			k, err := s.keys.VerifyAPIKey(r.Context(), strings.TrimSpace(token))
			if errors.Is(err, org.ErrNoKey) {
				s.log.InfoContext(r.Context(), "api key refused", "remote", clientIP(r))
				s.writeError(w, r, errBadKey)
				return
			} else if err != nil {
				s.writeError(w, r, err)
				return
			}
			if k.Role != org.KeyWrite && r.Method != http.MethodGet && r.Method != http.MethodHead {
				s.writeError(w, r, errReadOnlyKey)
				return
			}
			c := caller{tenant: k.TenantID, user: k.CreatedBy, key: k.ID, scopes: k.Scopes}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)))
		})
	}
}

// createAPIKey makes a key and shows its token this once.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.keys == nil {
		s.writeError(w, r, errNoRecords)
		return
	}
	var body struct {
		Name   string   `json:"name"`
		Role   string   `json:"role"`
		Scopes []string `json:"scopes"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	k, token, err := s.keys.CreateAPIKey(r.Context(), sess.User.TenantID, sess.User.ID, body.Name, body.Role, body.Scopes...)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api key created", "tenant_id", sess.User.TenantID, "api_key_id", k.ID, "user_id", sess.User.ID)
	writeJSON(w, http.StatusCreated, struct {
		org.APIKey
		Token string `json:"token"`
	}{k, token})
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.keys == nil {
		s.writeError(w, r, errNoRecords)
		return
	}
	ks, err := s.keys.APIKeys(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ks == nil {
		ks = []org.APIKey{}
	}
	writeJSON(w, http.StatusOK, ks)
}

// revokeAPIKey ends a key at once: its next request is 401.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.keys == nil {
		s.writeError(w, r, errNoRecords)
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	k, err := s.keys.RevokeAPIKey(r.Context(), sess.User.TenantID, sess.User.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api key revoked", "tenant_id", sess.User.TenantID, "api_key_id", k.ID, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, k)
}
