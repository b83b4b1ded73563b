// Package config is sidedesk's typed configuration: one TOML file plus
// SIDEDESK_* environment overrides, validated as a whole (every problem is
// reported, each naming its key), with secrets given only by reference
// (*_env / *_file) and never printed.
//
// The lead maps these structs to other packages' Options in cmd/sidedesk;
// no other package imports config.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Config is the whole configuration. Build it with Load or Default.
type Config struct {
	Server    Server    `toml:"server"`
	Database  Database  `toml:"database"`
	Storage   Storage   `toml:"storage"`
	Log       Log       `toml:"log"`
	Security  Security  `toml:"security"`
	Ticket    Ticket    `toml:"ticket"`
	Mailboxes []Mailbox `toml:"mailbox"`
	Calendar  Calendar  `toml:"calendar"`
	Slack     Slack     `toml:"slack"`
	Webhooks  Webhooks  `toml:"webhooks"`
	CRM       CRM       `toml:"crm"`

	// lookupEnv resolves environment variables: the env given to Load, or
	// the process environment for Default.
	lookupEnv func(string) (string, bool)
}

// Server is the [server] section: the HTTP listener.
type Server struct {
	Listen string `toml:"listen"` // host:port
	// PublicURL is the externally reachable base URL; defaults to
	// "http://" + Listen.
	PublicURL string `toml:"public_url"`
	// TrustedProxies are the reverse proxies (IP addresses or CIDR
	// prefixes) whose X-Forwarded-For names the client: sign-in rate
	// limits and sign-in log lines then see the client, not the proxy (the
	// access log keeps the peer address). Empty: the
	// peer address is the client.
	TrustedProxies []string `toml:"trusted_proxies"`
	// APIRateLimit is how many /api/v1 requests one token may make per
	// minute (429 with Retry-After beyond it). 0 turns the limit off.
	APIRateLimit int `toml:"api_rate_limit"`
}

