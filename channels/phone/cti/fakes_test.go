package cti

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// call is one call the fake Hotline received.
type call struct {
	Method string // Incoming, Choose, Waiting, Handle
	Conn   uuid.UUID
	Event  phone.Event
	CallID string
	Digits string
}

// fakeHotline records what it is asked and answers route (or err).
type fakeHotline struct {
	mu    sync.Mutex
	calls []call
	route phone.Route
	err   error
}

func (h *fakeHotline) record(c call) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, c)
}

func (h *fakeHotline) Calls() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

func (h *fakeHotline) Incoming(_ context.Context, c phone.Connector, ev phone.Event) (phone.Route, error) {
	h.record(call{Method: "Incoming", Conn: c.ID, Event: ev})
	return h.route, h.err
}

func (h *fakeHotline) Choose(_ context.Context, c phone.Connector, callID, digits string) (phone.Route, error) {
	h.record(call{Method: "Choose", Conn: c.ID, CallID: callID, Digits: digits})
	return h.route, h.err
}

func (h *fakeHotline) Waiting(_ context.Context, c phone.Connector, callID string) (phone.Route, error) {
	h.record(call{Method: "Waiting", Conn: c.ID, CallID: callID})
	return h.route, h.err
}

func (h *fakeHotline) Handle(_ context.Context, c phone.Connector, ev phone.Event) error {
	h.record(call{Method: "Handle", Conn: c.ID, Event: ev})
	return h.err
}

// fakeConnectors answers both look-ups from a list (by id) and tokens (URL
// token → connector id: as org keeps Zammad tokens apart from secrets);
// err, when set, is returned for every look-up (a store that is down).
type fakeConnectors struct {
	list    []phone.Connector
	tokens  map[string]uuid.UUID
	err     error
	lookups int
}

func (f *fakeConnectors) Connector(_ context.Context, id uuid.UUID) (phone.Connector, error) {
	f.lookups++
	if f.err != nil {
		return phone.Connector{}, f.err
	}
	return f.byID(id)
}

func (f *fakeConnectors) byID(id uuid.UUID) (phone.Connector, error) {
	for _, c := range f.list {
		if c.ID == id {
			return c, nil
		}
	}
	return phone.Connector{}, ErrNoConnector
}

func (f *fakeConnectors) ConnectorByToken(_ context.Context, token string) (phone.Connector, error) {
	f.lookups++
	if f.err != nil {
		return phone.Connector{}, f.err
	}
	id, ok := f.tokens[token]
	if !ok {
		return phone.Connector{}, ErrNoConnector
	}
	return f.byID(id)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
