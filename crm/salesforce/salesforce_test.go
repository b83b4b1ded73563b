package salesforce_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/crm/salesforce"
	"github.com/sidedesk/sidedesk/internal/sftest"
	"github.com/sidedesk/sidedesk/store"
)

const (
	tenant   = "default"
	agent    = "ana@acme.example"
	callback = "https://desk.acme.example/sidebar/crm/callback"
)

type rig struct {
	sf    *sftest.Server
	st    *store.Store
	c     *salesforce.Connector
	key   []byte
	clock time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	sf := sftest.New()
	t.Cleanup(sf.Close)
	sf.RedirectURI = callback
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "sd.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &rig{sf: sf, st: st, key: bytes.Repeat([]byte{7}, 32), clock: time.Now()}
	r.c = r.connector(t)
	return r
}

func (r *rig) connector(t *testing.T) *salesforce.Connector {
	t.Helper()
	c, err := salesforce.New(salesforce.Options{LoginURL: r.sf.URL, ClientID: r.sf.ClientID, ClientSecret: r.sf.ClientSecret,
		RedirectURL: callback, Store: r.st, Key: r.key, Now: func() time.Time { return r.clock }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// consent follows the authorize URL as the agent's browser would and
// returns the callback's query.
func (r *rig) consent(t *testing.T, c *salesforce.Connector, who, returnTo string) url.Values {
	t.Helper()
	u, err := c.AuthorizeURL(context.Background(), tenant, who, returnTo)
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(u)
	for _, k := range []string{"code_challenge", "state", "client_id", "redirect_uri"} {
		if au.Query().Get(k) == "" {
			t.Fatalf("authorize URL %s has no %s", u, k)
		}
	}
	if au.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("authorize URL %s: PKCE method is not S256", u)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), callback) {
		t.Fatalf("authorize answered %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	return loc.Query()
}

func (r *rig) connect(t *testing.T) context.Context {
	t.Helper()
	q := r.consent(t, r.c, agent, "/sidebar?email=x")
	back, err := r.c.Complete(context.Background(), tenant, agent, q.Get("code"), q.Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	if back != "/sidebar?email=x" {
		t.Fatalf("Complete returned %q, want the return path", back)
	}
	return crm.WithAgent(context.Background(), agent)
}

func TestConnectStoresSealedConnection(t *testing.T) {
	r := newRig(t)
	r.connect(t)
	cn, err := r.st.CRMConnection(context.Background(), tenant, agent, salesforce.Provider)
	if err != nil {
		t.Fatal(err)
	}
	if cn.Status != "connected" || cn.InstanceURL != r.sf.URL || cn.Username == "" || cn.UserID == "" {
		t.Fatalf("stored connection %+v", cn)
	}
	if bytes.Contains(cn.RefreshSealed, []byte("5Aep")) {
		t.Fatal("the refresh token is stored in the clear")
	}
	// A connector with another key cannot open it: the agent must reconnect.
	other := *r
	other.key = bytes.Repeat([]byte{8}, 32)
	c2 := other.connector(t)
	_, err = c2.Match(crm.WithAgent(context.Background(), agent), tenant, "nobody@nowhere.example")
	if !errors.Is(err, crm.ErrNotConnected) {
		t.Fatalf("match with a changed key: %v, want ErrNotConnected", err)
	}
}

func TestCompleteRefusesForeignOrOldState(t *testing.T) {
	r := newRig(t)
	q := r.consent(t, r.c, agent, "/sidebar")
	// Another agent cannot complete ana's consent.
	if _, err := r.c.Complete(context.Background(), tenant, "mallory@acme.example", q.Get("code"), q.Get("state")); !errors.Is(err, salesforce.ErrBadState) {
		t.Fatalf("foreign agent: %v, want ErrBadState", err)
	}
	if _, err := r.c.Complete(context.Background(), tenant, agent, q.Get("code"), q.Get("state")+"x"); !errors.Is(err, salesforce.ErrBadState) {
		t.Fatalf("tampered state: %v, want ErrBadState", err)
	}
	q2 := r.consent(t, r.c, agent, "/sidebar")
	r.clock = r.clock.Add(16 * time.Minute)
	if _, err := r.c.Complete(context.Background(), tenant, agent, q2.Get("code"), q2.Get("state")); !errors.Is(err, salesforce.ErrBadState) {
		t.Fatalf("expired state: %v, want ErrBadState", err)
	}
	// An open redirect is not one: returnTo must be a local path.
	r.clock = time.Now()
	q3 := r.consent(t, r.c, agent, "//evil.example/x")
	back, err := r.c.Complete(context.Background(), tenant, agent, q3.Get("code"), q3.Get("state"))
	if err != nil || back != "/sidebar" {
		t.Fatalf("returnTo //evil.example: back %q err %v, want /sidebar", back, err)
	}
}

func TestPKCEVerifierIsChecked(t *testing.T) {
	r := newRig(t)
	// A code from one consent, with the state (and so the verifier) of
	// another: the token endpoint refuses it.
	q1 := r.consent(t, r.c, agent, "/sidebar")
	q2 := r.consent(t, r.c, agent, "/sidebar")
	_, err := r.c.Complete(context.Background(), tenant, agent, q1.Get("code"), q2.Get("state"))
	var oe *salesforce.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" {
		t.Fatalf("mismatched verifier: %v, want invalid_grant", err)
	}
}

func seed(sf *sftest.Server) (acct, contact string) {
	acct = sf.Insert("Account", sftest.Record{"Name": "Globex", "Website": "https://www.globex.example", "Type": "Customer - Direct"})
	sf.Insert("Account", sftest.Record{"Name": "Not Globex", "Website": "notglobex.example"})
	contact = sf.Insert("Contact", sftest.Record{"FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.example", "AccountId": acct})
	sf.Insert("Opportunity", sftest.Record{"Name": "Globex renewal", "StageName": "Negotiation/Review", "CloseDate": "2027-01-15", "Amount": 50000, "AccountId": acct})
	sf.Insert("Opportunity", sftest.Record{"Name": "Globex old", "StageName": "Closed Won", "CloseDate": "2025-01-15", "AccountId": acct})
	sf.Insert("Case", sftest.Record{"Subject": "Doomsday device", "Status": "Working", "ContactId": contact, "AccountId": acct})
	sf.Insert("Case", sftest.Record{"Subject": "Old", "Status": "Closed", "ContactId": contact, "AccountId": acct})
	sf.Insert("Lead", sftest.Record{"LastName": "Lead", "Company": "Globex", "Email": "hank@globex.example"})
	return acct, contact
}

func TestMatchFindsRecordsAndCaches(t *testing.T) {
	r := newRig(t)
	acct, contact := seed(r.sf)
	ctx := r.connect(t)
	m, err := r.c.Match(ctx, tenant, "Hank@Globex.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contacts) != 1 || m.Contacts[0].ID != contact || m.Contacts[0].LastName != "Scorpio" || m.Contacts[0].AccountID != acct {
		t.Fatalf("contacts %+v", m.Contacts)
	}
	if len(m.Accounts) != 1 || m.Accounts[0].Name != "Globex" || m.Accounts[0].Owner != "Ana Agent" {
		t.Fatalf("accounts %+v", m.Accounts)
	}
	if want := r.sf.URL + "/lightning/r/Account/" + acct + "/view"; m.Accounts[0].URL != want {
		t.Fatalf("account URL %q, want %q", m.Accounts[0].URL, want)
	}
	if len(m.Opportunities) != 1 || m.Opportunities[0].Name != "Globex renewal" || m.Opportunities[0].Amount != 50000 ||
		m.Opportunities[0].CloseDate.Format("2006-01-02") != "2027-01-15" {
		t.Fatalf("opportunities %+v (want the open one only)", m.Opportunities)
	}
	if len(m.Cases) != 1 || m.Cases[0].Subject != "Doomsday device" {
		t.Fatalf("cases %+v (want the open one only)", m.Cases)
	}
	if len(m.Leads) != 1 {
		t.Fatalf("leads %+v", m.Leads)
	}
	n := len(r.sf.Requests())
	if _, err := r.c.Match(ctx, tenant, "hank@globex.example"); err != nil {
		t.Fatal(err)
	}
	if got := len(r.sf.Requests()); got != n {
		t.Fatalf("a second look-up within the cache TTL made %d requests", got-n)
	}
	r.clock = r.clock.Add(time.Minute)
	if _, err := r.c.Match(ctx, tenant, "hank@globex.example"); err != nil {
		t.Fatal(err)
	}
	if got := len(r.sf.Requests()); got == n {
		t.Fatal("a look-up after the cache TTL made no request")
	}
}

func TestMatchByDomain(t *testing.T) {
	r := newRig(t)
	acct, _ := seed(r.sf)
	ctx := r.connect(t)
	m, err := r.c.Match(ctx, tenant, "someone.new@mail.globex.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contacts) != 0 || len(m.Accounts) != 1 || m.Accounts[0].ID != acct {
		t.Fatalf("domain match: contacts %+v accounts %+v (want Globex only, not Not Globex)", m.Contacts, m.Accounts)
	}
	if len(m.Opportunities) != 1 || m.Opportunities[0].Name != "Globex renewal" {
		t.Fatalf("domain match opportunities %+v", m.Opportunities)
	}
	m, err = r.c.Match(ctx, tenant, "someone@gmail.com")
	if err != nil {
		t.Fatal(err)
	}
	if !m.FreeMail || len(m.Accounts) != 0 {
		t.Fatalf("free mail: %+v", m)
	}
}

func TestMatchQuotesTheAddress(t *testing.T) {
	r := newRig(t)
	r.sf.Insert("Contact", sftest.Record{"LastName": "Other", "Email": "someone@x.example"})
	id := r.sf.Insert("Contact", sftest.Record{"LastName": "O'Brien", "Email": "o'brien@x.example"})
	ctx := r.connect(t)
	m, err := r.c.Match(ctx, tenant, "o'brien@x.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contacts) != 1 || m.Contacts[0].ID != id {
		t.Fatalf("contacts %+v, want O'Brien only", m.Contacts)
	}
	// An address built to widen the query finds nothing.
	m, err = r.c.Match(ctx, tenant, "x'or'1'='1@x.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contacts) != 0 {
		t.Fatalf("injection matched %+v", m.Contacts)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:       `'plain'`,
		`it's`:        `'it\'s'`,
		`back\slash`:  `'back\\slash'`,
		"new\nline":   `'new\nline'`,
		`say "hi"`:    `'say \"hi\"'`,
		"nul\x00here": `'nulhere'`,
	} {
		if got := salesforce.Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := salesforce.QuoteLike("%", "a_b%c", "%"); got != `'%a\_b\%c%'` {
		t.Errorf("QuoteLike = %s", got)
	}
}

func TestExpiredSessionRefreshesOnce(t *testing.T) {
	r := newRig(t)
	seed(r.sf)
	ctx := r.connect(t)
	r.sf.ExpireSessions()
	m, err := r.c.Match(ctx, tenant, "hank@globex.example")
	if err != nil {
		t.Fatalf("after the session expired: %v", err)
	}
	if len(m.Contacts) != 1 {
		t.Fatalf("contacts %+v", m.Contacts)
	}
}

func TestRotatedRefreshTokenIsKept(t *testing.T) {
	r := newRig(t)
	r.sf.RotateRefreshTokens(true)
	ctx := r.connect(t)
	before, _ := r.st.CRMConnection(context.Background(), tenant, agent, salesforce.Provider)
	for i := range 3 {
		r.sf.ExpireSessions()
		r.clock = r.clock.Add(time.Minute)
		if _, err := r.c.Match(ctx, tenant, "nobody@nowhere.example"); err != nil {
			t.Fatalf("refresh %d with rotation: %v", i, err)
		}
	}
	after, _ := r.st.CRMConnection(context.Background(), tenant, agent, salesforce.Provider)
	if bytes.Equal(before.RefreshSealed, after.RefreshSealed) || after.Status != "connected" {
		t.Fatal("the rotated refresh token was not stored")
	}
	// A second instance (its own access token cache) uses the stored one.
	c2 := r.connector(t)
	if _, err := c2.Match(ctx, tenant, "nobody@nowhere.example"); err != nil {
		t.Fatalf("second instance after rotation: %v", err)
	}
}

func TestRevokedConnectionAsksToReconnect(t *testing.T) {
	r := newRig(t)
	ctx := r.connect(t)
	r.sf.RevokeRefreshTokens()
	r.sf.ExpireSessions()
	_, err := r.c.Match(ctx, tenant, "hank@globex.example")
	if !errors.Is(err, crm.ErrNotConnected) {
		t.Fatalf("after revocation: %v, want ErrNotConnected", err)
	}
	cn, _ := r.st.CRMConnection(context.Background(), tenant, agent, salesforce.Provider)
	if cn.Status != "disconnected" || !strings.Contains(cn.LastError, "refresh token") {
		t.Fatalf("stored connection %+v, want disconnected", cn)
	}
	st, err := r.c.Statuses(context.Background())
	if err != nil || len(st) != 1 || st[0].State != "disconnected" {
		t.Fatalf("statuses %+v %v", st, err)
	}
	// Reconnecting restores it.
	r.connect(t)
	if _, err := r.c.Match(ctx, tenant, "hank@globex.example"); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
}

func TestNoAgentIsNotConnected(t *testing.T) {
	r := newRig(t)
	if _, err := r.c.Match(context.Background(), tenant, "hank@globex.example"); !errors.Is(err, crm.ErrNotConnected) {
		t.Fatalf("without an agent: %v", err)
	}
	if _, err := r.c.Match(crm.WithAgent(context.Background(), "bob@acme.example"), tenant, "hank@globex.example"); !errors.Is(err, crm.ErrNotConnected) {
		t.Fatalf("an agent who never connected: %v", err)
	}
}

func TestCreateContactAndLead(t *testing.T) {
	r := newRig(t)
	ctx := r.connect(t)
	c, err := r.c.CreateContact(ctx, crm.Contact{Meta: crm.Meta{Tenant: tenant}, Email: "New.Person@initech.example"})
	if err != nil {
		t.Fatal(err)
	}
	rec := r.sf.Get("Contact", c.ID)
	if rec == nil || rec["LastName"] != "new.person" || rec["Email"] != "new.person@initech.example" {
		t.Fatalf("created contact %+v", rec)
	}
	l, err := r.c.CreateLead(ctx, crm.Lead{Meta: crm.Meta{Tenant: tenant}, Email: "buyer@initech.example", FirstName: "Bill"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := r.sf.Get("Lead", l.ID); rec == nil || rec["Company"] != "initech.example" || l.Status != "Open - Not Contacted" {
		t.Fatalf("created lead %+v (%+v)", rec, l)
	}
	// The created contact is found at once (the cache was dropped).
	m, err := r.c.Match(ctx, tenant, "new.person@initech.example")
	if err != nil || len(m.Contacts) != 1 {
		t.Fatalf("match after create: %+v %v", m.Contacts, err)
	}
	if _, err := r.c.Account(ctx, tenant, "001' OR Name != '"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("a bad id: %v, want ErrNotFound", err)
	}
}

func TestRequestLimitFailsFast(t *testing.T) {
	r := newRig(t)
	ctx := r.connect(t)
	r.sf.SetAPILimit(15000, 15000)
	_, err := r.c.Match(ctx, tenant, "hank@globex.example")
	if !errors.Is(err, salesforce.ErrLimited) {
		t.Fatalf("over the limit: %v, want ErrLimited", err)
	}
	n := len(r.sf.Requests())
	if _, err := r.c.Match(ctx, tenant, "other@globex.example"); !errors.Is(err, salesforce.ErrLimited) || len(r.sf.Requests()) != n {
		t.Fatalf("during the back-off: %v and %d more requests", err, len(r.sf.Requests())-n)
	}
	r.sf.SetAPILimit(13000, 15000)
	r.clock = r.clock.Add(6 * time.Minute)
	if _, err := r.c.Match(ctx, tenant, "other@globex.example"); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
	if u := r.c.Usage(); u.Max != 15000 || u.Used < 13000 {
		t.Fatalf("usage %+v", u)
	}
}

func TestQueryFollowsNextRecordsURL(t *testing.T) {
	r := newRig(t)
	acct := r.sf.Insert("Account", sftest.Record{"Name": "Many", "Website": "many.example"})
	for range 7 {
		r.sf.Insert("Contact", sftest.Record{"LastName": "Dup", "Email": "dup@many.example", "AccountId": acct})
	}
	r.sf.SetBatchSize(3)
	ctx := r.connect(t)
	m, err := r.c.Match(ctx, tenant, "dup@many.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contacts) != 7 {
		t.Fatalf("%d contacts over pages of 3, want 7", len(m.Contacts))
	}
}

func TestCheck(t *testing.T) {
	r := newRig(t)
	note, err := r.c.Check(context.Background(), tenant)
	if err != nil || !strings.Contains(note, "connected app accepted") {
		t.Fatalf("Check = %q, %v", note, err)
	}
	bad, err := salesforce.New(salesforce.Options{LoginURL: r.sf.URL, ClientID: r.sf.ClientID, ClientSecret: "wrong",
		RedirectURL: callback, Store: r.st, Key: r.key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Check(context.Background(), tenant); err == nil || !strings.Contains(err.Error(), "crm.client_secret") {
		t.Fatalf("Check with a wrong secret: %v", err)
	}
	withAgent, err := salesforce.New(salesforce.Options{LoginURL: r.sf.URL, ClientID: r.sf.ClientID, ClientSecret: r.sf.ClientSecret,
		RedirectURL: callback, Store: r.st, Key: r.key, ServiceAgent: agent})
	if err != nil {
		t.Fatal(err)
	}
	if note, err := withAgent.Check(context.Background(), tenant); err != nil || !strings.Contains(note, "has not connected yet") {
		t.Fatalf("Check before the service agent connected: %q, %v", note, err)
	}
	r.connect(t)
	note, err = withAgent.Check(context.Background(), tenant)
	if err != nil || !strings.Contains(note, "daily API requests") {
		t.Fatalf("Check with the service agent connected = %q, %v", note, err)
	}
	// Look-ups with no agent in the context use the service agent.
	r.sf.Insert("Contact", sftest.Record{"LastName": "Svc", "Email": "svc@x.example"})
	m, err := withAgent.Match(context.Background(), tenant, "svc@x.example")
	if err != nil || len(m.Contacts) != 1 {
		t.Fatalf("Match as the service agent: %+v %v", m.Contacts, err)
	}
}

func (r *rig) connectorWith(t *testing.T, mod func(*salesforce.Options)) *salesforce.Connector {
	t.Helper()
	o := salesforce.Options{LoginURL: r.sf.URL, ClientID: r.sf.ClientID, ClientSecret: r.sf.ClientSecret,
		RedirectURL: callback, Store: r.st, Saved: r.st, Key: r.key, Now: func() time.Time { return r.clock }}
	mod(&o)
	c, err := salesforce.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testEmail() *crm.Email {
	return &crm.Email{MessageID: "CAF=abc123@mail.globex.example", Subject: "Doomsday device is broken",
		From: crm.Address{Name: "Hank Scorpio", Email: "hank@globex.example"},
		To:   []crm.Address{{Email: "support@acme.example"}}, Cc: []crm.Address{{Name: "Ana", Email: "ana@acme.example"}},
		Date: time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC), Text: "It says 'meltdown'.", Incoming: true}
}

func TestSaveEmailAsEmailMessage(t *testing.T) {
	r := newRig(t)
	acct, contact := seed(r.sf)
	r.c = r.connectorWith(t, func(*salesforce.Options) {})
	ctx := r.connect(t)
	l, err := r.c.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjAccount, ID: acct}, MessageID: 7, TicketID: 3,
		CreatedBy: agent, Email: testEmail()})
	if err != nil {
		t.Fatal(err)
	}
	msgs := r.sf.Rows("EmailMessage")
	if len(msgs) != 1 || l.ExternalID != msgs[0]["Id"] {
		t.Fatalf("EmailMessages %+v, link %+v", msgs, l)
	}
	m := msgs[0]
	for k, want := range map[string]any{"RelatedToId": acct, "MessageIdentifier": "<CAF=abc123@mail.globex.example>",
		"FromAddress": "hank@globex.example", "ToAddress": "support@acme.example", "CcAddress": "ana@acme.example",
		"Incoming": true, "Status": "1", "Subject": "Doomsday device is broken", "TextBody": "It says 'meltdown'.",
		"MessageDate": "2026-11-30T09:15:00.000+0000"} {
		if m[k] != want {
			t.Errorf("EmailMessage.%s = %v, want %v", k, m[k], want)
		}
	}
	rels := map[string]string{}
	for _, rel := range r.sf.Rows("EmailMessageRelation") {
		rels[rel["RelationId"].(string)] = rel["RelationType"].(string)
	}
	// Hank is a Contact and a Lead (From), Ana a User (Cc); support@ is nobody.
	if len(rels) != 3 || rels[contact] != "FromAddress" || !strings.HasPrefix(firstKeyWith(rels, "CcAddress"), "005") {
		t.Fatalf("relations %v", rels)
	}
	// Saved again, by another agent, to the same record: the same link.
	again, err := r.c.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjAccount, ID: acct}, RFCMessageID: "CAF=abc123@mail.globex.example",
		CreatedBy: "bob@acme.example", Email: testEmail()})
	if err != nil || again.ID != l.ID {
		t.Fatalf("second save %+v %v, want link %s", again, err, l.ID)
	}
	// Saved to the contact: the one EmailMessage, no second copy.
	if _, err := r.c.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjContact, ID: contact}, MessageID: 7, Email: testEmail()}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.sf.Rows("EmailMessage")); n != 1 {
		t.Fatalf("%d EmailMessages after saving to a second record, want 1", n)
	}
	links, err := r.c.Links(ctx, tenant, 7, "", 0)
	if err != nil || len(links) != 2 {
		t.Fatalf("links %+v %v", links, err)
	}
}

