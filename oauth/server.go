// Package oauth is sidedesk's OAuth 2.0 authorization server: the client
// credentials grant (RFC 6749 section 4.4) for integrations, the
// authorization code grant with PKCE (RFC 7636) for third-party apps that
// act for an agent, rotating refresh tokens, revocation (RFC 7009),
// introspection (RFC 7662) and metadata (RFC 8414).
//
// The protocol is zitadel/oidc's OpenID provider (package op); this
// package is its storage over the Store port, the clients' rules (scopes,
// redirect URIs, secrets) and the agent's consent, which the panel
// (package sidebar) shows. Access tokens are opaque: the provider seals
// "token id:subject" with a key derived from sidedesk's secret key, and
// every use looks the id up, so revocation takes effect on the next
// request. Client secrets and refresh tokens are stored as SHA-256 only.
package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sidedesk/sidedesk/ticket"
)

// Lifetimes.
const (
	AccessTTL  = time.Hour
	RefreshTTL = 30 * 24 * time.Hour
	// RequestTTL bounds the code flow: consent and the code exchange
	// must happen within it.
	RequestTTL = 10 * time.Minute
)

// Prefixes of the values this package makes, so leaked ones are
// recognisable.
const (
	ClientIDPrefix     = "sdc_"
	ClientSecretPrefix = "sdcs_"
	refreshPrefix      = "sdr_"
)

// Endpoint paths, under the issuer (public_url).
const (
	PathAuthorize  = "/oauth/authorize"
	PathToken      = "/oauth/token"
	PathIntrospect = "/oauth/introspect"
	PathRevoke     = "/oauth/revoke"
	PathUserinfo   = "/oauth/userinfo"
	PathKeys       = "/oauth/keys"
	PathEndSession = "/oauth/end_session"
	PathDevice     = "/oauth/device_authorization"
	// PathConsent is the agent's consent page (served by the panel).
	PathConsent = "/oauth/consent"
	// PathMetadata is the RFC 8414 document; PathDiscovery the OpenID
	// Connect one (the same content).
	PathMetadata  = "/.well-known/oauth-authorization-server"
	PathDiscovery = "/.well-known/openid-configuration"
)

// Options configures a Server.
type Options struct {
	Store Store // required
	// Issuer is the externally reachable base URL (server.public_url); ""
	// takes each request's host (fine on loopback, not behind a proxy).
	Issuer string
	// Key (at least 32 bytes) seals access tokens and derives the ID token
	// signing key; a subkey of sidedesk's secret key.
	Key    []byte
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the authorization server.
type Server struct {
	store    Store
	log      *slog.Logger
	now      func() time.Time
	provider *op.Provider
	signing  *signingKey
	issuer   string
}

// New builds the server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("oauth: Options.Store is required")
	}
	if len(opts.Key) < 32 {
		return nil, errors.New("oauth: Options.Key must be at least 32 bytes")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{store: opts.Store, log: opts.Logger, now: opts.Now, issuer: strings.TrimRight(opts.Issuer, "/")}
	var err error
	if s.signing, err = deriveSigningKey(opts.Key); err != nil {
		return nil, err
	}
	cfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       append([]string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, oidc.ScopeEmail, oidc.ScopeProfile}, ticket.AllScopes...),
	}
	copy(cfg.CryptoKey[:], derive(opts.Key, "access-tokens"))
	cfg.CryptoKeyId = "1"
	issuer := op.IssuerFromHost("")
	insecure := true
	if s.issuer != "" {
		issuer = op.StaticIssuer(s.issuer)
		insecure = !strings.HasPrefix(s.issuer, "https://")
	}
	o := []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint(PathAuthorize)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(PathToken)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(PathRevoke)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(PathUserinfo)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(PathKeys)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(PathEndSession)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint(PathDevice)),
		op.WithLogger(opts.Logger),
	}
	if insecure {
		o = append(o, op.WithAllowInsecure())
	}
	if s.provider, err = op.NewProvider(cfg, &storage{s: s}, issuer, o...); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return s, nil
}

// Handler serves the protocol endpoints (/oauth/...) and the metadata
// documents (/.well-known/...). The consent page is the panel's.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathMetadata, PathDiscovery:
			s.metadata(w, r)
		default:
			s.provider.ServeHTTP(w, r)
		}
	})
}

