package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// IdempotencyHeader carries a request's idempotency key to Twilio's REST
// API: a repeat with the same token is not acted on twice.
const IdempotencyHeader = "I-Twilio-Idempotency-Token"

// REST is the control-mode Controller: it redirects a live call through
// Twilio's REST API (update a Call with new TwiML).
type REST struct {
	cfg    Config
	client *http.Client
}

// NewREST returns the controller. client nil means a client with a 15 s
// timeout.
func NewREST(cfg Config, client *http.Client) *REST {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &REST{cfg: cfg.withDefaults(), client: client}
}

// APIError is Twilio's answer to a REST request it refused: the HTTP status
// and Twilio's error code and message (e.g. 21220 "Call is not in-progress"
// when the caller hung up meanwhile).
type APIError struct {
	Status   int
	Code     int
	Message  string
	MoreInfo string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("twilio: HTTP %d", e.Status)
	if e.Code != 0 {
		msg += fmt.Sprintf(", error %d", e.Code)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Connect bridges the waiting caller to the agent's phone: the call leaves
// <Enqueue> for <Dial> to the agent's Client identity or number, whose
// progress comes back to the status webhook (leg=agent). If the agent's
// phone does not answer within dialTimeout, the <Dial action> answer puts
// the caller back in line.
func (rc *REST) Connect(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	tw, err := rc.cfg.twiml(c.ID).dial(a)
	if err != nil {
		return err
	}
	tw = bytes.TrimPrefix(tw, []byte(xmlHeader))
	if err := rc.update(ctx, c, call.CallID, url.Values{"Twiml": {string(tw)}}, key); err != nil {
		return fmt.Errorf("twilio connect call %s: %w", call.CallID, err)
	}
	return nil
}

// Cancel stops ringing the agent's phone by putting the caller back in line:
// the call's TwiML is replaced, which ends its <Dial> (and so the agent's
// ringing leg, reported as canceled), with a redirect to the queue webhook.
// Cancel is not told which queue the caller was in, nor the caller's
// language; the queue webhook asks the Hotline (Waiting), which answers with
// the <Enqueue> for where the caller stands now, or the closed message if
// the queue closed meanwhile. That costs one webhook round trip but never
// enqueues a caller somewhere stale.
func (rc *REST) Cancel(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	u := rc.cfg.twiml(c.ID).ep.url("queue")
	if err := rc.update(ctx, c, call.CallID, url.Values{"Url": {u}, "Method": {"POST"}}, key); err != nil {
		return fmt.Errorf("twilio cancel call %s: %w", call.CallID, err)
	}
	return nil
}

// update POSTs form to the call's resource.
func (rc *REST) update(ctx context.Context, c phone.Connector, callSid string, form url.Values, key string) error {
	if c.AccountSID == "" || c.Secret == "" {
		return errors.New("connector has no account SID or auth token")
	}
	if callSid == "" {
		return errors.New("no CallSid")
	}
	base := c.APIBase
	if base == "" {
		base = rc.cfg.APIBase
	}
	u := strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(c.AccountSID) + "/Calls/" + url.PathEscape(callSid) + ".json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.AccountSID, c.Secret)
	if key != "" {
		req.Header.Set(IdempotencyHeader, key)
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	apiErr := &APIError{Status: resp.StatusCode}
	var e struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if json.Unmarshal(body, &e) == nil {
		apiErr.Code, apiErr.Message, apiErr.MoreInfo = e.Code, e.Message, e.MoreInfo
	}
	if len(apiErr.Message) > 500 {
		apiErr.Message = strings.ToValidUTF8(apiErr.Message[:500], "")
	}
	return apiErr
}