func firstKeyWith(m map[string]string, v string) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

func TestSaveEmailToCaseAndAsTask(t *testing.T) {
	r := newRig(t)
	_, contact := seed(r.sf)
	kase := r.sf.Rows("Case")[0]["Id"].(string)
	r.c = r.connectorWith(t, func(*salesforce.Options) {})
	ctx := r.connect(t)
	if _, err := r.c.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjCase, ID: kase}, MessageID: 1, Email: testEmail()}); err != nil {
		t.Fatal(err)
	}
	if m := r.sf.Rows("EmailMessage"); len(m) != 1 || m[0]["ParentId"] != kase {
		t.Fatalf("email to a case: %+v", m)
	}
	tasks := r.connectorWith(t, func(o *salesforce.Options) { o.SaveAs = salesforce.SaveTask })
	e := testEmail()
	e.MessageID = "other@x"
	if _, err := tasks.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjContact, ID: contact}, MessageID: 2, Email: e}); err != nil {
		t.Fatal(err)
	}
	ts := r.sf.Rows("Task")
	if len(ts) != 1 || ts[0]["WhoId"] != contact || ts[0]["Status"] != "Completed" || ts[0]["TaskSubtype"] != "Email" ||
		ts[0]["Subject"] != "Email: Doomsday device is broken" || !strings.Contains(ts[0]["Description"].(string), "Message-ID: <other@x>") {
		t.Fatalf("task %+v", ts)
	}
	// A record that does not exist: Salesforce's refusal names the field.
	_, err := r.c.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjAccount, ID: "001000000000000AAA"}, MessageID: 3,
		Email: &crm.Email{MessageID: "third@x", From: crm.Address{Email: "a@b.example"}}})
	var re crm.RecordError
	if !errors.As(err, &re) || re.Field != "RelatedToId" || !errors.Is(err, crm.ErrRefused) {
		t.Fatalf("link to a missing record: %v", err)
	}
}

