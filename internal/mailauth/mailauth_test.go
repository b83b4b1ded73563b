package mailauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/internal/mailauth"
	"github.com/sidedesk/sidedesk/internal/oauthtest"
	"github.com/sidedesk/sidedesk/internal/seal"
	"github.com/sidedesk/sidedesk/store"
)

type rig struct {
	idp   *oauthtest.Provider
	st    *store.Store
	box   *seal.Box
	clock time.Time
	mu    sync.Mutex
	log   bytes.Buffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "sd.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, err := seal.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{idp: oauthtest.Start(t, "client-1", "s3cret", "support@example.com"), st: st, box: box, clock: time.Now()}
}

func (r *rig) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clock
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
}

func fixed(v string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return v, nil }
}

func (r *rig) source(t *testing.T, mod func(*mailauth.Options)) *mailauth.Source {
	t.Helper()
	o := mailauth.Options{Tenant: "default", Mailbox: "support", Provider: "custom", ClientID: "client-1",
		ClientSecret: fixed("s3cret"), AuthURL: r.idp.URL + "/authorize", TokenURL: r.idp.URL + "/token",
		Scopes: []string{"mail"}, ConnectHint: "https://desk.example/sidebar/mailboxes",
		Store: r.st, Seal: r.box, Now: r.now, Logger: slog.New(slog.NewTextHandler(&r.log, nil))}
	if mod != nil {
		mod(&o)
	}
	s, err := mailauth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRefreshRotatesAndKeepsTheNewToken(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	cfgToken := r.idp.IssueRefreshToken()
	s := r.source(t, func(o *mailauth.Options) { o.RefreshToken = fixed(cfgToken) })
	tok1, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Held until shortly before it expires (1 h): no second grant.
	r.advance(50 * time.Minute)
	if tok, err := s.Token(ctx); err != nil || tok != tok1 {
		t.Fatalf("within its lifetime: %q %v, want the same token", tok, err)
	}
	if n := r.idp.Grants("refresh_token"); n != 1 {
		t.Fatalf("refresh grants = %d, want 1", n)
	}
	// Within two minutes of expiry it is refreshed; the provider rotated
	// the configured refresh token away, so only the stored one works.
	r.advance(9 * time.Minute)
	tok2, err := s.Token(ctx)
	if err != nil || tok2 == tok1 {
		t.Fatalf("near expiry: %q %v, want a new token", tok2, err)
	}
	c, ok, err := r.st.MailboxOAuth(ctx, "default", "support")
	if err != nil || !ok || c.Status != "connected" || !strings.HasPrefix(c.Origin, "config:") {
		t.Fatalf("stored connection = %+v %v %v", c, ok, err)
	}
	if bytes.Contains(c.RefreshSealed, []byte("rt-")) {
		t.Fatal("the refresh token is stored in the clear")
	}
	// A new process (another Source over the same store) starts from the
	// stored, rotated token: the configured one was used up.
	s2 := r.source(t, func(o *mailauth.Options) { o.RefreshToken = fixed(cfgToken) })
	if _, err := s2.Token(ctx); err != nil {
		t.Fatalf("second process: %v", err)
	}
	// A token replaced in the config wins over what its predecessor
	// rotated into (revoked here, so only the new one can work).
	r.idp.RevokeAll()
	fresh := r.idp.IssueRefreshToken()
	s4 := r.source(t, func(o *mailauth.Options) { o.RefreshToken = fixed(fresh) })
	if _, err := s4.Token(ctx); err != nil {
		t.Fatalf("a new configured token: %v", err)
	}
}

func TestRefusedRefreshTokenAsksToReconnect(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	rt := r.idp.IssueRefreshToken()
	s := r.source(t, func(o *mailauth.Options) { o.RefreshToken = fixed(rt) })
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}
	r.idp.RevokeAll()
	s.Forget() // the server refused the access token
	_, err := s.Token(ctx)
	if !errors.Is(err, mailauth.ErrNotConnected) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	for _, want := range []string{`mailbox "support"`, "invalid_grant", "AADSTS700082", "https://desk.example/sidebar/mailboxes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Trace ID") {
		t.Errorf("error carries Microsoft's trace lines: %q", err)
	}
	h := s.Health()
	if h.OK || h.Error == "" {
		t.Fatalf("health = %+v, want failing", h)
	}
	c, _, _ := r.st.MailboxOAuth(ctx, "default", "support")
	if c.Status != "failed" || !strings.Contains(c.LastError, "invalid_grant") {
		t.Fatalf("stored = %+v", c)
	}
	if !strings.Contains(r.log.String(), "no access token for the mailbox") {
		t.Fatalf("log lacks the failure:\n%s", r.log.String())
	}
	if strings.Contains(r.log.String(), rt) {
		t.Fatal("the log carries the refresh token")
	}
}

