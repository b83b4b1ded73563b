package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sidedesk/sidedesk/internal/oauthtest"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

// TestServeOAuthMailbox runs `sidedesk serve` with a mailbox that signs in
// to a real Dovecot (IMAP) and a real Postfix (SMTP submission, SASL
// through that Dovecot) by XOAUTH2 only: Dovecot's oauth2 passdb checks
// every token at a local identity provider (RFC 7662 introspection). An
// admin connects the mailbox from the panel (authorization code + PKCE),
// after which mail is captured, acknowledged and answered; when the
// provider ends the access tokens early and Dovecot restarts, the refused
// token is dropped and a refreshed one (the rotated refresh token kept)
// signs in again. A revoked connection shows in /healthz with the fix.
func TestServeOAuthMailbox(t *testing.T) {
	const (
		support, cust, custPW = "support@acme.example", "cora@customer.example", "cora-secret"
		admin, adminPW        = "ada@acme.example", "correct horse battery"
	)
	idp := oauthtest.Start(t, "desk-app", "app-secret", support)
	// The support account's password is unknown to sidedesk: only tokens.
	dc := testenv.StartDovecotOAuth(t, idp.IntrospectURL(), testenv.User{Email: support, Password: "unused-" + t.Name()},
		testenv.User{Email: cust, Password: custPW})
	pf := testenv.StartPostfix(t, dc)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sidedesk.toml")
	t.Setenv("DESK_OAUTH_SECRET", "app-secret")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[database]
path = %q
[storage]
blob_dir = %q
[ticket]
ack_enabled = true
[[mailbox]]
name = "support"
address = %q
host = "127.0.0.1"
port = %d
tls = "none"
auth = "xoauth2"
username = %q
initial_sync = "since"
since = "2000-01-01"
oauth_client_id = "desk-app"
oauth_provider = "custom"
oauth_client_secret_env = "DESK_OAUTH_SECRET"
oauth_auth_url = "%s/authorize"
oauth_token_url = "%s/token"
oauth_scopes = ["mail"]
smtp_host = "127.0.0.1"
smtp_port = %d
smtp_tls = "none"
smtp_auth = "xoauth2"
smtp_username = %q
`, filepath.Join(dir, "db.sqlite"), filepath.Join(dir, "blobs"), support, dc.Port(), support, idp.URL, idp.URL,
		pf.Port(), support)), 0o600)
	cli := func(stdin string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(context.Background(), append(args, "--config", cfgPath), strings.NewReader(stdin), &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	cli(adminPW+"\n", "user", "add", "--email", admin, "--role", "admin", "--password-stdin")
	cli(adminPW+"\n", "user", "add", "--email", "bo@acme.example", "--password-stdin")
	token := strings.TrimSpace(cli("", "token", "create", "--name", "ops", "--scopes", "admin,tickets:read,tickets:write"))

	base, stderr := startServe(t, cfgPath)
	api := func(method, path, body string) (int, map[string]any) { return apiJSON(base, token, method, path, body) }
	oauthHealth := func() map[string]any {
		_, h := api("GET", "/healthz", "")
		d, _ := h["details"].(map[string]any)
		list, _ := d["mailbox_oauth"].([]any)
		if len(list) != 1 {
			return nil
		}
		m, _ := list[0].(map[string]any)
		return m
	}
	// Not connected yet: /healthz says so and where to connect.
	waitFor(t, 20*time.Second, "healthz to report the unconnected mailbox", func() bool {
		m := oauthHealth()
		return m != nil && m["ok"] == false && strings.Contains(fmt.Sprint(m["error"]), "/sidebar/mailboxes")
	})

	doctor := func() string {
		var out, errb bytes.Buffer
		run(context.Background(), []string{"doctor", "--config", cfgPath}, nil, &out, &errb)
		return out.String()
	}
	if out := doctor(); !regexp.MustCompile(`(?m)^FAIL +mailbox support oauth +.*no OAuth refresh token.*/sidebar/mailboxes`).MatchString(out) {
		t.Errorf("doctor before the connection:\n%s", out)
	}

	// The admin connects it from the panel.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hidden := func(html, name string) string {
		t.Helper()
		sm := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(html)
		if sm == nil {
			t.Fatalf("no %s field in:\n%s", name, html)
		}
		return sm[1]
	}
	signIn := func(c *http.Client, email string) (int, string) {
		_, login := page(c.Get(base + "/sidebar/mailboxes"))
		return page(c.PostForm(base+"/login", url.Values{"email": {email}, "password": {adminPW},
			"csrf_token": {hidden(login, "csrf_token")}, "next": {hidden(login, "next")}, "tenant": {hidden(login, "tenant")}}))
	}
	agentJar, _ := cookiejar.New(nil)
	if code, body := signIn(&http.Client{Jar: agentJar}, "bo@acme.example"); code != 403 || !strings.Contains(body, "Only an admin") {
		t.Errorf("an agent on the mailbox page: %d, want 403 saying only admins", code)
	}
	_, login := page(browser.Get(base + "/sidebar/mailboxes"))
	code, list := page(browser.PostForm(base+"/login", url.Values{"email": {admin}, "password": {adminPW},
		"csrf_token": {hidden(login, "csrf_token")}, "next": {hidden(login, "next")}, "tenant": {hidden(login, "tenant")}}))
	if code != 200 || !strings.Contains(list, `data-mailbox="support"`) || !strings.Contains(list, "/sidebar/mailboxes/connect?mailbox=support") {
		t.Fatalf("mailbox page %d:\n%s", code, list)
	}
	code, doneHTML := page(browser.Get(base + "/sidebar/mailboxes/connect?mailbox=support"))
	if code != 200 || !strings.Contains(doneHTML, "Mailbox support is connected") {
		t.Fatalf("after consent %d:\n%s", code, doneHTML)
	}
	if code, _ := page(browser.Get(base + "/sidebar/mailboxes/connect?mailbox=nope")); code != 404 {
		t.Errorf("an unknown mailbox: %d, want 404", code)
	}

	if out := doctor(); !regexp.MustCompile(`(?m)^ok +mailbox support oauth +refresh_token grant, token valid until`).MatchString(out) {
		t.Errorf("doctor after the connection:\n%s", out)
	}

	// A customer writes: captured over XOAUTH2 IMAP, acknowledged over
	// XOAUTH2 SMTP.
	submit := func(id, subject string) {
		t.Helper()
		c, err := smtp.Dial(pf.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", cust, custPW)); err != nil {
			t.Fatal(err)
		}
		raw := fmt.Sprintf("From: Cora <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nHello.\r\n",
			cust, support, subject, id, time.Now().Format(time.RFC1123Z))
		if err := c.SendMail(cust, []string{support}, strings.NewReader(raw)); err != nil {
			t.Fatalf("submit: %v\n%s", err, pf.Log())
		}
	}
	inboxCount := func() uint32 {
		c := dc.Client(t, cust)
		defer c.Logout()
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return *st.NumMessages
	}
	submit("first@customer.example", "Printer on fire")
	waitFor(t, 30*time.Second, "the acknowledgement in the customer's INBOX", func() bool { return inboxCount() == 1 })
	code, v := api("POST", "/api/v1/tickets/1/replies", `{"body_text":"The brigade is on its way."}`)
	if code != 202 {
		t.Fatalf("reply: %d %v", code, v)
	}
	waitFor(t, 30*time.Second, "the reply in the customer's INBOX", func() bool { return inboxCount() == 2 })
	if m := oauthHealth(); m == nil || m["ok"] != true {
		t.Errorf("healthz mailbox_oauth after the mail: %v", m)
	}

	// The provider ends every access token early; Dovecot restarts, so
	// capture logs in again: the held token is refused, dropped, and a
	// refreshed one (from the stored, rotated refresh token) is taken.
	before := idp.Grants("refresh_token")
	idp.ExpireAccessTokens()
	dc.Restart(t)
	submit("second@customer.example", "Also the fax")
	waitFor(t, 60*time.Second, "the second mail on a ticket", func() bool {
		_, l := api("GET", "/api/v1/tickets?limit=10", "")
		items, _ := l["tickets"].([]any)
		return len(items) == 2
	})
	if idp.Grants("refresh_token") <= before {
		t.Errorf("no refresh after the tokens were ended (grants %d → %d)", before, idp.Grants("refresh_token"))
	}

	// The provider revokes the connection: /healthz says who must act.
	idp.RevokeAll()
	dc.Restart(t)
	waitFor(t, 60*time.Second, "healthz to report the refused refresh token", func() bool {
		m := oauthHealth()
		return m != nil && m["ok"] == false && strings.Contains(fmt.Sprint(m["error"]), "invalid_grant") &&
			strings.Contains(fmt.Sprint(m["error"]), "/sidebar/mailboxes")
	})
	if regexp.MustCompile(`\b(rt|at)-[A-Za-z0-9_-]{20,}`).MatchString(stderr.String()) {
		t.Error("the log carries a token")
	}
}
