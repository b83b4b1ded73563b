package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
	"github.com/sidedesk/sidedesk/ticket"
)

func seeded(t testing.TB) *store.LocalCRM {
	t.Helper()
	l, _ := storetest.OpenCRM(t)
	if err := store.SeedDemoCRM(context.Background(), l, "default"); err != nil {
		t.Fatal(err)
	}
	return l
}

func names[T any](recs []T, name func(T) string) []string {
	var out []string
	for _, r := range recs {
		out = append(out, name(r))
	}
	return out
}

func contactNames(m crm.Match) []string {
	return names(m.Contacts, func(c crm.Contact) string { return c.FirstName + " " + c.LastName })
}
func accountNames(m crm.Match) []string {
	return names(m.Accounts, func(a crm.Account) string { return a.Name })
}
func oppNames(m crm.Match) []string {
	return names(m.Opportunities, func(o crm.Opportunity) string { return o.Name })
}
func leadEmails(m crm.Match) []string {
	return names(m.Leads, func(l crm.Lead) string { return l.Email })
}
func caseSubjects(m crm.Match) []string {
	return names(m.Cases, func(c crm.Case) string { return c.Subject })
}

func TestMatch(t *testing.T) {
	l := seeded(t)
	ctx := context.Background()
	// A careless import gave an account free-mail domains: they must not match.
	if _, err := l.UpsertAccounts(ctx, "default", []crm.Account{{Name: "Careless", Domains: []string{"example.com", "gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	globexOpps := []string{"Globex – 24/7 Premium Support add-on", "Globex – Enterprise renewal FY27"}
	tests := []struct {
		name     string
		email    string
		contacts []string
		leads    []string
		accounts []string
		opps     []string
		cases    []string
		freeMail bool
	}{
		{name: "known contact", email: "bill.lumbergh@initech.example",
			contacts: []string{"Bill Lumbergh"}, accounts: []string{"Initech"}, opps: []string{"Initech – Higher API rate limit"}},
		{name: "case and spaces normalised", email: "  Bill.Lumbergh@INITECH.example ",
			contacts: []string{"Bill Lumbergh"}, accounts: []string{"Initech"}, opps: []string{"Initech – Higher API rate limit"}},
		{name: "display name", email: `"Lumbergh, Bill" <bill.lumbergh@initech.example>`,
			contacts: []string{"Bill Lumbergh"}, accounts: []string{"Initech"}, opps: []string{"Initech – Higher API rate limit"}},
		{name: "mailto", email: "mailto:Bill.Lumbergh@initech.example",
			contacts: []string{"Bill Lumbergh"}, accounts: []string{"Initech"}, opps: []string{"Initech – Higher API rate limit"}},
		{name: "secondary email", email: "j.valentine@umbrella.example",
			contacts: []string{"Jill Valentine"}, accounts: []string{"Umbrella Corporation"},
			opps: []string{"Umbrella – EU data residency"}, cases: []string{"GDPR data export request"}},
		{name: "two contacts (duplicate), closed deal hidden, soonest close first", email: "anna.schmidt@globex.example",
			contacts: []string{"Anna Schmidt", "A. Schmidt"}, accounts: []string{"Globex Corporation"}, opps: globexOpps,
			cases: []string{"Production outage – API returns 503"}},
		{name: "lead only", email: "yamada@kaisha.example", leads: []string{"yamada@kaisha.example"}},
		{name: "unknown sender at an account domain", email: "monica.hall@hooli.example",
			accounts: []string{"Hooli"}, opps: []string{"Hooli – Upgrade to Enterprise plan"}},
		{name: "sub-domain", email: "ops@eu.mail.globex.example",
			accounts: []string{"Globex Corporation"}, opps: globexOpps, cases: []string{"Production outage – API returns 503"}},
		{name: "free-mail contact", email: "maria.rossi.84@example.com", freeMail: true,
			contacts: []string{"Maria Rossi"}, accounts: []string{"Rossi Design Studio"}},
		{name: "free-mail unknown", email: "tom.baker@example.com", freeMail: true},
		{name: "built-in free-mail", email: "someone@gmail.com", freeMail: true},
		{name: "unknown domain", email: "newsletter@cloudops-weekly.example"},
		{name: "not an address", email: "globex.example"},
		{name: "empty", email: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := l.Match(ctx, "default", tc.email)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("contacts", contactNames(m), tc.contacts)
			check("leads", leadEmails(m), tc.leads)
			check("accounts", accountNames(m), tc.accounts)
			check("opportunities", oppNames(m), tc.opps)
			check("cases", caseSubjects(m), tc.cases)
			if m.FreeMail != tc.freeMail {
				t.Errorf("FreeMail = %v, want %v", m.FreeMail, tc.freeMail)
			}
		})
	}
}

func TestMatchRecordFields(t *testing.T) {
	l := seeded(t)
	ctx := context.Background()
	m, err := l.Match(ctx, "default", "jill.valentine@umbrella.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contacts) != 1 || len(m.Accounts) != 1 || len(m.Opportunities) != 1 {
		t.Fatalf("match = %+v", m)
	}
	c, a, o := m.Contacts[0], m.Accounts[0], m.Opportunities[0]
	if c.Email != "jill.valentine@umbrella.example" || !slices.Equal(c.Emails, []string{"j.valentine@umbrella.example"}) ||
		c.Title != "Data Protection Officer" || c.AccountID != a.ID || c.Source != "demo" || c.ExternalID != "con-jill" ||
		c.Tenant != "default" || c.CreatedAt.IsZero() {
		t.Errorf("contact = %+v", c)
	}
	if a.Tier != "business" || a.Owner != "Jordan Lee" || !slices.Equal(a.Domains, []string{"umbrella.example"}) ||
		a.AnnualRevenue != 310_000_000 || a.Website != "https://www.umbrella.example" {
		t.Errorf("account = %+v", a)
	}
	if o.Stage != "Needs Analysis" || o.Amount != 120_000 || o.Closed || o.AccountID != a.ID || o.CloseDate.IsZero() {
		t.Errorf("opportunity = %+v", o)
	}
	// The getters read the same records; other ids are not found.
	got, err := l.Contact(ctx, "default", c.ID)
	if err != nil || got.Email != c.Email {
		t.Errorf("Contact(%s) = %+v, %v", c.ID, got, err)
	}
	if ga, err := l.Account(ctx, "default", a.ID); err != nil || ga.Name != a.Name {
		t.Errorf("Account(%s) = %+v, %v", a.ID, ga, err)
	}
	for _, id := range []string{"", "x", "0", "999999"} {
		if _, err := l.Account(ctx, "default", id); !errors.Is(err, crm.ErrNotFound) {
			t.Errorf("Account(%q) error = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := l.Contact(ctx, "other", c.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Contact in another tenant: error = %v, want ErrNotFound", err)
	}
}

func TestMatchTenantIsolation(t *testing.T) {
	l := seeded(t)
	ctx := context.Background()
	for _, email := range []string{"anna.schmidt@globex.example", "yamada@kaisha.example", "monica.hall@hooli.example",
		"maria.rossi.84@example.com"} {
		m, err := l.Match(ctx, "tenant-b", email)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Contacts)+len(m.Leads)+len(m.Accounts)+len(m.Opportunities)+len(m.Cases) != 0 {
			t.Errorf("tenant-b matched %s: %+v", email, m)
		}
	}
	// And B's own records are B's only.
	if _, err := l.UpsertAccounts(ctx, "tenant-b", []crm.Account{{Name: "B's Globex", Website: "globex.example"}}); err != nil {
		t.Fatal(err)
	}
	mb, err := l.Match(ctx, "tenant-b", "anna.schmidt@globex.example")
	if err != nil {
		t.Fatal(err)
	}
	ma, err := l.Match(ctx, "default", "anna.schmidt@globex.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := accountNames(mb); !slices.Equal(got, []string{"B's Globex"}) || len(mb.Contacts) != 0 {
		t.Errorf("tenant-b: accounts %q, contacts %d", got, len(mb.Contacts))
	}
	if got := accountNames(ma); !slices.Equal(got, []string{"Globex Corporation"}) {
		t.Errorf("default: accounts %q", got)
	}
}

func TestSeedDemoIdempotent(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	counts := func() map[string]int {
		out, err := l.TableCounts(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := store.SeedDemoCRM(ctx, l, "default"); err != nil {
		t.Fatal(err)
	}
	first := counts()
	if first["crm_accounts"] != 6 || first["crm_contacts"] != 10 || first["crm_contact_emails"] != 12 ||
		first["crm_leads"] != 1 || first["crm_opportunities"] != 6 || first["crm_cases"] != 2 {
		t.Fatalf("after the first seed: %v", first)
	}
	before, _ := l.Match(ctx, "default", "anna.schmidt@globex.example")
	if err := store.SeedDemoCRM(ctx, l, "default"); err != nil {
		t.Fatal(err)
	}
	if second := counts(); !mapsEqual(first, second) {
		t.Errorf("second seed changed counts: %v → %v", first, second)
	}
	after, _ := l.Match(ctx, "default", "anna.schmidt@globex.example")
	if !slices.Equal(contactNames(before), contactNames(after)) || !slices.Equal(oppNames(before), oppNames(after)) ||
		before.Contacts[0].ID != after.Contacts[0].ID {
		t.Errorf("second seed changed the match: %+v → %+v", before, after)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestLink(t *testing.T) {
	l, st := storetest.OpenCRM(t)
	ctx := context.Background()
	if err := store.SeedDemoCRM(ctx, l, "default"); err != nil {
		t.Fatal(err)
	}
	woke := st.EventsCommitted()
	m, err := l.Match(ctx, "default", "gavin@hooli.example")
	if err != nil || len(m.Opportunities) == 0 {
		t.Fatalf("match: %+v, %v", m, err)
	}
	opp := crm.Ref{Object: crm.ObjOpportunity, ID: m.Opportunities[0].ID}
	contact := crm.Ref{Object: crm.ObjContact, ID: m.Contacts[0].ID}
	const rfc = "<sso-1@hooli.example>"

	// An email not captured yet: by Message-ID only.
	first, err := l.Link(ctx, crm.Link{Tenant: "default", Record: opp, RFCMessageID: rfc, CreatedBy: "agent@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == "" || first.CreatedAt.IsZero() || first.Record != opp {
		t.Errorf("first link = %+v", first)
	}
	// A new link is a crm.linked event (webhooks, the event stream), and
	// wakes the streams.
	select {
	case <-woke:
	default:
		t.Error("a new link did not signal committed events")
	}
	evs, err := st.TenantEvents(ctx, "default", 0, 100, []string{ticket.EventCRMLinked})
	if err != nil || len(evs) != 1 {
		t.Fatalf("crm.linked events after one link: %d, %v", len(evs), err)
	}
	var p ticket.CRMLinkedPayload
	if err := json.Unmarshal(evs[0].Payload, &p); err != nil || p.Object != "opportunity" || p.RecordID != opp.ID ||
		p.LinkID != first.ID || p.Actor != "agent@acme.example" || p.MessageID != rfc {
		t.Errorf("crm.linked payload %s (%v)", evs[0].Payload, err)
	}
	// Again, now that it is captured: the same link, with the ids filled in.
	again, err := l.Link(ctx, crm.Link{Tenant: "default", Record: opp, RFCMessageID: rfc, MessageID: 42, TicketID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.MessageID != 42 || again.TicketID != 7 || again.CreatedBy != "agent@acme.example" {
		t.Errorf("second link = %+v, want link %s with message 42, ticket 7", again, first.ID)
	}
	// By row id only: still the same link.
	third, err := l.Link(ctx, crm.Link{Tenant: "default", Record: opp, MessageID: 42})
	if err != nil || third.ID != first.ID {
		t.Errorf("third link = %+v, %v; want link %s", third, err, first.ID)
	}
	// Another record: another link. A ticket-only link is separate, and idempotent too.
	if _, err := l.Link(ctx, crm.Link{Tenant: "default", Record: contact, RFCMessageID: rfc}); err != nil {
		t.Fatal(err)
	}
	t1, err := l.Link(ctx, crm.Link{Tenant: "default", Record: contact, TicketID: 7})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := l.Link(ctx, crm.Link{Tenant: "default", Record: contact, TicketID: 7})
	if err != nil || t2.ID != t1.ID {
		t.Errorf("ticket link twice: %s then %s (%v)", t1.ID, t2.ID, err)
	}
	// Linking again is no new event: three links, three events.
	if evs, _ := st.TenantEvents(ctx, "default", 0, 100, []string{ticket.EventCRMLinked}); len(evs) != 3 {
		t.Errorf("crm.linked events after three links (and three repeats): %d", len(evs))
	}

	for _, q := range []struct {
		name   string
		msg    int64
		rfc    string
		ticket int64
		want   int
	}{
		{"by Message-ID", 0, rfc, 0, 2},
		{"by message row id", 42, "", 0, 1},
		{"by ticket", 0, "", 7, 2},
		{"any of them", 42, rfc, 7, 3},
		{"nothing", 0, "", 0, 0},
		{"other message", 0, "<other@x>", 0, 0},
	} {
		links, err := l.Links(ctx, "default", q.msg, q.rfc, q.ticket)
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != q.want {
			t.Errorf("Links %s: %d links %+v, want %d", q.name, len(links), links, q.want)
		}
	}
	links, _ := l.Links(ctx, "default", 0, rfc, 0)
	if len(links) == 2 && (links[0].ID != first.ID || links[0].Record != opp) {
		t.Errorf("links not oldest first: %+v", links)
	}
	if other, _ := l.Links(ctx, "tenant-b", 42, rfc, 7); len(other) != 0 {
		t.Errorf("tenant-b sees links: %+v", other)
	}

	// Refused links.
	for _, bad := range []crm.Link{
		{Tenant: "default", Record: crm.Ref{Object: "widget", ID: "1"}, RFCMessageID: rfc},
		{Tenant: "default", Record: opp},
		{Record: opp, RFCMessageID: rfc},
	} {
		if _, err := l.Link(ctx, bad); err == nil {
			t.Errorf("Link(%+v) succeeded", bad)
		}
	}
	for _, missing := range []crm.Link{
		{Tenant: "default", Record: crm.Ref{Object: crm.ObjOpportunity, ID: "999999"}, RFCMessageID: rfc},
		{Tenant: "tenant-b", Record: opp, RFCMessageID: rfc},
	} {
		if _, err := l.Link(ctx, missing); !errors.Is(err, crm.ErrNotFound) {
			t.Errorf("Link(%+v) error = %v, want ErrNotFound", missing, err)
		}
	}
}

func TestCreateContactAndLead(t *testing.T) {
	l := seeded(t)
	ctx := context.Background()
	c, err := l.CreateContact(ctx, crm.Contact{Meta: crm.Meta{Tenant: "default"}, FirstName: "Monica", LastName: "Hall",
		Email: "Monica.Hall@hooli.example", AccountID: mustMatch(t, l, "gavin@hooli.example").Accounts[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Email != "monica.hall@hooli.example" || c.Source != "local" {
		t.Errorf("created %+v", c)
	}
	// A double click returns the same contact.
	c2, err := l.CreateContact(ctx, crm.Contact{Meta: crm.Meta{Tenant: "default"}, Email: "monica.hall@hooli.example", Title: "CFO"})
	if err != nil || c2.ID != c.ID || c2.Title != "CFO" || c2.FirstName != "Monica" {
		t.Errorf("second create = %+v, %v; want contact %s updated", c2, err, c.ID)
	}
	m := mustMatch(t, l, "monica.hall@hooli.example")
	if !slices.Equal(contactNames(m), []string{"Monica Hall"}) || !slices.Equal(accountNames(m), []string{"Hooli"}) {
		t.Errorf("match after create: %q %q", contactNames(m), accountNames(m))
	}

	ld, err := l.CreateLead(ctx, crm.Lead{Meta: crm.Meta{Tenant: "default"}, FirstName: "Tom", LastName: "Baker",
		Email: "tom.baker@example.com", Company: "Baker Bakes", Status: "Open"})
	if err != nil || ld.ID == "" || ld.Company != "Baker Bakes" {
		t.Fatalf("create lead = %+v, %v", ld, err)
	}
	if m := mustMatch(t, l, "tom.baker@example.com"); !slices.Equal(leadEmails(m), []string{"tom.baker@example.com"}) || !m.FreeMail {
		t.Errorf("match after create lead: %+v", m)
	}
	for _, bad := range []crm.Contact{
		{Meta: crm.Meta{Tenant: "default"}, Email: "not an address"},
		{Meta: crm.Meta{Tenant: "default"}},
		{Email: "x@y.example"},
		{Meta: crm.Meta{Tenant: "default"}, Email: "x@y.example", AccountID: "424242"},
	} {
		if _, err := l.CreateContact(ctx, bad); err == nil {
			t.Errorf("CreateContact(%+v) succeeded", bad)
		}
	}
}

func mustMatch(t *testing.T, l *store.LocalCRM, email string) crm.Match {
	t.Helper()
	m, err := l.Match(context.Background(), "default", email)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatchCasesAndOpportunityOrder(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := l.UpsertAccounts(ctx, "t", []crm.Account{
		{Meta: crm.Meta{ExternalID: "a"}, Name: "A", Domains: []string{"a.example", "a-corp.example"}},
	}); err != nil {
		t.Fatal(err)
	}
	var opps []crm.Opportunity
	for i := range 14 {
		o := crm.Opportunity{Meta: crm.Meta{ExternalID: string(rune('a' + i))}, Name: string(rune('A' + i)),
			Stage: "Prospecting", AccountExternalID: "a", CloseDate: now.AddDate(0, 0, 20-i)}
		if i == 0 {
			o.CloseDate = time.Time{} // no close date: last
		}
		if i == 13 {
			o.Stage = "Closed Lost"
		}
		opps = append(opps, o)
	}
	res, err := l.UpsertOpportunities(ctx, "t", opps)
	if err != nil || res.Inserted != 14 || len(res.Failed) != 0 {
		t.Fatalf("upsert opportunities: %+v, %v", res, err)
	}
	m, err := l.Match(ctx, "t", "x@a-corp.example")
	if err != nil {
		t.Fatal(err)
	}
	// 12 open, closest first (M closes soonest), capped at 10; N is closed; A has no date.
	if got, want := oppNames(m), []string{"M", "L", "K", "J", "I", "H", "G", "F", "E", "D"}; !slices.Equal(got, want) {
		t.Errorf("opportunities = %q, want %q", got, want)
	}
}

// TestTier: the tier a captured mail's priority reads, from the sender's
// contact's account or its domain's; a tenant without any tiered account is
// answered without a Match, and learns of a tier at once when this process
// writes it, within a second when another process does.
func TestTier(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	l, err := st.NewLocalCRM(store.LocalCRMOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tier := func(email string) string {
		t.Helper()
		got, err := l.Tier(ctx, "default", email)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if _, err := l.UpsertAccounts(ctx, "default", []crm.Account{{Name: "Plain", Domains: []string{"plain.example"}}}); err != nil {
		t.Fatal(err)
	}
	if got := tier("ann@plain.example"); got != "" {
		t.Fatalf("tier with no tiered account = %q", got)
	}
	// This process writes a tier: seen at once.
	if _, err := l.UpsertAccounts(ctx, "default", []crm.Account{{Name: "Globex", Tier: "Enterprise", Domains: []string{"globex.example"}}}); err != nil {
		t.Fatal(err)
	}
	if got := tier("zoe@globex.example"); got != "Enterprise" {
		t.Errorf("tier after an upsert = %q, want Enterprise", got)
	}
	if got := tier("ann@plain.example"); got != "" {
		t.Errorf("tier of an untiered account = %q", got)
	}
	if got, _ := l.Tier(ctx, "other", "zoe@globex.example"); got != "" {
		t.Errorf("another tenant's tier = %q", got)
	}
	// Another tenant with no tiers is remembered; a tier written behind
	// this LocalCRM's back (another process) shows after noTiersFor.
	other, err := st.NewLocalCRM(store.LocalCRMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got, _ := l.Tier(ctx, "t2", "bo@initech.example"); got != "" {
		t.Fatalf("t2 tier = %q", got)
	}
	if _, err := other.UpsertAccounts(ctx, "t2", []crm.Account{{Name: "Initech", Tier: "Gold", Domains: []string{"initech.example"}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Tier(ctx, "t2", "bo@initech.example"); got != "" {
		t.Errorf("t2 tier within the second = %q: the remembered answer was not used", got)
	}
	now = now.Add(1100 * time.Millisecond)
	if got, _ := l.Tier(ctx, "t2", "bo@initech.example"); got != "Gold" {
		t.Errorf("t2 tier after a second = %q, want Gold", got)
	}
	// A record written through the sidebar's forms (not an import) is seen
	// at once too.
	if got, _ := l.Tier(ctx, "t3", "gavin@hooli.example"); got != "" {
		t.Fatalf("t3 tier before the form = %q", got)
	}
	if _, err := l.CreateFields(ctx, "t3", crm.ObjAccount, map[string]string{"name": "Hooli", "website": "https://hooli.example", "tier": "Silver"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Tier(ctx, "t3", "gavin@hooli.example"); got != "Silver" {
		t.Errorf("t3 tier after a form write = %q, want Silver", got)
	}
}
