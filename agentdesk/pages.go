package agentdesk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/switchboard-cc/switchboard/agentdesk/web"
	"github.com/switchboard-cc/switchboard/org"
)

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data web.PageData) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func pageUser(sess session) *web.PageUser {
	return &web.PageUser{ID: sess.User.ID.String(), Name: sess.User.DisplayName, Role: string(sess.User.Role)}
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess, ok := sessionFrom(r.Context())
	switch {
	case !ok:
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	case sess.User.Role == "agent":
		http.Redirect(w, r, "/console", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/wallboard", http.StatusSeeOther)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "", "", safeNext(r.URL.Query().Get("next")))
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, email, next string) {
	s.render(w, r, status, "login.html", web.PageData{Title: "Log in", Error: msg, Email: email, Next: next})
}

func (s *Server) consolePage(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	// A supervisor without an agent profile may search and open customers
	// here, but the console socket would refuse them over and over.
	_, err := s.accounts.Agent(r.Context(), sess.User.TenantID, sess.User.ID)
	s.render(w, r, http.StatusOK, "console.html", web.PageData{Title: "Console", User: pageUser(sess), CSRF: sess.CSRF,
		NotAgent: errors.Is(err, org.ErrNotFound)})
}

func (s *Server) wallboardPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	s.render(w, r, http.StatusOK, "wallboard.html", web.PageData{Title: "Wallboard", User: pageUser(sess), CSRF: sess.CSRF})
}

// demoPage is a stand-in dealer website that embeds the chat widget of the
// configured demo site, the way a dealer would paste it into theirs.
func (s *Server) demoPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DemoSiteKey == "" {
		http.NotFound(w, r)
		return
	}
	s.render(w, r, http.StatusOK, "demo.html", web.PageData{Title: s.cfg.DemoSiteName, SiteKey: s.cfg.DemoSiteKey, SiteName: s.cfg.DemoSiteName})
}

func (s *Server) chatScript(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(web.Static(), "chat.js")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	// Dealers' pages load this from their own origin.
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 only when PostgreSQL and Redis both answer, so a load
// balancer stops sending traffic to a node that lost either.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if err := s.bus.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready: redis", "err", err)
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ready\n"))
}
