package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// nameRE is the form of mailbox names, tenants and agent ids.
var nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// minSecretKeyLen is the least length of security.secret_key (bytes).
const minSecretKeyLen = 32

// checker collects problems, each "key: message".
type checker struct {
	problems []string
	lookup   func(string) (string, bool)
}

func (ch *checker) add(key, format string, args ...any) {
	ch.problems = append(ch.problems, key+": "+fmt.Sprintf(format, args...))
}

func (ch *checker) oneOf(key, val string, allowed ...string) bool {
	for _, a := range allowed {
		if val == a {
			return true
		}
	}
	ch.add(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	return false
}

func (ch *checker) required(key, val string) bool {
	if strings.TrimSpace(val) == "" {
		ch.add(key, "is required")
		return false
	}
	return true
}

func (ch *checker) positive(key string, d time.Duration) {
	if d <= 0 {
		ch.add(key, "must be a duration greater than 0, like \"60s\"")
	}
}

func (ch *checker) name(key, val string) {
	if ch.required(key, val) && !nameRE.MatchString(val) {
		ch.add(key, "%q may contain only a-z, 0-9, _ and -", val)
	}
}

func (ch *checker) email(key, val string) {
	if !ch.required(key, val) {
		return
	}
	if a, err := mail.ParseAddress(val); err != nil || a.Address != val {
		ch.add(key, "%q is not an email address like support@example.com", val)
	}
}

func (ch *checker) url(key, val string) {
	if val == "" {
		return
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ch.add(key, "%q is not an http(s) URL", redactURL(val))
	}
}

func (ch *checker) file(key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		ch.add(key, "%s: %v", path, pathErr(err))
		return
	}
	f.Close()
}

