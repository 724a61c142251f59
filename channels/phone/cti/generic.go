package cti

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// Connectors finds a generic connector by the id in its webhook URL. A
// missing one is ErrNoConnector.
type Connectors interface {
	Connector(ctx context.Context, id uuid.UUID) (phone.Connector, error)
}

// ConnectorParam is the chi URL parameter of the generic webhook's route
// that holds the connector id: POST /phone/cti/{connector}.
const ConnectorParam = "connector"

// Request is the generic webhook's body. Unknown fields are refused, so a
// typo in a PBX script fails loudly instead of dropping a value.
type Request struct {
	Event string `json:"event"`
	// CallID is the PBX's id of the call, the same on every event of it.
	CallID string `json:"call_id"`
	// EventID is optional: the PBX's id of this event. Without it one is
	// derived from call_id, event, extension, target, digits,
	// recording_url and at, so a retry is recognised as a repeat.
	EventID      string `json:"event_id,omitempty"`
	From         string `json:"from,omitempty"`
	To           string `json:"to,omitempty"`
	Direction    string `json:"direction,omitempty"`
	Extension    string `json:"extension,omitempty"`
	Cause        string `json:"cause,omitempty"`
	Target       string `json:"target,omitempty"`
	RecordingURL string `json:"recording_url,omitempty"`
	Digits       string `json:"digits,omitempty"`
	At           string `json:"at,omitempty"` // RFC 3339
}

// RouteResponse is the answer to new_call, digits and waiting: what the
// PBX plays to the caller and where the caller waits.
type RouteResponse struct {
	Action      string       `json:"action"` // menu, queue, closed, hangup
	ContactID   string       `json:"contact_id,omitempty"`
	Language    string       `json:"language,omitempty"`
	Say         []string     `json:"say"`
	Menu        []MenuChoice `json:"menu"`
	Queue       string       `json:"queue,omitempty"`
	Position    int          `json:"position,omitempty"`
	WaitSeconds int          `json:"wait_seconds,omitempty"`
	Voicemail   bool         `json:"voicemail"`
}

// MenuChoice is one option of the menu the PBX plays.
type MenuChoice struct {
	Digit string `json:"digit"`
	Label string `json:"label"`
}

// op is which Hotline method an event goes to.
type op int

const (
	opHandle   op = iota // Handle: recorded, answered {"ok":true}
	opIncoming           // Incoming: answered with the Route
	opChoose             // Choose: answered with the Route
	opWaiting            // Waiting: answered with the Route; no event
)

// genericEvents maps the API's event names to call event kinds.
var genericEvents = map[string]phone.Kind{
	"new_call":  phone.Ringing,
	"ringing":   phone.Offered,
	"queued":    phone.Queued,
	"answer":    phone.Answered,
	"hold":      phone.Held,
	"unhold":    phone.Unheld,
	"transfer":  phone.Transferred,
	"hangup":    phone.Ended,
	"recording": phone.Recording,
	"digits":    phone.Digits,
	"waiting":   "",
}

const genericEventList = "new_call, ringing, queued, answer, hold, unhold, transfer, hangup, recording, digits, waiting"

// Webhook is the generic CTI webhook: POST /phone/cti/{connector}.
type Webhook struct {
	conns   Connectors
	hotline phone.Hotline
	log     *slog.Logger
	now     func() time.Time
}

// NewWebhook returns the generic webhook's handler. Mount it on
// POST /phone/cti/{connector} (ConnectorParam), outside session, CSRF and
// origin checks: the signature authenticates the PBX.
func NewWebhook(conns Connectors, h phone.Hotline, log *slog.Logger) *Webhook {
	return &Webhook{conns: conns, hotline: h, log: log, now: time.Now}
}

func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c phone.Connector
	if err := wh.serve(w, r, &c); err != nil {
		status, code, msg := classify(err)
		logRefusal(r.Context(), wh.log, "cti webhook", c, err)
		writeJSON(w, status, map[string]string{"error": code, "message": msg})
	}
}

