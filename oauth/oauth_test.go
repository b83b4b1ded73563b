package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sidedesk/sidedesk/oauth"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// The client side of these tests is golang.org/x/oauth2, an independent
// implementation of RFC 6749 and RFC 7636; revocation (RFC 7009),
// introspection (RFC 7662) and metadata (RFC 8414) are spoken as raw
// form posts and JSON, as those RFCs write them.

type fixture struct {
	st    *store.Store
	srv   *oauth.Server
	ts    *httptest.Server
	now   time.Time
	agent ticket.User
	admin ticket.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "d.db"), BlobDir: filepath.Join(dir, "b")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, now: time.Now()}
	mux := http.NewServeMux()
	f.ts = httptest.NewServer(mux)
	t.Cleanup(f.ts.Close)
	f.srv, err = oauth.New(oauth.Options{Store: st, Issuer: f.ts.URL, Key: []byte(strings.Repeat("k", 32)),
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range oauth.Patterns() {
		mux.Handle(p, f.srv.Handler())
	}
	if f.agent, err = st.CreateUser(ctx, ticket.DefaultTenant, "ann@acme.example", "Ann", ticket.RoleAgent, ""); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = st.CreateUser(ctx, ticket.DefaultTenant, "boss@acme.example", "Boss", ticket.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) client(t *testing.T, n oauth.NewClient) (oauth.Client, string) {
	t.Helper()
	c, secret, err := f.srv.CreateClient(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return c, secret
}

// post sends a form with HTTP Basic client authentication and decodes
// the JSON answer.
func (f *fixture) post(t *testing.T, path, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

func oauthErr(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestClientCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, secret := f.client(t, oauth.NewClient{Name: "Warehouse", Scopes: []string{ticket.ScopeTicketsRead, ticket.ScopeEventsRead}})
	if !strings.HasPrefix(c.ID, oauth.ClientIDPrefix) || !strings.HasPrefix(secret, oauth.ClientSecretPrefix) {
		t.Fatalf("client %q secret %q: want the sdc_/sdcs_ prefixes", c.ID, secret)
	}
	if got, _ := f.st.OAuthClient(ctx, c.ID); got.SecretHash == "" || strings.Contains(got.SecretHash, secret) {
		t.Fatalf("stored client %+v: the secret must be stored hashed only", got)
	}
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: f.ts.URL + oauth.PathToken,
		Scopes: []string{ticket.ScopeTicketsRead}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.Before(f.now.Add(50*time.Minute)) || tok.RefreshToken != "" {
		t.Errorf("token %+v: want a Bearer access token of about an hour and no refresh token", tok)
	}
	g, err := f.srv.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.Tenant != ticket.DefaultTenant || g.ClientID != c.ID || g.UserID != 0 || !slices.Equal(g.Scopes, []string{ticket.ScopeTicketsRead}) {
		t.Errorf("grant %+v: want the client's tenant, no agent and just tickets:read", g)
	}
	// No scope asked: every scope the client has.
	cc.Scopes = nil
	all, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := f.srv.Verify(ctx, all.AccessToken); !slices.Equal(g.Scopes, c.Scopes) {
		t.Errorf("no scope asked: got %v, want the client's %v", g.Scopes, c.Scopes)
	}
	// A scope the client lacks is refused, naming it.
	cc.Scopes = []string{ticket.ScopeAdmin}
	if _, err := cc.Token(ctx); oauthErr(err) != "invalid_scope" || !strings.Contains(err.Error(), "admin") {
		t.Errorf("asking admin: %v, want invalid_scope naming admin", err)
	}
	// A wrong secret, and an unknown client, are invalid_client.
	cc.Scopes = nil
	cc.ClientSecret = secret + "x"
	if _, err := cc.Token(ctx); oauthErr(err) != "invalid_client" {
		t.Errorf("wrong secret: %v, want invalid_client", err)
	}
	cc.ClientID, cc.ClientSecret = "sdc_nobody", secret
	if _, err := cc.Token(ctx); oauthErr(err) != "invalid_client" {
		t.Errorf("unknown client: %v, want invalid_client", err)
	}
	// A made-up or tampered access token does not verify.
	for _, bad := range []string{"", "x", tamper(tok.AccessToken), "sdk_abc"} {
		if _, err := f.srv.Verify(ctx, bad); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("Verify(%.20q) = %v, want ErrInvalidToken", bad, err)
		}
	}
	// Tokens end: after an hour, and when the client is revoked.
	f.now = f.now.Add(61 * time.Minute)
	if _, err := f.srv.Verify(ctx, tok.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("an expired token verified: %v", err)
	}
	f.now = f.now.Add(-61 * time.Minute)
	if err := f.srv.RevokeClient(ctx, ticket.DefaultTenant, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Verify(ctx, all.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("a revoked client's token verified: %v", err)
	}
	cc.ClientID = c.ID
	if _, err := cc.Token(ctx); oauthErr(err) != "invalid_client" {
		t.Errorf("a revoked client got a token: %v", err)
	}
}

func TestCreateClientRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []oauth.NewClient{
		{Name: "", Scopes: []string{ticket.ScopeTicketsRead}},
		{Name: "x", Scopes: nil},
		{Name: "x", Scopes: []string{"tickets:delete"}},
		{Name: "x", Scopes: []string{ticket.ScopeTicketsRead}, RedirectURIs: []string{"http://evil.example/cb"}},
		{Name: "x", Scopes: []string{ticket.ScopeTicketsRead}, RedirectURIs: []string{"https://app.example/cb#frag"}},
		{Name: "x", Scopes: []string{ticket.ScopeTicketsRead}, RedirectURIs: []string{"/relative"}},
		{Name: "x", Scopes: []string{ticket.ScopeTicketsRead}, RedirectURIs: []string{"javascript:alert(1)"}},
		{Name: "x", Scopes: []string{ticket.ScopeTicketsRead}, Public: true},
	} {
		if _, _, err := f.srv.CreateClient(ctx, n); !errors.Is(err, ticket.ErrInvalid) {
			t.Errorf("CreateClient(%+v) = %v, want ErrInvalid", n, err)
		}
	}
	f.client(t, oauth.NewClient{Name: "App", Scopes: []string{ticket.ScopeTicketsRead}})
	if _, _, err := f.srv.CreateClient(ctx, oauth.NewClient{Name: "App", Scopes: []string{ticket.ScopeTicketsRead}}); !errors.Is(err, oauth.ErrExists) {
		t.Errorf("a second client named App: %v, want ErrExists", err)
	}
	if _, _, err := f.srv.CreateClient(ctx, oauth.NewClient{Tenant: "other", Name: "App", Scopes: []string{ticket.ScopeTicketsRead}}); err != nil {
		t.Errorf("the same name in another tenant: %v", err)
	}
	f.client(t, oauth.NewClient{Name: "Native", Scopes: []string{ticket.ScopeTicketsRead}, Public: true,
		RedirectURIs: []string{"com.example.app:/callback", "http://127.0.0.1:7777/cb"}})
}

// codeFlow runs the authorization code flow up to the code: the browser
// asks /oauth/authorize, lands on the consent page, the agent answers
// (here through Approve, as the panel's POST does), and the provider's
// callback redirects to the app with the code.
type codeFlow struct {
	f        *fixture
	cfg      *oauth2.Config
	verifier string
}

func (f *fixture) codeClient(t *testing.T, scopes []string, public bool) (*codeFlow, oauth.Client) {
	c, secret := f.client(t, oauth.NewClient{Name: "Portal " + t.Name(), Scopes: []string{ticket.ScopeTicketsRead, ticket.ScopeTicketsWrite, ticket.ScopeAdmin},
		RedirectURIs: []string{"http://127.0.0.1:9/cb"}, Public: public})
	return &codeFlow{f: f, verifier: oauth2.GenerateVerifier(), cfg: &oauth2.Config{ClientID: c.ID, ClientSecret: secret,
		RedirectURL: "http://127.0.0.1:9/cb", Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: f.ts.URL + oauth.PathAuthorize, TokenURL: f.ts.URL + oauth.PathToken}}}, c
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// location GETs u and returns its redirect.
func location(t *testing.T, u string) *url.URL {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("GET %s: %d without a redirect", u, resp.StatusCode)
	}
	return loc
}

// authorize returns the consent request id the browser is sent to.
func (cf *codeFlow) authorize(t *testing.T, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	opts = append(opts, oauth2.S256ChallengeOption(cf.verifier))
	loc := location(t, cf.cfg.AuthCodeURL("st-123", opts...))
	if loc.Path != oauth.PathConsent || loc.Query().Get("id") == "" {
		t.Fatalf("authorize redirected to %s, want the consent page", loc)
	}
	return loc.Query().Get("id")
}

// code approves as agent and follows the callback to the app's redirect.
func (cf *codeFlow) code(t *testing.T, id string, agent ticket.User) string {
	t.Helper()
	next, err := cf.f.srv.Approve(context.Background(), id, agent.Tenant, agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	loc := location(t, cf.f.ts.URL+next)
	if loc.Host != "127.0.0.1:9" || loc.Query().Get("state") != "st-123" || loc.Query().Get("code") == "" {
		t.Fatalf("callback redirected to %s, want the app with code and state", loc)
	}
	return loc.Query().Get("code")
}

func TestCodeFlowWithPKCEAndRefresh(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cf, c := f.codeClient(t, []string{ticket.ScopeTicketsRead, ticket.ScopeAdmin}, false)
	id := cf.authorize(t)
	con, err := f.srv.ConsentRequest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if con.ClientName != c.Name || con.RedirectHost != "127.0.0.1:9" || !con.Offline ||
		!slices.Equal(con.Scopes, []string{ticket.ScopeTicketsRead, ticket.ScopeAdmin}) {
		t.Errorf("consent %+v: want the client's name, the redirect host and the asked scopes", con)
	}
	code := cf.code(t, id, f.agent)
	// The wrong verifier is refused, and so the code is not spent...
	if _, err := cf.cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErr(err) != "invalid_grant" {
		t.Fatalf("wrong code_verifier: %v, want invalid_grant", err)
	}
	tok, err := cf.cfg.Exchange(ctx, code, oauth2.VerifierOption(cf.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("the code grant gave no refresh token")
	}
	// ...but once spent it is gone.
	if _, err := cf.cfg.Exchange(ctx, code, oauth2.VerifierOption(cf.verifier)); oauthErr(err) != "invalid_grant" {
		t.Errorf("a code used twice: %v, want invalid_grant", err)
	}
	g, err := f.srv.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Ann is no admin: she cannot grant admin.
	if g.UserID != f.agent.ID || g.AgentEmail != f.agent.Email || slices.Contains(g.Scopes, ticket.ScopeAdmin) ||
		!slices.Contains(g.Scopes, ticket.ScopeTicketsRead) {
		t.Errorf("grant %+v: want Ann, with tickets:read and without admin", g)
	}
	// Refresh rotates: a new pair; the old refresh token, used again,
	// revokes the whole grant (the new tokens too).
	fresh, err := cf.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh gave %+v: want a new access and a new refresh token", fresh)
	}
	if _, err := f.srv.Verify(ctx, fresh.AccessToken); err != nil {
		t.Fatalf("the refreshed access token: %v", err)
	}
	if _, err := cf.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Fatalf("reusing a rotated refresh token: %v, want invalid_grant", err)
	}
	for _, at := range []string{tok.AccessToken, fresh.AccessToken} {
		if _, err := f.srv.Verify(ctx, at); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("after refresh-token reuse an access token of the grant still verifies: %v", err)
		}
	}
	if _, err := cf.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Errorf("after reuse the newest refresh token still works: %v", err)
	}
}

func TestCodeFlowRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cf, _ := f.codeClient(t, []string{ticket.ScopeTicketsRead}, false)

	// PKCE is required: without it the app gets its redirect with
	// invalid_request, and no consent page.
	loc := location(t, cf.cfg.AuthCodeURL("st-123"))
	if loc.Host != "127.0.0.1:9" || loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "PKCE") {
		t.Errorf("no PKCE: redirected to %s, want invalid_request naming PKCE", loc)
	}
	// A redirect URI not registered is never redirected to.
	bad := *cf.cfg
	bad.RedirectURL = "https://evil.example/cb"
	resp, err := noRedirect.Get(bad.AuthCodeURL("s", oauth2.S256ChallengeOption(cf.verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l, _ := resp.Location(); l != nil && l.Host == "evil.example" {
		t.Errorf("redirected to an unregistered redirect URI: %s", l)
	}
	// Deny sends access_denied back with the state.
	id := cf.authorize(t)
	next, err := f.srv.Deny(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(next); u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "st-123" {
		t.Errorf("deny sends to %s, want access_denied and the state", next)
	}
	if _, err := f.srv.Approve(ctx, id, f.agent.Tenant, f.agent.ID); !errors.Is(err, oauth.ErrConsent) {
		t.Errorf("approving a denied request: %v, want ErrConsent", err)
	}
	// An agent of another tenant cannot approve.
	other, err := f.st.CreateUser(ctx, "other", "eve@evil.example", "Eve", ticket.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	id = cf.authorize(t)
	if _, err := f.srv.Approve(ctx, id, other.Tenant, other.ID); !errors.Is(err, oauth.ErrOtherTenant) {
		t.Errorf("another tenant's agent approving: %v, want ErrOtherTenant", err)
	}
	// A request left for more than ten minutes expires.
	f.now = f.now.Add(oauth.RequestTTL + time.Minute)
	if _, err := f.srv.Approve(ctx, id, f.agent.Tenant, f.agent.ID); !errors.Is(err, oauth.ErrConsent) {
		t.Errorf("approving an expired request: %v, want ErrConsent", err)
	}
	f.now = f.now.Add(-oauth.RequestTTL - time.Minute)
	// A disabled agent's tokens stop working, refresh included.
	id = cf.authorize(t)
	tok, err := cf.cfg.Exchange(ctx, cf.code(t, id, f.agent), oauth2.VerifierOption(cf.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetUserDisabled(ctx, f.agent.Tenant, f.agent.Email, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Verify(ctx, tok.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("a disabled agent's token verified: %v", err)
	}
	if _, err := cf.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Errorf("a disabled agent's refresh: %v, want invalid_grant", err)
	}
}

func TestPublicClientNeedsNoSecret(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cf, _ := f.codeClient(t, []string{ticket.ScopeTicketsRead}, true)
	tok, err := cf.cfg.Exchange(ctx, cf.code(t, cf.authorize(t), f.agent), oauth2.VerifierOption(cf.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	// A public client has no client credentials grant.
	cc := clientcredentials.Config{ClientID: cf.cfg.ClientID, TokenURL: f.ts.URL + oauth.PathToken}
	if _, err := cc.Token(ctx); err == nil {
		t.Error("a public client got a client credentials token")
	}
}

func TestRevocationAndIntrospection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cf, c := f.codeClient(t, []string{ticket.ScopeTicketsRead}, false)
	tok, err := cf.cfg.Exchange(ctx, cf.code(t, cf.authorize(t), f.agent), oauth2.VerifierOption(cf.verifier))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 7662: the client asks about its token.
	code, m := f.post(t, oauth.PathIntrospect, c.ID, cf.cfg.ClientSecret, url.Values{"token": {tok.AccessToken}})
	if code != 200 || m["active"] != true || m["client_id"] != c.ID || m["scope"] != "tickets:read offline_access" || m["username"] != f.agent.Email {
		t.Fatalf("introspection: %d %v, want active with client, scope and username", code, m)
	}
	// Without client authentication: refused.
	if code, _ := f.post(t, oauth.PathIntrospect, "", "", url.Values{"token": {tok.AccessToken}}); code != 401 {
		t.Errorf("introspection without client authentication: %d, want 401", code)
	}
	// Another tenant's client learns nothing.
	oc, osecret := f.client(t, oauth.NewClient{Tenant: "other", Name: "Spy", Scopes: []string{ticket.ScopeTicketsRead}})
	if _, m := f.post(t, oauth.PathIntrospect, oc.ID, osecret, url.Values{"token": {tok.AccessToken}}); m["active"] != false {
		t.Errorf("another tenant's client introspecting: %v, want inactive", m)
	}
	// RFC 7009: another client may not revoke it...
	if code, _ := f.post(t, oauth.PathRevoke, oc.ID, osecret, url.Values{"token": {tok.RefreshToken}}); code == 200 {
		t.Errorf("another client revoked the token: %d", code)
	}
	if _, err := f.srv.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("after another client's revocation attempt: %v", err)
	}
	// ...an unknown token revokes as 200 (section 2.2)...
	if code, _ := f.post(t, oauth.PathRevoke, c.ID, cf.cfg.ClientSecret, url.Values{"token": {"sdr_unknown"}}); code != 200 {
		t.Errorf("revoking an unknown token: %d, want 200", code)
	}
	// ...and revoking the refresh token ends the grant, access token too.
	if code, m := f.post(t, oauth.PathRevoke, c.ID, cf.cfg.ClientSecret, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}); code != 200 {
		t.Fatalf("revoke: %d %v", code, m)
	}
	if _, err := f.srv.Verify(ctx, tok.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("access token after its refresh token was revoked: %v", err)
	}
	if _, m := f.post(t, oauth.PathIntrospect, c.ID, cf.cfg.ClientSecret, url.Values{"token": {tok.AccessToken}}); m["active"] != false {
		t.Errorf("introspecting a revoked token: %v, want inactive", m)
	}
	if _, err := cf.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Errorf("a revoked refresh token: %v, want invalid_grant", err)
	}
	// Revoking an access token by itself (client credentials).
	cs, secret := f.client(t, oauth.NewClient{Name: "CC", Scopes: []string{ticket.ScopeTicketsRead}})
	at, err := (&clientcredentials.Config{ClientID: cs.ID, ClientSecret: secret, TokenURL: f.ts.URL + oauth.PathToken}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.post(t, oauth.PathRevoke, cs.ID, secret, url.Values{"token": {at.AccessToken}, "token_type_hint": {"access_token"}}); code != 200 {
		t.Fatalf("revoke access token: %d", code)
	}
	if _, err := f.srv.Verify(ctx, at.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("a revoked access token verified: %v", err)
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{oauth.PathMetadata, oauth.PathDiscovery} {
		resp, err := http.Get(f.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", p, resp.StatusCode, err)
		}
		// RFC 8414 section 3.3: the issuer is exactly the one asked of.
		if m["issuer"] != f.ts.URL || m["token_endpoint"] != f.ts.URL+oauth.PathToken ||
			m["revocation_endpoint"] != f.ts.URL+oauth.PathRevoke || m["introspection_endpoint"] != f.ts.URL+oauth.PathIntrospect {
			t.Errorf("%s: %v", p, m)
		}
		if got, _ := json.Marshal(m["code_challenge_methods_supported"]); string(got) != `["S256"]` {
			t.Errorf("%s: code_challenge_methods_supported %s, want [\"S256\"]", p, got)
		}
		if got, _ := json.Marshal(m["grant_types_supported"]); string(got) != `["authorization_code","refresh_token","client_credentials"]` {
			t.Errorf("%s: grant_types_supported %s", p, got)
		}
		if got, _ := json.Marshal(m["response_types_supported"]); string(got) != `["code"]` {
			t.Errorf("%s: response_types_supported %s", p, got)
		}
	}
}

// tamper changes one character in the middle of token to another base64url
// character. (Changing the last ones is not enough: the final character of a
// base64 group can carry padding bits the decoder ignores, so the bytes stay
// the same about once in a hundred runs.)
func tamper(token string) string {
	b := []byte(token)
	i := len(b) / 2
	for b[i] == '.' || (i+1 < len(b) && b[i+1] == '.') {
		i++
	}
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
