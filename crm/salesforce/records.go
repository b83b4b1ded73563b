package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sidedesk/sidedesk/crm"
)

// The SOQL field lists, and the records as the REST API renders them.
const (
	contactFields = "Id, FirstName, LastName, Email, Phone, Title, AccountId, CreatedDate, LastModifiedDate"
	leadFields    = "Id, FirstName, LastName, Email, Company, Status, CreatedDate, LastModifiedDate"
	accountFields = "Id, Name, Website, Type, Industry, AnnualRevenue, Owner.Name, CreatedDate, LastModifiedDate"
	oppFields     = "Id, Name, StageName, Amount, CloseDate, AccountId, IsClosed, CreatedDate, LastModifiedDate"
	caseFields    = "Id, CaseNumber, Subject, Status, AccountId, ContactId, CreatedDate, LastModifiedDate"
)

type sfMeta struct {
	ID               string `json:"Id"`
	CreatedDate      string `json:"CreatedDate"`
	LastModifiedDate string `json:"LastModifiedDate"`
}

func (c *Connector) meta(tenant, object string, m sfMeta, instance string) crm.Meta {
	out := crm.Meta{ID: m.ID, Tenant: tenant, Source: Provider, ExternalID: m.ID,
		CreatedAt: sfTime(m.CreatedDate), UpdatedAt: sfTime(m.LastModifiedDate)}
	if instance != "" {
		out.URL = strings.TrimRight(instance, "/") + "/lightning/r/" + object + "/" + m.ID + "/view"
	}
	return out
}

