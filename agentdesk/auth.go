package agentdesk

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/org"
)

const sessionCookie = "sb_session"

type ctxKey int

const sessionKey ctxKey = iota

type session struct {
	org.Session
	token string
}

// loadSession puts the caller's session, if any, into the request context.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err == nil && c.Value != "" {
			sess, err := s.accounts.SessionByToken(r.Context(), c.Value)
			if err == nil {
				r = r.WithContext(context.WithValue(r.Context(), sessionKey, session{Session: sess, token: c.Value}))
			} else if !errors.Is(err, org.ErrNoSession) {
				s.writeError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func sessionFrom(ctx context.Context) (session, bool) {
	sess, ok := ctx.Value(sessionKey).(session)
	return sess, ok
}

// requireRole lets through users whose role allows need. Pages send the
// others to the login form; the API and sockets answer 401 or 403.
func (s *Server) requireRole(need org.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess, ok := sessionFrom(r.Context())
			if !ok {
				if wantsHTML(r) {
					http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				s.writeError(w, r, errUnauthenticated)
				return
			}
			if !sess.User.Role.Allows(need) {
				s.writeError(w, r, errForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func wantsHTML(r *http.Request) bool {
	return r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/ws/")
}

// sameOrigin refuses state-changing requests from other sites (Go's
// Sec-Fetch-Site / Origin check), the first CSRF defence.
func (s *Server) sameOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin(s.origin); err != nil {
		panic(err) // NewServer validated the origin
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errCrossOrigin)
	}))
	return cop.Handler(next)
}

// requireCSRF wants the session's token on every state-changing request, in
// the X-CSRF-Token header or the csrf_token form field: the second defence,
// for browsers that send neither Sec-Fetch-Site nor Origin.
func (s *Server) requireCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		sess, ok := sessionFrom(r.Context())
		if !ok {
			s.writeError(w, r, errUnauthenticated)
			return
		}
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.PostFormValue("csrf_token")
		}
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			s.writeError(w, r, errCSRF)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	// Logins: ten a minute per address across all nodes, against password guessing.
	ok, _, err := s.limiter.Allow(r.Context(), "login:"+clientIP(r), ratelimit.PerMinute(10))
	if err != nil {
		s.log.WarnContext(r.Context(), "login rate limit unavailable", "err", err)
	}
	if !ok {
		s.writeError(w, r, errRateLimited)
		return
	}
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	u, err := s.accounts.Authenticate(r.Context(), email, password)
	if errors.Is(err, org.ErrBadCredentials) {
		s.log.InfoContext(r.Context(), "login refused", "remote", clientIP(r))
		s.renderLogin(w, r, http.StatusUnauthorized, "Wrong e-mail or password.", email, next)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	token, sess, err := s.accounts.CreateSession(r.Context(), u, s.cfg.SessionTTL)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	s.log.InfoContext(r.Context(), "login", "user_id", u.ID, "tenant_id", u.TenantID, "role", u.Role)
	if next == "" {
		next = "/console"
		if u.Role != org.RoleAgent {
			next = "/wallboard"
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if err := s.accounts.RevokeSession(r.Context(), sess.token); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Open sockets of this session recheck it at once and close with 4401.
	s.publishUser(r.Context(), sess.User.TenantID, sess.User.ID, frame{"type": "session_check"})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	return next
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/chat/attachments" || isChatUpload(r.URL.Path)) {
			// The chat connector (and chatUpload, an agent's) holds uploads
			// to the site's own limit, which may exceed MaxBody.
			next.ServeHTTP(w, r)
			return
		}
		// The import takes whole files: a limit of its own, still a limit
		// (and only for exactly this method and path; it requires an admin).
		limit := s.cfg.MaxBody
		if r.Method == http.MethodPost && r.URL.Path == importPath {
			limit = s.cfg.ImportMaxBody
		}
		if r.ContentLength > limit {
			s.writeError(w, r, errTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer address. Behind a proxy, configure the proxy to
// overwrite X-Forwarded-For and trust it here; until then the peer is what
// we can trust.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
