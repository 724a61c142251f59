// Package dbid maps ids between Go and SQL: new ids are UUIDv7 (time-ordered,
// so indexes stay compact), and uuid.Nil stands for SQL NULL. It is plumbing
// and imports nothing of ours.
package dbid

import "github.com/google/uuid"

// New returns a fresh UUIDv7.
func New() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// Null maps uuid.Nil, "none", to SQL NULL.
func Null(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// Deref maps SQL NULL back to uuid.Nil.
func Deref(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}