// Patterns are the routes Handler serves, for a http.ServeMux.
func Patterns() []string {
	return []string{PathAuthorize, PathAuthorize + "/callback", "POST " + PathToken, "POST " + PathIntrospect,
		"POST " + PathRevoke, PathUserinfo, "GET " + PathKeys, "GET " + PathMetadata, "GET " + PathDiscovery}
}

// metadata answers RFC 8414 (and OpenID Connect Discovery) from the
// provider's own configuration.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), s.provider.IssuerFromRequest(r))
	doc := op.CreateDiscoveryConfig(ctx, s.provider, s.provider.Storage())
	// What is not served here is not advertised: only the code flow, its
	// refresh tokens and client credentials; client secrets, not signed
	// assertions; no device flow, no logout.
	doc.DeviceAuthorizationEndpoint, doc.CheckSessionIframe, doc.EndSessionEndpoint = "", "", ""
	doc.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	doc.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	doc.ResponseModesSupported = []string{"query"}
	doc.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	doc.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	doc.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	doc.TokenEndpointAuthSigningAlgValuesSupported = nil
	doc.RevocationEndpointAuthSigningAlgValuesSupported = nil
	doc.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	doc.RequestObjectSigningAlgValuesSupported = nil
	doc.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	doc.ServiceDocumentation = doc.Issuer + "/docs/oauth"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(doc)
}

// Grant is what a valid access token may do: the tenant, the client, the
// agent it acts for (0: the client itself) and its scopes.
type Grant struct {
	TokenID    string
	Tenant     string
	ClientID   string
	ClientName string
	UserID     int64
	AgentEmail string
	Scopes     []string
	ExpiresAt  time.Time
}

// ErrInvalidToken: the access token is not one of ours, or it expired or
// was revoked, or its client or agent was.
var ErrInvalidToken = errors.New("oauth: invalid access token")

// Verify checks an access token presented to the API.
func (s *Server) Verify(ctx context.Context, token string) (Grant, error) {
	plain, err := s.provider.Crypto().Decrypt(token)
	if err != nil {
		return Grant{}, ErrInvalidToken
	}
	id, _, ok := strings.Cut(plain, ":")
	if !ok {
		return Grant{}, ErrInvalidToken
	}
	t, c, agent, err := s.live(ctx, id)
	if err != nil {
		return Grant{}, err
	}
	if t.Kind != KindAccess {
		return Grant{}, ErrInvalidToken
	}
	return Grant{TokenID: t.ID, Tenant: t.Tenant, ClientID: c.ID, ClientName: c.Name, UserID: t.UserID,
		AgentEmail: agent.Email, Scopes: t.Scopes, ExpiresAt: t.ExpiresAt}, nil
}

// live loads token id and checks it, its client and its agent are all
// still good; the scopes come back narrowed to what the agent may do now
// (an agent no longer admin loses admin).
func (s *Server) live(ctx context.Context, id string) (Token, Client, Agent, error) {
	t, err := s.store.OAuthToken(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return t, Client{}, Agent{}, ErrInvalidToken
	}
	if err != nil {
		return t, Client{}, Agent{}, err
	}
	if !t.RevokedAt.IsZero() || !s.now().Before(t.ExpiresAt) {
		return t, Client{}, Agent{}, ErrInvalidToken
	}
	c, err := s.store.OAuthClient(ctx, t.ClientID)
	if errors.Is(err, ErrNotFound) || (err == nil && !c.RevokedAt.IsZero()) {
		return t, c, Agent{}, ErrInvalidToken
	}
	if err != nil {
		return t, c, Agent{}, err
	}
	var a Agent
	if t.UserID != 0 {
		a, err = s.store.OAuthAgent(ctx, t.Tenant, t.UserID)
		if errors.Is(err, ErrNotFound) || (err == nil && a.Disabled) {
			return t, c, a, ErrInvalidToken
		}
		if err != nil {
			return t, c, a, err
		}
		if !a.Admin {
			t.Scopes = slices.DeleteFunc(slices.Clone(t.Scopes), func(sc string) bool { return sc == ticket.ScopeAdmin })
		}
	}
	return t, c, a, nil
}

// NewClient is a client to register.
type NewClient struct {
	Tenant, Name string
	Scopes       []string
	RedirectURIs []string
	// Public clients (native and browser apps) get no secret and must use
	// the code flow with PKCE.
	Public bool
}

