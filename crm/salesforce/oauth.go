package salesforce

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/internal/seal"
)

// The consent's state travels sealed (seal.Consent): it carries the PKCE
// verifier, the agent and where to return, so any instance can complete
// the flow and no one can forge or read it.
const statePurpose = "sidedesk salesforce state"

// consentTTL bounds the time between the redirect and the callback.
const consentTTL = 15 * time.Minute

// ErrBadState: the callback's state is not one this server made for this
// agent, or it is older than 15 minutes.
var ErrBadState = fmt.Errorf("salesforce: start again from the panel: %w", crm.ErrConsentState)

// AuthorizeURL is the consent page to send the agent to.
func (c *Connector) AuthorizeURL(_ context.Context, tenant, agent, returnTo string) (string, error) {
	if !strings.HasPrefix(returnTo, "/") || strings.HasPrefix(returnTo, "//") {
		returnTo = "/sidebar"
	}
	vb := make([]byte, 48)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	state := c.box.SealConsent(seal.Consent{Tenant: tenant, Agent: agent, Verifier: verifier, Return: returnTo,
		Expires: c.opts.Now().Add(consentTTL).Unix()}, statePurpose)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.opts.ClientID},
		"redirect_uri":          {c.opts.RedirectURL},
		"scope":                 {"api refresh_token id"},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"prompt":                {"login consent"},
	}
	if agent != "" {
		q.Set("login_hint", agent)
	}
	return c.login.String() + "/services/oauth2/authorize?" + q.Encode(), nil
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	InstanceURL  string `json:"instance_url"`
	ID           string `json:"id"`
	IssuedAt     string `json:"issued_at"`
	Signature    string `json:"signature"`
	TokenType    string `json:"token_type"`
	// Error answers.
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// OAuthError is the token endpoint's refusal.
type OAuthError struct {
	Status      int
	Code        string // invalid_grant, invalid_client, ...
	Description string
}

func (e *OAuthError) Error() string {
	return fmt.Sprintf("salesforce: token endpoint: %s: %s", e.Code, e.Description)
}

// Complete exchanges the callback's code and stores the connection.
func (c *Connector) Complete(ctx context.Context, tenant, agent, code, state string) (string, error) {
	st, ok := c.box.OpenConsent(state, statePurpose, tenant, agent, c.opts.Now())
	if !ok {
		return "", ErrBadState
	}
	if code == "" {
		return "", fmt.Errorf("salesforce: the callback has no code")
	}
	tr, err := c.tokenRequest(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {c.opts.RedirectURL},
		"code_verifier": {st.Verifier},
	})
	if err != nil {
		return "", err
	}
	if tr.RefreshToken == "" {
		return "", errors.New("salesforce: no refresh token was issued: add the scope \"Perform requests at any time (refresh_token, offline_access)\" to the connected app")
	}
	conn := crm.Connection{Tenant: tenant, Agent: agent, Provider: Provider, InstanceURL: tr.InstanceURL,
		IdentityURL: tr.ID, RefreshSealed: c.seal([]byte(tr.RefreshToken), "refresh"), Status: "connected"}
	if parts := strings.Split(tr.ID, "/"); len(parts) >= 2 {
		conn.UserID = parts[len(parts)-1]
	}
	if old, err := c.opts.Store.CRMConnection(ctx, tenant, agent, Provider); err == nil {
		conn.ConnectedAt = old.ConnectedAt
	}
	s := c.session(tenant, agent)
	s.mu.Lock()
	s.access, s.instanceURL = tr.AccessToken, tr.InstanceURL
	s.mu.Unlock()
	if id, err := c.identity(ctx, tr); err == nil {
		conn.Username = id.Username
	} else {
		c.log.Warn("salesforce: identity look-up failed", "agent", agent, "err", err)
	}
	if err := c.opts.Store.PutCRMConnection(ctx, conn); err != nil {
		return "", err
	}
	c.dropCache(tenant, agent)
	c.log.Info("salesforce: agent connected", "tenant", tenant, "agent", agent, "username", conn.Username)
	return st.Return, nil
}

