package sidebar

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sidedesk/sidedesk/api"
	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// panelFixture is a real store with the demo CRM, the ticket service, the
// server over a real loopback socket, and agents of two tenants.
type panelFixture struct {
	t      testing.TB
	st     *store.Store
	svc    *ticket.Service
	crm    *store.LocalCRM
	server *Server
	front  *api.Server
	srv    *httptest.Server
	logs   *testenv.SyncBuffer
}

const (
	agentEmail = "agent@acme.example"
	agentPass  = "correct horse battery staple"
	otherEmail = "agent@other.example" // tenant "other"
)

type panelOption func(*Options)

func newPanelFixture(t testing.TB, opts ...panelOption) *panelFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "sidedesk.db"), SkipBlobFsync: true})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	l, err := st.NewLocalCRM(store.LocalCRMOptions{FreeMailDomains: crm.DemoFreeMailDomains()})
	if err != nil {
		t.Fatalf("NewLocalCRM: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	if err := store.SeedDemoCRM(ctx, l, ticket.DefaultTenant); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	svc, err := ticket.NewService(ticket.Options{Store: st, IsAgent: func(ctx context.Context, tenant, email string) (bool, error) {
		u, err := st.UserByEmail(ctx, tenant, email)
		return err == nil && u.DisabledAt.IsZero(), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &panelFixture{t: t, st: st, svc: svc, crm: l, logs: &testenv.SyncBuffer{}}
	reads := st.NewPanelReads()
	t.Cleanup(func() { reads.Close() })
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := Options{Panel: reads, CRM: l, Actions: svc, Logger: logger}
	for _, fn := range opts {
		fn(&o)
	}
	f.server, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	// Served as sidedesk serves it: mounted on the HTTP front, which also
	// answers /api/v1/lookup from the panel.
	front, err := api.New(api.Options{Store: st, Tickets: svc, Blobs: st.Blobs(), Lookup: func(ctx context.Context, tenant string, q url.Values) (api.LookupFacts, error) {
		facts, err := f.server.Lookup(ctx, tenant, q)
		return api.LookupFacts(facts), err
	},
		PublicURL: o.PublicURL, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.server.Register(front.Mount); err != nil {
		t.Fatal(err)
	}
	f.front = front
	f.srv = httptest.NewUnstartedServer(front.Handler())
	if u, err := url.Parse(o.PublicURL); err == nil && u.Scheme == "http" && strings.HasPrefix(u.Host, "127.0.0.1:") {
		// The test chose the address (a callback URL names it): serve there.
		f.srv.Listener.Close()
		if f.srv.Listener, err = net.Listen("tcp", u.Host); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	hash, err := HashPassword(agentPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, ticket.DefaultTenant, agentEmail, "Alex Agent", ticket.RoleAgent, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, "other", otherEmail, "Olga Other", ticket.RoleAgent, hash); err != nil {
		t.Fatal(err)
	}
	return f
}

// deliverFile captures one demo mail (demo/mail/NAME) for the default tenant.
func (f *panelFixture) deliverFile(name string) ticket.Result {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "demo", "mail", name))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.deliver(ticket.DefaultTenant, "file:"+name, b)
}

func (f *panelFixture) deliver(tenant, key string, raw []byte) ticket.Result {
	f.t.Helper()
	res, err := capture.Deliver(context.Background(), capture.Delivery{Tenant: tenant, Mailbox: "support", SourceKey: key},
		bytes.NewReader(raw), f.st.Blobs(), f.svc, capture.ParseOptions{})
	if err != nil {
		f.t.Fatalf("Deliver %s: %v", key, err)
	}
	return res
}

// deliverDemo captures every demo mail.
func (f *panelFixture) deliverDemo() {
	f.t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "demo", "mail", "*.eml"))
	if err != nil || len(names) == 0 {
		f.t.Fatalf("demo mails: %v", err)
	}
	for _, n := range names {
		f.deliverFile(filepath.Base(n))
	}
}

// client is a browser-like client: a cookie jar, no redirects followed.
func (f *panelFixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs c in as email and returns the session's CSRF token.
func (f *panelFixture) signIn(c *http.Client, email string) string {
	f.t.Helper()
	tenant := ticket.DefaultTenant
	if email == otherEmail {
		tenant = "other"
	}
	doc, res := f.getDoc(c, "/login")
	if res.StatusCode != http.StatusOK {
		f.t.Fatalf("GET /login = %d", res.StatusCode)
	}
	tok, _ := doc.Find(`form input[name=csrf_token]`).Attr("value")
	res = f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {agentPass}, "tenant": {tenant}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("POST /login = %d, want 303", res.StatusCode)
	}
	doc, res = f.getDoc(c, "/sidebar?from=nobody@nowhere.example")
	if res.StatusCode != http.StatusOK {
		f.t.Fatalf("GET /sidebar after login = %d", res.StatusCode)
	}
	csrf, ok := doc.Find(`form input[name=csrf_token]`).First().Attr("value")
	if !ok || csrf == "" {
		f.t.Fatal("panel has no CSRF token")
	}
	return csrf
}

func (f *panelFixture) get(c *http.Client, path string) *http.Response {
	f.t.Helper()
	res, err := c.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// getDoc GETs path and parses the answer.
func (f *panelFixture) getDoc(c *http.Client, path string) (*goquery.Document, *http.Response) {
	f.t.Helper()
	res := f.get(c, path)
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return doc, res
}

// postForm POSTs a form with extra headers; the body is left unread
// for the caller (closed at cleanup).
func (f *panelFixture) postForm(c *http.Client, path string, form url.Values, hdr map[string]string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { res.Body.Close() })
	return res
}

// panelDoc opens the panel for a query and fails unless it answers 200.
func (f *panelFixture) panelDoc(c *http.Client, query string) *goquery.Document {
	f.t.Helper()
	doc, res := f.getDoc(c, "/sidebar?"+query)
	if res.StatusCode != http.StatusOK {
		f.t.Fatalf("GET /sidebar?%s = %d", query, res.StatusCode)
	}
	return doc
}

func texts(sel *goquery.Selection) []string {
	var out []string
	sel.Each(func(_ int, s *goquery.Selection) { out = append(out, strings.Join(strings.Fields(s.Text()), " ")) })
	return out
}