func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// secret checks a secret reference; need says why it is required ("" when
// optional), and checkValue whether the referenced env/file must exist now
// (false for disabled mailboxes). It returns the value when it could read it.
func (ch *checker) secret(label string, s Secret, need string, checkValue bool) (string, bool) {
	base := s.base()
	switch {
	case s.Env != "" && s.File != "":
		ch.add(label, "set only one of %s_env and %s_file", base, base)
		return "", false
	case s.Env != "" && !envNameRE.MatchString(s.Env):
		ch.add(label, "%s_env %v", base, errNotEnvName)
		return "", false
	case !s.IsSet():
		if need != "" {
			ch.add(label, "%s_env or %s_file is required %s", base, base, need)
		}
		return "", false
	case !checkValue:
		return "", false
	case s.Env != "":
		v, ok := ch.lookup(s.Env)
		if !ok || v == "" {
			ch.add(label, "%s_env %s is not set", base, s.Env)
			return "", false
		}
		return v, true
	}
	v, err := s.Resolve(func(string) string { return "" })
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			ch.add(label, "%s_file %s: %v", base, s.File, pe.Err)
		} else {
			ch.add(label, "%s_file %s is empty", base, s.File)
		}
		return "", false
	}
	return v, true
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Validate checks the whole configuration and returns an *Error listing
// every problem, or nil. Secret references of enabled mailboxes (and of
// calendar agents when the calendar is enabled) must be resolvable.
func (c *Config) Validate() error {
	ch := &checker{lookup: c.env()}

	if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil {
		ch.add("server.listen", "%q is not host:port, like 127.0.0.1:8080", c.Server.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ch.add("server.listen", "port %q of %q is not a number from 0 to 65535", port, c.Server.Listen)
	}
	ch.url("server.public_url", c.Server.PublicURL)
	if c.Server.APIRateLimit < 0 {
		ch.add("server.api_rate_limit", "%d is negative; give requests per minute per token, like 1200, or 0 for no limit", c.Server.APIRateLimit)
	}
	for i, v := range c.Server.TrustedProxies {
		if _, err := parseProxy(v); err != nil {
			ch.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not an IP address or CIDR prefix, like 10.0.0.0/8 or 127.0.0.1", v)
		}
	}
	ch.required("database.path", c.Database.Path)
	ch.oneOf("database.synchronous", c.Database.Synchronous, "full", "normal")
	ch.required("storage.blob_dir", c.Storage.BlobDir)
	if c.Storage.ReserveMB < 0 {
		ch.add("storage.reserve_mb", "%d is negative; give the MB of free space to keep for the database, or 0 for none", c.Storage.ReserveMB)
	}
	ch.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ch.oneOf("log.format", c.Log.Format, "text", "json")

	if v, ok := ch.secret("security", c.Security.SecretKey(), "", true); ok && len(v) < minSecretKeyLen {
		ch.add("security", "the secret key holds %d bytes; want at least %d", len(v), minSecretKeyLen)
	}

	if ch.required("ticket.tag_prefix", c.Ticket.TagPrefix) && strings.ContainsAny(c.Ticket.TagPrefix, "[] \t") {
		ch.add("ticket.tag_prefix", "%q must not contain brackets or spaces", c.Ticket.TagPrefix)
	}
	pr := c.Ticket.Priority
	priorities := []string{"low", "normal", "high", "urgent"}
	ch.oneOf("ticket.priority.vip_priority", pr.VIPPriority, priorities...)
	for tier, p := range pr.Tiers {
		ch.oneOf("ticket.priority.tiers."+tier, p, priorities...)
	}
	for key, words := range map[string][]string{"ticket.priority.urgent_keywords": pr.UrgentKeywords, "ticket.priority.high_keywords": pr.HighKeywords} {
		for _, w := range words {
			if strings.TrimSpace(w) == "" {
				ch.add(key, "holds an empty keyword")
			}
		}
	}
	c.validateSlack(ch)
	c.validateCRM(ch)
	ch.positive("ticket.reopen_window", c.Ticket.ReopenWindow)
	ch.positive("ticket.ack_interval", c.Ticket.AckInterval)
	ch.positive("ticket.ack_max_age", c.Ticket.AckMaxAge)
	for key, src := range map[string]string{"ticket.ack_subject": c.Ticket.AckSubject, "ticket.ack_body": c.Ticket.AckBody} {
		if _, err := template.New(key).Parse(src); err != nil {
			ch.add(key, "is not a valid template: %v (example: \"Re: {{.Subject}}\")", err)
		}
	}
	macroNames := map[string]bool{}
	for i, m := range c.Ticket.Macros {
		l := fmt.Sprintf("ticket.macro[%d]", i)
		if ch.required(l+".name", strings.TrimSpace(m.Name)) {
			if macroNames[strings.ToLower(m.Name)] {
				ch.add(l+".name", "%q is the name of an earlier macro", m.Name)
			}
			macroNames[strings.ToLower(m.Name)] = true
		}
		if ch.required(l+".body", strings.TrimSpace(m.Body)) {
			if _, err := template.New(l).Option("missingkey=error").Parse(m.Body); err != nil {
				ch.add(l+".body", "is not a valid template: %v (example: \"Hello {{.RequesterName}},\")", err)
			}
		}
	}
	ch.positive("ticket.flood_window", c.Ticket.FloodWindow)
	if c.Ticket.FloodLimit <= 0 {
		ch.add("ticket.flood_limit", "must be at least 1, got %d", c.Ticket.FloodLimit)
	}

	names := make([]string, len(c.Mailboxes))
	for i, m := range c.Mailboxes {
		names[i] = m.Name
		ch.mailbox(m.label(i), m)
	}
	ch.names("mailbox", ".name", names, func(i int) string { return c.Mailboxes[i].label(i) })

	ch.positive("calendar.window", c.Calendar.Window)
	ch.positive("calendar.sync_interval", c.Calendar.SyncInterval)
	ids := make([]string, len(c.Calendar.Agents))
	for i, a := range c.Calendar.Agents {
		ids[i] = a.ID
		ch.agent(a.label(i), a, c.Calendar.Enabled)
	}
	ch.names("calendar.agent", ".id", ids, func(i int) string { return c.Calendar.Agents[i].label(i) })

	if len(ch.problems) > 0 {
		return &Error{Problems: ch.problems}
	}
	return nil
}

// names checks that the identifying names of an array of tables are well
// formed and unique.
func (ch *checker) names(array, field string, names []string, label func(int) string) {
	seen := map[string]int{}
	for i, n := range names {
		ch.name(label(i)+field, n)
		if j, dup := seen[n]; dup && n != "" {
			ch.add(label(i)+field, "duplicate of %s[%d]", array, j)
		} else {
			seen[n] = i
		}
	}
}

func (ch *checker) mailbox(l string, m Mailbox) {
	ch.oneOf(l+".kind", m.Kind, KindIMAP, KindGmail)
	ch.name(l+".tenant", m.Tenant)
	ch.email(l+".address", m.Address)
	for j, a := range m.Aliases {
		ch.email(fmt.Sprintf("%s.aliases[%d]", l, j), a)
	}
	if ch.oneOf(l+".initial_sync", m.InitialSync, "new", "since") {
		switch {
		case m.InitialSync == "since" && m.Since.IsZero():
			ch.add(l+".since", "is required with initial_sync = \"since\"")
		case m.InitialSync == "new" && !m.Since.IsZero():
			ch.add(l+".since", "is only used with initial_sync = \"since\"")
		}
	}
	ch.mailboxOAuth(l, m)
	pushNeed := ""
	if m.Kind == KindGmail && m.GmailPubSubTopic != "" {
		// Gmail publishes to the topic; its push subscription delivers to
		// the token-checked endpoint.
		pushNeed = "with gmail_pubsub_topic (the push subscription's endpoint is POST /gmail/push?token=...)"
	}
	ch.secret(l, m.PushToken(), pushNeed, m.Enabled)
	if m.GmailSend && m.Kind != KindGmail {
		ch.add(l+".gmail_send", "is only for kind = \"gmail\" mailboxes (this one sends by smtp_host)")
	}
	if m.SendsByGmail() && m.SMTPHost != "" {
		ch.add(l+".gmail_send", "and smtp_host both set: choose one way to send")
	}
	if m.Sends() && m.Address == "" {
		ch.add(l+".address", "is required to send mail: outgoing mail is sent from it")
	}
	if m.SMTPHost != "" {
		if m.SMTPTLS == "none" && !isLoopbackHost(m.SMTPHost) {
			ch.add(l+".smtp_tls", "\"none\" is only allowed for loopback hosts, not %s", m.SMTPHost)
		}
		ch.oneOf(l+".smtp_tls", m.SMTPTLS, "starttls", "implicit", "none")
		if m.SMTPPort < 1 || m.SMTPPort > 65535 {
			ch.add(l+".smtp_port", "%d is not a port from 1 to 65535", m.SMTPPort)
		}
		if ch.oneOf(l+".smtp_auth", m.SMTPAuth, "plain", "login", "xoauth2", "none") && m.SMTPAuth != "none" {
			ch.required(l+".smtp_username", m.SMTPUsername)
			if m.SMTPAuth == "xoauth2" {
				if m.OAuthClientID == "" {
					ch.add(l+".oauth_client_id", "is required for smtp_auth = \"xoauth2\" (access tokens expire within the hour; sidedesk refreshes them)")
				}
			} else {
				ch.secret(l, m.SMTPPassword(), fmt.Sprintf("for smtp_auth = %q", m.SMTPAuth), m.Enabled)
			}
		}
	}

	switch m.Kind {
	case KindIMAP:
		if ch.required(l+".host", m.Host) && m.TLS == "none" && !isLoopbackHost(m.Host) {
			ch.add(l+".tls", "\"none\" is only allowed for loopback hosts, not %s", m.Host)
		}
		if m.Port < 1 || m.Port > 65535 {
			ch.add(l+".port", "%d is not a port from 1 to 65535", m.Port)
		}
		ch.oneOf(l+".tls", m.TLS, "implicit", "starttls", "none")
		ch.file(l+".ca_file", m.CAFile)
		if ch.oneOf(l+".auth", m.Auth, "plain", "login", "xoauth2") {
			why := fmt.Sprintf("for auth = %q", m.Auth)
			if m.Auth == "xoauth2" {
				ch.required(l+".username", m.Username)
				if m.OAuthClientID == "" {
					ch.secret(l, m.OAuthToken(), why+" without oauth_client_id", m.Enabled)
				} else if m.OAuthToken().IsSet() {
					ch.add(l+".oauth_token_env", "set either oauth_client_id (tokens refreshed) or oauth_token_env / _file (a fixed token), not both")
				}
			} else {
				ch.required(l+".username", m.Username)
				ch.secret(l, m.Password(), why, m.Enabled)
			}
		}
		ch.required(l+".folder", m.Folder)
		if action, folder := m.AfterCaptureAction(); !(action == "keep" || action == "seen" || action == "move" && strings.TrimSpace(folder) != "") {
			ch.add(l+".after_capture", "%q is not one of keep, seen, move:FOLDER", m.AfterCapture)
		}
		ch.positive(l+".poll_interval", m.PollInterval)
	case KindGmail:
		ch.email(l+".user", m.User)
		if ch.oneOf(l+".gmail_auth", m.GmailAuth, "oauth", "service_account") {
			why := fmt.Sprintf("for gmail_auth = %q", m.GmailAuth)
			if m.GmailAuth == "oauth" {
				ch.required(l+".client_id", m.ClientID)
				ch.secret(l, m.ClientSecret(), why, m.Enabled)
				ch.secret(l, m.RefreshToken(), why, m.Enabled)
			} else if ch.required(l+".credentials_file", m.CredentialsFile) && m.Enabled {
				ch.file(l+".credentials_file", m.CredentialsFile)
			}
		}
		ch.positive(l+".gmail_poll_interval", m.GmailPollInterval)
		ch.gmailWatch(l, m)
		ch.url(l+".api_base_url", m.APIBaseURL)
		ch.url(l+".token_url", m.TokenURL)
	}
}

// pubsubTopicRE is a Cloud Pub/Sub topic name: a project id (6-30 of a-z,
// 0-9, -, starting with a letter; legacy ids carry a "domain:" prefix) and a
// topic id (3-255 of letters, digits and -_.~+%, starting with a letter).
var pubsubTopicRE = regexp.MustCompile(`^projects/(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$`)

// gmailWatch checks the push (users.watch) keys of a gmail mailbox.
// mailboxOAuth checks the oauth_* keys of XOAUTH2 logins.
func (ch *checker) mailboxOAuth(l string, m Mailbox) {
	if m.OAuthClientID == "" {
		for key, v := range map[string]string{"oauth_provider": m.OAuthProvider, "oauth_tenant": m.OAuthTenant, "oauth_token_url": m.OAuthTokenURL, "oauth_auth_url": m.OAuthAuthURL} {
			if v != "" {
				ch.add(l+"."+key, "is only used with oauth_client_id (auth or smtp_auth = \"xoauth2\")")
			}
		}
		return
	}
	if !m.UsesOAuth() {
		ch.add(l+".oauth_client_id", "is only used with auth = \"xoauth2\" or smtp_auth = \"xoauth2\"")
	}
	ch.oneOf(l+".oauth_provider", m.OAuthProvider, "microsoft", "google", "custom")
	ch.oneOf(l+".oauth_grant", m.OAuthGrant, "refresh_token", "client_credentials")
	for key, v := range map[string]string{"oauth_token_url": m.OAuthTokenURL, "oauth_auth_url": m.OAuthAuthURL} {
		ch.url(l+"."+key, v)
		if u, err := url.Parse(v); err == nil && u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			ch.add(l+"."+key, "must be https (http only for loopback hosts), not %q", redactURL(v))
		}
	}
	ch.secret(l, m.OAuthClientSecret(), "", m.Enabled)
	ch.secret(l, m.OAuthRefreshToken(), "", m.Enabled)
	switch {
	case m.OAuthProvider == "custom" && m.OAuthTokenURL == "":
		ch.add(l+".oauth_token_url", "is required with oauth_provider = \"custom\"")
	case m.OAuthProvider == "google" && m.OAuthGrant == "client_credentials":
		ch.add(l+".oauth_grant", "Google has no client credentials grant for mail: use \"refresh_token\" (the mailbox owner's consent)")
	case m.OAuthProvider == "microsoft" && m.OAuthGrant == "client_credentials" &&
		slices.Contains([]string{"", "common", "organizations", "consumers"}, m.OAuthTenant):
		ch.add(l+".oauth_tenant", "must be your Entra tenant id or domain (\"contoso.onmicrosoft.com\") for client credentials, not %q", m.OAuthTenant)
	}
	if m.OAuthGrant == "client_credentials" {
		ch.secret(l, m.OAuthClientSecret(), "for oauth_grant = \"client_credentials\"", m.Enabled)
		if m.OAuthRefreshToken().IsSet() {
			ch.add(l+".oauth_refresh_token_env", "is not used with oauth_grant = \"client_credentials\"")
		}
	}
	if m.OAuthProvider == "custom" && m.OAuthGrant != "client_credentials" && m.OAuthAuthURL == "" && !m.OAuthRefreshToken().IsSet() {
		ch.add(l+".oauth_auth_url", "is required with oauth_provider = \"custom\" unless oauth_refresh_token_env / _file is set (the panel's consent needs it)")
	}
}