// sfTime reads Salesforce's datetime (2024-05-01T10:00:00.000+0000).
func sfTime(s string) time.Time {
	for _, f := range []string{"2006-01-02T15:04:05.000-0700", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

type sfContact struct {
	sfMeta
	FirstName, LastName, Email, Phone, Title string
	AccountID                                string `json:"AccountId"`
}

type sfLead struct {
	sfMeta
	FirstName, LastName, Email, Company, Status string
}

type sfAccount struct {
	sfMeta
	Name, Website, Type, Industry string
	AnnualRevenue                 *float64
	Owner                         *struct{ Name string }
}

type sfOpp struct {
	sfMeta
	Name, StageName, CloseDate string
	Amount                     *float64
	AccountID                  string `json:"AccountId"`
	IsClosed                   bool
}

type sfCase struct {
	sfMeta
	CaseNumber, Subject, Status string
	AccountID                   string `json:"AccountId"`
	ContactID                   string `json:"ContactId"`
}

func (c *Connector) contact(tenant, inst string, r sfContact) crm.Contact {
	return crm.Contact{Meta: c.meta(tenant, "Contact", r.sfMeta, inst), FirstName: r.FirstName, LastName: r.LastName,
		Email: crm.NormalizeEmail(r.Email), Phone: r.Phone, Title: r.Title, AccountID: r.AccountID}
}

func (c *Connector) lead(tenant, inst string, r sfLead) crm.Lead {
	return crm.Lead{Meta: c.meta(tenant, "Lead", r.sfMeta, inst), FirstName: r.FirstName, LastName: r.LastName,
		Email: crm.NormalizeEmail(r.Email), Company: r.Company, Status: r.Status}
}

func (c *Connector) account(tenant, inst string, r sfAccount) crm.Account {
	a := crm.Account{Meta: c.meta(tenant, "Account", r.sfMeta, inst), Name: r.Name, Website: r.Website,
		Type: r.Type, Industry: r.Industry}
	if r.AnnualRevenue != nil {
		a.AnnualRevenue = *r.AnnualRevenue
	}
	if r.Owner != nil {
		a.Owner = r.Owner.Name
	}
	a.Domains = crm.AccountDomains(&a)
	return a
}

func (c *Connector) opp(tenant, inst string, r sfOpp) crm.Opportunity {
	o := crm.Opportunity{Meta: c.meta(tenant, "Opportunity", r.sfMeta, inst), Name: r.Name, Stage: r.StageName,
		CloseDate: sfTime(r.CloseDate), AccountID: r.AccountID, Closed: r.IsClosed}
	if r.Amount != nil {
		o.Amount = *r.Amount
	}
	return o
}

func (c *Connector) kase(tenant, inst string, r sfCase) crm.Case {
	return crm.Case{Meta: c.meta(tenant, "Case", r.sfMeta, inst), Subject: r.Subject, Status: r.Status,
		AccountID: r.AccountID, ContactID: r.ContactID}
}

// instance is the agent's instance URL (for record links); "" if unknown.
func (c *Connector) instance(ctx context.Context, tenant string) string {
	agent, _ := c.actor(ctx)
	s := c.session(tenant, agent)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.instanceURL
}

func cacheKey(tenant, agent, email string) string { return tenant + "\x00" + agent + "\x00" + email }

// dropCacheOf forgets the look-ups of ctx's agent after they wrote.
func (c *Connector) dropCacheOf(ctx context.Context, tenant string) {
	if agent, err := c.actor(ctx); err == nil {
		c.dropCache(tenant, agent)
	}
}

func (c *Connector) dropCache(tenant, agent string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := tenant + "\x00" + agent + "\x00"
	for k := range c.cache {
		if strings.HasPrefix(k, prefix) {
			delete(c.cache, k)
		}
	}
}

// Match implements crm.Connector: the look-ups run as one round of
// parallel queries (contacts, leads, the contacts' accounts, their open
// opportunities and cases, the accounts behind the domain and theirs), so
// a panel view costs one round trip. The answer is cached per agent for
// CacheTTL.
func (c *Connector) Match(ctx context.Context, tenant, email string) (crm.Match, error) {
	agent, err := c.actor(ctx)
	if err != nil {
		return crm.Match{}, err
	}
	email, err = crm.CheckEmail(email)
	if err != nil {
		return crm.Match{}, fmt.Errorf("salesforce: match: %w", err)
	}
	key := cacheKey(tenant, agent, email)
	now := c.opts.Now()
	c.mu.Lock()
	if hit, ok := c.cache[key]; ok && now.Before(hit.expires) {
		c.mu.Unlock()
		return hit.m, nil
	}
	c.mu.Unlock()

	domain := crm.EmailDomain(email)
	free := slices.Contains(c.freeMail(), domain)
	q := Quote(email)
	byEmail := c.emailMatch(c.opts.ContactEmailFields, q)
	contactsOf := "(SELECT AccountId FROM Contact WHERE " + byEmail + ")"

	var (
		contacts []sfContact
		leads    []sfLead
		accts    []sfAccount
		domAccts []sfAccount
		opps     []sfOpp
		domOpps  []sfOpp
		cases    []sfCase
	)
	// Each query decodes into its own slice, so they need no lock.
	queries := []soqlQuery{
		{"SELECT " + contactFields + " FROM Contact WHERE " + byEmail + " ORDER BY LastModifiedDate DESC LIMIT 20",
			decodeInto(&contacts)},
		{"SELECT " + leadFields + " FROM Lead WHERE (" + c.emailMatch(c.opts.LeadEmailFields, q) + ") AND IsConverted = false ORDER BY LastModifiedDate DESC LIMIT 20",
			decodeInto(&leads)},
		{"SELECT " + accountFields + " FROM Account WHERE Id IN " + contactsOf + " LIMIT 20",
			decodeInto(&accts)},
		{"SELECT " + oppFields + " FROM Opportunity WHERE IsClosed = false AND AccountId IN " + contactsOf + " ORDER BY CloseDate ASC NULLS LAST LIMIT 20",
			decodeInto(&opps)},
		{"SELECT " + caseFields + " FROM Case WHERE IsClosed = false AND ContactId IN (SELECT Id FROM Contact WHERE " + byEmail + ") ORDER BY CreatedDate DESC LIMIT 20",
			decodeInto(&cases)},
	}
	const qAccounts, qOpps, qCases, qDomainOpps = 2, 3, 4, 6
	cands := crm.DomainCandidates(domain)
	if !free && len(cands) > 0 {
		var likes []string
		for _, d := range cands {
			likes = append(likes, "Website LIKE "+QuoteLike("%", d, "%"))
		}
		websites := strings.Join(likes, " OR ")
		// The domain's accounts and their open opportunities in the same
		// round (kept below only for accounts that really own the domain,
		// and only when no contact's account matched: two requests that
		// buy the single round trip).
		queries = append(queries,
			soqlQuery{"SELECT " + accountFields + " FROM Account WHERE " + websites + " LIMIT 50", decodeInto(&domAccts)},
			soqlQuery{"SELECT " + oppFields + " FROM Opportunity WHERE IsClosed = false AND AccountId IN (SELECT Id FROM Account WHERE " +
				websites + ") ORDER BY CloseDate ASC NULLS LAST LIMIT 100", decodeInto(&domOpps)})
	}
	errs := c.queryAll(ctx, tenant, queries)
	// The contacts must answer. A refused query of the others (an org, or
	// a proxy, that does not take semi-joins or a field) is asked again
	// by ids in a second round, or left out, rather than losing the view.
	if errs[0] != nil {
		return crm.Match{}, firstNotConnected(errs, errs[0])
	}
	retry := map[int]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
		case !isQueryRefusal(err):
			return crm.Match{}, firstNotConnected(errs, err)
		default:
			c.log.Warn("salesforce: a look-up query was refused; asking by ids instead", "query", i, "err", err)
			retry[i] = true
		}
	}
	var contactIDs, accountIDs []string
	for _, r := range contacts {
		contactIDs = append(contactIDs, Quote(r.ID))
		if r.AccountID != "" && !slices.Contains(accountIDs, Quote(r.AccountID)) {
			accountIDs = append(accountIDs, Quote(r.AccountID))
		}
	}
	list := func(ids []string) string { return "(" + strings.Join(ids, ", ") + ")" }
	var again []soqlQuery
	if retry[qAccounts] && len(accountIDs) > 0 {
		again = append(again, soqlQuery{"SELECT " + accountFields + " FROM Account WHERE Id IN " + list(accountIDs) + " LIMIT 20", decodeInto(&accts)})
	}
	if retry[qOpps] && len(accountIDs) > 0 {
		again = append(again, soqlQuery{"SELECT " + oppFields + " FROM Opportunity WHERE IsClosed = false AND AccountId IN " + list(accountIDs) +
			" ORDER BY CloseDate ASC NULLS LAST LIMIT 20", decodeInto(&opps)})
	}
	if retry[qCases] && len(contactIDs) > 0 {
		again = append(again, soqlQuery{"SELECT " + caseFields + " FROM Case WHERE IsClosed = false AND ContactId IN " + list(contactIDs) +
			" ORDER BY CreatedDate DESC LIMIT 20", decodeInto(&cases)})
	}
	for _, err := range c.queryAll(ctx, tenant, again) {
		if err != nil && !isQueryRefusal(err) {
			return crm.Match{}, err
		}
	}
	inst := c.instance(ctx, tenant)
	m := crm.Match{Email: email, FreeMail: free}
	for _, r := range contacts {
		m.Contacts = append(m.Contacts, c.contact(tenant, inst, r))
	}
	for _, r := range leads {
		m.Leads = append(m.Leads, c.lead(tenant, inst, r))
	}
	for _, r := range accts {
		m.Accounts = append(m.Accounts, c.account(tenant, inst, r))
	}
	for _, r := range cases {
		m.Cases = append(m.Cases, c.kase(tenant, inst, r))
	}
	if len(m.Accounts) > 0 {
		for _, r := range opps {
			m.Opportunities = append(m.Opportunities, c.opp(tenant, inst, r))
		}
	} else if len(domAccts) > 0 {
		// The most specific domain that an account owns (the Website LIKE
		// is only a pre-filter: "globex.example" is in "notglobex.example").
		var all []crm.Account
		for _, r := range domAccts {
			all = append(all, c.account(tenant, inst, r))
		}
		for _, d := range cands {
			for _, a := range all {
				if slices.Contains(a.Domains, d) {
					m.Accounts = append(m.Accounts, a)
				}
			}
			if len(m.Accounts) > 0 {
				break
			}
		}
		owners := map[string]bool{}
		var ids []string
		for _, a := range m.Accounts {
			owners[a.ID] = true
			ids = append(ids, Quote(a.ID))
		}
		if retry[qDomainOpps] && len(ids) > 0 {
			err := c.query(ctx, tenant, "SELECT "+oppFields+" FROM Opportunity WHERE IsClosed = false AND AccountId IN ("+
				strings.Join(ids, ", ")+") ORDER BY CloseDate ASC NULLS LAST LIMIT 20", decodeInto(&domOpps))
			if err != nil && !isQueryRefusal(err) {
				return crm.Match{}, err
			}
		}
		for _, r := range domOpps {
			if owners[r.AccountID] && len(m.Opportunities) < 20 {
				m.Opportunities = append(m.Opportunities, c.opp(tenant, inst, r))
			}
		}
	}
	ttl := c.opts.CacheTTL
	if share, ok := c.budgetShare(); ok {
		// Nearly out of API requests: slow down by reusing look-ups
		// longer, and tell the agent why data may be minutes old.
		ttl = max(ttl, budgetCacheTTL)
		m.Notice = fmt.Sprintf("Salesforce’s daily API budget is %.0f%% spent: its records here may be up to %d minutes old.",
			share*100, int(budgetCacheTTL/time.Minute))
	}
	if ttl > 0 {
		c.mu.Lock()
		if len(c.cache) > 10000 {
			clear(c.cache)
		}
		c.cache[key] = cached{m: m, expires: now.Add(ttl)}
		c.mu.Unlock()
	}
	return m, nil
}

