// Package salesforce is the Salesforce CRM connector: each agent connects
// their own Salesforce user by the OAuth 2.0 web server flow with PKCE, so
// every read and write runs with that user's permissions and sharing; the
// panel's look-up (Match) runs its SOQL queries in parallel, one round of
// requests, and is cached briefly per agent. It speaks the REST API
// (/services/data/vXX.X/) and reads its error array, 401
// INVALID_SESSION_ID (refresh once, retry), invalid_grant (the agent must
// reconnect), REQUEST_LIMIT_EXCEEDED (back off) and Sforce-Limit-Info (the
// org's API budget).
package salesforce

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sidedesk/sidedesk/internal/seal"

	"github.com/sidedesk/sidedesk/crm"
)

// Provider is the connections' provider name.
const Provider = "salesforce"

// DefaultAPIVersion is the REST API version asked for when none is set.
const DefaultAPIVersion = "v62.0"

// Options configures a Connector.
type Options struct {
	// LoginURL is the OAuth host: https://login.salesforce.com,
	// https://test.salesforce.com (a sandbox) or a My Domain URL.
	LoginURL     string
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered on the connected app:
	// <public_url>/sidebar/crm/callback.
	RedirectURL string
	APIVersion  string // "v62.0"; default DefaultAPIVersion
	// Store keeps the agents' connections (required).
	Store crm.ConnectionStore
	// Saved records which emails were saved to which records; nil: saving
	// an email is not offered.
	Saved crm.SavedEmailStore
	// Blobs opens attachments' bytes by SHA-256; with it, a saved email's
	// attachments of at most MaxAttachmentBytes each become ContentVersion
	// files on it. nil: attachments are not copied.
	Blobs interface {
		Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
	}
	MaxAttachmentBytes int64 // default 10 MiB
	// SaveAs is how an email is saved: SaveEmailMessage (default) or
	// SaveTask (orgs without Enhanced Email).
	SaveAs string
	// Key seals refresh tokens and the consent's state (32 bytes).
	Key []byte
	// JWT, when set, is the integration user of the JWT bearer flow: it
	// serves look-ups made for no agent, before ServiceAgent.
	JWT *JWTOptions
	// ServiceAgent is the agent whose connection serves look-ups made for
	// no agent (Slack alerts, API tokens); ""
	// leaves those without Salesforce facts.
	ServiceAgent string
	// ContactEmailFields and LeadEmailFields are the objects' other email
	// fields (custom ones, e.g. Alternate_Email__c) a sender is matched by
	// besides Email.
	ContactEmailFields, LeadEmailFields []string
	// FreeMailDomains are domains that say nothing of an account.
	FreeMailDomains []string
	// CacheTTL is how long a look-up is reused per agent (default 30 s;
	// negative: no cache).
	CacheTTL time.Duration
	// BudgetWarn is the share of the org's daily API requests above which
	// a warning is logged and shown (default 0.8).
	BudgetWarn float64
	HTTP       *http.Client // default: 20 s timeout
	Logger     *slog.Logger
	Now        func() time.Time
}

// Connector implements crm.Connector and crm.Authorizer.
type Connector struct {
	opts  Options
	log   *slog.Logger
	box   *seal.Box
	login *url.URL

	mu        sync.Mutex
	sessions  map[string]*agentSession // tenant/agent → session
	cache     map[string]cached
	describes map[string]describeCached
	jwtKey    *rsa.PrivateKey
	blocked   time.Time // REQUEST_LIMIT_EXCEEDED: fail fast until then
	usage     Usage
	warned    time.Time
}

// agentSession is an agent's access token, refreshed under mu.
type agentSession struct {
	mu          sync.Mutex
	access      string
	instanceURL string
}

type cached struct {
	m       crm.Match
	expires time.Time
}

// Usage is the org's API budget as the last answer's Sforce-Limit-Info
// said.
type Usage struct {
	Used, Max int
	At        time.Time
}

