package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// Connectors finds a configured connector by the id in its webhook URL.
// cmd's adapter returns an error wrapping ErrNoConnector for an unknown id.
type Connectors interface {
	Connector(ctx context.Context, id uuid.UUID) (phone.Connector, error)
}

// ErrNoConnector: there is no connector with that id (404).
var ErrNoConnector = errors.New("twilio: no such connector")

// Config is what the webhooks and the REST controller share.
type Config struct {
	// PublicURL is Switchboard as Twilio reaches it: scheme, host, and any
	// path prefix a proxy in front strips, e.g. "https://cc.example.com".
	// Signatures are checked against PublicURL + the request's path and
	// query, never against the Host the request arrived with (behind a
	// proxy it differs), and every URL in TwiML starts with it.
	PublicURL string
	// Mount is where cmd mounts the Handler; default "/phone/twilio".
	Mount string
	// Voices maps the Hotline's languages ("en", "zh-CN") to <Say>'s
	// language and voice; missing ones come from DefaultVoices.
	Voices map[string]Voice
	// HoldMusicURL is played to waiting callers between announcements;
	// empty: 20 s of silence.
	HoldMusicURL string
	// MenuPlays is how often the menu plays before a caller who pressed
	// nothing goes to the default queue; default 3.
	MenuPlays int
	// MaxBody limits a webhook's body; default 64 KiB (Twilio's are a
	// few hundred bytes).
	MaxBody int64
	// APIBase is Twilio's REST API when a connector names none; default
	// https://api.twilio.com.
	APIBase string
}

const (
	defaultMount   = "/phone/twilio"
	defaultMaxBody = 64 << 10
	defaultAPIBase = "https://api.twilio.com"
)

func (c Config) withDefaults() Config {
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Mount == "" {
		c.Mount = defaultMount
	}
	c.Mount = "/" + strings.Trim(c.Mount, "/")
	if c.MenuPlays <= 0 {
		c.MenuPlays = 3
	}
	if c.MaxBody <= 0 {
		c.MaxBody = defaultMaxBody
	}
	if c.APIBase == "" {
		c.APIBase = defaultAPIBase
	}
	return c
}

// twiml is the renderer for connector id.
func (c Config) twiml(id uuid.UUID) twiml {
	return twiml{
		ep:        endpoints{base: c.PublicURL + c.Mount + "/" + id.String()},
		voices:    c.Voices,
		holdMusic: c.HoldMusicURL,
		menuPlays: c.MenuPlays,
	}
}

// Handler serves one Twilio connector's voice webhooks at
// {Mount}/{connector}/{endpoint}: voice (a new call), gather (the menu
// choice), wait (the <Enqueue> waitUrl), queue (back in line after Cancel)
// and status (status callbacks, <Dial action> and the voicemail's
// <Record action>). The connector id and the endpoint are the last two
// segments of the request's path, so it works mounted with chi
// (r.Mount(Mount, h)) as well as with http.ServeMux; it reads no chi URL
// parameter.
type Handler struct {
	conns   Connectors
	hotline phone.Hotline
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
}

// NewHandler returns the webhook handler.
func NewHandler(conns Connectors, hotline phone.Hotline, cfg Config, log *slog.Logger) *Handler {
	return &Handler{conns: conns, hotline: hotline, cfg: cfg.withDefaults(), log: log, now: time.Now}
}

// httpError is an error this package answers Twilio with: a status and a
// message safe to show (never the token, the body, or a number from it).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

var (
	errNotFound  = &httpError{http.StatusNotFound, "not found"}
	errForbidden = &httpError{http.StatusForbidden, "invalid or missing X-Twilio-Signature"}
	errTooLarge  = &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
	errMethod    = &httpError{http.StatusMethodNotAllowed, "use POST or GET"}
)