// TrustedProxyPrefixes returns TrustedProxies parsed (Validate has
// checked them); a bare address is a single-address prefix.
func (s Server) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, v := range s.TrustedProxies {
		if p, err := parseProxy(v); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseProxy(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Database is the [database] section.
type Database struct {
	Path string `toml:"path"` // SQLite file
	// Synchronous is "full" (default: every acknowledged write survives a
	// power loss) or "normal" (a process crash is safe; the last commits
	// before a power loss may be lost; faster API writes).
	Synchronous string `toml:"synchronous"`
}

// Storage is the [storage] section.
type Storage struct {
	BlobDir string `toml:"blob_dir"` // content-addressed raw mail and attachments
	// ReserveMB is the free space, in MB, kept for the database on the
	// filesystem it shares with blob_dir: below it, capture and uploads
	// stop writing blobs (as on a full disk) so the database can always
	// commit what was written. 0 keeps none. Default 64.
	ReserveMB int `toml:"reserve_mb"`
}

// Log is the [log] section.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // text | json
}

// Security is the [security] section: the key that encrypts secrets the
// product stores itself.
type Security struct {
	SecretKeyFile string `toml:"secret_key_file"`
	SecretKeyEnv  string `toml:"secret_key_env"`
}

// SecretKey returns the reference to the encryption key. When neither file
// nor env is set, the caller generates data/secret.key once (mode 0600).
func (s Security) SecretKey() Secret {
	return Secret{Key: "security.secret_key", Env: s.SecretKeyEnv, File: s.SecretKeyFile}
}

// Ticket is the [ticket] section: threading and loop-guard settings.
type Ticket struct {
	TagPrefix       string        `toml:"tag_prefix"`    // subject tag "[#123]" prefix
	ReopenWindow    time.Duration `toml:"reopen_window"` // a reply later than this after close starts a new ticket
	FloodLimit      int           `toml:"flood_limit"`   // messages per sender per FloodWindow before holding
	FloodWindow     time.Duration `toml:"flood_window"`
	SubjectMatching bool          `toml:"subject_matching"`
	Priority        Priority      `toml:"priority"`

	// Acknowledgements: a customer whose mail opens a ticket gets a mail
	// with its number, from a mailbox that sends (smtp_host) and has ack
	// on. Never to auto-replies, bounces, list mail, held floods, our own
	// addresses, mail older than AckMaxAge (a first sync), or a sender who
	// got one within AckInterval.
	AckEnabled  bool          `toml:"ack_enabled"`
	AckInterval time.Duration `toml:"ack_interval"`
	AckMaxAge   time.Duration `toml:"ack_max_age"`
	// AckSubject and AckBody are Go text/template sources over
	// .Number, .Tag ("[#123]"), .Subject, .RequesterName, .RequesterEmail
	// and .MailboxName; the subject tag is added when missing.
	AckSubject string `toml:"ack_subject"`
	AckBody    string `toml:"ack_body"`
	// Macros are canned replies offered in the panel's reply box.
	Macros []Macro `toml:"macro"`
}

// Macro is one canned reply ([[ticket.macro]]): Body is a Go text/template
// over .RequesterName, .RequesterEmail, .Number, .Tag, .Subject,
// .AgentName and .AgentEmail.
type Macro struct {
	Name string `toml:"name"`
	Body string `toml:"body"`
}

// Webhooks is the [webhooks] section: outbound webhook subscriptions, made
// through POST /api/v1/webhooks.
type Webhooks struct {
	// AllowPrivate lets subscriptions target loopback, private and
	// link-local addresses (refused by default: SSRF).
	AllowPrivate bool `toml:"allow_private"`
}

// CRM kinds.
const (
	CRMLocal      = "local"
	CRMSalesforce = "salesforce"
)

// CRM is the [crm] section: the CRM behind the sidebar. "local" keeps
// records in sidedesk's database (import them with sidedesk crm import);
// "salesforce" reads and writes Salesforce, each agent through their own
// connected user (the panel's "Connect Salesforce").
type CRM struct {
	Kind string `toml:"kind"` // local | salesforce
	// LoginURL is the OAuth host: https://login.salesforce.com,
	// https://test.salesforce.com for a sandbox, or the org's My Domain URL.
	LoginURL string `toml:"login_url"`
	// ClientID and the secret are the connected app's consumer key and
	// secret. Its callback URL must be <public_url>/sidebar/crm/callback.
	ClientID         string `toml:"client_id"`
	ClientSecretEnv  string `toml:"client_secret_env"`
	ClientSecretFile string `toml:"client_secret_file"`
	APIVersion       string `toml:"api_version"` // REST API version, e.g. v62.0
	// CacheTTL is how long a sidebar look-up is reused per agent.
	CacheTTL time.Duration `toml:"cache_ttl"`
	// ServiceAgent is the agent (email) whose Salesforce connection serves
	// look-ups made for no agent: the account name in Slack alerts and
	// GET /api/v1/lookup. "" leaves those without Salesforce facts. (Capture
	// never asks Salesforce: its accounts carry no tier.)
	ServiceAgent string `toml:"service_agent"`
	// JWTUsername and the key are the integration user of the OAuth JWT
	// bearer flow (the connected app holds the key's certificate and the
	// user is pre-authorised): when set, it serves look-ups made for no
	// agent instead of ServiceAgent.
	JWTUsername string `toml:"jwt_username"`
	JWTKeyEnv   string `toml:"jwt_key_env"`
	JWTKeyFile  string `toml:"jwt_key_file"`
	// ContactEmailFields and LeadEmailFields are other email fields (API
	// names, e.g. Alternate_Email__c) a sender is matched by, besides Email.
	ContactEmailFields []string `toml:"contact_email_fields"`
	LeadEmailFields    []string `toml:"lead_email_fields"`
	// SaveEmailAs is how the panel's "save to CRM" writes an email into
	// Salesforce: "email_message" (an EmailMessage with its people
	// related, deduplicated by Message-ID; needs Enhanced Email) or
	// "task" (a completed Task of subtype Email).
	SaveEmailAs string `toml:"save_email_as"`
	// MaxAttachmentMB is the largest attachment (in MiB) copied into
	// Salesforce as a file with a saved email; larger ones stay in
	// sidedesk only. 0: attachments are not copied.
	MaxAttachmentMB int `toml:"max_attachment_mb"`
}

// JWTKey is the integration user's RSA private key (PEM).
func (c CRM) JWTKey() Secret {
	return Secret{Key: "crm.jwt_key", Env: c.JWTKeyEnv, File: c.JWTKeyFile}
}

// ClientSecret is the connected app's consumer secret.
func (c CRM) ClientSecret() Secret {
	return Secret{Key: "crm.client_secret", Env: c.ClientSecretEnv, File: c.ClientSecretFile}
}

// Priority is the [ticket.priority] section: how a new ticket's priority
// is set from its first mail. The highest signal wins; none gives normal.
type Priority struct {
	// UseHeaders takes the sender's Importance / X-Priority / Priority
	// header fields as a signal (high or low only).
	UseHeaders bool `toml:"use_headers"`
	// UrgentKeywords and HighKeywords are whole words or phrases, matched
	// case-insensitively in the subject and text.
	UrgentKeywords []string `toml:"urgent_keywords"`
	HighKeywords   []string `toml:"high_keywords"`
	VIPSenders     []string `toml:"vip_senders"`
	VIPDomains     []string `toml:"vip_domains"`
	VIPPriority    string   `toml:"vip_priority"` // high | urgent | normal | low
	// Tiers maps a CRM account tier to a priority, e.g. {enterprise = "high"}.
	Tiers map[string]string `toml:"tiers"`
}

// Mailbox kinds.
const (
	KindIMAP  = "imap"
	KindGmail = "gmail"
)

// Mailbox is one [[mailbox]] table: a captured support mailbox.
type Mailbox struct {
	Name    string   `toml:"name"`
	Kind    string   `toml:"kind"` // imap | gmail
	Tenant  string   `toml:"tenant"`
	Address string   `toml:"address"`
	Aliases []string `toml:"aliases"`
	Enabled bool     `toml:"enabled"`

	// IMAP (kind = "imap").
	Host                  string `toml:"host"`
	Port                  int    `toml:"port"` // default 993 for implicit TLS, 143 otherwise
	TLS                   string `toml:"tls"`  // implicit | starttls | none
	TLSInsecureSkipVerify bool   `toml:"tls_insecure_skip_verify"`
	CAFile                string `toml:"ca_file"`
	Auth                  string `toml:"auth"` // plain | login | xoauth2
	Username              string `toml:"username"`
	PasswordEnv           string `toml:"password_env"`
	PasswordFile          string `toml:"password_file"`
	OAuthTokenEnv         string `toml:"oauth_token_env"`
	OAuthTokenFile        string `toml:"oauth_token_file"`
	// OAuth for auth = "xoauth2" and smtp_auth = "xoauth2": with
	// OAuthClientID set, access tokens are refreshed as they expire (by
	// the mailbox owner's refresh token, or app-only client credentials).
	OAuthProvider         string   `toml:"oauth_provider"` // microsoft | google | custom
	OAuthTenant           string   `toml:"oauth_tenant"`   // Microsoft Entra tenant
	OAuthGrant            string   `toml:"oauth_grant"`    // refresh_token | client_credentials
	OAuthClientID         string   `toml:"oauth_client_id"`
	OAuthClientSecretEnv  string   `toml:"oauth_client_secret_env"`
	OAuthClientSecretFile string   `toml:"oauth_client_secret_file"`
	OAuthRefreshTokenEnv  string   `toml:"oauth_refresh_token_env"`
	OAuthRefreshTokenFile string   `toml:"oauth_refresh_token_file"`
	OAuthAuthURL          string   `toml:"oauth_auth_url"`
	OAuthTokenURL         string   `toml:"oauth_token_url"`
	OAuthScopes           []string `toml:"oauth_scopes"`
	Folder                string   `toml:"folder"`
	// SentFolder, when set, is also captured: mail an agent sends from
	// their own client joins the ticket it answers (as outgoing) and sets
	// it pending. "" (the default) captures no Sent folder.
	SentFolder   string        `toml:"sent_folder"`
	InitialSync  string        `toml:"initial_sync"` // new | since
	Since        Date          `toml:"since"`
	AfterCapture string        `toml:"after_capture"` // keep | seen | move:FOLDER
	IDLE         bool          `toml:"idle"`
	PollInterval time.Duration `toml:"poll_interval"`

	// Gmail (kind = "gmail").
	User              string        `toml:"user"` // default: Address
	Query             string        `toml:"query"`
	GmailAuth         string        `toml:"gmail_auth"` // oauth | service_account
	ClientID          string        `toml:"client_id"`
	ClientSecretEnv   string        `toml:"client_secret_env"`
	ClientSecretFile  string        `toml:"client_secret_file"`
	RefreshTokenEnv   string        `toml:"refresh_token_env"`
	RefreshTokenFile  string        `toml:"refresh_token_file"`
	CredentialsFile   string        `toml:"credentials_file"`
	GmailPollInterval time.Duration `toml:"gmail_poll_interval"`
	LabelAfterCapture string        `toml:"label_after_capture"`
	PushTokenEnv      string        `toml:"push_token_env"`
	PushTokenFile     string        `toml:"push_token_file"`
	// GmailPubSubTopic ("projects/PROJECT/topics/TOPIC") makes capture
	// register a Gmail watch (users.watch) publishing to it; empty polls only.
	GmailPubSubTopic string `toml:"gmail_pubsub_topic"`
	// GmailWatchLabels are the label names or ids the watch reports on;
	// empty means the labels of Query's in:/label: terms, else INBOX.
	GmailWatchLabels []string `toml:"gmail_watch_labels"`
	// GmailSend sends the mailbox's replies and acknowledgements through
	// the Gmail API (users.messages.send, in the Gmail thread of the mail
	// answered); it needs the gmail.send scope granted.
	GmailSend  bool   `toml:"gmail_send"`
	APIBaseURL string `toml:"api_base_url"`
	TokenURL   string `toml:"token_url"`

	// Sending: agents' replies and acknowledgements go out through SMTP
	// submission (RFC 6409). An empty SMTPHost: the mailbox sends nothing.
	SMTPHost string `toml:"smtp_host"`
	SMTPPort int    `toml:"smtp_port"` // default 587 (starttls), 465 (implicit), 25 (none)
	SMTPTLS  string `toml:"smtp_tls"`  // starttls | implicit | none (loopback only)
	SMTPAuth string `toml:"smtp_auth"` // plain | login | none
	// SMTPUsername defaults to username; the password to the IMAP one
	// (password_env / password_file) when neither smtp_password key is set.
	SMTPUsername     string `toml:"smtp_username"`
	SMTPPasswordEnv  string `toml:"smtp_password_env"`
	SMTPPasswordFile string `toml:"smtp_password_file"`
	// FromName is the display name of outgoing mail ("Acme Support").
	FromName string `toml:"from_name"`
	// Ack: this mailbox acknowledges new tickets (when ticket.ack_enabled).
	Ack bool `toml:"ack"`
}

// Sends reports whether the mailbox sends mail (smtp_host is set).
func (m Mailbox) Sends() bool { return m.SMTPHost != "" || m.SendsByGmail() }

// SendsByGmail reports whether the mailbox sends through the Gmail API
// (kind = "gmail" with gmail_send).
func (m Mailbox) SendsByGmail() bool { return m.Kind == KindGmail && m.GmailSend }

// SMTPPassword is the SMTP submission password: smtp_password_env or
// smtp_password_file, else the IMAP password.
func (m Mailbox) SMTPPassword() Secret {
	if m.SMTPPasswordEnv == "" && m.SMTPPasswordFile == "" {
		return m.Password()
	}
	return Secret{Key: m.path() + ".smtp_password", Env: m.SMTPPasswordEnv, File: m.SMTPPasswordFile}
}

func (m Mailbox) path() string { return fmt.Sprintf("mailbox %q", m.Name) }

// Password is the IMAP password (auth plain or login).
func (m Mailbox) Password() Secret {
	return Secret{Key: m.path() + ".password", Env: m.PasswordEnv, File: m.PasswordFile}
}

// OAuthToken is the IMAP XOAUTH2 access token (auth xoauth2).
func (m Mailbox) OAuthToken() Secret {
	return Secret{Key: m.path() + ".oauth_token", Env: m.OAuthTokenEnv, File: m.OAuthTokenFile}
}

// UsesOAuth reports whether IMAP or SMTP logs in by XOAUTH2 with tokens
// refreshed from oauth_client_id (rather than a static oauth_token).
func (m Mailbox) UsesOAuth() bool {
	return m.OAuthClientID != "" && (m.Kind == KindIMAP && m.Auth == "xoauth2" || m.SMTPHost != "" && m.SMTPAuth == "xoauth2")
}

// OAuthClientSecret is the mailbox OAuth client's secret (optional: a
// public client uses PKCE alone).
func (m Mailbox) OAuthClientSecret() Secret {
	return Secret{Key: m.path() + ".oauth_client_secret", Env: m.OAuthClientSecretEnv, File: m.OAuthClientSecretFile}
}

// OAuthRefreshToken is a configured refresh token of the mailbox owner
// (optional: an admin connects the mailbox from the panel instead).
func (m Mailbox) OAuthRefreshToken() Secret {
	return Secret{Key: m.path() + ".oauth_refresh_token", Env: m.OAuthRefreshTokenEnv, File: m.OAuthRefreshTokenFile}
}

// ClientSecret is the Gmail OAuth client secret.
func (m Mailbox) ClientSecret() Secret {
	return Secret{Key: m.path() + ".client_secret", Env: m.ClientSecretEnv, File: m.ClientSecretFile}
}

// RefreshToken is the Gmail OAuth refresh token.
func (m Mailbox) RefreshToken() Secret {
	return Secret{Key: m.path() + ".refresh_token", Env: m.RefreshTokenEnv, File: m.RefreshTokenFile}
}

// PushToken is the shared token of POST /gmail/push?token=...; unset
// (IsSet false) disables push.
func (m Mailbox) PushToken() Secret {
	return Secret{Key: m.path() + ".push_token", Env: m.PushTokenEnv, File: m.PushTokenFile}
}

// AfterCaptureAction splits AfterCapture into its action ("keep", "seen" or
// "move") and, for "move", the target folder.
func (m Mailbox) AfterCaptureAction() (action, folder string) {
	if f, ok := strings.CutPrefix(m.AfterCapture, "move:"); ok {
		return "move", f
	}
	return m.AfterCapture, ""
}

// Calendar is the [calendar] section: free/busy publishing.
type Calendar struct {
	Enabled      bool          `toml:"enabled"`
	Window       time.Duration `toml:"window"`        // how far ahead busy time is published
	SyncInterval time.Duration `toml:"sync_interval"` // how often sources are read
	Agents       []Agent       `toml:"agent"`
}

// Agent is one [[calendar.agent]] table: whose calendar is published.
type Agent struct {
	ID           string `toml:"id"`
	Name         string `toml:"name"`
	Email        string `toml:"email"`
	Timezone     string `toml:"timezone"`      // IANA name; see Location
	WorkingHours string `toml:"working_hours"` // see ParseWorkingHours and Hours
	Source       string `toml:"source"`        // caldav | google

	// CalDAV (source = "caldav").
	CalDAVURL    string   `toml:"caldav_url"`
	Username     string   `toml:"username"`
	PasswordEnv  string   `toml:"password_env"`
	PasswordFile string   `toml:"password_file"`
	Calendars    []string `toml:"calendars"` // empty: every calendar of the home set

	// Google (source = "google").
	GoogleCalendarIDs []string `toml:"google_calendar_ids"`
	GoogleAuth        string   `toml:"google_auth"` // oauth | service_account
	ClientID          string   `toml:"client_id"`
	ClientSecretEnv   string   `toml:"client_secret_env"`
	ClientSecretFile  string   `toml:"client_secret_file"`
	RefreshTokenEnv   string   `toml:"refresh_token_env"`
	RefreshTokenFile  string   `toml:"refresh_token_file"`
	CredentialsFile   string   `toml:"credentials_file"`
	APIBaseURL        string   `toml:"api_base_url"`
	TokenURL          string   `toml:"token_url"`
}

func (a Agent) path() string { return fmt.Sprintf("calendar.agent %q", a.ID) }

// Password is the CalDAV password.
func (a Agent) Password() Secret {
	return Secret{Key: a.path() + ".password", Env: a.PasswordEnv, File: a.PasswordFile}
}

// ClientSecret is the Google OAuth client secret.
func (a Agent) ClientSecret() Secret {
	return Secret{Key: a.path() + ".client_secret", Env: a.ClientSecretEnv, File: a.ClientSecretFile}
}

// RefreshToken is the Google OAuth refresh token.
func (a Agent) RefreshToken() Secret {
	return Secret{Key: a.path() + ".refresh_token", Env: a.RefreshTokenEnv, File: a.RefreshTokenFile}
}

// Location loads the agent's time zone.
func (a Agent) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(a.Timezone)
	if err != nil {
		return nil, fmt.Errorf("config: %s.timezone: %w", a.path(), err)
	}
	return loc, nil
}

