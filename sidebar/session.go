package sidebar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// sessionCookie names the panel's session cookie. Its value is a random
// 256-bit id; the store keeps only its SHA-256 (HashSessionID).
const sessionCookie = "sidedesk_session"

// HashSessionID is the hex SHA-256 of a session id, the form stored and
// looked up. A fast hash is right: the id carries 256 random bits.
func HashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

type ctxKey int

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 12 * time.Hour

// Agent is the signed-in agent of a panel request.
type Agent struct {
	Tenant string
	UserID int64
	Email  string
	Name   string
	Role   string
	// CSRF is the session's synchronizer token.
	CSRF string
}

const agentKey ctxKey = 100

// AgentFrom returns the agent a panel request was authenticated as.
func AgentFrom(ctx context.Context) (Agent, bool) {
	a, ok := ctx.Value(agentKey).(Agent)
	return a, ok
}

// cookie builds a cookie of ours. Attributes, and why:
//   - HttpOnly: scripts (ours included) never read it.
//   - Over HTTPS (PublicURL https://, or a TLS request): Secure and
//     SameSite=None, so the cookie is sent inside Outlook's iframe, where
//     the panel is a third-party frame of outlook.office.com; plus
//     Partitioned (CHIPS), so browsers that block unpartitioned
//     third-party cookies still keep it, keyed to the Outlook site.
//   - Over plain HTTP (the demo on loopback): browsers reject
//     SameSite=None without Secure, so SameSite=Lax; the panel then works
//     in a tab or same-site frame, not inside Outlook (which needs HTTPS
//     anyway).
//
// maxAge < 0 deletes the cookie.
func (s *Server) cookie(r *http.Request, name, value, path string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true}
	if s.secure(r) {
		c.Secure, c.SameSite, c.Partitioned = true, http.SameSiteNoneMode, true
	} else {
		c.SameSite = http.SameSiteLaxMode
	}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// secure reports whether the panel is served over HTTPS.
func (s *Server) secure(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(s.base), "https://") || r.TLS != nil
}

// startSession stores a new session for the user and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, tenant string, userID int64) error {
	id := randomToken()
	expires := s.now().Add(s.sessionTTL)
	if _, err := s.opts.Panel.CreateSession(r.Context(), tenant, userID, HashSessionID(id), randomToken(), expires); err != nil {
		return fmt.Errorf("sidebar: start session: %w", err)
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, id, "/", s.sessionTTL))
	return nil
}

// agentOf authenticates r by its session cookie.
func (s *Server) agentOf(r *http.Request) (Agent, bool) {
	if a, ok := AgentFrom(r.Context()); ok {
		return a, true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return Agent{}, false
	}
	sess, err := s.opts.Panel.SessionByHash(r.Context(), HashSessionID(c.Value))
	if err != nil {
		if !errors.Is(err, ticket.ErrNotFound) {
			s.log.LogAttrs(r.Context(), slog.LevelError, "sidebar: session look-up failed", slog.String("error", err.Error()))
		}
		return Agent{}, false
	}
	u, err := s.opts.Panel.UserByID(r.Context(), sess.Tenant, sess.UserID)
	if err != nil {
		if !errors.Is(err, ticket.ErrNotFound) {
			s.log.LogAttrs(r.Context(), slog.LevelError, "sidebar: session user look-up failed", slog.String("error", err.Error()))
		}
		return Agent{}, false
	}
	if !u.DisabledAt.IsZero() {
		return Agent{}, false // disabled since the session began
	}
	return Agent{Tenant: sess.Tenant, UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CSRF: sess.CSRFToken}, true
}

// requireAgent runs h only for a signed-in agent. A page request without
// one is sent to the login page (coming back afterwards); a state-changing
// request must also pass the CSRF checks (csrf.go).
func (s *Server) requireAgent(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.agentOf(r)
		if !ok {
			loginURL := "/login"
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				loginURL += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			if r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", loginURL)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, loginURL, http.StatusSeeOther)
				return
			}
			s.htmlError(w, r, http.StatusUnauthorized, "Your session has ended; sign in again.", nil)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := s.checkCSRF(w, r, a.CSRF); err != nil {
				s.log.LogAttrs(r.Context(), slog.LevelWarn, "sidebar: CSRF check failed",
					slog.String("path", r.URL.Path), slog.String("agent", a.Email),
					slog.String("request_id", requestID(r)), slog.String("error", err.Error()))
				s.htmlError(w, r, http.StatusForbidden, "This request failed the cross-site request check; reload the panel and try again.", nil)
				return
			}
		}
		// The CRM acts as this agent (Salesforce: their own connection).
		ctx := crm.WithAgent(context.WithValue(r.Context(), agentKey, a), a.Email)
		h(w, r.WithContext(ctx))
	})
}