// CreateClient registers a client and returns it with its secret (shown
// once; "" for a public client).
func (s *Server) CreateClient(ctx context.Context, n NewClient) (Client, string, error) {
	if n.Tenant == "" {
		n.Tenant = ticket.DefaultTenant
	}
	if strings.TrimSpace(n.Name) == "" {
		return Client{}, "", fmt.Errorf("oauth: %w: the client needs a name", ticket.ErrInvalid)
	}
	if len(n.Scopes) == 0 {
		return Client{}, "", fmt.Errorf("oauth: %w: give the client at least one scope (%s)", ticket.ErrInvalid, strings.Join(ticket.AllScopes, ", "))
	}
	for _, sc := range n.Scopes {
		if !slices.Contains(ticket.AllScopes, sc) {
			return Client{}, "", fmt.Errorf("oauth: %w: %q is not a scope (want %s)", ticket.ErrInvalid, sc, strings.Join(ticket.AllScopes, ", "))
		}
	}
	for _, u := range n.RedirectURIs {
		if err := checkRedirectURI(u, n.Public); err != nil {
			return Client{}, "", err
		}
	}
	if n.Public && len(n.RedirectURIs) == 0 {
		return Client{}, "", fmt.Errorf("oauth: %w: a public client uses the code flow and needs a redirect URI", ticket.ErrInvalid)
	}
	c := Client{ID: ClientIDPrefix + random(16), Tenant: n.Tenant, Name: strings.TrimSpace(n.Name),
		Scopes: slices.Compact(slices.Sorted(slices.Values(n.Scopes))), RedirectURIs: n.RedirectURIs, CreatedAt: s.now().UTC()}
	var secret string
	if !n.Public {
		secret = ClientSecretPrefix + random(32)
		c.SecretHash = hash(secret)
	}
	if err := s.store.CreateOAuthClient(ctx, c); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// checkRedirectURI accepts absolute https URIs, http ones on loopback
// (RFC 8252 section 7.3), and for public (native) clients private-use
// schemes ("com.example.app:/cb", RFC 8252 section 7.1); never fragments.
func checkRedirectURI(raw string, public bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("oauth: %w: redirect URI %q must be an absolute URI without a fragment", ticket.ErrInvalid, raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("oauth: %w: redirect URI %q has no host", ticket.ErrInvalid, raw)
		}
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
		return fmt.Errorf("oauth: %w: redirect URI %q: plain http is only for loopback (localhost, 127.0.0.1, [::1]); use https", ticket.ErrInvalid, raw)
	default:
		if public && strings.Contains(u.Scheme, ".") {
			return nil
		}
		return fmt.Errorf("oauth: %w: redirect URI %q: scheme %q is not allowed (https, http on loopback, or a reverse-domain scheme for a public app)", ticket.ErrInvalid, raw, u.Scheme)
	}
}

// Consent is what the consent page shows.
type Consent struct {
	ID, Tenant           string
	ClientID, ClientName string
	RedirectHost         string
	// Scopes are the API scopes asked for; Offline is whether the app
	// asks to stay connected (a refresh token).
	Scopes  []string
	Offline bool
}

// ErrConsent: the request is unknown, expired, or already answered.
var ErrConsent = errors.New("oauth: this authorization request is unknown, expired or already answered; start again from the app")

// ErrOtherTenant: the agent is not of the client's tenant.
var ErrOtherTenant = errors.New("oauth: this app belongs to another workspace than the one you are signed in to")

func (s *Server) pending(ctx context.Context, id string) (AuthRequest, Client, error) {
	r, err := s.store.OAuthRequest(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return r, Client{}, ErrConsent
	}
	if err != nil {
		return r, Client{}, err
	}
	if r.UserID != 0 || s.now().Sub(r.CreatedAt) > RequestTTL {
		return r, Client{}, ErrConsent
	}
	c, err := s.store.OAuthClient(ctx, r.ClientID)
	if errors.Is(err, ErrNotFound) || (err == nil && !c.RevokedAt.IsZero()) {
		return r, c, ErrConsent
	}
	return r, c, err
}

