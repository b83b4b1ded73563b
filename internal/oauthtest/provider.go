// Package oauthtest is a local OAuth 2.0 identity provider for tests, in the
// shape the Microsoft identity platform (v2.0 endpoints) and Google
// document: an authorization endpoint that signs the configured user in at
// once, a token endpoint for the authorization_code (RFC 6749 §4.1 with
// PKCE, RFC 7636), refresh_token (§6) and client_credentials (§4.4)
// grants, with errors as §5.2 gives them (Microsoft's extra fields
// included), and an introspection endpoint (RFC 7662) that Dovecot's
// oauth2 passdb asks, so a real IMAP and SMTP server checks the tokens.
//
// Refresh tokens rotate on every use like Microsoft's, and, stricter than
// Microsoft, an old one stops working once its successor is issued, so a
// client that does not keep the rotated token fails here.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Provider is a running fake identity provider.
type Provider struct {
	URL string // base URL: /authorize, /token, /introspect

	// ClientID and ClientSecret are the registered client's; Username is
	// the account that signs in at /authorize and whose tokens these are.
	ClientID, ClientSecret, Username string
	// TokenLifetime is expires_in of access tokens (default 1 h).
	TokenLifetime time.Duration

	srv *httptest.Server

	mu       sync.Mutex
	codes    map[string]grantCode
	refresh  map[string]bool      // live refresh tokens
	access   map[string]time.Time // access token → expiry
	counts   map[string]int       // grant_type → token answers given
	down     bool
	redirect []string // redirect_uri values seen at /authorize
}

type grantCode struct {
	challenge, redirect, scope string
	expires                    time.Time
}

// Start runs a Provider for t (stopped by t.Cleanup).
func Start(t testing.TB, clientID, clientSecret, username string) *Provider {
	p := &Provider{ClientID: clientID, ClientSecret: clientSecret, Username: username, TokenLifetime: time.Hour,
		codes: map[string]grantCode{}, refresh: map[string]bool{}, access: map[string]time.Time{}, counts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /introspect", p.introspect)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// IssueRefreshToken hands out a refresh token as if the user had consented
// elsewhere (a token pasted into the config).
func (p *Provider) IssueRefreshToken() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	rt := "rt-" + random()
	p.refresh[rt] = true
	return rt
}

// RevokeAll ends every refresh and access token (the user changed their
// password, or an admin revoked the app's sessions).
func (p *Provider) RevokeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.refresh)
	clear(p.access)
}

// ExpireAccessTokens makes every access token issued so far invalid at the
// server, before the expiry it was given with.
func (p *Provider) ExpireAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.access)
}

// SetDown makes the token endpoint answer 503 (an outage) until set back.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// Grants is how many tokens were issued by grant_type.
func (p *Provider) Grants(grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[grant]
}

// IntrospectURL is the URL to give Dovecot's oauth2 passdb
// (introspection_mode = post).
func (p *Provider) IntrospectURL() string { return p.URL + "/introspect" }

// authorize implements the authorization endpoint: the user is signed in
// already, consents at once, and is redirected with a code (RFC 6749
// §4.1.2), or with an error (§4.1.2.1).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	u, err := url.Parse(redirect)
	if err != nil || redirect == "" || q.Get("client_id") != p.ClientID {
		http.Error(w, "AADSTS700016: unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := u.Query()
	back.Set("state", q.Get("state"))
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back.Set("error", "invalid_request")
		back.Set("error_description", "AADSTS9002325: Proof Key for Code Exchange is required")
	default:
		code := "code-" + random()
		p.mu.Lock()
		p.codes[code] = grantCode{challenge: q.Get("code_challenge"), redirect: redirect, scope: q.Get("scope"),
			expires: time.Now().Add(10 * time.Minute)}
		p.redirect = append(p.redirect, redirect)
		p.mu.Unlock()
		back.Set("code", code)
	}
	u.RawQuery = back.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// tokenError writes an RFC 6749 §5.2 error with the fields Microsoft adds.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"error": code, "error_description": desc + "\r\nTrace ID: " + random() + "\r\nCorrelation ID: " + random(),
		"error_codes": []int{70000}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id": random(), "correlation_id": random(),
	})
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: malformed body")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	// Client authentication: client_secret_post (Microsoft's documented
	// way) or client_secret_basic (§2.3.1).
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	} else {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if id != p.ClientID || secret != p.ClientSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	scope := f.Get("scope")
	issueRefresh := true
	switch grant {
	case "authorization_code":
		c, ok := p.codes[f.Get("code")]
		delete(p.codes, f.Get("code")) // one use (§4.1.2)
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case !ok || time.Now().After(c.expires):
			tokenError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70008: The provided authorization code or refresh token has expired.")
			return
		case c.redirect != f.Get("redirect_uri"):
			tokenError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50148: The redirect_uri does not match.")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			tokenError(w, http.StatusBadRequest, "invalid_grant", "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.")
			return
		}
		scope = c.scope
	case "refresh_token":
		rt := f.Get("refresh_token")
		if !p.refresh[rt] {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "AADSTS700082: The refresh token has expired or was revoked.")
			return
		}
		delete(p.refresh, rt) // rotated
	case "client_credentials":
		if !strings.HasSuffix(scope, "/.default") {
			tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
			return
		}
		issueRefresh = false // §4.4.3: no refresh token
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: grant_type "+grant+" is not supported.")
		return
	}
	at := "at-" + random()
	life := p.TokenLifetime
	p.access[at] = time.Now().Add(life)
	p.counts[grant]++
	out := map[string]any{"token_type": "Bearer", "access_token": at, "expires_in": int(life.Seconds()),
		"ext_expires_in": int(life.Seconds()), "scope": scope}
	if issueRefresh {
		rt := "rt-" + random()
		p.refresh[rt] = true
		out["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

// introspect answers RFC 7662 (Dovecot's introspection_mode = post sends
// the form body token=TOKEN).
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	p.mu.Lock()
	exp, ok := p.access[tok]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok || time.Now().After(exp) {
		json.NewEncoder(w).Encode(map[string]any{"active": false})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": true, "username": p.Username, "client_id": p.ClientID,
		"exp": exp.Unix(), "token_type": "Bearer"})
}
