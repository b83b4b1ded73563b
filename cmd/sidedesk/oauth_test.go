package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestOAuthCodeFlowThroughThePanel is what a third-party app and an agent
// do against the running product: register the app with the CLI, send
// the agent's browser to /oauth/authorize, sign in, allow on the consent
// page, exchange the code (with PKCE) for tokens, call the API as the
// agent, and lose access when an admin revokes the app. The app's side
// is golang.org/x/oauth2.
func TestOAuthCodeFlowThroughThePanel(t *testing.T) {
	data := t.TempDir()
	d := startDemo(t, data)
	base := d.base
	cli := d.cli(t, data)
	if _, err := cli("oauth", "client", "create", "--name", "Portal", "--scopes", "tickets:read,crm:read",
		"--redirect-uri", "http://evil.example/cb"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("an http redirect URI off loopback: %v, want refused naming loopback", err)
	}
	if _, err := cli("oauth", "client", "create", "--name", "Portal", "--scopes", "tickets:delete"); err == nil || !strings.Contains(err.Error(), "tickets:delete") {
		t.Errorf("an unknown scope: %v, want refused naming it", err)
	}
	out, err := cli("oauth", "client", "create", "--name", "Portal", "--scopes", "tickets:read,tickets:write",
		"--redirect-uri", "http://127.0.0.1:9/cb")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`client_id=(\S+)\nclient_secret=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("oauth client create printed %q", out)
	}
	app := &oauth2.Config{ClientID: m[1], ClientSecret: m[2], RedirectURL: "http://127.0.0.1:9/cb",
		Scopes:   []string{"tickets:read", "tickets:write"},
		Endpoint: oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token"}}
	if list, err := cli("oauth", "client", "list"); err != nil || !strings.Contains(list, m[1]) || !strings.Contains(list, "Portal") {
		t.Fatalf("oauth client list:\n%s%v", list, err)
	}

	// The agent's browser: cookies, no redirects followed past our host.
	jar, _ := cookiejar.New(nil)
	var landed *url.URL
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "127.0.0.1:9" {
			landed = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	hidden := func(html, name string) string {
		t.Helper()
		sm := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(html)
		if sm == nil {
			t.Fatalf("no %s field in:\n%s", name, html)
		}
		return sm[1]
	}
	verifier := oauth2.GenerateVerifier()
	login := page(browser.Get(app.AuthCodeURL("xyz", oauth2.S256ChallengeOption(verifier))))
	if !strings.Contains(login, `action="/login"`) {
		t.Fatalf("authorize did not lead a signed-out agent to sign in:\n%s", login)
	}
	consent := page(browser.PostForm(base+"/login", url.Values{"email": {d.agent}, "password": {d.agentPW},
		"csrf_token": {hidden(login, "csrf_token")}, "next": {hidden(login, "next")}, "tenant": {hidden(login, "tenant")}}))
	if !strings.Contains(consent, "Allow Portal?") || !strings.Contains(consent, "tickets:write") || !strings.Contains(consent, "127.0.0.1:9") {
		t.Fatalf("after sign-in, no consent page naming the app, its scopes and where it sends back:\n%s", consent)
	}
	// A forged answer (no CSRF token) is refused.
	if resp, err := browser.PostForm(base+"/oauth/consent", url.Values{"id": {hidden(consent, "id")}, "decision": {"allow"}}); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("consent without the CSRF token: %v %v, want 403", resp.StatusCode, err)
	}
	page(browser.PostForm(base+"/oauth/consent", url.Values{"id": {hidden(consent, "id")}, "decision": {"allow"},
		"csrf_token": {hidden(consent, "csrf_token")}}))
	if landed == nil || landed.Query().Get("state") != "xyz" || landed.Query().Get("code") == "" {
		t.Fatalf("after Allow the browser landed on %v, want the app's redirect with code and state", landed)
	}
	ctx := context.Background()
	tok, err := app.Exchange(ctx, landed.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	// The app calls the API as the agent.
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", "/api/v1/tickets", ""); code != 200 || !strings.Contains(body, `"tickets"`) {
		t.Fatalf("GET /api/v1/tickets with the OAuth token: %d %s", code, body)
	}
	if code, body := call("POST", "/api/v1/tickets/1/notes", `{"text":"checked by the portal"}`); code != 201 || !strings.Contains(body, d.agent) {
		t.Errorf("POST a note as the agent via the app: %d %s, want 201 with the agent as author", code, body)
	}
	if code, body := call("GET", "/api/v1/tokens", ""); code != 403 || !strings.Contains(body, "admin") {
		t.Errorf("an admin route with a token that lacks admin: %d %s, want 403 naming admin", code, body)
	}
	// Revoking the app ends its tokens on the next request.
	if _, err := cli("oauth", "client", "revoke", m[1]); err != nil {
		t.Fatal(err)
	}
	if code, body := call("GET", "/api/v1/tickets", ""); code != 401 || !strings.Contains(body, "invalid_token") {
		t.Errorf("after the client was revoked: %d %s, want 401 invalid_token", code, body)
	}
}
