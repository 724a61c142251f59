package agentdesk

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// deskError is an error the desk itself raises, with its status and code.
type deskError struct {
	status int
	code   string
	msg    string
}

func (e *deskError) Error() string { return e.msg }

var (
	errUnauthenticated = &deskError{http.StatusUnauthorized, "unauthenticated", "log in first"}
	errForbidden       = &deskError{http.StatusForbidden, "forbidden", "your role does not allow this"}
	errCrossOrigin     = &deskError{http.StatusForbidden, "cross_origin", "cross-origin request refused"}
	errCSRF            = &deskError{http.StatusForbidden, "csrf", "missing or wrong CSRF token"}
	errTooLarge        = &deskError{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
	errRateLimited     = &deskError{http.StatusTooManyRequests, "rate_limited", "too many requests; slow down"}
	errBadID           = &deskError{http.StatusBadRequest, "bad_id", "malformed id"}
)

// classify maps any error to its HTTP status, a stable code for clients and
// a message safe to show. This is the one place that knows the mapping.
func classify(err error) (int, string, string) {
	var de *deskError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &de):
		return de.status, de.code, de.msg
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "too_large", "request body too large"
	case errors.Is(err, crm.ErrNotFound), errors.Is(err, org.ErrNotFound):
		return http.StatusNotFound, "not_found", "no such record"
	case errors.Is(err, crm.ErrNotHeld):
		return http.StatusConflict, "not_held", "you do not hold this contact"
	case errors.Is(err, crm.ErrNotQueued):
		return http.StatusConflict, "not_queued", "the contact is no longer waiting"
	case errors.Is(err, crm.ErrClosed):
		return http.StatusConflict, "closed", "the conversation has ended"
	case errors.Is(err, crm.ErrConflict):
		return http.StatusConflict, "conflict", "the record changed since; nothing was done"
	case errors.Is(err, crm.ErrForbidden):
		return http.StatusForbidden, "forbidden", "your role does not allow this"
	case errors.Is(err, crm.ErrInvalid), errors.Is(err, org.ErrInvalid):
		return http.StatusBadRequest, "invalid", err.Error()
	case errors.Is(err, org.ErrBadCredentials):
		return http.StatusUnauthorized, "bad_credentials", err.Error()
	}
	return http.StatusInternalServerError, "internal", "internal error"
}

// writeError answers with the error's status: JSON for the API, plain text
// otherwise. Internal errors are logged with ids only; the client gets no detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", routePattern(r), "err", err)
	}
	if wantsHTML(r) && r.URL.Path != "/" {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}