// New checks opts and builds a Connector.
func New(opts Options) (*Connector, error) {
	var missing []string
	for k, v := range map[string]string{"login_url": opts.LoginURL, "client_id": opts.ClientID, "client_secret": opts.ClientSecret, "redirect_url": opts.RedirectURL} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("salesforce: missing %s", strings.Join(missing, ", "))
	}
	if opts.Store == nil || len(opts.Key) != 32 {
		return nil, errors.New("salesforce: Options.Store and a 32-byte Key are required")
	}
	login, err := url.Parse(strings.TrimRight(opts.LoginURL, "/"))
	if err != nil || login.Host == "" || (login.Scheme != "https" && login.Scheme != "http") {
		return nil, fmt.Errorf("salesforce: login_url %q: want https://login.salesforce.com, https://test.salesforce.com or your My Domain URL", opts.LoginURL)
	}
	for _, f := range append(append([]string{}, opts.ContactEmailFields...), opts.LeadEmailFields...) {
		if !fieldNameRE.MatchString(f) {
			return nil, fmt.Errorf("salesforce: email field %q is not a field API name like Alternate_Email__c", f)
		}
	}
	if opts.MaxAttachmentBytes <= 0 {
		opts.MaxAttachmentBytes = 10 << 20
	}
	switch opts.SaveAs {
	case "":
		opts.SaveAs = SaveEmailMessage
	case SaveEmailMessage, SaveTask:
	default:
		return nil, fmt.Errorf("salesforce: save_email_as %q: want %q or %q", opts.SaveAs, SaveEmailMessage, SaveTask)
	}
	if opts.APIVersion == "" {
		opts.APIVersion = DefaultAPIVersion
	}
	if !strings.HasPrefix(opts.APIVersion, "v") {
		opts.APIVersion = "v" + opts.APIVersion
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.BudgetWarn <= 0 {
		opts.BudgetWarn = 0.8
	}
	if opts.HTTP == nil {
		// A panel view runs its queries in parallel: keep enough idle
		// connections that none of them pays a new TLS handshake.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		opts.HTTP = &http.Client{Timeout: 20 * time.Second, Transport: tr}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	box, err := seal.New(opts.Key)
	if err != nil {
		return nil, err
	}
	cn := &Connector{opts: opts, log: opts.Logger, box: box, login: login,
		sessions: map[string]*agentSession{}, cache: map[string]cached{}, describes: map[string]describeCached{}}
	if opts.JWT != nil {
		if opts.JWT.Username == "" {
			return nil, errors.New("salesforce: the JWT bearer flow needs the integration user's username")
		}
		if cn.jwtKey, err = parseRSAKey(opts.JWT.KeyPEM); err != nil {
			return nil, err
		}
	}
	return cn, nil
}

// Name is "salesforce".
func (c *Connector) Name() string { return Provider }

// Usage is the org's API budget as last seen.
func (c *Connector) Usage() Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage
}

func (c *Connector) seal(plain []byte, purpose string) []byte {
	return c.box.Seal(plain, "sidedesk salesforce "+purpose)
}

func (c *Connector) open(sealed []byte, purpose string) ([]byte, error) {
	return c.box.Open(sealed, "sidedesk salesforce "+purpose)
}

// session is the agent's session holder (one per tenant and agent).
func (c *Connector) session(tenant, agent string) *agentSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tenant + "/" + agent
	s := c.sessions[k]
	if s == nil {
		s = &agentSession{}
		c.sessions[k] = s
	}
	return s
}

// actor is the agent of ctx (or the service agent), or ErrNotConnected.
func (c *Connector) actor(ctx context.Context) (string, error) {
	a := crm.AgentFrom(ctx)
	if a == "" && c.jwtKey != nil {
		a = jwtAgent(c.opts.JWT.Username)
	}
	if a == "" {
		a = c.opts.ServiceAgent
	}
	if a == "" {
		return "", fmt.Errorf("salesforce: no agent to act as (Salesforce is read with each agent's own connection; set crm.service_agent for look-ups made outside the panel): %w", crm.ErrNotConnected)
	}
	return a, nil
}

// Status is an agent connection's state for health and doctor.
type Status struct {
	Tenant, Agent, Username, State, LastError string
}

