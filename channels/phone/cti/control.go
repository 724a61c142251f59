package cti

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// CommandTimeout bounds one control command, connect to response: the
// caller is waiting on the line, and the caller of Connect retries.
const CommandTimeout = 5 * time.Second

// Command is the body of a control command POSTed to the PBX's callback URL.
type Command struct {
	Command   string `json:"command"` // "connect", "cancel", "hold", "unhold" or "dial"
	CallID    string `json:"call_id"`
	Extension string `json:"extension,omitempty"`
	// Number is the agent's own phone (E.164) when the agent takes calls
	// there rather than on an extension.
	Number string `json:"number,omitempty"`
	// To is the customer's number (E.164) a "dial" command calls once the
	// agent's phone has answered.
	To             string `json:"to,omitempty"`
	IdempotencyKey string `json:"idempotency_key"`
}

// StatusError is a PBX's answer other than 2xx to a command. 4xx means the
// PBX refused it (the call is gone, the extension unknown): sending it again
// will not help. 5xx may.
type StatusError struct {
	Command string
	Status  int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("cti: the PBX answered %s with HTTP %d", e.Command, e.Status)
}

// Controller sends control mode's connect and cancel commands to a generic
// connector's PBX: a POST to its CallbackURL, signed like the webhook's
// requests (the PBX checks them with the same secret), with the key in
// Idempotency-Key and in the body. It does not retry: its caller does, with
// the same key.
type Controller struct {
	client *http.Client
	now    func() time.Time
}

// NewController returns a Controller sending through client; nil gives a
// client of its own. Redirects are never followed, whatever the client: a
// signed command goes to the configured URL or nowhere.
func NewController(client *http.Client) *Controller {
	hc := &http.Client{Timeout: CommandTimeout}
	if client != nil {
		cp := *client
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Controller{client: hc, now: time.Now}
}

// Connect tells the PBX to bridge the waiting caller to the agent's phone.
func (ct *Controller) Connect(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	return ct.send(ctx, c, "connect", call, a, key)
}

// Cancel tells the PBX to stop ringing the agent's phone.
// Dial asks the PBX to place a call for the agent (click-to-call): ring
// the agent's phone, then call to and bridge the two, reporting its events
// under callID. Command "dial", with number = the customer's number.
func (ct *Controller) Dial(ctx context.Context, c phone.Connector, a phone.Agent, to, callID, key string) (string, error) {
	if to == "" {
		return "", fmt.Errorf("cti: dial on connector %s: no number to call", c.ID)
	}
	if err := ct.send(ctx, c, "dial", phone.Call{CallID: callID, To: to}, a, key); err != nil {
		return "", err
	}
	return callID, nil
}

var _ phone.Dialer = (*Controller)(nil)

// Hold asks the PBX to hold (hold true) or resume the caller: command
// "hold" or "unhold". Its held and unheld events then update the call.
func (ct *Controller) Hold(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, hold bool, key string) error {
	command := "unhold"
	if hold {
		command = "hold"
	}
	return ct.send(ctx, c, command, call, a, key)
}

var _ phone.Holder = (*Controller)(nil)

func (ct *Controller) Cancel(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	return ct.send(ctx, c, "cancel", call, a, key)
}

func (ct *Controller) send(ctx context.Context, c phone.Connector, command string, call phone.Call, a phone.Agent, key string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("cti: %s on connector %s: %s", command, c.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Kind != phone.KindGeneric:
		return fail("a %q connector, not %q", c.Kind, phone.KindGeneric)
	case c.Mode != phone.Control:
		return fail("the connector is in %q mode; commands need %q", c.Mode, phone.Control)
	case c.Secret == "":
		return fail("the connector has no secret to sign with")
	case key == "":
		return fail("no idempotency key")
	case call.CallID == "":
		return fail("no call id")
	case a.Extension == "" && a.Number == "":
		return fail("the agent has neither extension nor number")
	}
	u, err := url.Parse(c.CallbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not the URL itself: its query may hold the PBX's own token.
		return fail("the callback URL is not an absolute http or https URL")
	}
	body, err := json.Marshal(Command{
		Command:        command,
		CallID:         call.CallID,
		Extension:      a.Extension,
		Number:         a.Number,
		To:             dialTo(command, call),
		IdempotencyKey: key,
	})
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fail("the callback URL is not usable")
	}
	now := ct.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(c.Secret, now, body))
	req.Header.Set(HeaderIdempotency, key)
	resp, err := ct.client.Do(req)
	if err != nil {
		// url.Error repeats the URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("cti: %s on connector %s: %w", command, c.ID, err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body itself is
	// not shown anywhere (it may echo numbers).
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("cti: connector %s: %w", c.ID, &StatusError{Command: command, Status: resp.StatusCode})
	}
	return nil
}

// dialTo is the number a command calls: only "dial" calls anyone.
func dialTo(command string, call phone.Call) string {
	if command == "dial" {
		return call.To
	}
	return ""
}