func TestCheckAPIVersion(t *testing.T) {
	r := newRig(t)
	c := r.connectorWith(t, func(o *salesforce.Options) { o.APIVersion = "v99.0" })
	err := c.CheckApp(context.Background())
	if err == nil || !strings.Contains(err.Error(), "crm.api_version v99.0 is not offered") || !strings.Contains(err.Error(), "v62.0") {
		t.Fatalf("CheckApp with an unknown version: %v", err)
	}
}

func TestBudgetSlowsDown(t *testing.T) {
	r := newRig(t)
	seed(r.sf)
	ctx := r.connect(t)
	r.sf.SetAPILimit(12500, 15000) // past 80 % after the next request
	m, err := r.c.Match(ctx, tenant, "hank@globex.example")
	if err != nil || !strings.Contains(m.Notice, "API budget") {
		t.Fatalf("notice %q, %v", m.Notice, err)
	}
	n := len(r.sf.Requests())
	r.clock = r.clock.Add(2 * time.Minute) // past the 30 s TTL, within the budget's 5 min
	if _, err := r.c.Match(ctx, tenant, "hank@globex.example"); err != nil || len(r.sf.Requests()) != n {
		t.Fatalf("a look-up 2 min later with the budget nearly spent made %d requests (%v)", len(r.sf.Requests())-n, err)
	}
}

