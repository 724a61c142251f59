package cti

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// TestHotlineErrors: the Hotline's sentinel errors become answers the PBX
// can act on; anything else is a 500 without detail.
func TestHotlineErrors(t *testing.T) {
	tests := []struct {
		err          error
		status       int
		code, zammad string
	}{
		{fmt.Errorf("hangup: %w", phone.ErrUnknownCall), 404, "unknown_call", "no new call was recorded"},
		{phone.ErrNoNumber, 422, "number_not_configured", "not on this connector's hotline"},
		{fmt.Errorf("%w: no call id", phone.ErrInvalid), 400, "invalid", "the call event is incomplete"},
		{errors.New("deadlock detected"), 500, "internal", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			g := setupGeneric(t)
			g.hotline.err = tt.err
			rec := g.post(t, g.conn.ID.String(), `{"event":"answer","call_id":"c9","extension":"801"}`, nil)
			if e := decodeErr(t, rec); rec.Code != tt.status || e.Error != tt.code {
				t.Errorf("generic: %d %+v, want %d %s", rec.Code, e, tt.status, tt.code)
			}
			z := setupZammad(t)
			z.hotline.err = tt.err
			rec = z.post(zammadToken, formType, "event=answer&direction=in&callId=c9&answeringNumber=801")
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.zammad) {
				t.Errorf("zammad: %d %s, want %d with %q", rec.Code, rec.Body, tt.status, tt.zammad)
			}
		})
	}
}

// TestLogsCarryNoPersonalData: whatever happens, the logs name connectors,
// tenants and calls by id, never the numbers, agents' names, the secret or
// the token.
func TestLogsCarryNoPersonalData(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	g := setupGeneric(t)
	wh := NewWebhook(g.conns, g.hotline, log)
	wh.now = func() time.Time { return g.now }
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/phone/cti/{"+ConnectorParam+"}", wh)
	g.router = r
	id := g.conn.ID.String()
	g.post(t, id, newCall, nil)
	g.post(t, id, newCall, g.signAt("forged", g.now))
	g.post(t, id, `{"event":"nope","call_id":"c","from":"13800138000"}`, nil)
	g.hotline.err = errors.New("store down")
	g.post(t, id, newCall, nil)

	z := setupZammad(t)
	zr := chi.NewRouter()
	zr.Method(http.MethodPost, "/phone/zammad/{"+TokenParam+"}", NewZammad(z.conns, z.hotline, log))
	z.router = zr
	z.post(zammadToken, jsonType, `{"event":"newCall","from":"493023125741","to":"492214710334","direction":"in","callId":"c1","user":["Christopher Miller","Emma Taylor"]}`)
	z.post("control-mode-token-0123", formType, zammadNewCall)
	z.post(zammadToken, formType, "event=hangup&direction=in&callId=c1&cause=exploded&from=493023125741")

	logs := buf.String()
	if !strings.Contains(logs, g.conn.ID.String()) || !strings.Contains(logs, "bad_signature") {
		t.Fatalf("the logs lack what they are for:\n%s", logs)
	}
	for _, secret := range []string{"13800138000", "4008001234", "493023125741", "492214710334", "Christopher", "Emma",
		g.conn.Secret, zammadToken, "control-mode-token-0123"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs show %q:\n%s", secret, logs)
		}
	}
}
