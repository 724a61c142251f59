package cti

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// cmd keeps the wiring's check; this one keeps the package honest alone.
var _ phone.Controller = (*Controller)(nil)

// pbx is a PBX's callback endpoint as docs/phone.md tells its author to
// write it: verify the signature, then act once per idempotency key.
type pbx struct {
	secret string
	status int // answered to a valid command; 0 means 200

	mu       sync.Mutex
	commands []Command
	keys     []string
	refused  []string // why a request was refused
}

func (p *pbx) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := Verify(p.secret, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, time.Now()); err != nil {
		p.refused = append(p.refused, err.Error())
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		p.refused = append(p.refused, "content type "+ct)
	}
	var c Command
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		p.refused = append(p.refused, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.commands = append(p.commands, c)
	p.keys = append(p.keys, r.Header.Get(HeaderIdempotency))
	if p.status != 0 {
		w.WriteHeader(p.status)
		io.WriteString(w, `{"error":"call 13800138000 is gone"}`)
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

func controlSetup(t *testing.T, p *pbx) (*Controller, phone.Connector) {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c := phone.Connector{
		ID: uuid.New(), TenantID: uuid.New(), Kind: phone.KindGeneric, Mode: phone.Control,
		Secret: p.secret, CallbackURL: srv.URL + "/switchboard/commands?pbx_token=abc",
	}
	return NewController(srv.Client()), c
}

func TestControllerCommands(t *testing.T) {
	p := &pbx{secret: "pbx-shared-secret"}
	ct, c := controlSetup(t, p)
	ctx := context.Background()
	call := phone.Call{ContactID: uuid.New(), CallID: "pbx-1", From: "13800138000", To: "4008001234"}

	if err := ct.Connect(ctx, c, call, phone.Agent{AgentID: uuid.New(), Extension: "801"}, "offer-1:connect"); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := ct.Cancel(ctx, c, call, phone.Agent{AgentID: uuid.New(), Dial: "number", Number: "+8613900139000"}, "offer-2:cancel"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if len(p.refused) > 0 {
		t.Fatalf("the PBX refused: %v", p.refused)
	}
	want := []Command{
		{Command: "connect", CallID: "pbx-1", Extension: "801", IdempotencyKey: "offer-1:connect"},
		{Command: "cancel", CallID: "pbx-1", Number: "+8613900139000", IdempotencyKey: "offer-2:cancel"},
	}
	if d := cmp.Diff(want, p.commands); d != "" {
		t.Errorf("commands (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"offer-1:connect", "offer-2:cancel"}, p.keys); d != "" {
		t.Errorf("Idempotency-Key headers (-want +got):\n%s", d)
	}
}

func TestControllerPBXRefuses(t *testing.T) {
	p := &pbx{secret: "pbx-shared-secret", status: http.StatusConflict}
	ct, c := controlSetup(t, p)
	err := ct.Connect(context.Background(), c, phone.Call{CallID: "pbx-1"}, phone.Agent{Extension: "801"}, "k")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 409 || se.Command != "connect" {
		t.Fatalf("Connect = %v, want a StatusError 409 for connect", err)
	}
	for _, secretish := range []string{p.secret, "pbx_token", "abc", "13800138000"} {
		if strings.Contains(err.Error(), secretish) {
			t.Errorf("error %q shows %q", err, secretish)
		}
	}
}

// TestControllerWrongSecret: a PBX holding another secret refuses; the
// Controller reports the status, not what was signed.
func TestControllerWrongSecret(t *testing.T) {
	p := &pbx{secret: "the-pbx-has-this"}
	ct, c := controlSetup(t, p)
	c.Secret = "switchboard-has-that"
	err := ct.Connect(context.Background(), c, phone.Call{CallID: "pbx-1"}, phone.Agent{Extension: "801"}, "k")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 403 {
		t.Fatalf("Connect = %v, want StatusError 403", err)
	}
	if len(p.refused) != 1 || len(p.commands) != 0 {
		t.Errorf("the PBX refused %d and took %d commands, want 1 and 0", len(p.refused), len(p.commands))
	}
}

func TestControllerRefusesToSend(t *testing.T) {
	p := &pbx{secret: "pbx-shared-secret"}
	ct, good := controlSetup(t, p)
	call := phone.Call{CallID: "pbx-1"}
	agent := phone.Agent{Extension: "801"}
	tests := []struct {
		name  string
		edit  func(*phone.Connector, *phone.Call, *phone.Agent, *string)
		error string
	}{
		{"observe mode", func(c *phone.Connector, _ *phone.Call, _ *phone.Agent, _ *string) { c.Mode = phone.Observe }, `"observe" mode`},
		{"another kind", func(c *phone.Connector, _ *phone.Call, _ *phone.Agent, _ *string) { c.Kind = phone.KindTwilio }, `a "twilio" connector`},
		{"no secret", func(c *phone.Connector, _ *phone.Call, _ *phone.Agent, _ *string) { c.Secret = "" }, "no secret"},
		{"no callback URL", func(c *phone.Connector, _ *phone.Call, _ *phone.Agent, _ *string) { c.CallbackURL = "" }, "callback URL"},
		{"relative callback URL", func(c *phone.Connector, _ *phone.Call, _ *phone.Agent, _ *string) {
			c.CallbackURL = "/cb?pbx_token=abc"
		}, "callback URL"},
		{"no key", func(_ *phone.Connector, _ *phone.Call, _ *phone.Agent, k *string) { *k = "" }, "idempotency key"},
		{"no call id", func(_ *phone.Connector, cl *phone.Call, _ *phone.Agent, _ *string) { cl.CallID = "" }, "call id"},
		{"agent unreachable", func(_ *phone.Connector, _ *phone.Call, a *phone.Agent, _ *string) { a.Extension = "" }, "neither extension nor number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cl, a, key := good, call, agent, "k"
			tt.edit(&c, &cl, &a, &key)
			err := ct.Connect(context.Background(), c, cl, a, key)
			if err == nil || !strings.Contains(err.Error(), tt.error) {
				t.Errorf("Connect = %v, want an error about %q", err, tt.error)
			}
			if err != nil && strings.Contains(err.Error(), "pbx_token") {
				t.Errorf("error %q shows the callback URL", err)
			}
		})
	}
	if len(p.commands)+len(p.refused) != 0 {
		t.Errorf("the PBX got %d requests, want none", len(p.commands)+len(p.refused))
	}
}

// TestControllerNoRedirect: a signed command is not re-sent to wherever a
// redirect points.
func TestControllerNoRedirect(t *testing.T) {
	elsewhere := &pbx{secret: "pbx-shared-secret"}
	other := httptest.NewServer(elsewhere)
	t.Cleanup(other.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	ct := NewController(nil)
	c := phone.Connector{ID: uuid.New(), Kind: phone.KindGeneric, Mode: phone.Control, Secret: "pbx-shared-secret", CallbackURL: redirect.URL}
	err := ct.Connect(context.Background(), c, phone.Call{CallID: "pbx-1"}, phone.Agent{Extension: "801"}, "k")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTemporaryRedirect {
		t.Errorf("Connect = %v, want StatusError 307", err)
	}
	if len(elsewhere.commands)+len(elsewhere.refused) != 0 {
		t.Errorf("the redirect was followed")
	}
}

// TestControllerHangingPBX: a PBX that never answers gives an error when
// the caller's context ends (CommandTimeout bounds it otherwise).
func TestControllerHangingPBX(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	ct := NewController(srv.Client())
	c := phone.Connector{ID: uuid.New(), Kind: phone.KindGeneric, Mode: phone.Control, Secret: "s", CallbackURL: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := ct.Connect(ctx, c, phone.Call{CallID: "pbx-1"}, phone.Agent{Extension: "801"}, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect = %v, want the deadline's error", err)
	}
	if err != nil && strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q shows the callback URL", err)
	}
}