// Hours parses the agent's working hours.
func (a Agent) Hours() (WorkingHours, error) {
	wh, err := ParseWorkingHours(a.WorkingHours)
	if err != nil {
		return nil, fmt.Errorf("config: %s.working_hours: %w", a.path(), err)
	}
	return wh, nil
}

// Default returns the configuration used when no file is given: the
// embedded single-team setup, with no mailboxes. Environment look-ups
// (secret references) use the process environment.
func Default() *Config {
	c := defaults()
	c.complete()
	return c
}

// defaults is Default before the dependent defaults (public_url) are filled.
func defaults() *Config {
	return &Config{
		Server:   Server{Listen: "127.0.0.1:8080", APIRateLimit: 1200},
		Database: Database{Path: "data/sidedesk.db", Synchronous: "full"},
		Storage:  Storage{BlobDir: "data/blobs", ReserveMB: 64},
		Log:      Log{Level: "info", Format: "text"},
		Ticket: Ticket{
			TagPrefix:    "#",
			ReopenWindow: 720 * time.Hour,
			FloodLimit:   20,
			FloodWindow:  10 * time.Minute,
			AckInterval:  10 * time.Minute,
			AckMaxAge:    24 * time.Hour,
			Priority: Priority{
				UseHeaders:     true,
				UrgentKeywords: []string{"outage", "is down", "are down", "production down"},
				HighKeywords:   []string{"urgent", "down", "critical", "asap"},
				VIPPriority:    "high",
			},
		},
		Calendar: Calendar{
			Window:       720 * time.Hour,
			SyncInterval: 5 * time.Minute,
		},
		Slack: Slack{
			Tenant:       "default",
			Mode:         "socket",
			Command:      "/sidedesk",
			PollInterval: 250 * time.Millisecond,
			MaxBackoff:   time.Minute,
		},
		CRM: CRM{
			Kind:            CRMLocal,
			LoginURL:        "https://login.salesforce.com",
			APIVersion:      "v62.0",
			CacheTTL:        30 * time.Second,
			SaveEmailAs:     "email_message",
			MaxAttachmentMB: 10,
		},
		lookupEnv: os.LookupEnv,
	}
}