type identityJSON struct {
	UserID   string `json:"user_id"`
	OrgID    string `json:"organization_id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

func (c *Connector) identity(ctx context.Context, tr tokenResponse) (identityJSON, error) {
	var id identityJSON
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.ID, nil)
	if err != nil {
		return id, err
	}
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	res, err := c.opts.HTTP.Do(req)
	if err != nil {
		return id, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return id, fmt.Errorf("identity URL answered %s", res.Status)
	}
	return id, json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&id)
}

// tokenRequest posts to the token endpoint and checks the answer's
// signature (HMAC-SHA256 of id + issued_at with the consumer secret).
func (c *Connector) tokenRequest(ctx context.Context, form url.Values) (tokenResponse, error) {
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" { // the assertion is the credential
		form.Set("client_id", c.opts.ClientID)
		form.Set("client_secret", c.opts.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.login.String()+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := c.opts.HTTP.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("salesforce: token endpoint: %w", err)
	}
	defer res.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&tr); err != nil {
		return tr, fmt.Errorf("salesforce: token endpoint answered %s that is not JSON", res.Status)
	}
	if res.StatusCode != http.StatusOK || tr.Error != "" {
		return tr, &OAuthError{Status: res.StatusCode, Code: tr.Error, Description: tr.Description}
	}
	if tr.AccessToken == "" || tr.InstanceURL == "" {
		return tr, errors.New("salesforce: token endpoint answered no access_token or instance_url")
	}
	if u, err := url.Parse(tr.InstanceURL); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && c.login.Scheme == "http")) {
		return tr, fmt.Errorf("salesforce: token endpoint answered instance_url %q, not an https URL", tr.InstanceURL)
	}
	if tr.Signature != "" {
		m := hmac.New(sha256.New, []byte(c.opts.ClientSecret))
		m.Write([]byte(tr.ID + tr.IssuedAt))
		got, err := base64.StdEncoding.DecodeString(tr.Signature)
		if err != nil || !hmac.Equal(got, m.Sum(nil)) {
			return tr, errors.New("salesforce: the token answer's signature does not match the client secret: check client_secret, or the answer was tampered with")
		}
	}
	return tr, nil
}

// accessToken returns the agent's access token and instance URL,
// refreshing when there is none (or force: the last one was refused).
func (c *Connector) accessToken(ctx context.Context, tenant, agent string, force bool, stale string) (string, string, error) {
	s := c.session(tenant, agent)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.access != "" && (!force || s.access != stale) {
		return s.access, s.instanceURL, nil // another request refreshed meanwhile
	}
	if c.jwtKey != nil && agent == jwtAgent(c.opts.JWT.Username) {
		return c.jwtToken(ctx, s)
	}
	var (
		conn    crm.Connection
		refresh []byte
		tr      tokenResponse
	)
	for attempt := 0; ; attempt++ {
		var err error
		conn, err = c.opts.Store.CRMConnection(ctx, tenant, agent, Provider)
		if errors.Is(err, crm.ErrNotFound) {
			return "", "", fmt.Errorf("salesforce: %s has not connected Salesforce: %w", agent, crm.ErrNotConnected)
		}
		if err != nil {
			return "", "", err
		}
		if conn.Status != "connected" {
			return "", "", fmt.Errorf("salesforce: %s must reconnect Salesforce (%s): %w", agent, conn.LastError, crm.ErrNotConnected)
		}
		if refresh, err = c.open(conn.RefreshSealed, "refresh"); err != nil {
			return "", "", fmt.Errorf("salesforce: the stored refresh token of %s does not open with the secret key (was the key changed?): %w", agent, crm.ErrNotConnected)
		}
		tr, err = c.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {string(refresh)}})
		var oe *OAuthError
		if errors.As(err, &oe) && oe.Code == "invalid_grant" {
			// Another instance may have rotated the token meanwhile: only
			// a refusal of the token still stored disconnects the agent.
			if again, gerr := c.opts.Store.CRMConnection(ctx, tenant, agent, Provider); attempt == 0 && gerr == nil && string(again.RefreshSealed) != string(conn.RefreshSealed) {
				continue
			}
			conn.Status, conn.LastError = "disconnected", "Salesforce refused the refresh token ("+oe.Description+")"
			if perr := c.opts.Store.PutCRMConnection(ctx, conn); perr != nil {
				c.log.Error("salesforce: cannot record the disconnection", "agent", agent, "err", perr)
			}
			c.log.Warn("salesforce: agent disconnected; they must reconnect from the panel", "tenant", tenant, "agent", agent, "reason", oe.Description)
			s.access = ""
			return "", "", fmt.Errorf("salesforce: %s must reconnect Salesforce: %w", agent, crm.ErrNotConnected)
		}
		if err != nil {
			return "", "", err
		}
		break
	}
	if tr.RefreshToken != "" && tr.RefreshToken != string(refresh) {
		// Refresh token rotation: keep the new one.
		conn.RefreshSealed = c.seal([]byte(tr.RefreshToken), "refresh")
		if err := c.opts.Store.PutCRMConnection(ctx, conn); err != nil {
			return "", "", err
		}
	}
	s.access, s.instanceURL = tr.AccessToken, tr.InstanceURL
	return s.access, s.instanceURL, nil
}