func (ch *checker) gmailWatch(l string, m Mailbox) {
	if m.GmailPubSubTopic == "" {
		if len(m.GmailWatchLabels) > 0 {
			ch.add(l+".gmail_watch_labels", "is only used with gmail_pubsub_topic")
		}
		return
	}
	topic := m.GmailPubSubTopic
	_, id, _ := strings.Cut(topic, "/topics/")
	if !pubsubTopicRE.MatchString(topic) || strings.HasPrefix(strings.ToLower(id), "goog") {
		ch.add(l+".gmail_pubsub_topic", "%q is not a Pub/Sub topic name of the form projects/PROJECT/topics/TOPIC "+
			"(PROJECT: the Google Cloud project id of the OAuth client; TOPIC: 3-255 letters, digits, -_.~+%%, starting with a letter)", topic)
	}
	for j, lb := range m.GmailWatchLabels {
		if strings.TrimSpace(lb) == "" {
			ch.add(fmt.Sprintf("%s.gmail_watch_labels[%d]", l, j), "is empty (want a label name or id, like \"INBOX\")")
		}
	}
}

func (ch *checker) agent(l string, a Agent, enabled bool) {
	ch.email(l+".email", a.Email)
	if _, err := a.Location(); err != nil {
		ch.add(l+".timezone", "%q is not a time zone like Europe/Berlin", a.Timezone)
	}
	if _, err := ParseWorkingHours(a.WorkingHours); err != nil {
		ch.add(l+".working_hours", "%v", err)
	}
	if !ch.oneOf(l+".source", a.Source, "caldav", "google") {
		return
	}
	if a.Source == "caldav" {
		if ch.required(l+".caldav_url", a.CalDAVURL) {
			ch.url(l+".caldav_url", a.CalDAVURL)
		}
		ch.required(l+".username", a.Username)
		ch.secret(l, a.Password(), `for source = "caldav"`, enabled)
		return
	}
	if len(a.GoogleCalendarIDs) == 0 {
		ch.add(l+".google_calendar_ids", "is required for source = \"google\" (e.g. [\"primary\"])")
	}
	if ch.oneOf(l+".google_auth", a.GoogleAuth, "oauth", "service_account") {
		why := fmt.Sprintf("for google_auth = %q", a.GoogleAuth)
		if a.GoogleAuth == "oauth" {
			ch.required(l+".client_id", a.ClientID)
			ch.secret(l, a.ClientSecret(), why, enabled)
			ch.secret(l, a.RefreshToken(), why, enabled)
		} else if ch.required(l+".credentials_file", a.CredentialsFile) && enabled {
			ch.file(l+".credentials_file", a.CredentialsFile)
		}
	}
	ch.url(l+".api_base_url", a.APIBaseURL)
	ch.url(l+".token_url", a.TokenURL)
}