// soqlQuery is one query of a round and where its records go.
type soqlQuery struct {
	soql string
	dec  func(json.RawMessage) error
}

// queryAll runs the queries in parallel; errs[i] is query i's error.
func (c *Connector) queryAll(ctx context.Context, tenant string, qs []soqlQuery) []error {
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() { errs[i] = c.query(ctx, tenant, q.soql, q.dec) })
	}
	wg.Wait()
	return errs
}

func (c *Connector) freeMail() []string {
	if c.opts.FreeMailDomains != nil {
		return c.opts.FreeMailDomains
	}
	return crm.DefaultFreeMailDomains()
}

// firstNotConnected prefers an ErrNotConnected among parallel errors, so
// the panel offers to connect rather than showing five failures.
func firstNotConnected(errs []error, joined error) error {
	for _, e := range errs {
		if errors.Is(e, crm.ErrNotConnected) || errors.Is(e, ErrLimited) {
			return e
		}
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return joined
}

func decodeInto[T any](dst *[]T) func(json.RawMessage) error {
	return func(r json.RawMessage) error {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return err
		}
		*dst = append(*dst, v)
		return nil
	}
}

// Account implements crm.Connector.
func (c *Connector) Account(ctx context.Context, tenant, id string) (crm.Account, error) {
	var r sfAccount
	if err := c.getRecord(ctx, tenant, "Account", id, accountFields, &r); err != nil {
		return crm.Account{}, err
	}
	return c.account(tenant, c.instance(ctx, tenant), r), nil
}