var errNoGeneric = &apiError{http.StatusNotFound, "not_found", "no such connector"}

// serve handles the request; c is set once the connector is known, for
// the log.
func (wh *Webhook) serve(w http.ResponseWriter, r *http.Request, conn *phone.Connector) error {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use POST"}
	}
	id, err := uuid.Parse(chi.URLParam(r, ConnectorParam))
	if err != nil {
		return errNoGeneric
	}
	c, err := wh.conns.Connector(ctx, id)
	if errors.Is(err, ErrNoConnector) {
		return errNoGeneric
	} else if err != nil {
		return fmt.Errorf("connector %s: %w", id, err)
	}
	if c.Kind != phone.KindGeneric {
		// Another kind's id: as unknown here, so its secret is never used
		// as an HMAC key it was not made for.
		return errNoGeneric
	}
	*conn = c
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	now := wh.now()
	if err := Verify(c.Secret, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, now); err != nil {
		return &apiError{http.StatusForbidden, "bad_signature", err.Error()}
	}
	ev, o, err := decodeGeneric(body, now)
	if err != nil {
		return err
	}
	wh.log.DebugContext(ctx, "cti event", "connector_id", c.ID, "tenant_id", c.TenantID,
		"call_id", ev.CallID, "kind", string(ev.Kind), "event_id", ev.EventID)

	var route phone.Route
	switch o {
	case opIncoming:
		route, err = wh.hotline.Incoming(ctx, c, ev)
	case opChoose:
		route, err = wh.hotline.Choose(ctx, c, ev.CallID, ev.Digits)
	case opWaiting:
		route, err = wh.hotline.Waiting(ctx, c, ev.CallID)
	default:
		if err := wh.hotline.Handle(ctx, c, ev); err != nil {
			return fmt.Errorf("connector %s call %q %s: %w", c.ID, ev.CallID, ev.Kind, err)
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return nil
	}
	if err != nil {
		return fmt.Errorf("connector %s call %q %s: %w", c.ID, ev.CallID, ev.Kind, err)
	}
	writeJSON(w, http.StatusOK, routeResponse(route))
	return nil
}

// routeResponse is the Route as the PBX script reads it: lists are never
// null, the wait is whole seconds rounded up.
func routeResponse(r phone.Route) RouteResponse {
	out := RouteResponse{
		Action:    string(r.Action),
		Language:  r.Language,
		Say:       append([]string{}, r.Say...),
		Menu:      make([]MenuChoice, 0, len(r.Menu)),
		Queue:     r.QueueName,
		Position:  r.Position,
		Voicemail: r.Voicemail,
	}
	if r.ContactID != uuid.Nil {
		out.ContactID = r.ContactID.String()
	}
	for _, m := range r.Menu {
		out.Menu = append(out.Menu, MenuChoice{Digit: m.Digit, Label: m.Label})
	}
	if r.Wait > 0 {
		out.WaitSeconds = int(math.Ceil(r.Wait.Seconds()))
	}
	return out
}

// decodeGeneric turns a verified body into the call event and the Hotline
// method it goes to, or an error that says what is wrong. now stands in
// for a missing at.
func decodeGeneric(body []byte, now time.Time) (phone.Event, op, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); errors.Is(err, io.EOF) {
		return phone.Event{}, 0, badRequest("bad_json", "body: empty; send one JSON object")
	} else if err != nil {
		return phone.Event{}, 0, badRequest("bad_json", "body: "+jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return phone.Event{}, 0, badRequest("bad_json", "body: trailing data after the JSON object")
	}
	return req.event(now)
}

// jsonProblem words a decoding error without the Go type names that mean
// nothing to a PBX script's author.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return te.Field + ": must be a string" // every field of Request is one
	case errors.As(err, &te):
		return "must be a JSON object"
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "JSON ends too early"
	}
	// Unknown fields: "json: unknown field \"x\"".
	return strings.TrimPrefix(err.Error(), "json: ")
}