func TestEditRecords(t *testing.T) {
	r := newRig(t)
	acct, _ := seed(r.sf)
	opp := r.sf.Rows("Opportunity")[0]["Id"].(string)
	r.sf.SetFieldAccess("Opportunity", "Amount", "readonly")
	r.sf.SetFieldAccess("Account", "AnnualRevenue", "hidden")
	ctx := r.connect(t)
	fs, err := r.c.Fields(ctx, tenant, crm.ObjOpportunity)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]crm.FieldInfo{}
	for _, f := range fs {
		byName[f.Name] = f
	}
	if st := byName["StageName"]; !st.Updateable || !st.Required || !slices.Contains(st.Picklist, "Closed Won") {
		t.Fatalf("StageName %+v", st)
	}
	if byName["Amount"].Updateable || byName["IsClosed"].Updateable {
		t.Fatalf("Amount %+v, IsClosed %+v: want read-only", byName["Amount"], byName["IsClosed"])
	}
	afs, _ := r.c.Fields(ctx, tenant, crm.ObjAccount)
	for _, f := range afs {
		if f.Name == "AnnualRevenue" {
			t.Fatal("a field hidden from the agent is described")
		}
	}
	ref := crm.Ref{Object: crm.ObjOpportunity, ID: opp}
	if err := r.c.Update(ctx, tenant, ref, map[string]string{"StageName": "Closed Won"}); err != nil {
		t.Fatal(err)
	}
	if got := r.sf.Get("Opportunity", opp); got["StageName"] != "Closed Won" || got["IsClosed"] != true {
		t.Fatalf("opportunity after update %+v", got)
	}
	var re crm.RecordError
	if err := r.c.Update(ctx, tenant, ref, map[string]string{"Amount": "10"}); !errors.As(err, &re) || re.Field != "Amount" {
		t.Fatalf("update of a read-only field: %v", err)
	}
	if err := r.c.Update(ctx, tenant, ref, map[string]string{"StageName": "Won-ish"}); !errors.As(err, &re) || re.Field != "Stage" || !errors.Is(err, crm.ErrRefused) {
		t.Fatalf("update with a value not in the picklist: %v", err)
	}
	if err := r.c.Update(ctx, tenant, ref, map[string]string{"StageName": ""}); !errors.Is(err, crm.ErrMissingField) {
		t.Fatalf("emptying a required field: %v", err)
	}
	if err := r.c.Update(ctx, tenant, crm.Ref{Object: crm.ObjAccount, ID: acct}, map[string]string{"AnnualRevenue": "5"}); !errors.As(err, &re) || re.Field != "AnnualRevenue" {
		t.Fatalf("update of a hidden field: %v", err)
	}
	// Salesforce's own refusal (the record is gone) comes back as is.
	r.sf.SetFieldAccess("Opportunity", "Amount", "")
	gone := crm.Ref{Object: crm.ObjOpportunity, ID: "006000000000000AAA"}
	if err := r.c.Update(ctx, tenant, gone, map[string]string{"StageName": "Closed Lost"}); err == nil || !strings.Contains(err.Error(), "ENTITY_IS_DELETED") {
		t.Fatalf("update of a deleted record: %v", err)
	}
}

