package cti

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// TokenConnectors finds a connector by the token in its URL. The match
// must be exact and must not leak stored tokens through timing (org.Store
// looks up the token's SHA-256). A missing one is ErrNoConnector.
type TokenConnectors interface {
	ConnectorByToken(ctx context.Context, token string) (phone.Connector, error)
}

// TokenParam is the chi URL parameter of the Zammad endpoint's route that
// holds the token: POST /phone/zammad/{token}.
const TokenParam = "token"

// Tokens outside this shape are refused before any look-up. Zammad's own
// are 27 URL-safe characters.
const (
	minToken = 16
	maxToken = 128
)

// Zammad is the Zammad-compatible observe-mode endpoint: a PBX set up for
// Zammad's "CTI (generic API)" posts the same newCall, answer and hangup
// events here, to POST /phone/zammad/{token}. The token in the URL is the
// only authentication, as in Zammad; the connector must be in observe mode.
type Zammad struct {
	conns   TokenConnectors
	hotline phone.Hotline
	log     *slog.Logger
	now     func() time.Time
}

// NewZammad returns the endpoint's handler. Mount it on
// POST /phone/zammad/{token} (TokenParam), outside session, CSRF and origin
// checks, and keep the path out of access logs: it holds the token.
func NewZammad(conns TokenConnectors, h phone.Hotline, log *slog.Logger) *Zammad {
	return &Zammad{conns: conns, hotline: h, log: log, now: time.Now}
}

var (
	errBadToken   = &apiError{http.StatusForbidden, "forbidden", "invalid token"}
	errNotObserve = &apiError{http.StatusForbidden, "forbidden", "this connector is not in observe mode; Zammad's format is accepted only there"}
)

func (z *Zammad) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c phone.Connector
	if err := z.serve(w, r, &c); err != nil {
		status, _, msg := classify(err)
		logRefusal(r.Context(), z.log, "zammad cti", c, err)
		// Zammad's own shape for errors.
		writeJSON(w, status, map[string]string{"error": msg})
	}
}

