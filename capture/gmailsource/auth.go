package gmailsource

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/gmail/v1"
)

// AuthOptions says how a mailbox authenticates to the Gmail API.
type AuthOptions struct {
	// Kind is "oauth" (a refresh token of the mailbox user; also when
	// empty) or "service_account" (domain-wide delegation, impersonating
	// Subject).
	Kind string
	// ClientID, ClientSecret and RefreshToken are the OAuth client and
	// the user's refresh token (Kind "oauth").
	ClientID, ClientSecret, RefreshToken string
	// CredentialsJSON is the service account key file (Kind "service_account").
	CredentialsJSON []byte
	// Subject is the mailbox address the service account impersonates.
	Subject string
	// TokenURL overrides the token endpoint (tests).
	TokenURL string
	// Modify requests the gmail.modify scope (needed for
	// LabelAfterCapture); otherwise gmail.readonly.
	Modify bool
	// Send adds the gmail.send scope (the mailbox sends its replies
	// through users.messages.send).
	Send bool
	// HTTPClient is the base client for token and API requests; default
	// a client on a clone of http.DefaultTransport keeping up to 32 idle
	// connections per host (parallel fetches through an HTTP/1.1 proxy).
	HTTPClient *http.Client
}

// Scopes returns the OAuth scopes a mailbox needs.
func (a AuthOptions) Scopes() []string {
	scopes := []string{gmail.GmailReadonlyScope}
	if a.Modify {
		scopes = []string{gmail.GmailModifyScope}
	}
	if a.Send {
		scopes = append(scopes, gmail.GmailSendScope)
	}
	return scopes
}

// NewHTTPClient returns an HTTP client that authorises Gmail API requests
// and refreshes its access token by itself. No request is made until the
// client is used. The client outlives ctx: only ctx's values are kept.
func NewHTTPClient(ctx context.Context, a AuthOptions) (*http.Client, error) {
	ctx = context.WithoutCancel(ctx) // token refreshes happen for the client's whole life
	base := a.HTTPClient
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		base = &http.Client{Transport: t}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, base)
	switch a.Kind {
	case "oauth", "":
		var missing []string
		if a.ClientID == "" {
			missing = append(missing, "client_id")
		}
		if a.ClientSecret == "" {
			missing = append(missing, "client secret")
		}
		if a.RefreshToken == "" {
			missing = append(missing, "refresh token")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("gmailsource: oauth needs %v", missing)
		}
		ep := google.Endpoint
		if a.TokenURL != "" {
			ep = oauth2.Endpoint{TokenURL: a.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
		}
		cfg := &oauth2.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret, Endpoint: ep, Scopes: a.Scopes()}
		return oauth2.NewClient(ctx, cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: a.RefreshToken})), nil
	case "service_account":
		if len(a.CredentialsJSON) == 0 {
			return nil, errors.New("gmailsource: service_account needs the credentials file (service account JSON key)")
		}
		if a.Subject == "" {
			return nil, errors.New("gmailsource: service_account needs the mailbox address to impersonate (user)")
		}
		cfg, err := google.JWTConfigFromJSON(a.CredentialsJSON, a.Scopes()...)
		if err != nil {
			// The error names the problem, never the key material.
			return nil, fmt.Errorf("gmailsource: service account credentials: %w", err)
		}
		cfg.Subject = a.Subject
		if a.TokenURL != "" {
			cfg.TokenURL = a.TokenURL
		}
		return cfg.Client(ctx), nil
	default:
		return nil, fmt.Errorf("gmailsource: unknown auth kind %q (want oauth or service_account)", a.Kind)
	}
}