// Statuses lists every agent's connection state.
func (c *Connector) Statuses(ctx context.Context) ([]Status, error) {
	conns, err := c.opts.Store.CRMConnections(ctx, Provider)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, cn := range conns {
		out = append(out, Status{Tenant: cn.Tenant, Agent: cn.Agent, Username: cn.Username, State: cn.Status, LastError: cn.LastError})
	}
	return out, nil
}

// Check verifies what can be verified without an agent: the login URL
// answers OAuth, and it knows the connected app's consumer key and secret
// (a refresh with a token that cannot exist must be refused as
// invalid_grant, not invalid_client). With a service agent, it also reads
// the org's API limits as that agent (their connection in tenant).
func (c *Connector) Check(ctx context.Context, tenant string) (string, error) {
	if err := c.CheckApp(ctx); err != nil {
		return "", err
	}
	note := "connected app accepted; API " + c.opts.APIVersion
	var limits struct {
		DailyAPIRequests struct{ Max, Remaining int } `json:"DailyApiRequests"`
	}
	if c.jwtKey != nil {
		// The integration user (JWT bearer) serves look-ups for no agent.
		if err := c.do(ctx, tenant, http.MethodGet, "limits", nil, &limits); err != nil {
			return note, fmt.Errorf("integration user %s: %w", c.opts.JWT.Username, err)
		}
		return fmt.Sprintf("%s; integration user %s signed in by JWT; daily API requests %d of %d left", note, c.opts.JWT.Username,
			limits.DailyAPIRequests.Remaining, limits.DailyAPIRequests.Max), nil
	}
	if c.opts.ServiceAgent == "" {
		return note + "; no crm.service_agent or crm.jwt_username", nil
	}
	ctx = crm.WithAgent(ctx, c.opts.ServiceAgent)
	err := c.do(ctx, tenant, http.MethodGet, "limits", nil, &limits)
	switch {
	case errors.Is(err, crm.ErrNotConnected):
		// Not a failure: the agent connects from the panel once.
		return fmt.Sprintf("%s; service agent %s has not connected yet (they click Connect Salesforce in the panel)", note, c.opts.ServiceAgent), nil
	case err != nil:
		return note, fmt.Errorf("service agent %s: %w", c.opts.ServiceAgent, err)
	}
	return fmt.Sprintf("%s; service agent %s connected; daily API requests %d of %d left", note, c.opts.ServiceAgent,
		limits.DailyAPIRequests.Remaining, limits.DailyAPIRequests.Max), nil
}

// CheckApp is Check's first half: the login URL and the connected app's
// credentials, without the store.
func (c *Connector) CheckApp(ctx context.Context) error {
	_, err := c.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"sidedesk-doctor-check"}})
	var oe *OAuthError
	switch {
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		return c.checkVersion(ctx)
	case errors.As(err, &oe) && strings.HasPrefix(oe.Code, "invalid_client"):
		return fmt.Errorf("%s refuses the connected app (%s: %s): check crm.client_id and crm.client_secret", c.login, oe.Code, oe.Description)
	case err != nil:
		return fmt.Errorf("%s: %w (check crm.login_url)", c.login, err)
	}
	return fmt.Errorf("%s accepted a made-up refresh token: is crm.login_url really Salesforce?", c.login)
}

// checkVersion asks /services/data (no token needed) whether the org
// offers the configured API version.
func (c *Connector) checkVersion(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.login.String()+"/services/data", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.opts.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s/services/data: %w", c.login, err)
	}
	defer res.Body.Close()
	var vs []struct{ Version string }
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&vs); err != nil || res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/services/data answered %s, not the list of API versions", c.login, res.Status)
	}
	var offered []string
	for _, v := range vs {
		if "v"+v.Version == c.opts.APIVersion {
			return nil
		}
		offered = append(offered, "v"+v.Version)
	}
	return fmt.Errorf("crm.api_version %s is not offered by %s (it offers %s)", c.opts.APIVersion, c.login, strings.Join(offered, ", "))
}

// fieldNameRE is a field's API name (standard or custom, with a namespace).
var fieldNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)
