package mailauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sidedesk/sidedesk/internal/seal"
	"golang.org/x/oauth2"
)

// The consent flow (authorization code with PKCE S256): an admin opens the
// provider's consent page for a mailbox from the panel, signs in as the
// mailbox's owner, and the callback stores the refresh token. The state
// parameter is sealed and carries the PKCE verifier, tenant, mailbox, admin
// and expiry, so any instance completes it and nobody else can.

// ErrConsentState: the callback's state is not one we issued to this admin
// (forged, expired, or started by someone else).
var ErrConsentState = errors.New("mailauth: consent state invalid or expired")

const statePurpose = "mailbox-oauth-state"

// CanConsent reports whether the Source's mailbox is connected by an
// admin's consent (the refresh-token grant with an authorization URL).
func (s *Source) CanConsent() bool { return s.opts.Grant == GrantRefreshToken && s.authURL != "" }

func (s *Source) authCodeOptions(verifier string) []oauth2.AuthCodeOption {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	switch s.opts.Provider {
	case "google":
		// A refresh token only comes with offline access, and again
		// only when the consent is shown.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
	case "microsoft":
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "select_account"))
	}
	return opts
}

// AuthorizeURL is the provider's consent page for the mailbox, started by
// admin agent; the provider sends the browser back to redirectURL.
func (s *Source) AuthorizeURL(agent, redirectURL string) (string, error) {
	if !s.CanConsent() {
		return "", fmt.Errorf("mailauth: mailbox %q is not connected by consent (oauth_grant %q)", s.opts.Mailbox, s.opts.Grant)
	}
	v := oauth2.GenerateVerifier()
	state := s.opts.Seal.SealConsent(seal.Consent{Verifier: v, Tenant: s.opts.Tenant, Agent: agent, Subject: s.opts.Mailbox,
		Expires: s.opts.Now().Add(15 * time.Minute).Unix()}, statePurpose)
	c := s.config("")
	c.RedirectURL = redirectURL
	return c.AuthCodeURL(state, s.authCodeOptions(v)...), nil
}

// Sources are the mailboxes that log in by OAuth, by tenant and name.
type Sources []*Source

// Find is the tenant's Source for mailbox, or nil.
func (ss Sources) Find(tenant, mailbox string) *Source {
	i := slices.IndexFunc(ss, func(s *Source) bool { return s.opts.Tenant == tenant && s.opts.Mailbox == mailbox })
	if i < 0 {
		return nil
	}
	return ss[i]
}

// Complete finishes a consent for tenant's admin agent: it opens the state,
// exchanges the code (with the PKCE verifier) and stores the refresh token.
// It returns the mailbox.
func (ss Sources) Complete(ctx context.Context, tenant, agent, redirectURL, code, state string) (mailbox string, err error) {
	if len(ss) == 0 {
		return "", ErrConsentState
	}
	st, ok := ss[0].opts.Seal.OpenConsent(state, statePurpose, tenant, agent, ss[0].opts.Now())
	if !ok {
		return "", ErrConsentState
	}
	s := ss.Find(tenant, st.Subject)
	if s == nil || !s.CanConsent() {
		return "", ErrConsentState
	}
	if code == "" {
		return "", fmt.Errorf("mailauth: the provider sent no code")
	}
	return st.Subject, s.exchange(ctx, agent, redirectURL, code, st.Verifier)
}

func (s *Source) exchange(ctx context.Context, agent, redirectURL, code, verifier string) error {
	sec, err := s.secret(ctx)
	if err != nil {
		return err
	}
	c := s.config(sec)
	c.RedirectURL = redirectURL
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.opts.HTTPClient)
	tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return s.explain(err, "start the connection again from the panel")
	}
	if tok.RefreshToken == "" {
		return fmt.Errorf("mailauth: %s gave no refresh token for mailbox %q: grant offline access (Microsoft: the offline_access scope)", s.tokenURL, s.opts.Mailbox)
	}
	now := s.opts.Now()
	err = s.opts.Store.PutMailboxOAuth(ctx, Connection{Tenant: s.opts.Tenant, Mailbox: s.opts.Mailbox,
		RefreshSealed: s.sealRefresh(tok.RefreshToken),
		Origin:        "consent", Status: "connected", ConnectedBy: agent, ConnectedAt: now})
	if err != nil {
		return fmt.Errorf("mailauth: store the connection of mailbox %q: %w", s.opts.Mailbox, err)
	}
	s.mu.Lock()
	s.tok, s.lastErr, s.lastOK = tok, nil, now
	s.mu.Unlock()
	return nil
}
