// Package mailauth gets the OAuth 2.0 access tokens that IMAP and SMTP
// XOAUTH2 logins need at Microsoft 365 and Google, which no longer take
// passwords. A Source refreshes its token before it expires, from the
// mailbox owner's refresh token (connected by an admin through the panel's
// consent flow, or configured) or by the client credentials grant
// (Microsoft 365 app-only access). Refresh tokens are kept sealed with the
// server's secret key; a rotated one replaces the old at once, so the next
// process to start finds the token that still works.
//
// It is a leaf helper (like internal/seal): capture's IMAP source and
// mailout's SMTP transport both take a Source's Token method, and the
// store implements Store.
package mailauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sidedesk/sidedesk/internal/seal"
)

// Grants.
const (
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Connection is what the store keeps of a mailbox's OAuth connection.
type Connection struct {
	Tenant, Mailbox string
	RefreshSealed   []byte // the refresh token, sealed (Source.refreshPurpose)
	// Origin says where the refresh token came from: "consent" (the panel),
	// or "config:" and the first 16 hex digits of the configured token's
	// SHA-256 (a rotated descendant of it), so a token changed in the
	// config replaces what its predecessor rotated into.
	Origin      string
	Status      string // connected | failed
	LastError   string
	ConnectedBy string // the admin who consented ("" for a configured token)
	ConnectedAt time.Time
	UpdatedAt   time.Time
}

// Store keeps connections (the store package implements it).
type Store interface {
	// MailboxOAuth loads the mailbox's connection; ok is false when there
	// is none.
	MailboxOAuth(ctx context.Context, tenant, mailbox string) (c Connection, ok bool, err error)
	// PutMailboxOAuth inserts or replaces it.
	PutMailboxOAuth(ctx context.Context, c Connection) error
}

// Options configure one mailbox's Source.
type Options struct {
	Tenant, Mailbox string
	// Provider is "microsoft", "google" or "custom"; it gives the defaults
	// of AuthURL, TokenURL and Scopes.
	Provider string
	// AzureTenant is the Microsoft Entra tenant (id or domain) of the
	// endpoints; default "organizations" (work accounts), and it must be a
	// real tenant for client credentials.
	AzureTenant string
	Grant       string // refresh_token (default) | client_credentials
	ClientID    string
	// ClientSecret and RefreshToken (optional: the panel's consent gives
	// one) are read when needed, so a rotated file is picked up.
	ClientSecret      func(context.Context) (string, error)
	RefreshToken      func(context.Context) (string, error)
	AuthURL, TokenURL string   // override the provider's
	Scopes            []string // override the provider's
	// ConnectHint says where an admin connects the mailbox (the panel's
	// URL), for the errors that ask for it.
	ConnectHint string
	Store       Store
	Seal        *seal.Box
	HTTPClient  *http.Client // default: 30 s timeout
	Logger      *slog.Logger
	Now         func() time.Time
}

// Endpoint returns the provider's authorization and token URLs and the
// scopes a mailbox needs for IMAP and SMTP under grant.
func Endpoint(provider, azureTenant, grant string) (authURL, tokenURL string, scopes []string) {
	switch provider {
	case "microsoft":
		if azureTenant == "" {
			azureTenant = "organizations"
		}
		base := "https://login.microsoftonline.com/" + azureTenant + "/oauth2/v2.0/"
		if grant == GrantClientCredentials {
			// App-only access: the application permissions granted to
			// the app (IMAP.AccessAsApp, SMTP.SendAsApp) under .default.
			return base + "authorize", base + "token", []string{"https://outlook.office365.com/.default"}
		}
		return base + "authorize", base + "token", []string{
			"https://outlook.office.com/IMAP.AccessAsUser.All",
			"https://outlook.office.com/SMTP.Send",
			"offline_access",
		}
	case "google":
		return "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token",
			[]string{"https://mail.google.com/"}
	}
	return "", "", nil
}

// ErrNotConnected: the mailbox has no refresh token (nobody connected it,
// nor is one configured) or the provider refused it (revoked, expired).
var ErrNotConnected = errors.New("mailbox not connected")

// Source hands out a mailbox's access tokens, refreshing ahead of expiry.
// It is safe for concurrent use.
type Source struct {
	opts     Options
	authURL  string
	tokenURL string
	scopes   []string

	mu      sync.Mutex
	tok     *oauth2.Token
	lastErr error
	lastOK  time.Time
}

// New checks opts and makes a Source.
func New(opts Options) (*Source, error) {
	if opts.Grant == "" {
		opts.Grant = GrantRefreshToken
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Source{opts: opts}
	s.authURL, s.tokenURL, s.scopes = Endpoint(opts.Provider, opts.AzureTenant, opts.Grant)
	if opts.AuthURL != "" {
		s.authURL = opts.AuthURL
	}
	if opts.TokenURL != "" {
		s.tokenURL = opts.TokenURL
	}
	if len(opts.Scopes) > 0 {
		s.scopes = opts.Scopes
	}
	switch {
	case opts.ClientID == "":
		return nil, fmt.Errorf("mailauth: mailbox %q: oauth_client_id is required", opts.Mailbox)
	case s.tokenURL == "":
		return nil, fmt.Errorf("mailauth: mailbox %q: oauth_token_url is required with oauth_provider %q", opts.Mailbox, opts.Provider)
	case opts.Grant != GrantRefreshToken && opts.Grant != GrantClientCredentials:
		return nil, fmt.Errorf("mailauth: mailbox %q: unknown oauth_grant %q", opts.Mailbox, opts.Grant)
	case opts.Grant == GrantRefreshToken && (opts.Store == nil || opts.Seal == nil):
		return nil, fmt.Errorf("mailauth: mailbox %q: a store and a seal are required", opts.Mailbox)
	}
	return s, nil
}

// Mailbox is the mailbox's name; Tenant its tenant.
func (s *Source) Mailbox() string { return s.opts.Mailbox }

// Tenant: see Mailbox.
func (s *Source) Tenant() string { return s.opts.Tenant }

// early is how long before its expiry a token is refreshed, so that a
// login never carries a token that lapses on the way.
const early = 2 * time.Minute

// refreshPurpose binds a sealed refresh token to its tenant and mailbox:
// one copied to another mailbox's row does not open.
func (s *Source) refreshPurpose() string {
	return "mailbox-oauth-refresh:" + s.opts.Tenant + ":" + s.opts.Mailbox
}

func (s *Source) sealRefresh(rt string) []byte {
	return s.opts.Seal.Seal([]byte(rt), s.refreshPurpose())
}

// Token returns a valid access token, refreshing when the one held is
// missing or about to expire.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.tok != nil && s.tok.AccessToken != "" && (s.tok.Expiry.IsZero() || s.tok.Expiry.After(now.Add(early))) {
		return s.tok.AccessToken, nil
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.opts.HTTPClient)
	var (
		tok *oauth2.Token
		err error
	)
	if s.opts.Grant == GrantClientCredentials {
		tok, err = s.clientCredentials(ctx)
	} else {
		tok, err = s.refresh(ctx)
	}
	if err != nil {
		if s.lastErr == nil || s.lastErr.Error() != err.Error() {
			s.opts.Logger.Error("mailauth: no access token for the mailbox", "tenant", s.opts.Tenant,
				"mailbox", s.opts.Mailbox, "err", err)
		}
		s.lastErr = err
		return "", err
	}
	if s.lastErr != nil {
		s.opts.Logger.Info("mailauth: access token refreshed again", "mailbox", s.opts.Mailbox)
	}
	s.tok, s.lastErr, s.lastOK = tok, nil, now
	return tok.AccessToken, nil
}