// Without semi-joins the look-up asks by ids in a second round: the same
// records.
func TestMatchWithoutSemiJoins(t *testing.T) {
	r := newRig(t)
	acct, _ := seed(r.sf)
	r.sf.RefuseSemiJoins(true)
	ctx := r.connect(t)
	for _, email := range []string{"hank@globex.example", "new@globex.example"} {
		m, err := r.c.Match(ctx, tenant, email)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if len(m.Accounts) != 1 || m.Accounts[0].ID != acct || len(m.Opportunities) != 1 {
			t.Fatalf("%s without semi-joins: accounts %+v opportunities %+v", email, m.Accounts, m.Opportunities)
		}
		if email == "hank@globex.example" && len(m.Cases) != 1 {
			t.Fatalf("cases %+v", m.Cases)
		}
	}
}

func TestSavedEmailCarriesAttachments(t *testing.T) {
	r := newRig(t)
	acct, _ := seed(r.sf)
	pdf := bytes.Repeat([]byte("%PDF-1.7 quote "), 100)
	small, err := r.st.Blobs().Put(context.Background(), bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	big, err := r.st.Blobs().Put(context.Background(), bytes.NewReader(make([]byte, 3000)))
	if err != nil {
		t.Fatal(err)
	}
	r.c = r.connectorWith(t, func(o *salesforce.Options) { o.Blobs, o.MaxAttachmentBytes = r.st.Blobs(), 2000 })
	ctx := r.connect(t)
	e := testEmail()
	e.Attachments = []crm.EmailAttachment{
		{Filename: "quote.pdf", ContentType: "application/pdf", SHA256: small.SHA256, Size: int64(len(pdf))},
		{Filename: "huge.bin", SHA256: big.SHA256, Size: 3000},
	}
	l, err := r.c.Link(ctx, crm.Link{Tenant: tenant, Record: crm.Ref{Object: crm.ObjAccount, ID: acct}, MessageID: 1, Email: e})
	if err != nil {
		t.Fatal(err)
	}
	files := r.sf.Rows("ContentVersion")
	if len(files) != 1 || files[0]["Title"] != "quote.pdf" || files[0]["FirstPublishLocationId"] != l.ExternalID {
		t.Fatalf("files %+v (want quote.pdf only, on the EmailMessage %s)", files, l.ExternalID)
	}
	got, err := base64.StdEncoding.DecodeString(files[0]["VersionData"].(string))
	if err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("the file's bytes differ (%v)", err)
	}
}

