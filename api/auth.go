package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// TokenPrefix starts every API token, so leaked tokens are recognisable
// (secret scanners, logs).
const TokenPrefix = "sdk_"

// GenerateToken makes a new API token: "sdk_" and 32 random bytes in
// unpadded base64url (256 bits). hash is what the store keeps (HashToken);
// show the token once and forget it.
func GenerateToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("api: generate token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken is the hex SHA-256 of a token, the form stored and looked up.
// A fast hash is right here: tokens carry 256 random bits, so there is
// nothing to brute-force (passwords would need argon2id).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Caller is the authenticated token of a request: an API token
// (TokenID) or an OAuth access token (ClientID, and AgentID when it acts
// for an agent).
type Caller struct {
	Tenant    string
	TokenID   int64
	TokenName string // the API token's name, or "oauth:" and the client's name
	Scopes    []string
	ClientID  string
	AgentID   int64
	// AgentEmail is the agent an OAuth token acts for ("" otherwise): the
	// CRM is then read and written as them.
	AgentEmail string
}

// limitKey is what the rate limit counts by: the API token, or the OAuth
// client (and agent), whatever token of theirs is used.
func (c Caller) limitKey() string {
	if c.ClientID != "" {
		return fmt.Sprintf("oauth:%s:%d", c.ClientID, c.AgentID)
	}
	return fmt.Sprintf("token:%d", c.TokenID)
}

// ErrInvalidAccessToken is what Options.AccessTokens answers for a token
// that is not (or no longer) valid.
var ErrInvalidAccessToken = errors.New("api: invalid access token")

// Allows reports whether the caller's token has scope (or admin).
func (c Caller) Allows(scope string) bool {
	return ticket.Token{Scopes: c.Scopes}.Allows(scope)
}

// CallerFrom returns the caller that RequireToken authenticated.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(tokenKey).(Caller)
	return c, ok
}

// RequireToken wraps h so that it runs only for a valid bearer token
// (RFC 6750 section 2.1), with the caller (and so the tenant) in the
// request context; see CallerFrom. Other packages' routes mounted with
// Mount use it too.
func (s *Server) RequireToken(h http.Handler) http.Handler { return s.authenticate(s.limited(h)) }

// RequireScope is RequireToken for a token that has scope (403
// insufficient_scope otherwise).
func (s *Server) RequireScope(scope string, h http.Handler) http.Handler { return s.scoped(scope, h) }

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := s.checkToken(w, r); ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey, c)))
		}
	})
}

// checkToken looks up the request's bearer token; when it is missing,
// unknown or the look-up fails it answers the error itself and reports
// false.
func (s *Server) checkToken(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		// RFC 6750 section 3: no error code when no credentials came.
		w.Header().Set("WWW-Authenticate", `Bearer realm="sidedesk"`)
		s.writeError(w, r, http.StatusUnauthorized, "unauthorized",
			"missing bearer token (send Authorization: Bearer <token>)", nil)
		return Caller{}, false
	}
	if !strings.HasPrefix(token, TokenPrefix) && s.opts.AccessTokens != nil {
		c, err := s.opts.AccessTokens(r.Context(), token)
		if errors.Is(err, ErrInvalidAccessToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sidedesk", error="invalid_token", error_description="the access token expired or was revoked"`)
			s.writeError(w, r, http.StatusUnauthorized, "invalid_token",
				"unknown, expired or revoked access token (get a new one from /oauth/token)", nil)
			return Caller{}, false
		}
		if err != nil {
			s.writeStoreError(w, r, "token", err)
			return Caller{}, false
		}
		return c, true
	}
	tok, err := s.opts.Store.TokenByHash(r.Context(), HashToken(token))
	if errors.Is(err, ticket.ErrNotFound) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sidedesk", error="invalid_token"`)
		s.writeError(w, r, http.StatusUnauthorized, "invalid_token", "unknown or revoked API token", nil)
		return Caller{}, false
	}
	if err != nil {
		s.writeStoreError(w, r, "token", err)
		return Caller{}, false
	}
	return callerOf(tok), true
}

func callerOf(t ticket.Token) Caller {
	return Caller{Tenant: t.Tenant, TokenID: t.ID, TokenName: t.Name, Scopes: t.Scopes}
}

// scoped wraps h so that it runs only for a valid bearer token that has
// scope; one without it is answered 403 insufficient_scope naming the
// scope (RFC 6750 section 3.1).
func (s *Server) scoped(scope string, h http.Handler) http.Handler {
	return s.authenticate(s.limited(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _ := CallerFrom(r.Context()); !c.Allows(scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="sidedesk", error="insufficient_scope", scope=%q`, scope))
			s.writeError(w, r, http.StatusForbidden, "insufficient_scope",
				fmt.Sprintf("this token lacks the scope %s (make one with: sidedesk token create --name N --scopes %s)", scope, scope), nil)
			return
		}
		h.ServeHTTP(w, r)
	})))
}

// bearerToken reads "Bearer <token>" (scheme case-insensitive, RFC 7235
// section 2.1; token68 syntax, RFC 6750 section 2.1).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t,") {
		return "", false
	}
	return tok, true
}

// tenantOf is the tenant of an authenticated request.
func tenantOf(r *http.Request) string {
	c, _ := CallerFrom(r.Context())
	return c.Tenant
}