// ConsentRequest describes a pending request for the consent page.
func (s *Server) ConsentRequest(ctx context.Context, id string) (Consent, error) {
	r, c, err := s.pending(ctx, id)
	if err != nil {
		return Consent{}, err
	}
	host := r.RedirectURI
	if u, err := url.Parse(r.RedirectURI); err == nil && u.Host != "" {
		host = u.Host
	}
	out := Consent{ID: r.ID, Tenant: r.Tenant, ClientID: c.ID, ClientName: c.Name, RedirectHost: host}
	for _, sc := range r.Scopes {
		switch {
		case sc == oidc.ScopeOfflineAccess:
			out.Offline = true
		case slices.Contains(ticket.AllScopes, sc):
			out.Scopes = append(out.Scopes, sc)
		}
	}
	return out, nil
}

// Approve records agent userID's consent and returns where to send the
// browser next (the provider's callback, which issues the code).
func (s *Server) Approve(ctx context.Context, id, tenant string, userID int64) (string, error) {
	r, _, err := s.pending(ctx, id)
	if err != nil {
		return "", err
	}
	if r.Tenant != tenant {
		return "", ErrOtherTenant
	}
	a, err := s.store.OAuthAgent(ctx, tenant, userID)
	if err != nil {
		return "", err
	}
	if a.Disabled {
		return "", fmt.Errorf("oauth: agent %d is disabled", userID)
	}
	granted := slices.DeleteFunc(slices.Clone(r.Scopes), func(sc string) bool { return sc == ticket.ScopeAdmin && !a.Admin })
	if err := s.store.ConsentOAuthRequest(ctx, id, userID, granted, s.now().UTC()); err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", ErrConsent
		}
		return "", err
	}
	return PathAuthorize + "/callback?id=" + url.QueryEscape(id), nil
}

// Deny ends the request and returns the client's redirect with
// error=access_denied (RFC 6749 section 4.1.2.1).
func (s *Server) Deny(ctx context.Context, id string) (string, error) {
	r, _, err := s.pending(ctx, id)
	if err != nil {
		return "", err
	}
	if err := s.store.DeleteOAuthRequest(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	u, err := url.Parse(r.RedirectURI)
	if err != nil {
		return "", fmt.Errorf("oauth: stored redirect URI: %w", err)
	}
	q := u.Query()
	q.Set("error", "access_denied")
	q.Set("error_description", "the agent declined the request")
	if r.State != "" {
		q.Set("state", r.State)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Clients lists a tenant's clients.
func (s *Server) Clients(ctx context.Context, tenant string) ([]Client, error) {
	return s.store.OAuthClients(ctx, tenant)
}

// RevokeClient revokes a client and every token it holds.
func (s *Server) RevokeClient(ctx context.Context, tenant, id string) error {
	return s.store.RevokeOAuthClient(ctx, tenant, id)
}

// Prune deletes requests and tokens that ended (run it now and then).
func (s *Server) Prune(ctx context.Context) (int64, error) {
	return s.store.PruneOAuth(ctx, s.now().Add(-RequestTTL))
}

// random is n random bytes in unpadded base64url.
func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hash is the hex SHA-256 of a high-entropy secret (256 random bits:
// nothing to brute-force, so no slow hash).
func hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func sameHash(secret, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(want)) == 1
}

func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("sidedesk/oauth/" + purpose))
	return m.Sum(nil)
}

// signingKey signs ID tokens (only for apps that ask openid): ES256 with a
// P-256 key derived from the secret key, so every instance of one
// installation signs with the same key and nothing more is stored.
type signingKey struct {
	key *ecdsa.PrivateKey
	id  string
}

func deriveSigningKey(key []byte) (*signingKey, error) {
	n := elliptic.P256().Params().N
	// A 256-bit value reduced into [1, n-1].
	d := new(big.Int).SetBytes(derive(key, "id-token-signing"))
	d.Mod(d, new(big.Int).Sub(n, big.NewInt(1)))
	d.Add(d, big.NewInt(1))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	if err != nil {
		return nil, fmt.Errorf("oauth: signing key: %w", err)
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("oauth: signing key: %w", err)
	}
	sum := sha256.Sum256(pub)
	return &signingKey{key: priv, id: base64.RawURLEncoding.EncodeToString(sum[:12])}, nil
}

func subjectOf(t Token) string {
	if t.UserID != 0 {
		return strconv.FormatInt(t.UserID, 10)
	}
	return t.ClientID
}