// Forget drops the held access token (the server refused it), so the next
// Token refreshes.
func (s *Source) Forget() {
	s.mu.Lock()
	s.tok = nil
	s.mu.Unlock()
}

// Health is a Source's state for /healthz and doctor.
type Health struct {
	OK        bool      `json:"ok"`
	Grant     string    `json:"grant"`
	Error     string    `json:"error,omitempty"`
	Refreshed time.Time `json:"refreshed,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
}

// Health reports the last refresh's outcome; OK with a zero Refreshed
// means no token was needed yet.
func (s *Source) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{OK: s.lastErr == nil, Grant: s.opts.Grant, Refreshed: s.lastOK}
	if s.lastErr != nil {
		h.Error = s.lastErr.Error()
	}
	if s.tok != nil {
		h.Expires = s.tok.Expiry
	}
	return h
}

func (s *Source) secret(ctx context.Context) (string, error) {
	if s.opts.ClientSecret == nil {
		return "", nil // a public client (PKCE only)
	}
	v, err := s.opts.ClientSecret(ctx)
	if err != nil {
		return "", fmt.Errorf("read oauth_client_secret: %w", err)
	}
	return v, nil
}

func (s *Source) authStyle() oauth2.AuthStyle {
	if s.opts.Provider == "microsoft" || s.opts.Provider == "google" {
		return oauth2.AuthStyleInParams // what both providers document
	}
	return oauth2.AuthStyleAutoDetect
}

func (s *Source) clientCredentials(ctx context.Context) (*oauth2.Token, error) {
	sec, err := s.secret(ctx)
	if err != nil {
		return nil, err
	}
	cc := clientcredentials.Config{ClientID: s.opts.ClientID, ClientSecret: sec, TokenURL: s.tokenURL,
		Scopes: s.scopes, AuthStyle: s.authStyle()}
	tok, err := cc.Token(ctx)
	if err != nil {
		return nil, s.explain(err, "check oauth_client_id, the client secret and the app's IMAP.AccessAsApp / SMTP.SendAsApp permissions")
	}
	return tok, nil
}

func (s *Source) config(sec string) *oauth2.Config {
	return &oauth2.Config{ClientID: s.opts.ClientID, ClientSecret: sec, Scopes: s.scopes,
		Endpoint: oauth2.Endpoint{AuthURL: s.authURL, TokenURL: s.tokenURL, AuthStyle: s.authStyle()}}
}

// configOrigin is the Origin of a refresh token descending from the
// configured token cfg.
func configOrigin(cfg string) string {
	h := sha256.Sum256([]byte(cfg))
	return "config:" + hex.EncodeToString(h[:8])
}

// current is the refresh token to use: the stored one, unless the
// configured token changed since the stored one descends from it.
func (s *Source) current(ctx context.Context) (rt string, c Connection, stored bool, err error) {
	var configured string
	if s.opts.RefreshToken != nil {
		if configured, err = s.opts.RefreshToken(ctx); err != nil {
			return "", c, false, fmt.Errorf("read oauth_refresh_token: %w", err)
		}
	}
	c, ok, err := s.opts.Store.MailboxOAuth(ctx, s.opts.Tenant, s.opts.Mailbox)
	if err != nil {
		return "", c, false, err
	}
	if ok && (configured == "" || c.Origin == "consent" || c.Origin == configOrigin(configured)) {
		plain, err := s.opts.Seal.Open(c.RefreshSealed, s.refreshPurpose())
		if err != nil {
			return "", c, false, fmt.Errorf("open the stored refresh token (was secret.key replaced?): %w; connect the mailbox again", err)
		}
		return string(plain), c, true, nil
	}
	if configured == "" {
		return "", c, false, fmt.Errorf("%w: mailbox %q has no OAuth refresh token: %s", ErrNotConnected, s.opts.Mailbox, s.connectHint())
	}
	return configured, Connection{Tenant: s.opts.Tenant, Mailbox: s.opts.Mailbox, Origin: configOrigin(configured)}, false, nil
}

func (s *Source) connectHint() string {
	if s.opts.ConnectHint != "" {
		return "an admin connects it at " + s.opts.ConnectHint + " (or set oauth_refresh_token_env / _file)"
	}
	return "set oauth_refresh_token_env or oauth_refresh_token_file, or connect it from the panel"
}

func (s *Source) refresh(ctx context.Context) (*oauth2.Token, error) {
	sec, err := s.secret(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		rt, c, stored, err := s.current(ctx)
		if err != nil {
			return nil, err
		}
		tok, err := s.config(sec).TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
				// Another instance may have rotated the token a moment
				// ago: read again once before giving up on it.
				if attempt == 0 {
					if rt2, _, _, err2 := s.current(ctx); err2 == nil && rt2 != rt {
						continue
					}
				}
				err = fmt.Errorf("%w: the provider refused the refresh token of mailbox %q (%s): %s",
					ErrNotConnected, s.opts.Mailbox, describe(re), s.connectHint())
				if stored {
					c.Status, c.LastError = "failed", err.Error()
					if perr := s.opts.Store.PutMailboxOAuth(ctx, c); perr != nil {
						s.opts.Logger.Error("mailauth: record the failed connection", "mailbox", s.opts.Mailbox, "err", perr)
					}
				}
				return nil, err
			}
			return nil, s.explain(err, "check oauth_client_id, the client secret and oauth_token_url")
		}
		if tok.RefreshToken != rt || !stored || c.Status != "connected" {
			// Rotated (Microsoft rotates on every refresh), or first use
			// of a configured token: keep what works now.
			c.Tenant, c.Mailbox = s.opts.Tenant, s.opts.Mailbox
			c.RefreshSealed = s.sealRefresh(tok.RefreshToken)
			c.Status, c.LastError = "connected", ""
			if err := s.opts.Store.PutMailboxOAuth(ctx, c); err != nil {
				return nil, fmt.Errorf("keep the rotated refresh token: %w", err)
			}
		}
		return tok, nil
	}
}

// describe is the provider's error code and description.
func describe(re *oauth2.RetrieveError) string {
	d := re.ErrorCode
	if re.ErrorDescription != "" {
		desc := re.ErrorDescription
		if i := strings.IndexAny(desc, "\r\n"); i > 0 {
			desc = desc[:i] // Microsoft appends trace and correlation ids
		}
		d += ": " + desc
	}
	return d
}

func (s *Source) explain(err error, fix string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Errorf("token endpoint %s refused (%s): %s", s.tokenURL, describe(re), fix)
		}
		return fmt.Errorf("token endpoint %s answered %s", s.tokenURL, re.Response.Status)
	}
	return fmt.Errorf("token endpoint %s: %w", s.tokenURL, err)
}
