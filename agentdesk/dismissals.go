package agentdesk

import (
	"net/http"

	"github.com/google/uuid"
)

// dismissDuplicate: POST /api/customers/{id}/duplicates/dismiss
// {"other_id", "reason"}: an agent or supervisor who knows the two are not
// one person takes the pair out of the duplicate suggestions (both sides'
// lists and the tenant's) until an identity of either changes. Both
// customers must be visible to the caller (else 404, as missing ones);
// crm audits it.
func (s *Server) dismissDuplicate(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if s.records == nil {
		s.writeError(w, r, errNoRecords)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		OtherID uuid.UUID `json:"other_id"`
		Reason  string    `json:"reason"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.OtherID == uuid.Nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "other_id is required"})
		return
	}
	for _, cu := range []uuid.UUID{id, body.OtherID} {
		if err := s.mayView(r, c, cu); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := s.records.DismissDuplicate(r.Context(), c.tenant, c.user, id, body.OtherID, body.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "duplicate suggestion dismissed", "tenant_id", c.tenant, "user_id", c.user,
		"customer_id", id, "other_id", body.OtherID)
	w.WriteHeader(http.StatusNoContent)
}
