package oauth

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is op.Storage (and op.ClientCredentialsStorage) over Store.
type storage struct{ s *Server }

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.ClientCredentialsStorage  = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

// errUnknownClient is a plain error (not oidc's server_error): op answers
// it invalid_client.
var errUnknownClient = errors.New("unknown, revoked or wrongly authenticated client")

// --- clients

type client struct{ c Client }

func (c *client) GetID() string                        { return c.c.ID }
func (c *client) RedirectURIs() []string               { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string     { return nil }
func (c *client) LoginURL(id string) string            { return PathConsent + "?id=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return AccessTTL }
func (c *client) DevMode() bool                        { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) ApplicationType() op.ApplicationType {
	if c.c.Public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) GrantTypes() []oidc.GrantType {
	var g []oidc.GrantType
	if len(c.c.RedirectURIs) > 0 {
		g = append(g, oidc.GrantTypeCode, oidc.GrantTypeRefreshToken)
	}
	if !c.c.Public() {
		g = append(g, oidc.GrantTypeClientCredentials)
	}
	return g
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.c.Scopes, scope) }

func (st *storage) liveClient(ctx context.Context, id string) (Client, error) {
	c, err := st.s.store.OAuthClient(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !c.RevokedAt.IsZero()) {
		return c, errUnknownClient
	}
	if err != nil {
		return c, oidc.ErrServerError().WithParent(err)
	}
	return c, nil
}

func (st *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := st.liveClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return &client{c}, nil
}

func (st *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := st.liveClient(ctx, id)
	if err != nil {
		return err
	}
	if !sameHash(secret, c.SecretHash) {
		return errUnknownClient
	}
	return nil
}

func (st *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := st.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return st.GetClientByClientID(ctx, id)
}

// ccRequest is a client credentials grant: the client acts as itself.
type ccRequest struct {
	c      Client
	scopes []string
}

func (r *ccRequest) GetSubject() string    { return r.c.ID }
func (r *ccRequest) GetAudience() []string { return []string{r.c.ID} }
func (r *ccRequest) GetScopes() []string   { return r.scopes }

// ClientCredentialsTokenRequest grants the scopes asked for, all of which
// the client must have (invalid_scope naming the first it lacks), or all
// its scopes when none are asked for (RFC 6749 section 3.3).
func (st *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := st.liveClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		return &ccRequest{c: c, scopes: c.Scopes}, nil
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("this client may not have the scope %q (it has: %s)", sc, strings.Join(c.Scopes, " "))
		}
	}
	return &ccRequest{c: c, scopes: slices.Compact(slices.Sorted(slices.Values(scopes)))}, nil
}

// --- the code flow

type authReq struct{ r AuthRequest }

func (a *authReq) GetID() string                      { return a.r.ID }
func (a *authReq) GetACR() string                     { return "" }
func (a *authReq) GetAMR() []string                   { return []string{"pwd"} }
func (a *authReq) GetAudience() []string              { return []string{a.r.ClientID} }
func (a *authReq) GetAuthTime() time.Time             { return a.r.AuthTime }
func (a *authReq) GetClientID() string                { return a.r.ClientID }
func (a *authReq) GetNonce() string                   { return a.r.Nonce }
func (a *authReq) GetRedirectURI() string             { return a.r.RedirectURI }
func (a *authReq) GetState() string                   { return a.r.State }
func (a *authReq) Done() bool                         { return a.r.UserID != 0 }
func (a *authReq) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.r.ResponseType) }
func (a *authReq) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.r.ResponseMode) }

func (a *authReq) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeMethod)}
}

// GetScopes: what was asked until the agent consents, then what they
// granted.
func (a *authReq) GetScopes() []string {
	if a.r.UserID != 0 {
		return a.r.GrantedScopes
	}
	return a.r.Scopes
}

func (a *authReq) GetSubject() string {
	if a.r.UserID == 0 {
		return ""
	}
	return strconv.FormatInt(a.r.UserID, 10)
}

