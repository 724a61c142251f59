package agentdesk

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// What people see of customers. Every response that returns identities to
// a person (a session, not an API key: systems that feed the CRM get their
// own data back in full) masks them with maskedIdentities, and every read
// of one customer asks requireVisible first, so that a customer outside the
// viewer's scope (another site's, under the tenant's 'site' visibility) is
// 404, exactly like a missing one. Full values go only through
// POST /api/customers/{id}/reveal, which crm audits.

// scopeOf is what the request's user may see of their tenant's customers.
func (s *Server) scopeOf(r *http.Request) (crm.Scope, error) {
	sess, _ := sessionFrom(r.Context())
	return s.contacts.ScopeFor(r.Context(), sess.User.TenantID, sess.User.ID, sess.User.Role, sess.User.SiteID)
}

// requireVisible returns the request user's scope when they may see
// customer, and crm.ErrNotFound (404) when they may not or it does not
// exist in their tenant.
func (s *Server) requireVisible(r *http.Request, customer uuid.UUID) (crm.Scope, error) {
	sc, err := s.scopeOf(r)
	if err != nil {
		return crm.Scope{}, err
	}
	sess, _ := sessionFrom(r.Context())
	if err := s.contacts.VisibleTo(r.Context(), sess.User.TenantID, sc, customer); err != nil {
		return crm.Scope{}, err
	}
	return sc, nil
}

// maskedIdentities is ids as a person may see them (138****8000,
// w***@example.cn). Never nil, so that JSON shows [].
func maskedIdentities(ids []crm.Identity) []crm.Identity { return crm.MaskIdentities(ids) }

// viewContact blanks what a contact frame says of a customer outside the
// viewer's scope: its name on the contact and on the customer's lines.
// The agent still works the contact (routing does not know visibility),
// seeing the conversation but not who the customer is.
func viewContact(pop crm.ScreenPop, ct *crm.Contact, msgs []crm.Message) {
	if pop.Customer == nil || !pop.Customer.Restricted {
		return
	}
	ct.CustomerName = ""
	for i := range msgs {
		if msgs[i].AuthorKind == "customer" {
			msgs[i].AuthorName = ""
		}
	}
}
