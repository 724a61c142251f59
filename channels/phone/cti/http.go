package cti

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// MaxBody is the largest request body either endpoint reads. Call events
// are a few hundred bytes; anything near this is not one.
const MaxBody = 64 << 10

// apiError is an error this package answers the telephony with: its status,
// a stable code, and a message that is safe to show (it never holds the
// secret, the body, or a number from it).
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(code, msg string) *apiError {
	return &apiError{http.StatusBadRequest, code, msg}
}

var (
	errTooLarge = &apiError{http.StatusRequestEntityTooLarge, "too_large", "request body over 64 KiB"}
	errInternal = &apiError{http.StatusInternalServerError, "internal", "internal error; send the event again"}
)

// ErrNoConnector is what a connector look-up returns when there is no such
// connector (cmd's adapter maps org.ErrNotFound onto it). The
// telephony gets 404 on the generic webhook and 403 on Zammad's.
var ErrNoConnector = errors.New("cti: no such connector")

// classify maps an error to its status, code and safe message: the one
// place that knows the mapping. Anything unknown is 500: the PBX retries,
// and events are idempotent.
func classify(err error) (int, string, string) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code, ae.msg
	case errors.As(err, &mbe):
		return errTooLarge.status, errTooLarge.code, errTooLarge.msg
	case errors.Is(err, phone.ErrUnknownCall):
		return http.StatusNotFound, "unknown_call", "no new call was recorded with this call id on this connector"
	case errors.Is(err, phone.ErrNoNumber):
		return http.StatusUnprocessableEntity, "number_not_configured", "the dialled number (to) is not on this connector's hotline"
	case errors.Is(err, phone.ErrInvalid):
		return http.StatusBadRequest, "invalid", "the call event is incomplete"
	}
	return errInternal.status, errInternal.code, errInternal.msg
}

// readBody reads the whole body, at most MaxBody bytes: the signature
// covers the exact bytes, so they are read before anything is decoded.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge
	} else if err != nil {
		return nil, badRequest("bad_body", "could not read the request body")
	}
	return b, nil
}

// logRefusal logs a request that was not answered 2xx, once, with ids
// only: never the body, the numbers in it, the token or the secret. 5xx
// are errors with their cause; 403 warnings with the reason (our own
// words); other refusals are the PBX's bad input, at info.
func logRefusal(ctx context.Context, log *slog.Logger, what string, c phone.Connector, err error) {
	status, code, msg := classify(err)
	attrs := []any{"status", status, "code", code}
	if c.ID != uuid.Nil {
		attrs = append(attrs, "connector_id", c.ID, "tenant_id", c.TenantID)
	}
	switch {
	case status >= 500:
		log.ErrorContext(ctx, what+" failed", append(attrs, "err", err)...)
	case status == http.StatusForbidden:
		log.WarnContext(ctx, what+" refused", append(attrs, "reason", msg)...)
	default:
		log.InfoContext(ctx, what+" refused", attrs...)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
