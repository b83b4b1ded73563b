package oauth

import (
	"context"
	"errors"
	"time"
)

// Errors of the Store port.
var (
	// ErrNotFound: no such client, request or token.
	ErrNotFound = errors.New("oauth: not found")
	// ErrExists: a live client of that name exists in the tenant.
	ErrExists = errors.New("oauth: already exists")
	// ErrReused: a refresh token was exchanged a second time; its
	// family is revoked.
	ErrReused = errors.New("oauth: refresh token reused")
)

// Client is a registered OAuth client of one tenant.
type Client struct {
	ID     string // client_id, "sdc_" + random
	Tenant string
	Name   string
	// SecretHash is the hex SHA-256 of the client secret; "" for a
	// public client, which authenticates with PKCE alone.
	SecretHash string
	// Scopes are the most the client may be granted.
	Scopes []string
	// RedirectURIs are the exact redirect URIs of the code flow; none: the
	// client may use only the client credentials grant.
	RedirectURIs []string
	CreatedAt    time.Time
	RevokedAt    time.Time // zero while the client is live
}

// Public reports whether the client has no secret.
func (c Client) Public() bool { return c.SecretHash == "" }

// AuthRequest is a pending authorization request of the code flow.
type AuthRequest struct {
	ID, Tenant, ClientID, RedirectURI string
	Scopes                            []string
	State, Nonce                      string
	ResponseType, ResponseMode        string
	CodeChallenge, CodeMethod         string
	// UserID is the agent who consented (0 until then); GrantedScopes
	// what they granted.
	UserID        int64
	GrantedScopes []string
	AuthTime      time.Time
	CreatedAt     time.Time
}

// Token kinds.
const (
	KindAccess  = "access"
	KindRefresh = "refresh"
)

// Token is an issued access or refresh token.
type Token struct {
	ID   string
	Kind string // KindAccess or KindRefresh
	// Hash is the hex SHA-256 of a refresh token's value ("" for access
	// tokens, whose value is sealed, not stored).
	Hash string
	// Family is the grant a chain of refresh tokens (and the access
	// tokens they gave) belongs to; revoking it ends them all.
	Family   string
	Tenant   string
	ClientID string
	// UserID is the agent the token acts for; 0: the client itself
	// (client credentials).
	UserID    int64
	Scopes    []string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // a refresh token already exchanged
	RevokedAt time.Time
}

// Agent is what the server needs of a user: whether they may still act,
// and what they may grant.
type Agent struct {
	ID       int64
	Tenant   string
	Email    string
	Name     string
	Admin    bool
	Disabled bool
}

// Store keeps clients, pending requests and tokens; *store.Store
// implements it. Requests and tokens are found by their random ids; the
// tenant travels with them.
type Store interface {
	CreateOAuthClient(ctx context.Context, c Client) error
	OAuthClient(ctx context.Context, id string) (Client, error)
	OAuthClients(ctx context.Context, tenant string) ([]Client, error)
	// RevokeOAuthClient revokes the client and every token it holds.
	RevokeOAuthClient(ctx context.Context, tenant, id string) error

	PutOAuthRequest(ctx context.Context, r AuthRequest) error
	OAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	OAuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error)
	ConsentOAuthRequest(ctx context.Context, id string, userID int64, granted []string, at time.Time) error
	SetOAuthCode(ctx context.Context, id, codeHash string) error
	DeleteOAuthRequest(ctx context.Context, id string) error

	// InsertOAuthTokens stores newly issued tokens in one transaction.
	InsertOAuthTokens(ctx context.Context, ts ...Token) error
	// RotateOAuthRefresh marks the refresh token old used and stores the
	// new tokens, in one transaction; ErrReused (and the family revoked)
	// when old was used already.
	RotateOAuthRefresh(ctx context.Context, oldID string, ts ...Token) error
	OAuthToken(ctx context.Context, id string) (Token, error)
	OAuthRefreshToken(ctx context.Context, hash string) (Token, error)
	RevokeOAuthToken(ctx context.Context, id string) error
	RevokeOAuthFamily(ctx context.Context, family string) error
	// PruneOAuth deletes requests and tokens that ended before t.
	PruneOAuth(ctx context.Context, before time.Time) (int64, error)

	OAuthAgent(ctx context.Context, tenant string, id int64) (Agent, error)
}