func TestNoRefreshTokenSaysWhereToConnect(t *testing.T) {
	r := newRig(t)
	_, err := r.source(t, nil).Token(context.Background())
	if !errors.Is(err, mailauth.ErrNotConnected) || !strings.Contains(err.Error(), "https://desk.example/sidebar/mailboxes") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientCredentials(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	s := r.source(t, func(o *mailauth.Options) {
		o.Grant, o.Scopes = mailauth.GrantClientCredentials, []string{"https://outlook.office365.com/.default"}
	})
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if r.idp.Grants("client_credentials") != 1 {
		t.Fatal("no client credentials grant")
	}
	bad := r.source(t, func(o *mailauth.Options) {
		o.Grant, o.ClientSecret = mailauth.GrantClientCredentials, fixed("wrong")
		o.Scopes = []string{"https://outlook.office365.com/.default"}
	})
	if _, err := bad.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
	if s.CanConsent() {
		t.Fatal("client credentials offered a consent")
	}
}

func TestProviderOutageIsTemporary(t *testing.T) {
	r := newRig(t)
	rt := r.idp.IssueRefreshToken()
	s := r.source(t, func(o *mailauth.Options) { o.RefreshToken = fixed(rt) })
	r.idp.SetDown(true)
	_, err := s.Token(context.Background())
	if err == nil || errors.Is(err, mailauth.ErrNotConnected) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("outage: %v, want a 503 that is not a disconnect", err)
	}
	r.idp.SetDown(false)
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// consent follows the provider's redirect by hand, as a browser would.
func consent(t *testing.T, authURL string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func TestConsentFlow(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	s := r.source(t, nil)
	other := r.source(t, func(o *mailauth.Options) { o.Mailbox = "sales" })
	srcs := mailauth.Sources{other, s}
	const redirect = "https://desk.example/sidebar/mailboxes/callback"
	u, err := s.AuthorizeURL("admin@example.com", redirect)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	if q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("code_challenge") == "" {
		t.Fatalf("authorize URL without PKCE: %s", u)
	}
	back := consent(t, u)
	// Another admin cannot complete it, nor another tenant.
	if _, err := srcs.Complete(ctx, "default", "other@example.com", redirect, back.Get("code"), back.Get("state")); !errors.Is(err, mailauth.ErrConsentState) {
		t.Fatalf("other admin: %v", err)
	}
	if _, err := srcs.Complete(ctx, "acme", "admin@example.com", redirect, back.Get("code"), back.Get("state")); !errors.Is(err, mailauth.ErrConsentState) {
		t.Fatalf("other tenant: %v", err)
	}
	name, err := srcs.Complete(ctx, "default", "admin@example.com", redirect, back.Get("code"), back.Get("state"))
	if err != nil || name != "support" {
		t.Fatalf("complete = %q %v", name, err)
	}
	c, ok, _ := r.st.MailboxOAuth(ctx, "default", "support")
	if !ok || c.Origin != "consent" || c.ConnectedBy != "admin@example.com" {
		t.Fatalf("stored = %+v", c)
	}
	if _, ok, _ := r.st.MailboxOAuth(ctx, "default", "sales"); ok {
		t.Fatal("the other mailbox got the connection")
	}
	// The held access token came with the code; after it expires, the
	// stored refresh token gets a new one.
	r.advance(2 * time.Hour)
	if _, err := s.Token(ctx); err != nil {
		t.Fatalf("refresh after consent: %v", err)
	}
	// An expired state is refused.
	u2, _ := s.AuthorizeURL("admin@example.com", redirect)
	back2 := consent(t, u2)
	r.advance(16 * time.Minute)
	if _, err := srcs.Complete(ctx, "default", "admin@example.com", redirect, back2.Get("code"), back2.Get("state")); !errors.Is(err, mailauth.ErrConsentState) {
		t.Fatalf("expired state: %v", err)
	}
}

func TestXOAuth2InitialResponse(t *testing.T) {
	c := &mailauth.XOAuth2Client{User: "someone@example.com", Token: "abc"}
	mech, ir, err := c.Start()
	if mech != "XOAUTH2" || err != nil || string(ir) != "user=someone@example.com\x01auth=Bearer abc\x01\x01" {
		t.Fatalf("Start = %q %q %v", mech, ir, err)
	}
	if resp, err := c.Next([]byte(`{"status":"400"}`)); err != nil || len(resp) != 0 || c.Challenge == "" {
		t.Fatalf("Next = %q %v", resp, err)
	}
}