var sfFieldName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)

var sfAPIVersion = regexp.MustCompile(`^v?[0-9]{2,3}\.0$`)

func (c *Config) validateCRM(ch *checker) {
	r := c.CRM
	if !ch.oneOf("crm.kind", r.Kind, CRMLocal, CRMSalesforce) || r.Kind != CRMSalesforce {
		return
	}
	if ch.required("crm.login_url", r.LoginURL) {
		if u, err := url.Parse(r.LoginURL); err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
			ch.add("crm.login_url", "%q is not an https URL like https://login.salesforce.com, https://test.salesforce.com or your My Domain URL", redactURL(r.LoginURL))
		}
	}
	ch.required("crm.client_id", r.ClientID)
	ch.secret("crm", r.ClientSecret(), "for kind = \"salesforce\" (the connected app's consumer secret)", true)
	if r.APIVersion != "" && !sfAPIVersion.MatchString(r.APIVersion) {
		ch.add("crm.api_version", "%q is not a REST API version like v62.0", r.APIVersion)
	}
	if r.ServiceAgent != "" {
		ch.email("crm.service_agent", r.ServiceAgent)
	}
	if r.JWTUsername != "" {
		ch.secret("crm", r.JWTKey(), "with jwt_username (the integration user's RSA private key, PEM)", true)
	} else if r.JWTKey().IsSet() {
		ch.add("crm.jwt_username", "is required with jwt_key_env or jwt_key_file (the integration user's Salesforce username)")
	}
	for key, fs := range map[string][]string{"crm.contact_email_fields": r.ContactEmailFields, "crm.lead_email_fields": r.LeadEmailFields} {
		for _, f := range fs {
			if !sfFieldName.MatchString(f) {
				ch.add(key, "%q is not a field API name like Alternate_Email__c", f)
			}
		}
	}
	ch.oneOf("crm.save_email_as", r.SaveEmailAs, "email_message", "task")
	if r.MaxAttachmentMB < 0 || r.MaxAttachmentMB > 35 {
		ch.add("crm.max_attachment_mb", "%d must be 0 to 35 (a REST insert of a file is at most 50 MB, base64 included)", r.MaxAttachmentMB)
	}
	if r.CacheTTL < 0 {
		ch.add("crm.cache_ttl", "%s must not be negative (0 turns the cache off)", r.CacheTTL)
	}
}

