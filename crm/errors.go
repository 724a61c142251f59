package crm

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrNotFound: no such row for this tenant. Another tenant's id is not found too.
	ErrNotFound = errors.New("not found")
	// ErrNotHeld: the agent holds no open assignment on the contact.
	ErrNotHeld = errors.New("contact not held by this agent")
	// ErrNotQueued: the contact is no longer waiting (taken, closed or abandoned).
	ErrNotQueued = errors.New("contact not queued")
	// ErrFenced: the routing lease moved on; the caller's epoch is stale.
	ErrFenced = errors.New("routing lease epoch is stale")
	// ErrClosed: the contact is closed or abandoned and takes no more messages.
	ErrClosed = errors.New("contact closed")
	// ErrInvalid: a value the caller passed is not acceptable.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the actor's role does not allow this (taking over
	// another user's customer, seeing full numbers under the tenant's
	// reveal role).
	ErrForbidden = errors.New("not allowed for this role")
	// ErrConflict: the change contradicts the record's current state, e.g.
	// undoing a merge whose moved rows changed since, or restoring a
	// customer that was merged or purged.
	ErrConflict = errors.New("conflict")
)

// SQLSTATE codes that crm maps to its own errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeInvalidText         = "22P02"
)

// pgError returns the PostgreSQL error in err's chain, or nil.
func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// pgCode is err's SQLSTATE, or "" when err did not come from the server.
func pgCode(err error) string {
	if pe := pgError(err); pe != nil {
		return pe.Code
	}
	return ""
}