func TestConvertLead(t *testing.T) {
	r := newRig(t)
	acct, _ := seed(r.sf)
	lead := r.sf.Insert("Lead", sftest.Record{"FirstName": "Bill", "LastName": "Lumbergh", "Company": "Initech", "Email": "bill@initech.example"})
	ctx := r.connect(t)
	r.sf.ExpireSessions() // the SOAP call refreshes like the REST ones
	got, err := r.c.ConvertLead(ctx, tenant, crm.Conversion{LeadID: lead, OpportunityName: "Initech TPS"})
	if err != nil {
		t.Fatal(err)
	}
	if a := r.sf.Get("Account", got.AccountID); a == nil || a["Name"] != "Initech" {
		t.Fatalf("account %+v", a)
	}
	if c := r.sf.Get("Contact", got.ContactID); c == nil || c["Email"] != "bill@initech.example" || c["AccountId"] != got.AccountID {
		t.Fatalf("contact %+v", c)
	}
	if o := r.sf.Get("Opportunity", got.OpportunityID); o == nil || o["Name"] != "Initech TPS" {
		t.Fatalf("opportunity %+v", o)
	}
	if l := r.sf.Get("Lead", lead); l["IsConverted"] != true || l["Status"] != "Closed - Converted" {
		t.Fatalf("lead after conversion %+v", l)
	}
	// Again: Salesforce refuses, and says why.
	_, err = r.c.ConvertLead(ctx, tenant, crm.Conversion{LeadID: lead})
	if !errors.Is(err, crm.ErrRefused) || !strings.Contains(err.Error(), "CANNOT_UPDATE_CONVERTED_LEAD") {
		t.Fatalf("converting twice: %v", err)
	}
	// Into an existing account, without an opportunity.
	lead2 := r.sf.Insert("Lead", sftest.Record{"LastName": "Smithers", "Company": "Globex", "Email": "smithers@globex.example"})
	got, err = r.c.ConvertLead(ctx, tenant, crm.Conversion{LeadID: lead2, AccountID: acct})
	if err != nil || got.AccountID != acct || got.OpportunityID != "" {
		t.Fatalf("into an account: %+v %v", got, err)
	}
}

func TestJWTBearerIntegrationUser(t *testing.T) {
	r := newRig(t)
	seed(r.sf)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	r.sf.AddUser("Integration", "integration@acme.example")
	c := r.connectorWith(t, func(o *salesforce.Options) {
		o.JWT = &salesforce.JWTOptions{Username: "integration@acme.example", KeyPEM: keyPEM}
	})
	// Not yet pre-authorised: the refusal says what to do.
	_, err = c.Match(context.Background(), tenant, "hank@globex.example")
	if err == nil || !strings.Contains(err.Error(), "pre-authorise") {
		t.Fatalf("before the user is approved: %v", err)
	}
	r.sf.TrustJWTKey("integration@acme.example", &key.PublicKey)
	m, err := c.Match(context.Background(), tenant, "hank@globex.example")
	if err != nil || len(m.Contacts) != 1 {
		t.Fatalf("as the integration user: %+v %v", m.Contacts, err)
	}
	if note, err := c.Check(context.Background(), tenant); err != nil || !strings.Contains(note, "integration user integration@acme.example signed in by JWT") {
		t.Fatalf("Check with JWT: %q %v", note, err)
	}
	// An expired session gets a new assertion.
	r.sf.ExpireSessions()
	r.clock = r.clock.Add(time.Minute)
	if _, err := c.Match(context.Background(), tenant, "other@globex.example"); err != nil {
		t.Fatalf("after the session expired: %v", err)
	}
	// A key the org does not trust is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	bad := r.connectorWith(t, func(o *salesforce.Options) {
		o.JWT = &salesforce.JWTOptions{Username: "integration@acme.example",
			KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})}
	})
	if _, err := bad.Match(context.Background(), tenant, "hank@globex.example"); err == nil || !strings.Contains(err.Error(), "invalid assertion") {
		t.Fatalf("with an untrusted key: %v", err)
	}
}