// Contact implements crm.Connector.
func (c *Connector) Contact(ctx context.Context, tenant, id string) (crm.Contact, error) {
	var r sfContact
	if err := c.getRecord(ctx, tenant, "Contact", id, contactFields, &r); err != nil {
		return crm.Contact{}, err
	}
	return c.contact(tenant, c.instance(ctx, tenant), r), nil
}

// Case implements crm.CaseReader.
func (c *Connector) Case(ctx context.Context, tenant, id string) (crm.Case, error) {
	var r sfCase
	if err := c.getRecord(ctx, tenant, "Case", id, caseFields, &r); err != nil {
		return crm.Case{}, err
	}
	return c.kase(tenant, c.instance(ctx, tenant), r), nil
}

// getRecord reads one record by SOQL (so parent fields come too).
func (c *Connector) getRecord(ctx context.Context, tenant, object, id, fields string, out any) error {
	if err := checkID(id); err != nil {
		return err
	}
	var raw []json.RawMessage
	err := c.query(ctx, tenant, "SELECT "+fields+" FROM "+object+" WHERE Id = "+Quote(id)+" LIMIT 1",
		func(r json.RawMessage) error { raw = append(raw, r); return nil })
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return fmt.Errorf("salesforce: %s %s: %w", object, id, crm.ErrNotFound)
	}
	return json.Unmarshal(raw[0], out)
}

type createResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
}