// request is one verified webhook: its connector, Twilio's parameters and
// Switchboard's own query parameters from the URL it signed.
type request struct {
	conn     phone.Connector
	endpoint string
	params   url.Values // Twilio's: form body, JSON body or (GET) query
	query    url.Values // ours: leg, ext, attempt, lang
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := h.verify(w, r)
	if err == nil {
		var body []byte
		body, err = h.serve(r.Context(), req)
		if err == nil {
			w.Header().Set("Content-Type", "text/xml")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(body)
			return
		}
	}
	status, msg := http.StatusInternalServerError, "temporarily unavailable; try again"
	var he *httpError
	if errors.As(err, &he) {
		status, msg = he.status, he.msg
	} else if errors.Is(err, phone.ErrUnknownCall) {
		// Not worth a retry: no call of that CallSid was ever reported.
		status, msg = http.StatusNotFound, "unknown call"
	}
	attrs := []any{"endpoint", req.endpoint, "status", status, "err", err}
	if req.conn.ID != uuid.Nil {
		attrs = append(attrs, "connector_id", req.conn.ID)
	}
	if sid := req.params.Get("CallSid"); sid != "" && status >= 500 {
		attrs = append(attrs, "call_sid", sid)
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "twilio webhook failed", attrs...)
	} else {
		h.log.WarnContext(r.Context(), "twilio webhook refused", attrs...)
	}
	http.Error(w, msg, status)
}

var endpointNames = map[string]bool{"voice": true, "gather": true, "wait": true, "queue": true, "status": true}

// verify finds the connector, reads the body and checks Twilio's signature
// over exactly what Twilio sent, before anything in it is believed.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) (request, error) {
	var req request
	rest := strings.TrimSuffix(r.URL.Path, "/")
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return req, errNotFound
	}
	rest, req.endpoint = rest[:i], rest[i+1:]
	idText := rest[strings.LastIndexByte(rest, '/')+1:]
	id, err := uuid.Parse(idText)
	if err != nil || len(idText) != 36 || !endpointNames[req.endpoint] {
		return req, errNotFound
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return req, errMethod
	}
	c, err := h.conns.Connector(r.Context(), id)
	if errors.Is(err, ErrNoConnector) {
		return req, errNotFound
	} else if err != nil {
		return req, fmt.Errorf("connector %s: %w", id, err)
	}
	if c.Kind != phone.KindTwilio {
		return req, errNotFound
	}
	req.conn = c

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return req, errTooLarge
	} else if err != nil {
		return req, badRequest("could not read the request body")
	}
	req.query, err = url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return req, badRequest("malformed query string")
	}

	if h.cfg.PublicURL == "" {
		// Nothing could verify; say why in the log rather than 403 all.
		return req, errors.New("twilio: Config.PublicURL is not set")
	}
	full := h.cfg.PublicURL + requestURI(r)
	sig := r.Header.Get(SignatureHeader)
	switch {
	case r.Method == http.MethodGet:
		// Twilio's parameters ride in the query, which the URL covers.
		if !VerifyForm(c.Secret, full, nil, sig) {
			return req, errForbidden
		}
		req.params = req.query
	case req.query.Has("bodySHA256"):
		if !VerifyBody(c.Secret, full, body, sig) {
			return req, errForbidden
		}
		if req.params, err = decodeJSON(body); err != nil {
			return req, err
		}
	default:
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
			// A JSON body without bodySHA256: nothing signs the body.
			return req, errForbidden
		}
		params, err := url.ParseQuery(string(body))
		if err != nil {
			return req, badRequest("malformed form body")
		}
		if !VerifyForm(c.Secret, full, params, sig) {
			return req, errForbidden
		}
		req.params = params
	}
	return req, nil
}

// requestURI is the path and query exactly as Twilio asked for them.
func requestURI(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// decodeJSON reads a JSON-body webhook into the same parameters a form
// carries: the top-level object's strings, numbers and booleans. Nested
// values are not call parameters and are left out.
func decodeJSON(body []byte) (url.Values, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, badRequest("body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("trailing data after the JSON object")
	}
	vs := url.Values{}
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			vs.Set(k, v)
		case json.Number:
			vs.Set(k, v.String())
		case bool:
			vs.Set(k, strconv.FormatBool(v))
		}
	}
	return vs, nil
}