func TestMatchByAlternateEmailField(t *testing.T) {
	r := newRig(t)
	r.sf.AddField("Contact", "Alternate_Email__c", "email", "Alternate Email", false)
	acct := r.sf.Insert("Account", sftest.Record{"Name": "Initech", "Website": "initech.example"})
	id := r.sf.Insert("Contact", sftest.Record{"LastName": "Waddams", "Email": "milton@initech.example", "Alternate_Email__c": "milton@gmail.com", "AccountId": acct})
	r.c = r.connectorWith(t, func(o *salesforce.Options) { o.ContactEmailFields = []string{"Alternate_Email__c"} })
	ctx := r.connect(t)
	m, err := r.c.Match(ctx, tenant, "milton@gmail.com")
	if err != nil || len(m.Contacts) != 1 || m.Contacts[0].ID != id || len(m.Accounts) != 1 {
		t.Fatalf("by the alternate email: %+v %+v %v", m.Contacts, m.Accounts, err)
	}
	if _, err := salesforce.New(salesforce.Options{LoginURL: r.sf.URL, ClientID: "x", ClientSecret: "y", RedirectURL: callback,
		Store: r.st, Key: r.key, ContactEmailFields: []string{"Email) OR (Id != null"}}); err == nil {
		t.Fatal("a field name that is SOQL was accepted")
	}
}

// A required field added after the describe was cached: the refused
// create drops the cache, and the next describe has the field.
func TestRefusedCreateRefreshesDescribe(t *testing.T) {
	r := newRig(t)
	ctx := r.connect(t)
	if _, err := r.c.Fields(ctx, tenant, crm.ObjContact); err != nil {
		t.Fatal(err)
	}
	r.sf.AddField("Contact", "Region__c", "picklist", "Region", true, "EMEA")
	_, err := r.c.CreateContact(ctx, crm.Contact{Meta: crm.Meta{Tenant: tenant}, Email: "x@initech.example"})
	var re crm.RecordError
	if !errors.As(err, &re) || re.Field != "Region__c" {
		t.Fatalf("create without the new required field: %v", err)
	}
	fs, err := r.c.Fields(ctx, tenant, crm.ObjContact)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(fs, func(f crm.FieldInfo) bool { return f.Name == "Region__c" && f.Required }) {
		t.Fatal("the describe after the refusal still lacks the new required field")
	}
}

// The generic records of the API: read, list, create (with a custom
// field), change, delete, through the agent's connection; refusals name
// the field.
func TestRecordsCRUD(t *testing.T) {
	r := newRig(t)
	acct, contact := seed(r.sf)
	r.sf.AddField("Contact", "Region__c", "string", "Region", false)
	ctx := r.connect(t)
	got, err := r.c.GetRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: contact})
	if err != nil {
		t.Fatal(err)
	}
	if got["last_name"] != "Scorpio" || got["email"] != "hank@globex.example" || got["account_id"] != acct ||
		got["source"] != "salesforce" || !strings.Contains(got["url"].(string), "/lightning/r/Contact/"+contact) {
		t.Fatalf("GetRecord: %v", got)
	}
	if _, has := got["other_emails"]; has {
		t.Errorf("a field Salesforce has not is shown: %v", got)
	}
	list, err := r.c.ListRecords(ctx, tenant, crm.ObjOpportunity, crm.RecordQuery{AccountID: acct})
	if err != nil || len(list) != 2 {
		t.Fatalf("opportunities of the account: %v %v", list, err)
	}
	if list, _ := r.c.ListRecords(ctx, tenant, crm.ObjAccount, crm.RecordQuery{Name: "glob"}); len(list) != 1 || list[0]["name"] != "Globex" {
		t.Errorf("accounts named glob…: %v", list)
	}
	// A name with a quote and a wildcard is a literal, not SOQL.
	if list, err := r.c.ListRecords(ctx, tenant, crm.ObjAccount, crm.RecordQuery{Name: "x' OR Name LIKE '%"}); err != nil || len(list) != 0 {
		t.Errorf("a hostile name: %v %v, want none", list, err)
	}
	made, err := r.c.CreateRecord(ctx, tenant, crm.ObjContact, crm.Values{"last_name": "Neu", "email": "Neu@Globex.example",
		"account_id": acct, "Region__c": "EMEA"})
	if err != nil {
		t.Fatal(err)
	}
	id := made["id"].(string)
	if row := r.sf.Get("Contact", id); row["Email"] != "neu@globex.example" || row["Region__c"] != "EMEA" || row["AccountId"] != acct {
		t.Fatalf("the org's contact: %v", row)
	}
	if made["Region__c"] != "EMEA" {
		t.Errorf("the created record lacks its custom field: %v", made)
	}
	upd, err := r.c.UpdateRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: id}, crm.Values{"title": "CTO", "phone": nil})
	if err != nil || upd["title"] != "CTO" {
		t.Fatalf("UpdateRecord: %v %v", upd, err)
	}
	var re crm.RecordError
	for _, bad := range []struct {
		v     crm.Values
		field string
	}{
		{crm.Values{"other_emails": []any{"a@b.example"}}, "other_emails"}, // Salesforce has no such field
		{crm.Values{"shoe_size": 44.0}, "shoe_size"},
		{crm.Values{"email": "nope"}, "email"},
	} {
		if _, err := r.c.UpdateRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: id}, bad.v); !errors.As(err, &re) || re.Field != bad.field {
			t.Errorf("UpdateRecord(%v) = %v, want a RecordError naming %s", bad.v, err, bad.field)
		}
	}
	// Salesforce's own refusal names its field.
	r.sf.SetFieldAccess("Contact", "Title", "readonly")
	if _, err := r.c.UpdateRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: id}, crm.Values{"title": "CEO"}); !errors.As(err, &re) || !strings.EqualFold(re.Field, "Title") {
		t.Errorf("a read-only field: %v, want a RecordError naming Title", err)
	}
	if err := r.c.DeleteRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.GetRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: id}); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("GetRecord of a deleted contact: %v, want ErrNotFound", err)
	}
	if err := r.c.DeleteRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: id}); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}
	if _, err := r.c.GetRecord(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: "x' OR Id != '"}); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("a malformed id: %v, want ErrNotFound", err)
	}
}

