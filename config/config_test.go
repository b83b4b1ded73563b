package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// exampleEnv is what sidedesk.example.toml needs set.
var exampleEnv = []string{
	"SUPPORT_IMAP_PASSWORD=imap-secret",
	"SALES_GMAIL_CLIENT_SECRET=client-secret",
	"SALES_GMAIL_REFRESH_TOKEN=refresh-secret",
}

func TestExampleValidates(t *testing.T) {
	c, err := Load("../sidedesk.example.toml", exampleEnv)
	if err != nil {
		t.Fatalf("Load(example): %v", err)
	}
	if len(c.Mailboxes) != 2 || len(c.Calendar.Agents) != 2 {
		t.Fatalf("example: %d mailboxes, %d agents; want 2, 2", len(c.Mailboxes), len(c.Calendar.Agents))
	}
	if got := c.Mailboxes[0].Since.String(); got != "2026-01-01" {
		t.Errorf("since = %q", got)
	}
}

// TestExampleDocumentsEveryKey keeps sidedesk.example.toml in step with the
// structs: every toml key of Config must be set in it, next to a comment.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var m map[string]any
	md, err := toml.DecodeFile("../sidedesk.example.toml", &m)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[k.String()] = true
	}
	for _, want := range keyPaths(reflect.TypeFor[Config](), "") {
		if !have[want] {
			t.Errorf("sidedesk.example.toml does not document %s", want)
		}
	}
}

func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := tomlName(f)
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		path := prefix + name
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Date]() {
			out = append(out, keyPaths(ft, path+".")...)
			continue
		}
		out = append(out, path)
	}
	return out
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Server.PublicURL != "http://127.0.0.1:8080" {
		t.Errorf("public_url = %q", c.Server.PublicURL)
	}
	c2, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Redacted() != c.Redacted() {
		t.Errorf("Load(\"\") differs from Default():\n%s\n---\n%s", c2.Redacted(), c.Redacted())
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sidedesk.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return ce.Problems
}

// withoutLines drops the "file:line: " each problem of a file starts with.
func withoutLines(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fileLineRE.ReplaceAllString(p, "")
	}
	return out
}

var fileLineRE = regexp.MustCompile(`^\S+\.toml:\d+: `)

// imapBox is a valid mailbox; cases append or override keys.
const imapBox = `
[[mailbox]]
name = "first"
address = "first@acme.example"
host = "imap.acme.example"
password_env = "FIRST_PW"
`