// DefaultMailbox is the value a [[mailbox]] table starts from before its
// keys are applied.
func DefaultMailbox() Mailbox {
	return Mailbox{
		Kind:              KindIMAP,
		Tenant:            "default",
		Enabled:           true,
		TLS:               "implicit",
		Auth:              "plain",
		Folder:            "INBOX",
		InitialSync:       "new",
		AfterCapture:      "keep",
		IDLE:              true,
		PollInterval:      60 * time.Second,
		Query:             "in:inbox",
		GmailAuth:         "oauth",
		GmailPollInterval: 5 * time.Second,
		SMTPTLS:           "starttls",
		SMTPAuth:          "plain",
		OAuthGrant:        "refresh_token",
		Ack:               true,
	}
}

// DefaultAgent is the value a [[calendar.agent]] table starts from.
func DefaultAgent() Agent {
	return Agent{
		Timezone:          "UTC",
		WorkingHours:      "Mon-Fri 09:00-17:00",
		Source:            "caldav",
		GoogleCalendarIDs: []string{"primary"},
		GoogleAuth:        "oauth",
	}
}

// complete fills defaults that depend on other keys (after file and env).
func (c *Config) complete() {
	if c.Server.PublicURL == "" && c.Server.Listen != "" {
		c.Server.PublicURL = "http://" + c.Server.Listen
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if m.Port == 0 {
			m.Port = 143
			if m.TLS == "implicit" {
				m.Port = 993
			}
		}
		if m.Username == "" {
			m.Username = m.Address
		}
		if m.SMTPPort == 0 {
			switch m.SMTPTLS {
			case "implicit":
				m.SMTPPort = 465
			case "none":
				m.SMTPPort = 25
			default:
				m.SMTPPort = 587
			}
		}
		if m.SMTPUsername == "" {
			m.SMTPUsername = m.Username
		}
		if m.User == "" {
			m.User = m.Address
		}
	}
	for i := range c.Calendar.Agents {
		if a := &c.Calendar.Agents[i]; a.Name == "" {
			a.Name = a.ID
		}
	}
}

