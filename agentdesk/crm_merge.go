package agentdesk

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Merges is what the desk needs of crm to find and merge duplicates, undo
// a merge, and work the recycle bin. crm.Store implements it.
type Merges interface {
	Duplicates(ctx context.Context, tenant, customer uuid.UUID) ([]crm.Duplicate, error)
	DuplicateSuggestions(ctx context.Context, tenant uuid.UUID, limit int) ([]crm.DuplicatePair, error)
	Merge(ctx context.Context, tenant, actor, survivor uuid.UUID, others []uuid.UUID, reason string) (crm.MergeRecord, error)
	UndoMerge(ctx context.Context, tenant, actor, merge uuid.UUID) (crm.MergeRecord, error)
	Delete(ctx context.Context, tenant, actor, customer uuid.UUID) error
	Restore(ctx context.Context, tenant, actor, customer uuid.UUID) error
	RecycleBin(ctx context.Context, tenant uuid.UUID, before time.Time, limit int) ([]crm.BinEntry, error)
	ChooseCustomer(ctx context.Context, tenant, agent, contact, customer uuid.UUID) (crm.Contact, error)
}

// visibleCustomers keeps the ids the caller may see: the others are
// dropped, as if they did not exist.
func (s *Server) visible(r *http.Request, scope crm.Scope, ids ...uuid.UUID) bool {
	tenant := mustSession(r).User.TenantID
	for _, id := range ids {
		if s.contacts.VisibleTo(r.Context(), tenant, scope, id) != nil {
			return false
		}
	}
	return true
}

func mustSession(r *http.Request) session {
	sess, _ := sessionFrom(r.Context())
	return sess
}

// customerDuplicates: GET /api/customers/{id}/duplicates, the customers
// that may be the same person, best first, with their reasons; only those
// the caller may see.
func (s *Server) customerDuplicates(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	scope, err := s.scopeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.contacts.VisibleTo(r.Context(), sess.User.TenantID, scope, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	ds, err := s.contacts.Duplicates(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []crm.Duplicate{}
	for _, d := range ds {
		if s.visible(r, scope, d.CustomerID) {
			out = append(out, d)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// duplicateSuggestions: GET /api/duplicates?limit=50, the tenant's likeliest
// duplicate pairs that the supervisor may see both sides of.
func (s *Server) duplicateSuggestions(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "limit must be 1 to 500"})
			return
		}
		limit = n
	}
	scope, err := s.scopeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ps, err := s.contacts.DuplicateSuggestions(r.Context(), sess.User.TenantID, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []crm.DuplicatePair{}
	for _, p := range ps {
		if scope.AllSites || s.visible(r, scope, p.A.CustomerID, p.B.CustomerID) {
			out = append(out, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// mergeCustomers: POST /api/customers/{id}/merge {others, reason} merges
// others into the customer in the path.
func (s *Server) mergeCustomers(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Others []uuid.UUID `json:"others"`
		Reason string      `json:"reason"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	scope, err := s.scopeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.visible(r, scope, append([]uuid.UUID{id}, body.Others...)...) {
		s.writeError(w, r, crm.ErrNotFound)
		return
	}
	rec, err := s.contacts.Merge(r.Context(), sess.User.TenantID, sess.User.ID, id, body.Others, body.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "customers merged", "by", sess.User.ID, "merge_id", rec.ID, "survivor_id", id, "merged", len(body.Others))
	writeJSON(w, http.StatusCreated, rec)
}

// undoMerge: POST /api/merges/{id}/undo; 409 when a later change conflicts.
func (s *Server) undoMerge(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, err := s.contacts.UndoMerge(r.Context(), sess.User.TenantID, sess.User.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "merge undone", "by", sess.User.ID, "merge_id", id)
	writeJSON(w, http.StatusOK, rec)
}

// deleteCustomer: DELETE /api/customers/{id} moves the customer to the
// recycle bin.
func (s *Server) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	scope, err := s.scopeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.contacts.VisibleTo(r.Context(), sess.User.TenantID, scope, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.contacts.Delete(r.Context(), sess.User.TenantID, sess.User.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "customer deleted", "by", sess.User.ID, "customer_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// restoreCustomer: POST /api/customers/{id}/restore takes the customer out
// of the recycle bin; 409 for a merged (undo the merge) or purged one.
func (s *Server) restoreCustomer(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	id, err := customerID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.contacts.Restore(r.Context(), sess.User.TenantID, sess.User.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "customer restored", "by", sess.User.ID, "customer_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// recycleBin: GET /api/recycle-bin?before=RFC3339&limit=50, deleted
// customers awaiting the purge, most recently deleted first.
func (s *Server) recycleBin(w http.ResponseWriter, r *http.Request) {
	sess := mustSession(r)
	var before time.Time
	if b := r.URL.Query().Get("before"); b != "" {
		t, err := time.Parse(time.RFC3339Nano, b)
		if err != nil {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "before must be an RFC 3339 time"})
			return
		}
		before = t
	}
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "limit must be 1 to 200"})
			return
		}
		limit = n
	}
	bin, err := s.contacts.RecycleBin(r.Context(), sess.User.TenantID, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if bin == nil {
		bin = []crm.BinEntry{}
	}
	writeJSON(w, http.StatusOK, bin)
}