func TestValidationMessages(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(secretFile, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"FIRST_PW=x", "SUPPORT_IMAP_PASSWORD=x"}
	tests := []struct {
		name string
		toml string
		want string
	}{
		{"tls typo", imapBox + `
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "imap.acme.example"
tls = "tsl"
password_env = "SUPPORT_IMAP_PASSWORD"
`, `mailbox[1] "support".tls: "tsl" is not one of implicit, starttls, none`},
		{"slack channel name", `
[slack]
enabled = true
mode = "http"
bot_token_env = "FIRST_PW"
signing_secret_env = "FIRST_PW"
[[slack.alert]]
name = "urgent"
channel = "#support"
`, `slack.alert[0] "urgent".channel: "#support" is not a channel ID (like C0123ABCDEF; names such as #support are not accepted because messages are updated by ID)`},
		{"slack socket needs app token", `
[slack]
enabled = true
bot_token_env = "FIRST_PW"
[[slack.alert]]
channel = "C0123ABCDEF"
`, `slack: app_token_env or app_token_file is required for mode = "socket" (an xapp- token with connections:write)`},
		{"trusted proxy", `
[server]
trusted_proxies = ["10.0.0.0/8", "proxy.internal"]
`, `server.trusted_proxies[1]: "proxy.internal" is not an IP address or CIDR prefix, like 10.0.0.0/8 or 127.0.0.1`},
		{"priority tier", `
[ticket.priority]
tiers = { gold = "hgih" }
`, `ticket.priority.tiers.gold: "hgih" is not one of low, normal, high, urgent`},
		{"vip priority", `
[ticket.priority]
vip_priority = "max"
`, `ticket.priority.vip_priority: "max" is not one of low, normal, high, urgent`},
		{"env unset", `
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "imap.acme.example"
password_env = "UNSET_PASSWORD"
`, `mailbox[0] "support": password_env UNSET_PASSWORD is not set`},
		{"no password", `
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "imap.acme.example"
`, `mailbox[0] "support": password_env or password_file is required for auth = "plain"`},
		{"both env and file", imapBox + `password_file = "/x"`, `mailbox[0] "first": set only one of password_env and password_file`},
		{"password file missing", `
[[mailbox]]
name = "first"
address = "first@acme.example"
host = "imap.acme.example"
password_file = "/nonexistent/pw"
`, `mailbox[0] "first": password_file /nonexistent/pw: no such file or directory`},
		{"value in env key", `
[[mailbox]]
name = "first"
address = "first@acme.example"
host = "imap.acme.example"
password_env = "hunter2 canary!"
`, `mailbox[0] "first": password_env is not an environment variable name (give the variable's name, not the secret)`},
		{"duplicate name", imapBox + imapBox, `mailbox[1] "first".name: duplicate of mailbox[0]`},
		{"bad name", strings.Replace(imapBox, `"first"`, `"First Box"`, 1), `mailbox[0] "First Box".name: "First Box" may contain only a-z, 0-9, _ and -`},
		{"missing name", strings.Replace(imapBox, `name = "first"`, ``, 1), `mailbox[0] "".name: is required`},
		{"kind", imapBox + `kind = "pop3"`, `mailbox[0] "first".kind: "pop3" is not one of imap, gmail`},
		{"tenant", imapBox + `tenant = "A B"`, `mailbox[0] "first".tenant: "A B" may contain only a-z, 0-9, _ and -`},
		{"address", strings.Replace(imapBox, `first@acme.example`, `not-an-address`, 1), `mailbox[0] "first".address: "not-an-address" is not an email address like support@example.com`},
		{"alias", imapBox + `aliases = ["ok@acme.example", "Name <x@y.z>"]`, `mailbox[0] "first".aliases[1]: "Name <x@y.z>" is not an email address like support@example.com`},
		{"missing host", strings.Replace(imapBox, `host = "imap.acme.example"`, ``, 1), `mailbox[0] "first".host: is required`},
		{"tls none remote", imapBox + `tls = "none"`, `mailbox[0] "first".tls: "none" is only allowed for loopback hosts, not imap.acme.example`},
		{"port", imapBox + `port = 70000`, `mailbox[0] "first".port: 70000 is not a port from 1 to 65535`},
		{"auth", imapBox + `auth = "cram-md5"`, `mailbox[0] "first".auth: "cram-md5" is not one of plain, login, xoauth2`},
		{"xoauth2 token", imapBox + `auth = "xoauth2"`, `mailbox[0] "first": oauth_token_env or oauth_token_file is required for auth = "xoauth2" without oauth_client_id`},
		{"oauth provider", imapBox + "auth = \"xoauth2\"\noauth_client_id = \"c\"\noauth_provider = \"yahoo\"", `mailbox[0] "first".oauth_provider: "yahoo" is not one of microsoft, google, custom`},
		{"oauth app-only tenant", imapBox + "auth = \"xoauth2\"\noauth_client_id = \"c\"\noauth_provider = \"microsoft\"\noauth_grant = \"client_credentials\"\noauth_client_secret_env = \"X\"",
			`mailbox[0] "first".oauth_tenant: must be your Entra tenant id or domain ("contoso.onmicrosoft.com") for client credentials, not ""`},
		{"oauth custom token url", imapBox + "auth = \"xoauth2\"\noauth_client_id = \"c\"\noauth_provider = \"custom\"", `mailbox[0] "first".oauth_token_url: is required with oauth_provider = "custom"`},
		{"oauth token url https", imapBox + "auth = \"xoauth2\"\noauth_client_id = \"c\"\noauth_provider = \"custom\"\noauth_auth_url = \"https://a.example/\"\noauth_token_url = \"http://idp.example/token\"",
			`mailbox[0] "first".oauth_token_url: must be https (http only for loopback hosts), not "http://idp.example/token"`},
		{"oauth without xoauth2", imapBox + "oauth_client_id = \"c\"\noauth_provider = \"google\"", `mailbox[0] "first".oauth_client_id: is only used with auth = "xoauth2" or smtp_auth = "xoauth2"`},
		{"macro without name", "[[ticket.macro]]\nbody = \"Hi\"", `ticket.macro[0].name: is required`},
		{"macro bad template", "[[ticket.macro]]\nname = \"x\"\nbody = \"Hi {{.RequesterName\"", `ticket.macro[0].body: is not a valid template: template: ticket.macro[0]:1: unclosed action (example: "Hello {{.RequesterName}},")`},
		{"gmail_send on imap", imapBox + "gmail_send = true", `mailbox[0] "first".gmail_send: is only for kind = "gmail" mailboxes (this one sends by smtp_host)`},
		{"smtp xoauth2 client", imapBox + "smtp_host = \"smtp.example.com\"\nsmtp_auth = \"xoauth2\"\nsmtp_username = \"a@example.com\"", `mailbox[0] "first".oauth_client_id: is required for smtp_auth = "xoauth2" (access tokens expire within the hour; sidedesk refreshes them)`},
		{"ca file", imapBox + `ca_file = "/nonexistent/ca.pem"`, `mailbox[0] "first".ca_file: /nonexistent/ca.pem: no such file or directory`},
		{"initial_sync", imapBox + `initial_sync = "all"`, `mailbox[0] "first".initial_sync: "all" is not one of new, since`},
		{"since missing", imapBox + `initial_sync = "since"`, `mailbox[0] "first".since: is required with initial_sync = "since"`},
		{"since unused", imapBox + `since = 2026-01-01`, `mailbox[0] "first".since: is only used with initial_sync = "since"`},
		{"after_capture", imapBox + `after_capture = "delete"`, `mailbox[0] "first".after_capture: "delete" is not one of keep, seen, move:FOLDER`},
		{"after_capture empty move", imapBox + `after_capture = "move:"`, `mailbox[0] "first".after_capture: "move:" is not one of keep, seen, move:FOLDER`},
		{"poll_interval", imapBox + `poll_interval = "0s"`, `mailbox[0] "first".poll_interval: must be a duration greater than 0, like "60s"`},
		{"folder", imapBox + `folder = ""`, `mailbox[0] "first".folder: is required`},
		{"gmail auth", `
[[mailbox]]
name = "g"
kind = "gmail"
address = "g@acme.example"
gmail_auth = "password"
`, `mailbox[0] "g".gmail_auth: "password" is not one of oauth, service_account`},
		{"gmail oauth client id", `
[[mailbox]]
name = "g"
kind = "gmail"
address = "g@acme.example"
`, `mailbox[0] "g".client_id: is required`},
		{"gmail oauth refresh", `
[[mailbox]]
name = "g"
kind = "gmail"
address = "g@acme.example"
`, `mailbox[0] "g": refresh_token_env or refresh_token_file is required for gmail_auth = "oauth"`},
		{"gmail service account", `
[[mailbox]]
name = "g"
kind = "gmail"
address = "g@acme.example"
gmail_auth = "service_account"
`, `mailbox[0] "g".credentials_file: is required`},
		{"gmail api url", `
[[mailbox]]
name = "g"
kind = "gmail"
address = "g@acme.example"
gmail_auth = "service_account"
credentials_file = "/dev/null"
api_base_url = "ftp://x"
`, `mailbox[0] "g".api_base_url: "ftp://x" is not an http(s) URL`},
		{"listen", `[server]
listen = "8080"`, `server.listen: "8080" is not host:port, like 127.0.0.1:8080`},
		{"listen port", `[server]
listen = "127.0.0.1:99999"`, `server.listen: port "99999" of "127.0.0.1:99999" is not a number from 0 to 65535`},
		{"public_url", `[server]
public_url = "localhost:8080"`, `server.public_url: "localhost:8080" is not an http(s) URL`},
		{"log level", `[log]
level = "verbose"`, `log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", `[log]
format = "xml"`, `log.format: "xml" is not one of text, json`},
		{"db path", `[database]
path = ""`, `database.path: is required`},
		{"blob dir", `[storage]
blob_dir = ""`, `storage.blob_dir: is required`},
		{"secret key short", `[security]
secret_key_file = "` + secretFile + `"`, `security: the secret key holds 9 bytes; want at least 32`},
		{"secret key both", `[security]
secret_key_file = "/x"
secret_key_env = "K"`, `security: set only one of secret_key_env and secret_key_file`},
		{"tag prefix", `[ticket]
tag_prefix = "[x"`, `ticket.tag_prefix: "[x" must not contain brackets or spaces`},
		{"reopen window", `[ticket]
reopen_window = "-1h"`, `ticket.reopen_window: must be a duration greater than 0, like "60s"`},
		{"flood limit", `[ticket]
flood_limit = 0`, `ticket.flood_limit: must be at least 1, got 0`},
		{"calendar window", `[calendar]
window = "0s"`, `calendar.window: must be a duration greater than 0, like "60s"`},
		{"agent timezone", `[[calendar.agent]]
id = "alice"
name = "A"
email = "a@acme.example"
timezone = "Mars/Olympus"
caldav_url = "https://dav.example/"
username = "a"`, `calendar.agent[0] "alice".timezone: "Mars/Olympus" is not a time zone like Europe/Berlin`},
		{"agent hours", `[[calendar.agent]]
id = "alice"
name = "A"
email = "a@acme.example"
working_hours = "Mon-Fri 9-5"
caldav_url = "https://dav.example/"
username = "a"`, `calendar.agent[0] "alice".working_hours: "9" is not a time of day HH:MM (00:00 to 24:00)`},
		{"agent source", `[[calendar.agent]]
id = "alice"
name = "A"
email = "a@acme.example"
source = "outlook"`, `calendar.agent[0] "alice".source: "outlook" is not one of caldav, google`},
		{"agent caldav url", `[[calendar.agent]]
id = "alice"
name = "A"
email = "a@acme.example"
username = "a"`, `calendar.agent[0] "alice".caldav_url: is required`},
		{"agent password when enabled", `[calendar]
enabled = true
[[calendar.agent]]
id = "alice"
name = "A"
email = "a@acme.example"
caldav_url = "https://dav.example/"
username = "a"
password_env = "ALICE_PW"`, `calendar.agent[0] "alice": password_env ALICE_PW is not set`},
		{"agent google ids", `[[calendar.agent]]
id = "bob"
name = "B"
email = "b@acme.example"
source = "google"
google_calendar_ids = []
google_auth = "service_account"
credentials_file = "/x"`, `calendar.agent[0] "bob".google_calendar_ids: is required for source = "google" (e.g. ["primary"])`},
		{"crm kind typo", `
[crm]
kind = "salesfroce"
`, `crm.kind: "salesfroce" is not one of local, salesforce`},
		{"salesforce needs client id", `
[crm]
kind = "salesforce"
client_secret_env = "FIRST_PW"
`, `crm.client_id: is required`},
		{"salesforce needs secret", `
[crm]
kind = "salesforce"
client_id = "3MVG9abc"
`, `crm: client_secret_env or client_secret_file is required for kind = "salesforce" (the connected app's consumer secret)`},
		{"salesforce plain http", `
[crm]
kind = "salesforce"
client_id = "3MVG9abc"
client_secret_env = "FIRST_PW"
login_url = "http://login.salesforce.com"
`, `crm.login_url: "http://login.salesforce.com" is not an https URL like https://login.salesforce.com, https://test.salesforce.com or your My Domain URL`},
		{"salesforce api version", `
[crm]
kind = "salesforce"
client_id = "3MVG9abc"
client_secret_env = "FIRST_PW"
api_version = "62"
`, `crm.api_version: "62" is not a REST API version like v62.0`},
		{"agent duplicate", `[[calendar.agent]]
id = "bob"
[[calendar.agent]]
id = "bob"`, `calendar.agent[1] "bob".id: duplicate of calendar.agent[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.toml), env)
			if err == nil {
				t.Fatalf("Load succeeded; want problem %q", tt.want)
			}
			got := withoutLines(problems(t, err))
			if !slices.Contains(got, tt.want) {
				t.Errorf("problems:\n  %s\nwant among them:\n  %s", strings.Join(got, "\n  "), tt.want)
			}
		})
	}
}

// A disabled mailbox keeps its structure checked but needs no secret.
func TestDisabledMailboxNeedsNoSecret(t *testing.T) {
	if _, err := Load(writeConfig(t, imapBox+"enabled = false\n"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := Load(writeConfig(t, imapBox+"enabled = false\ntls = \"x\"\n"), nil)
	if err == nil {
		t.Fatal("bad tls accepted on a disabled mailbox")
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	c.Ticket.FloodLimit = -1
	c.Mailboxes = []Mailbox{DefaultMailbox()}
	got := problems(t, c.Validate())
	for _, want := range []string{
		`log.level: "loud" is not one of debug, info, warn, error`,
		`ticket.flood_limit: must be at least 1, got -1`,
		`mailbox[0] "".name: is required`,
		`mailbox[0] "".host: is required`,
		`mailbox[0] "".address: is required`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q in\n  %s", want, strings.Join(got, "\n  "))
		}
	}
	if msg := c.Validate().Error(); !strings.HasPrefix(msg, "config: ") {
		t.Errorf("error %q lacks the package prefix", msg)
	}
}

func TestUnknownKeys(t *testing.T) {
	text := imapBox + `
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "imap.acme.example"
password_env = "FIRST_PW"
tsl = "implicit"

[serverr]
listen = "x"

[log]
colour = true
`
	path := writeConfig(t, text)
	_, err := Load(path, []string{"FIRST_PW=x"})
	got := problems(t, err)
	want := []string{
		path + `:13: mailbox[1] "support".tsl: unknown key`,
		path + `:15: serverr: unknown key`,
		path + `:19: log.colour: unknown key`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestLiteralSecretsRefused(t *testing.T) {
	const canary = "hunter2-canary"
	tests := []struct{ text, want string }{
		{imapBox + `password = "` + canary + `"`, `:7: mailbox[0] "first".password: secrets are not allowed in the file; use password_env or password_file`},
		{"[security]\nsecret_key = \"" + canary + "\"", `:2: security.secret_key: secrets are not allowed in the file; use secret_key_env or secret_key_file`},
		{imapBox + `client_secret = "` + canary + `"`, `mailbox[0] "first".client_secret: secrets are not allowed in the file; use client_secret_env or client_secret_file`},
	}
	for _, tt := range tests {
		_, err := Load(writeConfig(t, tt.text), []string{"FIRST_PW=x"})
		if err == nil {
			t.Fatalf("literal secret accepted: %s", tt.text)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %q does not contain %q", err, tt.want)
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error leaks the secret: %q", err)
		}
	}
}

func TestBareNumberDurationRefused(t *testing.T) {
	// An integer would be read as nanoseconds: poll_interval = 60 polled
	// the mailbox 60 ns apart, at full CPU.
	text := imapBox + `poll_interval = 60

[slack]
max_backoff = 5

[ticket]
flood_window = "10m"

[calendar]
window = 0
`
	path := writeConfig(t, text)
	_, err := Load(path, []string{"FIRST_PW=x"})
	got := strings.Join(problems(t, err), "\n")
	for _, want := range []string{
		path + `:7: mailbox[0] "first".poll_interval: a bare number is not a duration`,
		path + `:10: slack.max_backoff: a bare number is not a duration`,
		path + `:16: calendar.window: a bare number is not a duration`,
		`e.g. "60s"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nlack %q", got, want)
		}
	}
	if strings.Contains(got, "flood_window") {
		t.Errorf("a duration string was refused: %s", got)
	}
}

func TestTypeErrorNamesKeyAndLine(t *testing.T) {
	_, err := Load(writeConfig(t, "[ticket]\n\nflood_window = \"10 minutes\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), ":3: ticket.flood_window") || !strings.Contains(err.Error(), `e.g. "90s"`) {
		t.Errorf("error %v does not name ticket.flood_window at line 3 with an example", err)
	}
	// A port that is text still stops the decoder, naming key and line.
	_, err = Load(writeConfig(t, imapBox+"port = \"imaps\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "port") || !strings.Contains(err.Error(), "line") {
		t.Errorf("error %v does not name port and its line", err)
	}
}

// TestEveryValueErrorInOneRun: bad durations, out-of-range numbers and
// wrong words are all listed in one run, each with its file and line.
func TestEveryValueErrorInOneRun(t *testing.T) {
	path := writeConfig(t, `[[mailbox]]
name = "support"
address = "s@acme.example"
host = "imap.example.com"
username = "s"
password_env = "PW"
poll_interval = "1 minute"
tls = "tsl"
port = 99999
[ticket]
flood_window = "10 minutes"
flood_limit = 0
`)
	_, err := Load(path, []string{"PW=x"})
	got := problems(t, err)
	for _, want := range []string{
		path + `:7: mailbox[0] "support".poll_interval: "1 minute" is not a duration`,
		path + `:8: mailbox[0] "support".tls: "tsl" is not one of implicit, starttls, none`,
		path + `:9: mailbox[0] "support".port: 99999 is not a port from 1 to 65535`,
		path + `:11: ticket.flood_window: "10 minutes" is not a duration`,
		path + `:12: ticket.flood_limit: must be at least 1, got 0`,
	} {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.HasPrefix(p, want) }) {
			t.Errorf("problems:\n  %s\nlack %q", strings.Join(got, "\n  "), want)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d problems, want 5 (no second one for a refused duration):\n  %s", len(got), strings.Join(got, "\n  "))
	}
}

func TestEnvOverrides(t *testing.T) {
	base := imapBox + `
[[mailbox]]
name = "support-eu"
address = "eu@acme.example"
host = "imap.acme.example"
password_env = "SIDEDESK_EU_PASSWORD"
`
	tests := []struct {
		name    string
		env     []string
		check   func(*Config) bool
		wantErr string
	}{
		{"server listen", []string{"SIDEDESK_SERVER_LISTEN=0.0.0.0:9090"},
			func(c *Config) bool {
				return c.Server.Listen == "0.0.0.0:9090" && c.Server.PublicURL == "http://0.0.0.0:9090"
			}, ""},
		{"database path", []string{"SIDEDESK_DATABASE_PATH=/var/lib/sd.db"},
			func(c *Config) bool { return c.Database.Path == "/var/lib/sd.db" }, ""},
		{"log level", []string{"SIDEDESK_LOG_LEVEL=debug"},
			func(c *Config) bool { return c.Log.Level == "debug" }, ""},
		{"multi-word key", []string{"SIDEDESK_TICKET_FLOOD_LIMIT=5", "SIDEDESK_TICKET_REOPEN_WINDOW=1h", "SIDEDESK_TICKET_SUBJECT_MATCHING=true"},
			func(c *Config) bool {
				return c.Ticket.FloodLimit == 5 && c.Ticket.ReopenWindow == time.Hour && c.Ticket.SubjectMatching
			}, ""},
		{"mailbox key", []string{"SIDEDESK_MAILBOX_FIRST_HOST=127.0.0.1", "SIDEDESK_MAILBOX_FIRST_TLS=none"},
			func(c *Config) bool {
				return c.Mailboxes[0].Host == "127.0.0.1" && c.Mailboxes[0].TLS == "none" && c.Mailboxes[0].Port == 143
			}, ""},
		{"mailbox with dash", []string{"SIDEDESK_MAILBOX_SUPPORT_EU_PORT=1993", "SIDEDESK_MAILBOX_SUPPORT_EU_SINCE=2026-02-03", "SIDEDESK_MAILBOX_SUPPORT_EU_INITIAL_SYNC=since"},
			func(c *Config) bool {
				m := c.Mailboxes[1]
				return m.Port == 1993 && m.Since.String() == "2026-02-03" && c.Mailboxes[0].Port == 993
			}, ""},
		{"list key", []string{"SIDEDESK_SERVER_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1,", "SIDEDESK_MAILBOX_FIRST_ALIASES=help@acme.example"},
			func(c *Config) bool {
				return reflect.DeepEqual(c.Server.TrustedProxies, []string{"10.0.0.0/8", "127.0.0.1"}) &&
					reflect.DeepEqual(c.Mailboxes[0].Aliases, []string{"help@acme.example"})
			}, ""},
		{"secret env named SIDEDESK_ is no override", nil,
			func(c *Config) bool { return c.Getenv("SIDEDESK_EU_PASSWORD") == "eu" }, ""},
		{"unknown variable", []string{"SIDEDESK_SERVER_PORT=80"}, nil,
			`SIDEDESK_SERVER_PORT: unknown key port`},
		{"unknown section", []string{"SIDEDESK_SERVE_LISTEN=x"}, nil,
			`SIDEDESK_SERVE_LISTEN: unknown setting (want SIDEDESK_<SECTION>_<KEY> or SIDEDESK_MAILBOX_<NAME>_<KEY>)`},
		{"unknown mailbox", []string{"SIDEDESK_MAILBOX_BILLING_HOST=x"}, nil,
			`SIDEDESK_MAILBOX_BILLING_HOST: names no configured mailbox (SIDEDESK_MAILBOX_<NAME>_<KEY> sets keys of mailboxes defined in the file)`},
		{"bad int", []string{"SIDEDESK_TICKET_FLOOD_LIMIT=many"}, nil,
			`SIDEDESK_TICKET_FLOOD_LIMIT: flood_limit: "many" is not an integer`},
		{"bad duration", []string{"SIDEDESK_MAILBOX_FIRST_POLL_INTERVAL=soon"}, nil,
			`SIDEDESK_MAILBOX_FIRST_POLL_INTERVAL: poll_interval: "soon" is not a duration like "60s" or "720h"`},
		{"table key", []string{"SIDEDESK_TICKET_PRIORITY=high"}, nil,
			`SIDEDESK_TICKET_PRIORITY: priority is not a scalar or list key; set it in the file`},
		{"literal secret", []string{"SIDEDESK_MAILBOX_FIRST_PASSWORD=hunter2-canary"}, nil,
			`SIDEDESK_MAILBOX_FIRST_PASSWORD: secrets cannot be set this way; use password_env or password_file`},
		{"override is validated", []string{"SIDEDESK_LOG_FORMAT=xml"}, nil,
			`log.format: "xml" is not one of text, json`},
	}
	path := writeConfig(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"FIRST_PW=x", "SIDEDESK_EU_PASSWORD=eu", "SIDEDESK_INTEGRATION=require"}, tt.env...)
			c, err := Load(path, env)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Load succeeded; want %q", tt.wantErr)
				}
				if got := problems(t, err); !slices.Contains(got, tt.wantErr) {
					t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2-canary") {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("override not applied:\n%s", c.Redacted())
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	const canary = "hunter2-canary"
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := imapBox + `
[[mailbox]]
name = "second"
address = "second@acme.example"
host = "imap.acme.example"
password_file = "` + pwFile + `"

[[calendar.agent]]
id = "alice"
name = "Alice"
email = "alice@acme.example"
caldav_url = "https://alice:` + canary + `@dav.example/alice/"
username = "alice"
password_env = "FIRST_PW"
`
	env := append([]string{"FIRST_PW=" + canary}, exampleEnv...)
	c, err := Load(writeConfig(t, text), env)
	if err != nil {
		t.Fatal(err)
	}
	dump := c.Redacted()
	if strings.Contains(dump, canary) {
		t.Fatalf("Redacted() leaks the secret:\n%s", dump)
	}
	for _, want := range []string{`password_env = "FIRST_PW"`, `poll_interval = "1m0s"`, `[[calendar.agent]]`, `caldav_url = "https://alice:redacted@dav.example/alice/"`} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q:\n%s", want, dump)
		}
	}
	// Secret values never print, whatever the verb.
	for _, s := range []string{c.Mailboxes[0].Password().String(), c.Mailboxes[1].Password().GoString()} {
		if s != "[redacted]" {
			t.Errorf("Secret printed %q", s)
		}
	}
	// The dump is itself a valid configuration describing the same thing.
	c2, err := Load(writeConfig(t, dump), env)
	if err != nil {
		t.Fatalf("reloading the dump: %v", err)
	}
	if !reflect.DeepEqual(c.Mailboxes, c2.Mailboxes) || !reflect.DeepEqual(c.Ticket, c2.Ticket) || !reflect.DeepEqual(c.Server, c2.Server) {
		t.Errorf("dump does not round-trip:\n%s\n---\n%s", dump, c2.Redacted())
	}
}

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	getenv := func(k string) string { return map[string]string{"PW": "from-env"}[k] }
	tests := []struct {
		name    string
		s       Secret
		want    string
		wantErr string
	}{
		{"env", Secret{Key: "k.password", Env: "PW"}, "from-env", ""},
		{"file LF", Secret{Key: "k.password", File: write("lf", "s3cret\n")}, "s3cret", ""},
		{"file CRLF", Secret{Key: "k.password", File: write("crlf", "s3cret\r\n")}, "s3cret", ""},
		{"file keeps inner newlines", Secret{Key: "k.password", File: write("multi", "a\nb\n\n")}, "a\nb\n", ""},
		{"env unset", Secret{Key: "k.password", Env: "NOPE"}, "", "config: k.password: environment variable NOPE is not set"},
		{"file missing", Secret{Key: "k.password", File: filepath.Join(dir, "none")}, "", "config: k.password: reading password_file: open " + filepath.Join(dir, "none") + ": no such file or directory"},
		{"file empty", Secret{Key: "k.password", File: write("empty", "\n")}, "", "config: k.password: file " + filepath.Join(dir, "empty") + " is empty"},
		{"unset", Secret{Key: "k.password"}, "", "config: k.password: not configured (set password_env or password_file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Resolve(getenv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestGmailWatchKeys: gmail_pubsub_topic must be a Pub/Sub topic name and
// needs the push endpoint's token; gmail_watch_labels goes with a topic.
func TestGmailWatchKeys(t *testing.T) {
	const box = `
[[mailbox]]
name = "g"
kind = "gmail"
address = "g@acme.example"
gmail_auth = "service_account"
credentials_file = "/dev/null"
`
	const push = "push_token_env = \"PUSH_TOKEN\"\n"
	env := []string{"PUSH_TOKEN=tok"}
	const form = " is not a Pub/Sub topic name of the form projects/PROJECT/topics/TOPIC " +
		"(PROJECT: the Google Cloud project id of the OAuth client; TOPIC: 3-255 letters, digits, -_.~+%, starting with a letter)"
	tests := []struct {
		name, toml string
		want       string // "" = valid
		labels     []string
	}{
		{"no topic polls", box, "", nil},
		{"topic", box + push + `gmail_pubsub_topic = "projects/acme-support/topics/gmail-push"`, "", nil},
		{"topic and labels", box + push + `gmail_pubsub_topic = "projects/acme-support/topics/gmail.push_1"
gmail_watch_labels = ["INBOX", "support/urgent"]`, "", []string{"INBOX", "support/urgent"}},
		{"legacy domain project", box + push + `gmail_pubsub_topic = "projects/acme.example:support-42/topics/gmail"`, "", nil},
		{"bare topic", box + push + `gmail_pubsub_topic = "gmail-push"`, `mailbox[0] "g".gmail_pubsub_topic: "gmail-push"` + form, nil},
		{"subscription not topic", box + push + `gmail_pubsub_topic = "projects/acme-support/subscriptions/gmail-push"`,
			`mailbox[0] "g".gmail_pubsub_topic: "projects/acme-support/subscriptions/gmail-push"` + form, nil},
		{"project upper case", box + push + `gmail_pubsub_topic = "projects/Acme/topics/gmail-push"`,
			`mailbox[0] "g".gmail_pubsub_topic: "projects/Acme/topics/gmail-push"` + form, nil},
		{"goog topic", box + push + `gmail_pubsub_topic = "projects/acme-support/topics/google-push"`,
			`mailbox[0] "g".gmail_pubsub_topic: "projects/acme-support/topics/google-push"` + form, nil},
		{"topic without push token", box + `gmail_pubsub_topic = "projects/acme-support/topics/gmail-push"`,
			`mailbox[0] "g": push_token_env or push_token_file is required with gmail_pubsub_topic (the push subscription's endpoint is POST /gmail/push?token=...)`, nil},
		{"labels without topic", box + `gmail_watch_labels = ["INBOX"]`, `mailbox[0] "g".gmail_watch_labels: is only used with gmail_pubsub_topic`, nil},
		{"empty label", box + push + `gmail_pubsub_topic = "projects/acme-support/topics/gmail-push"
gmail_watch_labels = ["INBOX", " "]`, `mailbox[0] "g".gmail_watch_labels[1]: is empty (want a label name or id, like "INBOX")`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tt.toml), env)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := c.Mailboxes[0].GmailWatchLabels; !slices.Equal(got, tt.labels) {
					t.Errorf("gmail_watch_labels = %q, want %q", got, tt.labels)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded; want problem %q", tt.want)
			}
			if got := withoutLines(problems(t, err)); !slices.Contains(got, tt.want) {
				t.Errorf("problems:\n  %s\nwant among them:\n  %s", strings.Join(got, "\n  "), tt.want)
			}
		})
	}
}

func TestTrustedProxyPrefixes(t *testing.T) {
	s := Server{TrustedProxies: []string{"10.1.2.3/8", "127.0.0.1", "::ffff:192.168.1.1", " fd00::/8 "}}
	var got []string
	for _, p := range s.TrustedProxyPrefixes() {
		got = append(got, p.String())
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "192.168.1.1/32", "fd00::/8"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prefixes %v, want %v", got, want)
	}
}