// Getenv returns the environment variable name as seen by this
// configuration (the env given to Load), or "" when unset. Pass it to
// Secret.Resolve.
func (c *Config) Getenv(name string) string {
	v, _ := c.env()(name)
	return v
}

func (c *Config) env() func(string) (string, bool) {
	if c.lookupEnv == nil {
		return os.LookupEnv
	}
	return c.lookupEnv
}

// Mailbox returns the mailbox named name.
func (c *Config) Mailbox(name string) (Mailbox, bool) {
	for _, m := range c.Mailboxes {
		if m.Name == name {
			return m, true
		}
	}
	return Mailbox{}, false
}

// Slack is the [slack] section: high-priority alerts and actions in Slack.
type Slack struct {
	Enabled bool   `toml:"enabled"`
	Tenant  string `toml:"tenant"`
	// Mode is "socket" (Socket Mode: no public URL needed) or "http"
	// (Slack calls POST /slack/events, /slack/interactions, /slack/commands).
	Mode              string        `toml:"mode"`
	BotTokenEnv       string        `toml:"bot_token_env"`
	BotTokenFile      string        `toml:"bot_token_file"`
	AppTokenEnv       string        `toml:"app_token_env"`
	AppTokenFile      string        `toml:"app_token_file"`
	SigningSecretEnv  string        `toml:"signing_secret_env"`
	SigningSecretFile string        `toml:"signing_secret_file"`
	Command           string        `toml:"command"`
	PollInterval      time.Duration `toml:"poll_interval"`
	MaxBackoff        time.Duration `toml:"max_backoff"`
	APIURL            string        `toml:"api_url"`
	Alerts            []SlackAlert  `toml:"alert"`
}