func (h *Handler) serve(ctx context.Context, req request) ([]byte, error) {
	sid := req.params.Get("CallSid")
	if sid == "" {
		return nil, badRequest("CallSid missing")
	}
	if len(sid) > 64 {
		return nil, badRequest("CallSid too long")
	}
	tw := h.cfg.twiml(req.conn.ID)
	switch req.endpoint {
	case "voice":
		play, err := attempt(req.query)
		if err != nil {
			return nil, err
		}
		ev := phone.Event{
			CallID:    sid,
			EventID:   sid + ":" + string(phone.Ringing),
			Kind:      phone.Ringing,
			Direction: direction(req.params.Get("Direction")),
			From:      req.params.Get("From"),
			To:        req.params.Get("To"),
			At:        h.at(req.params),
		}
		rt, err := h.hotline.Incoming(ctx, req.conn, ev)
		if err != nil {
			return nil, fmt.Errorf("incoming: %w", err)
		}
		return tw.route(rt, play)
	case "gather":
		played, err := attempt(req.query)
		if err != nil {
			return nil, err
		}
		digits := req.params.Get("Digits")
		if !validDigits(digits) {
			return nil, badRequest("Digits must be at most 32 of 0-9, * and #")
		}
		rt, err := h.hotline.Choose(ctx, req.conn, sid, digits)
		if err != nil {
			return nil, fmt.Errorf("choose: %w", err)
		}
		return tw.route(rt, played+1)
	case "queue":
		rt, err := h.hotline.Waiting(ctx, req.conn, sid)
		if err != nil {
			return nil, fmt.Errorf("waiting: %w", err)
		}
		return tw.route(rt, 1)
	case "wait":
		rt, err := h.hotline.Waiting(ctx, req.conn, sid)
		if err != nil {
			return nil, fmt.Errorf("waiting: %w", err)
		}
		pos, _ := strconv.Atoi(req.params.Get("QueuePosition"))
		avg, _ := strconv.Atoi(req.params.Get("AvgQueueTime"))
		return tw.wait(rt, max(pos, 0), time.Duration(max(min(avg, 86400), 0))*time.Second)
	default: // status
		return h.status(ctx, req, tw)
	}
}

// status records what a status request reports, then answers it: Twilio
// ignores the answer to a status callback, but runs the answer to a
// <Dial action> (the caller's next step) and a <Record action>.
func (h *Handler) status(ctx context.Context, req request, tw twiml) ([]byte, error) {
	evs, err := statusEvents(req.query, req.params, h.at(req.params))
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		if err := h.hotline.Handle(ctx, req.conn, ev); err != nil {
			return nil, fmt.Errorf("handle %s: %w", ev.Kind, err)
		}
	}
	switch {
	case req.query.Get("leg") == "voicemail":
		return tw.goodbye(req.query.Get("lang"))
	case req.query.Get("leg") == "agent" && req.params.Has("DialCallStatus"):
		if dialAnswered(req.params.Get("DialCallStatus")) {
			// The caller talked to the agent, who has hung up.
			return marshal(response{Verbs: []any{hangup{}}})
		}
		// The agent's phone did not answer: the Hotline has put the call
		// back in line (the Ended above), so ask it where the caller
		// waits now.
		rt, err := h.hotline.Waiting(ctx, req.conn, req.params.Get("CallSid"))
		if err != nil {
			return nil, fmt.Errorf("waiting: %w", err)
		}
		return tw.route(rt, 1)
	}
	return marshal(response{})
}

// at is when Twilio says the event happened (status callbacks carry a
// Timestamp), else now.
func (h *Handler) at(p url.Values) time.Time {
	if ts := p.Get("Timestamp"); ts != "" {
		if t, err := time.Parse(time.RFC1123Z, ts); err == nil {
			return t
		}
	}
	return h.now()
}

// attempt is the menu play a gather or voice request belongs to (from 1).
func attempt(q url.Values) (int, error) {
	s := q.Get("attempt")
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 100 {
		return 0, badRequest("attempt must be a number from 1 to 100")
	}
	return n, nil
}

func validDigits(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && c != '*' && c != '#' {
			return false
		}
	}
	return true
}

// direction maps Twilio's Direction (inbound, outbound-api, outbound-dial)
// onto the phone package's two.
func direction(d string) string {
	if strings.HasPrefix(d, "outbound") {
		return phone.Outbound
	}
	return phone.Inbound
}