// event validates the request and makes the call event of it.
func (req Request) event(now time.Time) (phone.Event, op, error) {
	if req.Event == "" {
		return phone.Event{}, 0, badRequest("invalid", "event: required; one of "+genericEventList)
	}
	kind, ok := genericEvents[req.Event]
	if !ok {
		return phone.Event{}, 0, badRequest("invalid", fmt.Sprintf("event: unknown %s; one of %s", quote(req.Event), genericEventList))
	}
	if req.CallID == "" {
		return phone.Event{}, 0, badRequest("invalid", "call_id: required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"call_id", req.CallID, maxID},
		{"event_id", req.EventID, maxID},
		{"from", req.From, maxNumber},
		{"to", req.To, maxNumber},
		{"extension", req.Extension, maxNumber},
		{"target", req.Target, maxNumber},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return phone.Event{}, 0, err
		}
	}
	ev := phone.Event{
		CallID:    req.CallID,
		EventID:   req.EventID,
		Kind:      kind,
		From:      req.From,
		To:        req.To,
		Extension: req.Extension,
		Target:    req.Target,
		Digits:    req.Digits,
		At:        now,
	}
	switch req.Direction {
	case phone.Inbound, phone.Outbound:
		ev.Direction = req.Direction
	case "":
		if kind == phone.Ringing {
			ev.Direction = phone.Inbound
		}
	default:
		return phone.Event{}, 0, badRequest("invalid", fmt.Sprintf("direction: unknown %s; inbound or outbound", quote(req.Direction)))
	}
	if req.Cause != "" {
		ev.Cause = phone.Cause(req.Cause)
		if !ev.Cause.Valid() {
			return phone.Event{}, 0, badRequest("invalid", fmt.Sprintf("cause: unknown %s; one of %s", quote(req.Cause), causeList))
		}
	}
	if req.RecordingURL != "" {
		if err := checkRecordingURL(req.RecordingURL); err != nil {
			return phone.Event{}, 0, err
		}
		ev.RecordingURL = req.RecordingURL
	}
	if req.Digits != "" || kind == phone.Digits {
		if err := checkDigits(req.Digits); err != nil {
			return phone.Event{}, 0, err
		}
	}
	at := ""
	if req.At != "" {
		t, err := time.Parse(time.RFC3339Nano, req.At)
		if err != nil {
			return phone.Event{}, 0, badRequest("invalid", "at: not an RFC 3339 time such as 2025-03-01T09:30:00+08:00")
		}
		ev.At = t
		at = t.UTC().Format(time.RFC3339Nano)
	}

	// What each event cannot do without.
	switch kind {
	case phone.Offered:
		if ev.Extension == "" {
			return phone.Event{}, 0, badRequest("invalid", "extension: required on ringing (the agent's extension that rings)")
		}
	case phone.Transferred:
		if ev.Target == "" {
			return phone.Event{}, 0, badRequest("invalid", "target: required on transfer")
		}
	case phone.Ended:
		if ev.Cause == "" {
			return phone.Event{}, 0, badRequest("invalid", "cause: required on hangup; one of "+causeList)
		}
	case phone.Recording:
		if ev.RecordingURL == "" {
			return phone.Event{}, 0, badRequest("invalid", "recording_url: required on recording")
		}
	}
	if ev.EventID == "" {
		ev.EventID = deriveEventID(ev, at)
	}

	switch req.Event {
	case "new_call":
		return ev, opIncoming, nil
	case "digits":
		return ev, opChoose, nil
	case "waiting":
		return ev, opWaiting, nil
	}
	return ev, opHandle, nil
}

const causeList = "normal, busy, no_answer, rejected, failed, abandoned, lost"

// quote shows a value the client sent in an error message, cut short: it
// is theirs, but an error message is no place for a kilobyte of it.
func quote(s string) string {
	const max = 32
	if len([]rune(s)) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