// SlackAlert is one [[slack.alert]] rule: every condition set must hold; a
// ticket alerts each matching channel once.
type SlackAlert struct {
	Name        string   `toml:"name"`
	Channel     string   `toml:"channel"`      // channel ID (C...), not #name
	MinPriority string   `toml:"min_priority"` // "" = any
	Mailboxes   []string `toml:"mailboxes"`
	VIP         bool     `toml:"vip"`
	Keywords    []string `toml:"keywords"`
}

// BotToken is the Slack bot token (xoxb-...).
func (s Slack) BotToken() Secret {
	return Secret{Key: "slack.bot_token", Env: s.BotTokenEnv, File: s.BotTokenFile}
}

// AppToken is the Slack app-level token (xapp-...) for Socket Mode.
func (s Slack) AppToken() Secret {
	return Secret{Key: "slack.app_token", Env: s.AppTokenEnv, File: s.AppTokenFile}
}

// SigningSecret verifies Slack's requests in HTTP mode.
func (s Slack) SigningSecret() Secret {
	return Secret{Key: "slack.signing_secret", Env: s.SigningSecretEnv, File: s.SigningSecretFile}
}

func (s Slack) secrets() []Secret { return []Secret{s.BotToken(), s.AppToken(), s.SigningSecret()} }