// serve handles the request; conn is set once a connector is found, for
// the log (a 403 with a connector id: the connector is not a Zammad one in
// observe mode).
func (z *Zammad) serve(w http.ResponseWriter, r *http.Request, conn *phone.Connector) error {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use POST"}
	}
	token := chi.URLParam(r, TokenParam)
	if !tokenShape(token) {
		return errBadToken
	}
	c, err := z.conns.ConnectorByToken(ctx, token)
	if errors.Is(err, ErrNoConnector) {
		return errBadToken
	} else if err != nil {
		return fmt.Errorf("zammad connector by token: %w", err)
	}
	*conn = c
	if c.Kind != phone.KindZammad {
		return errBadToken
	}
	if c.Mode != phone.Observe {
		return errNotObserve
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	evs, err := decodeZammad(r.Header.Get("Content-Type"), body, z.now())
	if err != nil {
		return err
	}
	for _, ev := range evs {
		z.log.DebugContext(ctx, "zammad cti event", "connector_id", c.ID, "tenant_id", c.TenantID,
			"call_id", ev.CallID, "kind", string(ev.Kind), "event_id", ev.EventID)
		if ev.Kind == phone.Ringing {
			// The PBX routes in observe mode: the Route is not for it.
			_, err = z.hotline.Incoming(ctx, c, ev)
		} else {
			err = z.hotline.Handle(ctx, c, ev)
		}
		if err != nil {
			return fmt.Errorf("connector %s call %q %s: %w", c.ID, ev.CallID, ev.Kind, err)
		}
	}
	// Zammad answers {} unless it blocks a caller or sets an outbound
	// caller id; Switchboard does neither.
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func tokenShape(t string) bool {
	if len(t) < minToken || len(t) > maxToken {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch b := t[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

// zammadParams are the parameters of Zammad's generic CTI API that
// Switchboard reads. Others that PBX scripts send (queue, user_id,
// sipgate's userId[], xcid, diversion…) are accepted and ignored, as
// Zammad itself does.
type zammadParams struct {
	Event, From, To, Direction, CallID, Cause, AnsweringNumber string
	Users                                                      []string
}

// zammadScalars maps each parameter name to where it goes; callId and
// call_id are the same parameter, as in Zammad.
var zammadScalars = map[string]func(*zammadParams) *string{
	"event":           func(p *zammadParams) *string { return &p.Event },
	"from":            func(p *zammadParams) *string { return &p.From },
	"to":              func(p *zammadParams) *string { return &p.To },
	"direction":       func(p *zammadParams) *string { return &p.Direction },
	"callId":          func(p *zammadParams) *string { return &p.CallID },
	"call_id":         func(p *zammadParams) *string { return &p.CallID },
	"cause":           func(p *zammadParams) *string { return &p.Cause },
	"answeringNumber": func(p *zammadParams) *string { return &p.AnsweringNumber },
}

const maxUsers = 32

// add sets one parameter from a form or JSON. A scalar given twice is an
// error rather than a guess at which one the PBX meant.
func (p *zammadParams) add(name, v string, seen map[string]bool) error {
	if name == "user" || name == "user[]" {
		if len(p.Users) == maxUsers {
			return badRequest("invalid", fmt.Sprintf("user: more than %d", maxUsers))
		}
		p.Users = append(p.Users, v)
		return nil
	}
	f, ok := zammadScalars[name]
	if !ok {
		return nil
	}
	key := name
	if key == "call_id" {
		key = "callId"
	}
	if seen[key] {
		return badRequest("invalid", key+": given more than once")
	}
	seen[key] = true
	*f(p) = v
	return nil
}

// decodeZammad reads the body as Zammad does (form-urlencoded, multipart
// form-data or JSON) and maps it to call events, in the order the Hotline
// must see them. now is the events' time: Zammad's format carries none.
func decodeZammad(contentType string, body []byte, now time.Time) ([]phone.Event, error) {
	p, err := parseZammad(contentType, body)
	if err != nil {
		return nil, err
	}
	return p.events(now)
}

func parseZammad(contentType string, body []byte) (zammadParams, error) {
	var p zammadParams
	seen := map[string]bool{}
	mt, params, err := "", map[string]string(nil), error(nil)
	if contentType != "" {
		mt, params, err = mime.ParseMediaType(contentType)
		if err != nil {
			return p, badRequest("bad_body", "Content-Type: not a media type")
		}
	}
	switch mt {
	case "", "application/x-www-form-urlencoded":
		vs, err := url.ParseQuery(string(body))
		if err != nil {
			return p, badRequest("bad_body", "body: not a valid form (application/x-www-form-urlencoded)")
		}
		// Sorted keys, so which of two problems is reported is stable.
		for _, k := range slices.Sorted(maps.Keys(vs)) {
			for _, v := range vs[k] {
				if err := p.add(k, v, seen); err != nil {
					return p, err
				}
			}
		}
	case "multipart/form-data":
		if err := p.multipart(body, params["boundary"], seen); err != nil {
			return p, err
		}
	case "application/json":
		if err := p.json(body, seen); err != nil {
			return p, err
		}
	default:
		return p, &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send application/x-www-form-urlencoded, multipart/form-data or application/json"}
	}
	return p, nil
}

func (p *zammadParams) multipart(body []byte, boundary string, seen map[string]bool) error {
	if boundary == "" {
		return badRequest("bad_body", "Content-Type: multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return badRequest("bad_body", "body: not valid multipart/form-data")
		}
		if n == 200 {
			return badRequest("bad_body", "body: more than 200 form fields")
		}
		if part.FileName() != "" {
			return badRequest("bad_body", "body: a file where only form fields are expected")
		}
		v, err := io.ReadAll(part) // bounded by the body, itself bounded
		if err != nil {
			return badRequest("bad_body", "body: not valid multipart/form-data")
		}
		if err := p.add(part.FormName(), string(v), seen); err != nil {
			return err
		}
	}
}

// json takes Zammad's JSON variant: one object whose values are strings,
// numbers (a PBX may send numbers unquoted) or null; user may be one
// string or an array of them.
func (p *zammadParams) json(body []byte, seen map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return badRequest("bad_json", "body: not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("bad_json", "body: trailing data after the JSON object")
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		if (k == "user" || k == "user[]") && v != nil {
			if arr, ok := v.([]any); ok {
				for _, e := range arr {
					s, ok := jsonScalar(e)
					if !ok {
						return badRequest("bad_json", "user: must be a string or an array of strings")
					}
					if err := p.add(k, s, seen); err != nil {
						return err
					}
				}
				continue
			}
		}
		if _, known := zammadScalars[k]; !known && k != "user" && k != "user[]" {
			continue
		}
		s, ok := jsonScalar(v)
		if !ok {
			return badRequest("bad_json", k+": must be a string")
		}
		if v == nil {
			continue
		}
		if err := p.add(k, s, seen); err != nil {
			return err
		}
	}
	return nil
}

func jsonScalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// zammadCauses maps Zammad's hang-up causes onto ours. forwarded is
// handled apart: the call went elsewhere, it was not lost.
var zammadCauses = map[string]phone.Cause{
	"normalClearing": phone.CauseNormal,
	"busy":           phone.CauseBusy,
	"cancel":         phone.CauseAbandoned, // the caller hung up before anyone picked up
	"noAnswer":       phone.CauseNoAnswer,
	"congestion":     phone.CauseFailed,
	"notFound":       phone.CauseFailed,
}

// switchCauses are the hang-up cause names of FreeSWITCH (Q.850's, spelt
// its way), which public FusionPBX and FreeSWITCH scripts for Zammad pass
// through unchanged as cause. Matched without regard to case.
var switchCauses = map[string]phone.Cause{
	"NORMAL_CLEARING":           phone.CauseNormal,
	"ORIGINATOR_CANCEL":         phone.CauseAbandoned,
	"NO_ANSWER":                 phone.CauseNoAnswer,
	"NO_USER_RESPONSE":          phone.CauseNoAnswer,
	"USER_BUSY":                 phone.CauseBusy,
	"CALL_REJECTED":             phone.CauseRejected,
	"UNALLOCATED_NUMBER":        phone.CauseFailed,
	"NO_ROUTE_DESTINATION":      phone.CauseFailed,
	"USER_NOT_REGISTERED":       phone.CauseFailed,
	"SUBSCRIBER_ABSENT":         phone.CauseFailed,
	"NORMAL_TEMPORARY_FAILURE":  phone.CauseFailed,
	"DESTINATION_OUT_OF_ORDER":  phone.CauseFailed,
	"NETWORK_OUT_OF_ORDER":      phone.CauseFailed,
	"RECOVERY_ON_TIMER_EXPIRE":  phone.CauseFailed,
	"SWITCH_CONGESTION":         phone.CauseFailed,
	"NORMAL_CIRCUIT_CONGESTION": phone.CauseFailed,
}

const zammadCauseList = "normalClearing, busy, cancel, noAnswer, congestion, notFound, forwarded"

// events maps one Zammad event onto call events:
//   - newCall: Ringing (to Hotline.Incoming); inbound, then Offered for each
//     user[] (the extensions that ring; Zammad's group calls ring several);
//     outbound, Ringing carries the one dialling user as Extension.
//   - answer: Answered with Extension = answeringNumber, or the only user[].
//   - hangup: Ended (the whole call) with the mapped cause; forwarded is
//     Transferred (to answeringNumber) then Ended normal.
func (p zammadParams) events(now time.Time) ([]phone.Event, error) {
	kinds := map[string]bool{"newCall": true, "answer": true, "hangup": true}
	switch {
	case p.Event == "":
		return nil, badRequest("invalid", "event: required; newCall, answer or hangup")
	case !kinds[p.Event]:
		return nil, badRequest("invalid", fmt.Sprintf("event: unknown %s; newCall, answer or hangup", quote(p.Event)))
	case p.CallID == "":
		return nil, badRequest("invalid", "callId: required")
	}
	var dir string
	switch p.Direction {
	case "in":
		dir = phone.Inbound
	case "out":
		dir = phone.Outbound
	case "":
		return nil, badRequest("invalid", "direction: required; in or out")
	default:
		return nil, badRequest("invalid", fmt.Sprintf("direction: unknown %s; in or out", quote(p.Direction)))
	}
	for _, f := range []struct{ name, v string }{
		{"callId", p.CallID}, {"from", p.From}, {"to", p.To}, {"answeringNumber", p.AnsweringNumber},
	} {
		max := maxNumber
		if f.name == "callId" {
			max = maxID
		}
		if err := checkText(f.name, f.v, max); err != nil {
			return nil, err
		}
	}
	var users []string
	for _, u := range p.Users {
		if err := checkText("user", u, maxNumber); err != nil {
			return nil, err
		}
		if u = strings.TrimSpace(u); u != "" && !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	base := phone.Event{CallID: p.CallID, Direction: dir, From: p.From, To: p.To, At: now}
	ext := p.AnsweringNumber
	if ext == "" && len(users) == 1 {
		ext = users[0]
	}

	var evs []phone.Event
	emit := func(ev phone.Event) {
		ev.EventID = deriveEventID(ev, "")
		evs = append(evs, ev)
	}
	switch p.Event {
	case "newCall":
		ev := base
		ev.Kind = phone.Ringing
		if dir == phone.Outbound && len(users) == 1 {
			ev.Extension = users[0]
		}
		emit(ev)
		if dir == phone.Inbound {
			for _, u := range users {
				ev := base
				ev.Kind, ev.Extension = phone.Offered, u
				emit(ev)
			}
		}
	case "answer":
		ev := base
		ev.Kind, ev.Extension = phone.Answered, ext
		emit(ev)
	case "hangup":
		if p.Cause == "forwarded" {
			tr := base
			tr.Kind, tr.Target = phone.Transferred, p.AnsweringNumber
			emit(tr)
			end := base
			end.Kind, end.Cause = phone.Ended, phone.CauseNormal
			emit(end)
			break
		}
		cause, ok := zammadCauses[p.Cause]
		if !ok {
			cause, ok = switchCauses[strings.ToUpper(p.Cause)]
		}
		if p.Cause == "" {
			return nil, badRequest("invalid", "cause: required on hangup; one of "+zammadCauseList)
		} else if !ok {
			return nil, badRequest("invalid", fmt.Sprintf("cause: unknown %s; one of %s", quote(p.Cause), zammadCauseList))
		}
		ev := base
		ev.Kind, ev.Cause = phone.Ended, cause
		emit(ev)
	}
	return evs, nil
}