func (c *Config) validateSlack(ch *checker) {
	s := c.Slack
	if !s.Enabled {
		return
	}
	ch.name("slack.tenant", s.Tenant)
	if ch.oneOf("slack.mode", s.Mode, "socket", "http") {
		ch.secret("slack", s.BotToken(), "when slack.enabled", true)
		if s.Mode == "socket" {
			ch.secret("slack", s.AppToken(), "for mode = \"socket\" (an xapp- token with connections:write)", true)
		} else {
			ch.secret("slack", s.SigningSecret(), "for mode = \"http\" (the app's signing secret)", true)
		}
	}
	if !strings.HasPrefix(s.Command, "/") || strings.ContainsAny(s.Command, " \t") {
		ch.add("slack.command", "%q must be a slash command like /sidedesk", s.Command)
	}
	ch.positive("slack.poll_interval", s.PollInterval)
	ch.positive("slack.max_backoff", s.MaxBackoff)
	if s.APIURL != "" {
		ch.url("slack.api_url", s.APIURL)
	}
	if len(s.Alerts) == 0 {
		ch.add("slack.alert", "slack is enabled but has no [[slack.alert]] rule: nothing would ever be posted")
	}
	for i, a := range s.Alerts {
		key := fmt.Sprintf("slack.alert[%d] %q", i, a.Name)
		if ch.required(key+".channel", a.Channel) && !slackChannelID.MatchString(a.Channel) {
			ch.add(key+".channel", "%q is not a channel ID (like C0123ABCDEF; names such as #support are not accepted because messages are updated by ID)", a.Channel)
		}
		if a.MinPriority != "" {
			ch.oneOf(key+".min_priority", a.MinPriority, "low", "normal", "high", "urgent")
		}
		for _, w := range a.Keywords {
			if strings.TrimSpace(w) == "" {
				ch.add(key+".keywords", "holds an empty keyword")
			}
		}
	}
}

// slackChannelID is a public (C), private (G) or DM (D) channel id.
var slackChannelID = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)