// CreateAuthRequest stores a request from /oauth/authorize. PKCE with S256
// is required of every client (OAuth 2.1, RFC 9700 section 2.1.1); every
// code grant also gets a refresh token (offline_access is implied).
func (st *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := st.liveClient(ctx, req.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithParent(err)
	}
	if req.CodeChallenge == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is required: use PKCE (RFC 7636) with code_challenge_method=S256")
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	scopes := []string(req.Scopes)
	if !slices.Contains(scopes, oidc.ScopeOfflineAccess) {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	r := AuthRequest{ID: random(32), Tenant: c.Tenant, ClientID: c.ID, RedirectURI: req.RedirectURI, Scopes: scopes,
		State: req.State, Nonce: req.Nonce, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeMethod: string(req.CodeChallengeMethod), CreatedAt: st.s.now().UTC()}
	if err := st.s.store.PutOAuthRequest(ctx, r); err != nil {
		return nil, err
	}
	return &authReq{r}, nil
}

func (st *storage) fresh(r AuthRequest, err error) (op.AuthRequest, error) {
	if errors.Is(err, ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown or used authorization request")
	}
	if err != nil {
		return nil, err
	}
	if st.s.now().Sub(r.CreatedAt) > RequestTTL {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization request expired; start again")
	}
	return &authReq{r}, nil
}

func (st *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return st.fresh(st.s.store.OAuthRequest(ctx, id))
}

func (st *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	return st.fresh(st.s.store.OAuthRequestByCode(ctx, hash(code)))
}

func (st *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return st.s.store.SetOAuthCode(ctx, id, hash(code))
}

func (st *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	if err := st.s.store.DeleteOAuthRequest(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// --- tokens

// refreshReq is a refresh token presented at the token endpoint.
type refreshReq struct {
	t      Token
	scopes []string
}

func (r *refreshReq) GetAMR() []string            { return []string{"pwd"} }
func (r *refreshReq) GetAudience() []string       { return []string{r.t.ClientID} }
func (r *refreshReq) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshReq) GetClientID() string         { return r.t.ClientID }
func (r *refreshReq) GetScopes() []string         { return r.scopes }
func (r *refreshReq) GetSubject() string          { return subjectOf(r.t) }
func (r *refreshReq) SetCurrentScopes(s []string) { r.scopes = s }

// grantOf is who a token request is for.
func (st *storage) grantOf(req op.TokenRequest) (Token, error) {
	switch r := req.(type) {
	case *authReq:
		return Token{Family: random(16), Tenant: r.r.Tenant, ClientID: r.r.ClientID, UserID: r.r.UserID,
			Scopes: r.GetScopes(), AuthTime: r.r.AuthTime}, nil
	case *ccRequest:
		return Token{Family: random(16), Tenant: r.c.Tenant, ClientID: r.c.ID, Scopes: r.scopes}, nil
	case *refreshReq:
		return Token{Family: r.t.Family, Tenant: r.t.Tenant, ClientID: r.t.ClientID, UserID: r.t.UserID,
			Scopes: r.scopes, AuthTime: r.t.AuthTime}, nil
	default:
		return Token{}, oidc.ErrUnsupportedGrantType()
	}
}

func (st *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	g, err := st.grantOf(req)
	if err != nil {
		return "", time.Time{}, err
	}
	now := st.s.now().UTC()
	g.ID, g.Kind, g.CreatedAt, g.ExpiresAt = random(16), KindAccess, now, now.Add(AccessTTL)
	if err := st.s.store.InsertOAuthTokens(ctx, g); err != nil {
		return "", time.Time{}, err
	}
	return g.ID, g.ExpiresAt, nil
}

func (st *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	g, err := st.grantOf(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := st.s.now().UTC()
	access, refresh := g, g
	access.ID, access.Kind, access.CreatedAt, access.ExpiresAt = random(16), KindAccess, now, now.Add(AccessTTL)
	value := refreshPrefix + random(32)
	refresh.ID, refresh.Kind, refresh.Hash, refresh.CreatedAt, refresh.ExpiresAt = random(16), KindRefresh, hash(value), now, now.Add(RefreshTTL)
	if r, ok := req.(*refreshReq); ok && current != "" {
		err = st.s.store.RotateOAuthRefresh(ctx, r.t.ID, access, refresh)
		if errors.Is(err, ErrReused) {
			st.s.log.Warn("oauth: a refresh token was used twice; its grant is revoked", "client", r.t.ClientID, "family", r.t.Family)
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used; the grant is revoked, sign in again")
		}
	} else {
		err = st.s.store.InsertOAuthTokens(ctx, access, refresh)
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	return access.ID, value, access.ExpiresAt, nil
}

// TokenRequestByRefreshToken checks a presented refresh token. A used one
// revokes its grant (reuse means it was stolen).
func (st *storage) TokenRequestByRefreshToken(ctx context.Context, value string) (op.RefreshTokenRequest, error) {
	t, err := st.s.store.OAuthRefreshToken(ctx, hash(value))
	if errors.Is(err, ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown refresh token")
	}
	if err != nil {
		return nil, err
	}
	if !t.UsedAt.IsZero() && t.RevokedAt.IsZero() {
		_ = st.s.store.RevokeOAuthFamily(ctx, t.Family)
		st.s.log.Warn("oauth: a refresh token was used twice; its grant is revoked", "client", t.ClientID, "family", t.Family)
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used; the grant is revoked, sign in again")
	}
	if _, _, _, err := st.s.live(ctx, t.ID); err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token expired or was revoked")
		}
		return nil, err
	}
	return &refreshReq{t: t, scopes: t.Scopes}, nil
}

func (st *storage) TerminateSession(ctx context.Context, userID, clientID string) error { return nil }

// RevokeToken (RFC 7009): tokenOrID is an access token's id or a refresh
// token's id or value. Revoking a refresh token ends its whole grant. An
// unknown token is no error (section 2.2); another client's token is.
func (st *storage) RevokeToken(ctx context.Context, tokenOrID, _, clientID string) *oidc.Error {
	t, err := st.s.store.OAuthToken(ctx, tokenOrID)
	if errors.Is(err, ErrNotFound) {
		t, err = st.s.store.OAuthRefreshToken(ctx, hash(tokenOrID))
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if t.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("this token was not issued to this client")
	}
	if t.Kind == KindRefresh {
		err = st.s.store.RevokeOAuthFamily(ctx, t.Family)
	} else {
		err = st.s.store.RevokeOAuthToken(ctx, t.ID)
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (st *storage) GetRefreshTokenInfo(ctx context.Context, clientID, value string) (string, string, error) {
	t, err := st.s.store.OAuthRefreshToken(ctx, hash(value))
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	return subjectOf(t), t.ID, nil
}

// --- keys

type pubKey struct{ k *signingKey }

func (p pubKey) ID() string                         { return p.k.id }
func (p pubKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p pubKey) Use() string                        { return "sig" }
func (p pubKey) Key() any                           { return &p.k.key.PublicKey }

type privKey struct{ k *signingKey }

func (p privKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p privKey) Key() any                                    { return p.k.key }
func (p privKey) ID() string                                  { return p.k.id }

func (st *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return privKey{st.s.signing}, nil
}

func (st *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (st *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{pubKey{st.s.signing}}, nil
}

// --- user info and introspection

func (st *storage) agentOf(ctx context.Context, tenant, subject string) (Agent, bool) {
	id, err := strconv.ParseInt(subject, 10, 64)
	if err != nil {
		return Agent{}, false
	}
	a, err := st.s.store.OAuthAgent(ctx, tenant, id)
	return a, err == nil && !a.Disabled
}

func setUser(u *oidc.UserInfo, a Agent, scopes []string) {
	u.Subject = strconv.FormatInt(a.ID, 10)
	if slices.Contains(scopes, oidc.ScopeEmail) {
		u.Email, u.EmailVerified = a.Email, true
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		u.Name = a.Name
	}
}

func (st *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (st *storage) SetUserinfoFromRequest(ctx context.Context, u *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	r, ok := req.(*authReq)
	if !ok {
		return nil
	}
	if a, ok := st.agentOf(ctx, r.r.Tenant, req.GetSubject()); ok {
		setUser(u, a, scopes)
	}
	return nil
}

func (st *storage) SetUserinfoFromToken(ctx context.Context, u *oidc.UserInfo, tokenID, subject, _ string) error {
	t, _, a, err := st.s.live(ctx, tokenID)
	if err != nil {
		return err
	}
	if t.UserID == 0 {
		u.Subject = t.ClientID
		return nil
	}
	setUser(u, a, t.Scopes)
	return nil
}

// SetIntrospectionFromToken (RFC 7662) describes a live token to a
// client of the same tenant; anything else is inactive.
func (st *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	t, c, a, err := st.s.live(ctx, tokenID)
	if err != nil {
		return err
	}
	caller, err := st.liveClient(ctx, clientID)
	if err != nil || caller.Tenant != t.Tenant {
		return ErrInvalidToken
	}
	resp.Scope = t.Scopes
	resp.ClientID = c.ID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.Subject = subjectOf(t)
	resp.Audience = []string{c.ID}
	resp.JWTID = t.ID
	resp.Issuer = op.IssuerFromContext(ctx)
	if t.UserID != 0 {
		resp.Username = a.Email
		if !t.AuthTime.IsZero() {
			resp.AuthTime = oidc.FromTime(t.AuthTime)
		}
	}
	resp.Claims = map[string]any{"tenant": t.Tenant}
	return nil
}

func (st *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (st *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client assertions are not supported; authenticate with the client secret")
}

func (st *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT bearer grant is not supported")
}

func (st *storage) Health(context.Context) error { return nil }