// TestCampaignRecords: Campaign through the generic record access, by
// its standard fields.
func TestCampaignRecords(t *testing.T) {
	r := newRig(t)
	ctx := r.connect(t)
	made, err := r.c.CreateRecord(ctx, tenant, crm.ObjCampaign, crm.Values{"name": "Spring webinar", "type": "Webinar",
		"start_date": "2027-03-01", "active": true, "budgeted_cost": 1500.0})
	if err != nil {
		t.Fatal(err)
	}
	id := made["id"].(string)
	row := r.sf.Get("Campaign", id)
	if row["Name"] != "Spring webinar" || row["Type"] != "Webinar" || row["StartDate"] != "2027-03-01" || row["IsActive"] != true || row["BudgetedCost"] != 1500.0 {
		t.Fatalf("the org's campaign: %v", row)
	}
	if made["status"] != "Planned" || !strings.Contains(made["url"].(string), "/lightning/r/Campaign/"+id) {
		t.Errorf("the created campaign: %v (want the org's default status and a Lightning link)", made)
	}
	if list, err := r.c.ListRecords(ctx, tenant, crm.ObjCampaign, crm.RecordQuery{Name: "spring"}); err != nil || len(list) != 1 || list[0]["id"] != id {
		t.Errorf("campaigns named spring…: %v %v", list, err)
	}
	if _, err := r.c.UpdateRecord(ctx, tenant, crm.Ref{Object: crm.ObjCampaign, ID: id}, crm.Values{"status": "Launched"}); err == nil {
		t.Error("a status outside the org's picklist was accepted")
	}
	if err := r.c.DeleteRecord(ctx, tenant, crm.Ref{Object: crm.ObjCampaign, ID: id}); err != nil {
		t.Fatal(err)
	}
	if r.sf.Get("Campaign", id) != nil {
		t.Error("the campaign is still in the org")
	}
}

// TestRecordForms: the describe-built form's read, create and update,
// with the agent's field-level security applied.
func TestRecordForms(t *testing.T) {
	r := newRig(t)
	acct, contact := seed(r.sf)
	r.sf.AddField("Contact", "Shoe_Size__c", "double", "Shoe size", false)
	r.sf.SetFieldAccess("Contact", "Phone", "hidden")
	r.sf.SetFieldAccess("Contact", "Title", "readonly")
	ctx := r.connect(t)
	fields, err := r.c.Fields(ctx, tenant, crm.ObjContact)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]crm.FieldInfo{}
	for _, f := range fields {
		by[f.Name] = f
	}
	if _, seen := by["Phone"]; seen {
		t.Error("a field hidden from the agent is in their describe")
	}
	if f := by["Title"]; f.Name == "" || f.Updateable {
		t.Errorf("Title = %+v, want present and read-only", f)
	}
	vals, err := r.c.ReadFields(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: contact})
	if err != nil {
		t.Fatal(err)
	}
	if vals["LastName"] != "Scorpio" || vals["AccountId"] != acct || vals["Id"] != contact {
		t.Fatalf("ReadFields = %v", vals)
	}
	if _, seen := vals["Phone"]; seen {
		t.Errorf("ReadFields shows a field hidden from the agent: %v", vals)
	}
	if err := r.c.Update(ctx, tenant, crm.Ref{Object: crm.ObjContact, ID: contact}, map[string]string{"Shoe_Size__c": "44.5", "FirstName": "Henry"}); err != nil {
		t.Fatal(err)
	}
	if row := r.sf.Get("Contact", contact); row["Shoe_Size__c"] != 44.5 || row["FirstName"] != "Henry" {
		t.Fatalf("the org's contact after the form: %v", row)
	}
	var re crm.RecordError
	if _, err := r.c.CreateFields(ctx, tenant, crm.ObjContact, map[string]string{"FirstName": "No last name"}); !errors.As(err, &re) || re.Field != "LastName" {
		t.Errorf("create without the required LastName: %v, want a RecordError naming LastName", err)
	}
	if _, err := r.c.CreateFields(ctx, tenant, crm.ObjContact, map[string]string{"LastName": "X", "Title": "CEO"}); !errors.As(err, &re) {
		t.Errorf("create setting a read-only field: %v, want a RecordError", err)
	}
	id, err := r.c.CreateFields(ctx, tenant, crm.ObjCampaign, map[string]string{"Name": "Fair 2027", "Type": "Trade Show", "IsActive": "true", "StartDate": ""})
	if err != nil {
		t.Fatal(err)
	}
	if row := r.sf.Get("Campaign", id); row["Name"] != "Fair 2027" || row["IsActive"] != true || row["Status"] != "Planned" {
		t.Fatalf("the created campaign: %v", row)
	}
	if u := r.c.RecordURL(ctx, tenant, crm.Ref{Object: crm.ObjCampaign, ID: id}); !strings.HasSuffix(u, "/lightning/r/Campaign/"+id+"/view") {
		t.Errorf("RecordURL = %q", u)
	}
}