// CreateContact implements crm.Connector (POST sobjects/Contact). A
// contact without a last name gets the address's local part, which
// Salesforce requires.
func (c *Connector) CreateContact(ctx context.Context, in crm.Contact) (crm.Contact, error) {
	email, err := crm.CheckEmail(in.Email)
	if err != nil {
		return crm.Contact{}, fmt.Errorf("salesforce: create contact: %w", err)
	}
	body := map[string]any{"Email": email, "LastName": lastName(in.LastName, email)}
	for k, v := range map[string]string{"FirstName": in.FirstName, "Phone": in.Phone, "Title": in.Title} {
		if v != "" {
			body[k] = v
		}
	}
	if in.AccountID != "" {
		if err := checkID(in.AccountID); err != nil {
			return crm.Contact{}, err
		}
		body["AccountId"] = in.AccountID
	}
	if err := c.customValues(ctx, in.Tenant, crm.ObjContact, in.Custom, body); err != nil {
		return crm.Contact{}, err
	}
	var res createResult
	if err := c.do(ctx, in.Tenant, http.MethodPost, "sobjects/Contact", body, &res); err != nil {
		c.forgetDescribes(ctx, in.Tenant)
		return crm.Contact{}, refused(err)
	}
	c.dropCacheOf(ctx, in.Tenant)
	return c.Contact(ctx, in.Tenant, res.ID)
}

// CreateLead implements crm.Connector (POST sobjects/Lead). Company,
// required by Salesforce, defaults to the address's domain.
func (c *Connector) CreateLead(ctx context.Context, in crm.Lead) (crm.Lead, error) {
	email, err := crm.CheckEmail(in.Email)
	if err != nil {
		return crm.Lead{}, fmt.Errorf("salesforce: create lead: %w", err)
	}
	company := strings.TrimSpace(in.Company)
	if company == "" {
		company = crm.EmailDomain(email)
	}
	body := map[string]any{"Email": email, "LastName": lastName(in.LastName, email), "Company": company}
	if in.FirstName != "" {
		body["FirstName"] = in.FirstName
	}
	// Status is left to the org's default: its picklist is the org's own
	// (a Custom value sets it, checked against the describe).
	if err := c.customValues(ctx, in.Tenant, crm.ObjLead, in.Custom, body); err != nil {
		return crm.Lead{}, err
	}
	var res createResult
	if err := c.do(ctx, in.Tenant, http.MethodPost, "sobjects/Lead", body, &res); err != nil {
		c.forgetDescribes(ctx, in.Tenant)
		return crm.Lead{}, refused(err)
	}
	c.dropCacheOf(ctx, in.Tenant)
	var r sfLead
	if err := c.getRecord(ctx, in.Tenant, "Lead", res.ID, leadFields, &r); err != nil {
		return crm.Lead{}, err
	}
	return c.lead(in.Tenant, c.instance(ctx, in.Tenant), r), nil
}

func lastName(given, email string) string {
	if s := strings.TrimSpace(given); s != "" {
		return s
	}
	return email[:strings.LastIndexByte(email, '@')]
}

var _ crm.Connector = (*Connector)(nil)
var _ crm.Authorizer = (*Connector)(nil)

// budgetCacheTTL is the look-up cache's lifetime once the org's API
// budget passes Options.BudgetWarn.
const budgetCacheTTL = 5 * time.Minute

// budgetShare is the share of the org's daily API budget spent, when it
// is past Options.BudgetWarn (as the last answer's Sforce-Limit-Info said).
func (c *Connector) budgetShare() (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.usage.Max <= 0 {
		return 0, false
	}
	share := float64(c.usage.Used) / float64(c.usage.Max)
	return share, share >= c.opts.BudgetWarn
}

// isQueryRefusal: Salesforce refused the query itself (HTTP 400:
// MALFORMED_QUERY, INVALID_FIELD, ...), as opposed to the connection,
// the session or the org's limits.
func isQueryRefusal(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && !errors.Is(err, ErrLimited)
}

// emailMatch is "Email = 'a@b' OR Other__c = 'a@b'" over Email and the
// org's other email fields.
func (c *Connector) emailMatch(extra []string, quoted string) string {
	parts := []string{"Email = " + quoted}
	for _, f := range extra {
		parts = append(parts, f+" = "+quoted)
	}
	return strings.Join(parts, " OR ")
}
