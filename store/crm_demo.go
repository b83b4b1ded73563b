package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/sidedesk/sidedesk/crm"
	"time"
)

// demoSource is the Source of the demo records; their external ids make
// SeedDemoCRM an upsert.
const demoSource = "demo"

// SeedDemoCRM writes a small CRM matching the senders of the demo mails
// (demo/mail): accounts with tiers and owners, contacts for most senders
// (Anna Schmidt at Globex twice: a CRM duplicate; Jill Valentine writes from
// her secondary address), one sender only as a lead (yamada@kaisha.example),
// senders unknown at known account domains (monica.hall@hooli.example,
// carlos@umbrella.example), free-mail senders at example.com of whom only
// Maria Rossi is a contact, open opportunities at several accounts, and
// cases. Running it again changes nothing but updated times (and close
// dates, which are relative to today). The demo's Local must treat
// example.com as free mail: LocalOptions{FreeMailDomains: DemoFreeMailDomains()}.
func SeedDemoCRM(ctx context.Context, l *LocalCRM, tenant string) error {
	day := l.now().UTC().Truncate(24 * time.Hour)
	in := func(days int) time.Time { return day.AddDate(0, 0, days) }
	m := func(ext string) crm.Meta { return crm.Meta{Source: demoSource, ExternalID: ext} }

	accounts := []crm.Account{
		{Meta: m("acc-globex"), Name: "Globex Corporation", Website: "https://www.globex.example", Type: "Customer",
			Tier: "enterprise", Industry: "Manufacturing", AnnualRevenue: 1_200_000_000, Owner: "Sam Carter"},
		{Meta: m("acc-initech"), Name: "Initech", Website: "https://initech.example", Type: "Customer",
			Tier: "business", Industry: "Software", AnnualRevenue: 45_000_000, Owner: "Riley Chen"},
		{Meta: m("acc-hooli"), Name: "Hooli", Website: "https://hooli.example", Type: "Customer",
			Tier: "enterprise", Industry: "Technology", AnnualRevenue: 8_500_000_000, Owner: "Sam Carter"},
		{Meta: m("acc-umbrella"), Name: "Umbrella Corporation", Website: "https://www.umbrella.example", Type: "Customer",
			Tier: "business", Industry: "Pharmaceuticals", AnnualRevenue: 310_000_000, Owner: "Jordan Lee"},
		{Meta: m("acc-mueller"), Name: "Müller & Söhne GmbH", Website: "https://mueller-soehne.example", Type: "Customer",
			Tier: "starter", Industry: "Wholesale", AnnualRevenue: 12_000_000, Owner: "Riley Chen"},
		// A freelancer writing from a free-mail address: no domain of its own.
		{Meta: m("acc-rossi"), Name: "Rossi Design Studio", Type: "Customer", Tier: "starter",
			Industry: "Design", AnnualRevenue: 250_000, Owner: "Jordan Lee"},
	}
	contacts := []crm.Contact{
		{Meta: m("con-anna"), FirstName: "Anna", LastName: "Schmidt", Email: "anna.schmidt@globex.example",
			Phone: "+49 30 1234567", Title: "Head of IT Operations", AccountExternalID: "acc-globex"},
		// The duplicate an old trade-show import left behind.
		{Meta: m("con-anna-dup"), FirstName: "A.", LastName: "Schmidt", Email: "a.schmidt@globex.example",
			Emails: []string{"anna.schmidt@globex.example"}, Title: "IT Operations", AccountExternalID: "acc-globex"},
		{Meta: m("con-jonas"), FirstName: "Jonas", LastName: "Bauer", Email: "jonas.bauer@globex.example",
			Title: "SRE Lead", AccountExternalID: "acc-globex"},
		{Meta: m("con-bill"), FirstName: "Bill", LastName: "Lumbergh", Email: "bill.lumbergh@initech.example",
			Phone: "+1 512 555 0100", Title: "Vice President", AccountExternalID: "acc-initech"},
		{Meta: m("con-peter"), FirstName: "Peter", LastName: "Gibbons", Email: "peter.gibbons@initech.example",
			Title: "Software Engineer", AccountExternalID: "acc-initech"},
		{Meta: m("con-gavin"), FirstName: "Gavin", LastName: "Belson", Email: "gavin@hooli.example",
			Title: "CEO", AccountExternalID: "acc-hooli"},
		{Meta: m("con-alice"), FirstName: "Alice", LastName: "Abernathy", Email: "alice@umbrella.example",
			Title: "Data Engineer", AccountExternalID: "acc-umbrella"},
		{Meta: m("con-jill"), FirstName: "Jill", LastName: "Valentine", Email: "jill.valentine@umbrella.example",
			Emails: []string{"j.valentine@umbrella.example"}, Title: "Data Protection Officer", AccountExternalID: "acc-umbrella"},
		{Meta: m("con-juergen"), FirstName: "Jürgen", LastName: "Müller", Email: "j.mueller@mueller-soehne.example",
			Phone: "+49 89 7654321", Title: "Geschäftsführer", AccountExternalID: "acc-mueller"},
		{Meta: m("con-maria"), FirstName: "Maria", LastName: "Rossi", Email: "maria.rossi.84@example.com",
			Title: "Owner", AccountExternalID: "acc-rossi"},
	}
	leads := []crm.Lead{
		{Meta: m("lead-yamada"), FirstName: "Taro", LastName: "Yamada", Email: "yamada@kaisha.example",
			Company: "Kaisha K.K.", Status: "Working"},
	}
	opps := []crm.Opportunity{
		{Meta: m("opp-globex-renewal"), Name: "Globex – Enterprise renewal FY27", Stage: "Negotiation/Review",
			Amount: 480_000, CloseDate: in(45), AccountExternalID: "acc-globex"},
		{Meta: m("opp-globex-premium"), Name: "Globex – 24/7 Premium Support add-on", Stage: "Proposal/Price Quote",
			Amount: 96_000, CloseDate: in(20), AccountExternalID: "acc-globex"},
		{Meta: m("opp-globex-initial"), Name: "Globex – Platform launch", Stage: "Closed Won",
			Amount: 350_000, CloseDate: in(-400), AccountExternalID: "acc-globex"},
		{Meta: m("opp-hooli-upgrade"), Name: "Hooli – Upgrade to Enterprise plan", Stage: "Qualification",
			Amount: 250_000, CloseDate: in(60), AccountExternalID: "acc-hooli"},
		{Meta: m("opp-initech-ratelimit"), Name: "Initech – Higher API rate limit", Stage: "Value Proposition",
			Amount: 18_000, CloseDate: in(30), AccountExternalID: "acc-initech"},
		{Meta: m("opp-umbrella-eu"), Name: "Umbrella – EU data residency", Stage: "Needs Analysis",
			Amount: 120_000, CloseDate: in(90), AccountExternalID: "acc-umbrella"},
	}
	steps := []struct {
		what string
		run  func() (crm.UpsertResult, error)
	}{
		{"accounts", func() (crm.UpsertResult, error) { return l.UpsertAccounts(ctx, tenant, accounts) }},
		{"contacts", func() (crm.UpsertResult, error) { return l.UpsertContacts(ctx, tenant, contacts) }},
		{"leads", func() (crm.UpsertResult, error) { return l.UpsertLeads(ctx, tenant, leads) }},
		{"opportunities", func() (crm.UpsertResult, error) { return l.UpsertOpportunities(ctx, tenant, opps) }},
		{"cases", func() (crm.UpsertResult, error) {
			ids := map[string]string{}
			for _, ref := range []struct{ table, ext string }{
				{"crm_accounts", "acc-globex"}, {"crm_accounts", "acc-umbrella"},
				{"crm_contacts", "con-anna"}, {"crm_contacts", "con-jill"},
			} {
				id, err := l.idByExternal(ctx, ref.table, tenant, demoSource, ref.ext)
				if err != nil {
					return crm.UpsertResult{}, err
				}
				ids[ref.ext] = id
			}
			return l.UpsertCases(ctx, tenant, []crm.Case{
				{Meta: m("case-globex-outage"), Subject: "Production outage – API returns 503", Status: "Escalated",
					AccountID: ids["acc-globex"], ContactID: ids["con-anna"]},
				{Meta: m("case-umbrella-gdpr"), Subject: "GDPR data export request", Status: "New",
					AccountID: ids["acc-umbrella"], ContactID: ids["con-jill"]},
			})
		}},
	}
	for _, s := range steps {
		res, err := s.run()
		if err != nil {
			return fmt.Errorf("crm: seed demo %s: %w", s.what, err)
		}
		if len(res.Failed) > 0 {
			return fmt.Errorf("crm: seed demo %s: %w", s.what, res.Failed[0])
		}
	}
	return nil
}

// idByExternal is the local id of the record (source, externalID) in table.
func (l *LocalCRM) idByExternal(ctx context.Context, table, tenant, source, externalID string) (string, error) {
	var id int64
	err := l.w.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE tenant_id = ? AND source = ? AND external_id = ?`,
		tenant, source, externalID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = crm.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("crm: %s %s/%s: %w", table, source, externalID, err)
	}
	return idStr(id), nil
}
