package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/sidedesk/sidedesk/crm"
	"log/slog"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LocalCRMOptions configures NewLocalCRM.
type LocalCRMOptions struct {
	// FreeMailDomains are providers whose domain says nothing of the
	// account (an address there never matches an account by domain).
	// Default: crm.DefaultFreeMailDomains(). It replaces the default list;
	// the demo passes crm.DemoFreeMailDomains().
	FreeMailDomains []string
	// Logger receives import and generator notes. Default: discard.
	Logger *slog.Logger
	// Now is the clock for created/updated times. Default: time.Now.
	Now func() time.Time
}

// LocalCRM is the embedded CRM connector (crm.Connector, crm.Upserter):
// records live in sidedesk's own database, in the crm_* tables
// (migrations/0300_crm.sql). It is safe for concurrent use. Its writes
// begin their own transactions: do not call them from inside a WithTx fn
// (the one writer connection is taken there).
type LocalCRM struct {
	w, r     *sql.DB
	freeMail map[string]bool
	log      *slog.Logger
	now      func() time.Time
	fire     func() // the store's committed-events signal (event streams wake)

	// Prepared reads for Match. Each query costs some 20µs of driver and
	// VM set-up beyond its index look-ups, so Match makes two: who (the
	// contacts with their accounts, the leads, the accounts owning the
	// domain) and what (their opportunities and cases).
	identity, related *sql.Stmt
	// tiered probes whether a tenant has any account with a tier; noTiers
	// remembers, per tenant, since when it had none (see Tier).
	tiered  *sql.Stmt
	tierMu  sync.Mutex
	noTiers map[string]time.Time
}

var (
	_ crm.Connector = (*LocalCRM)(nil)
	_ crm.Upserter  = (*LocalCRM)(nil)
)

// Limits of what Match returns.
const (
	maxMatchRecords = 20 // contacts, leads
	maxAccounts     = 10
	maxOpps         = 10
	maxCases        = 10
)

// Column lists, in the order the scan functions read them.
const (
	accountCols = `a.id, a.tenant_id, a.source, COALESCE(a.external_id, ''), a.name, a.website, a.domains,
  a.type, a.tier, a.industry, a.annual_revenue, a.owner, a.created_at, a.updated_at`
	contactCols = `c.id, c.tenant_id, c.source, COALESCE(c.external_id, ''), c.first_name, c.last_name,
  c.email, c.other_emails, c.phone, c.title, COALESCE(c.account_id, 0), c.created_at, c.updated_at`
	leadCols = `l.id, l.tenant_id, l.source, COALESCE(l.external_id, ''), l.first_name, l.last_name,
  l.email, l.company, l.status, l.created_at, l.updated_at`
	oppCols = `o.id, o.tenant_id, o.source, COALESCE(o.external_id, ''), o.name, o.stage, o.amount,
  o.close_date, COALESCE(o.account_id, 0), o.closed, o.created_at, o.updated_at`
	// nullableAccountCols are accountCols for a LEFT JOIN: no account reads
	// as id 0.
	nullableAccountCols = `COALESCE(a.id, 0), COALESCE(a.tenant_id, ''), COALESCE(a.source, ''), COALESCE(a.external_id, ''),
  COALESCE(a.name, ''), COALESCE(a.website, ''), COALESCE(a.domains, ''), COALESCE(a.type, ''), COALESCE(a.tier, ''),
  COALESCE(a.industry, ''), COALESCE(a.annual_revenue, 0), COALESCE(a.owner, ''), a.created_at, a.updated_at`
	caseCols = `k.id, k.tenant_id, k.source, COALESCE(k.external_id, ''), k.subject, k.status, k.ticket_id,
  COALESCE(k.account_id, 0), COALESCE(k.contact_id, 0), k.created_at, k.updated_at`
	campaignCols = `m.id, m.tenant_id, m.source, COALESCE(m.external_id, ''), m.name, m.status, m.type,
  m.start_date, m.end_date, m.active, m.budgeted_cost, m.description, m.created_at, m.updated_at`
)

// NewLocalCRM returns the local connector over the (migrated) store;
// Close it before the store.
func (s *Store) NewLocalCRM(opts LocalCRMOptions) (*LocalCRM, error) {
	l := &LocalCRM{w: s.w, r: s.r, log: opts.Logger, now: opts.Now, fire: s.committed.fire}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	fm := opts.FreeMailDomains
	if fm == nil {
		fm = crm.DefaultFreeMailDomains()
	}
	l.freeMail = make(map[string]bool, len(fm))
	for _, d := range fm {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			l.freeMail[d] = true
		}
	}
	stmts := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&l.identity, identityQuery()},
		{&l.related, relatedQuery()},
		{&l.tiered, `SELECT 1 FROM crm_accounts WHERE tenant_id = ? AND tier != '' LIMIT 1`},
	}
	for _, s := range stmts {
		st, err := l.r.Prepare(s.query)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("crm: prepare (is the database migrated?): %w", err)
		}
		*s.dst = st
	}
	return l, nil
}

// Close releases the prepared statements (not the pools, which the caller
// owns).
func (l *LocalCRM) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{l.identity, l.related, l.tiered} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// noTiersFor is how long Tier trusts that a tenant has no tiered account
// before asking the database again. This process's own account writes
// forget it at once; another process's (an import run beside the server)
// are seen within this time.
const noTiersFor = time.Second

// Tier is the tier of the first of email's accounts (as Match orders them)
// that has one, "" for none: what a captured mail's priority rules read.
// A tenant with no tiered account at all (most, and every one without a
// tier column in its imports) costs a map look-up, not a Match, on every
// mail.
func (l *LocalCRM) Tier(ctx context.Context, tenant, email string) (string, error) {
	if has, err := l.hasTiers(ctx, tenant); err != nil || !has {
		return "", err
	}
	m, err := l.Match(ctx, tenant, email)
	if err != nil {
		return "", err
	}
	for _, a := range m.Accounts {
		if a.Tier != "" {
			return a.Tier, nil
		}
	}
	return "", nil
}

// hasTiers reports whether the tenant has an account with a tier; a "no"
// is trusted for noTiersFor.
func (l *LocalCRM) hasTiers(ctx context.Context, tenant string) (bool, error) {
	now := l.now()
	l.tierMu.Lock()
	since, known := l.noTiers[tenant]
	l.tierMu.Unlock()
	if age := now.Sub(since); known && age >= 0 && age < noTiersFor {
		return false, nil
	}
	var one int
	err := l.tiered.QueryRowContext(ctx, tenant).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("crm: tier: %w", err)
	}
	has := err == nil
	l.tierMu.Lock()
	defer l.tierMu.Unlock()
	if has {
		delete(l.noTiers, tenant)
	} else {
		if l.noTiers == nil {
			l.noTiers = map[string]time.Time{}
		}
		l.noTiers[tenant] = now
	}
	return has, nil
}

// forgetTiers drops what Tier remembers: CRM writes are rare next to
// captured mail, so each costs every tenant one probe more.
func (l *LocalCRM) forgetTiers() {
	l.tierMu.Lock()
	clear(l.noTiers)
	l.tierMu.Unlock()
}

// Name implements Connector.
func (l *LocalCRM) Name() string { return "local" }

// IsFreeMail reports whether the address's domain (or a parent of it) is a
// free-mail provider.
func (l *LocalCRM) IsFreeMail(email string) bool {
	for _, d := range crm.DomainCandidates(crm.EmailDomain(crm.NormalizeEmail(email))) {
		if l.freeMail[d] {
			return true
		}
	}
	return false
}

// Match implements Connector: contacts by any of their emails, leads by
// email, the contacts' accounts or else (none of the contacts has an
// account, or no contact matched) the accounts owning the sender's domain
// or its nearest parent domain unless it is free-mail, their open
// opportunities (soonest close first) and the recent cases of those
// accounts and contacts. A handful of index look-ups.
func (l *LocalCRM) Match(ctx context.Context, tenant, email string) (crm.Match, error) {
	m := crm.Match{Email: matchAddress(email)}
	m.FreeMail = l.IsFreeMail(m.Email)
	if !strings.Contains(m.Email, "@") {
		return m, nil
	}
	if err := l.matchIdentity(ctx, tenant, &m); err != nil {
		return crm.Match{}, err
	}
	// Opportunities and cases: one query per (account, contact) pair,
	// usually one.
	for i := range max(len(m.Accounts), len(m.Contacts)) {
		var acct, contact int64
		if i < len(m.Accounts) {
			acct = idNum(m.Accounts[i].ID)
		}
		if i < len(m.Contacts) {
			contact = idNum(m.Contacts[i].ID)
		}
		if err := l.matchRelated(ctx, tenant, acct, contact, &m); err != nil {
			return crm.Match{}, err
		}
	}
	if len(m.Accounts) > 1 {
		slices.SortStableFunc(m.Opportunities, func(a, b crm.Opportunity) int {
			if a.CloseDate.IsZero() != b.CloseDate.IsZero() {
				if a.CloseDate.IsZero() {
					return 1
				}
				return -1
			}
			return a.CloseDate.Compare(b.CloseDate)
		})
	}
	if len(m.Opportunities) > maxOpps {
		m.Opportunities = m.Opportunities[:maxOpps]
	}
	if len(m.Cases) > 1 {
		slices.SortStableFunc(m.Cases, func(a, b crm.Case) int {
			return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(idNum(b.ID), idNum(a.ID)))
		})
		m.Cases = slices.CompactFunc(m.Cases, func(a, b crm.Case) bool { return a.ID == b.ID })
	}
	if len(m.Cases) > maxCases {
		m.Cases = m.Cases[:maxCases]
	}
	return m, nil
}

// identityQuery reads, in one statement, the contacts having the address
// (kind 'c', with their accounts), the leads having it ('l') and the
// accounts owning its domain or parent domains ('d', tag = the domain).
// Parameters: tenant, email, up to four domains (empty for none). Columns:
// kind, tag, is_primary, a contact's columns (a lead's mapped onto them:
// company in other_emails, status in phone), an account's columns.
func identityQuery() string {
	const noAccount = `0, '', '', '', '', '', '', '', '', '', 0, '', NULL, NULL`
	const noPerson = `0, '', '', '', '', '', '', '', '', '', 0, NULL, NULL`
	return `SELECT * FROM (SELECT 'c', '', e.is_primary, ` + contactCols + `, ` + nullableAccountCols + `
  FROM crm_contact_emails e
  JOIN crm_contacts c ON c.id = e.contact_id AND c.tenant_id = e.tenant_id
  LEFT JOIN crm_accounts a ON a.id = c.account_id AND a.tenant_id = c.tenant_id
  WHERE e.tenant_id = ?1 AND e.email = ?2 LIMIT ` + strconv.Itoa(maxMatchRecords) + `)
UNION ALL SELECT * FROM (SELECT 'l', '', 0, l.id, l.tenant_id, l.source, COALESCE(l.external_id, ''), l.first_name,
  l.last_name, l.email, l.company, l.status, '', 0, l.created_at, l.updated_at, ` + noAccount + `
  FROM crm_leads l WHERE l.tenant_id = ?1 AND l.email = ?2 LIMIT ` + strconv.Itoa(maxMatchRecords) + `)
UNION ALL SELECT * FROM (SELECT 'd', d.domain, 0, ` + noPerson + `, ` + accountCols + `
  FROM crm_account_domains d JOIN crm_accounts a ON a.id = d.account_id AND a.tenant_id = d.tenant_id
  WHERE d.tenant_id = ?1 AND d.domain IN (?3, ?4, ?5, ?6) LIMIT ` + strconv.Itoa(4*maxAccounts) + `)`
}

// matchIdentity fills the contacts of m.Email (primary address first),
// their accounts (in the contacts' order, without repeats), the leads, and
// when that gives no account and the domain is not free-mail, the accounts
// owning the domain, or else its nearest parent domain that has any.
func (l *LocalCRM) matchIdentity(ctx context.Context, tenant string, m *crm.Match) error {
	var cands []string
	if !m.FreeMail {
		cands = crm.DomainCandidates(crm.EmailDomain(m.Email))
	}
	args := []any{tenant, m.Email, "", "", "", ""}
	for i := 0; i < len(cands) && i < 4; i++ {
		args[2+i] = cands[i]
	}
	rows, err := l.identity.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("crm: match: %w", err)
	}
	defer rows.Close()
	var (
		primary    []bool
		byDomain   []crm.Account
		domainRank = -1
	)
	for rows.Next() {
		var (
			kind, tag string
			isPrimary bool
			cs        contactScan
			as        accountScan
		)
		if err := rows.Scan(append(append([]any{&kind, &tag, &isPrimary}, cs.dest()...), as.dest()...)...); err != nil {
			return fmt.Errorf("crm: match: %w", err)
		}
		switch kind {
		case "c":
			c, err := cs.finish()
			if err != nil {
				return err
			}
			m.Contacts = append(m.Contacts, c)
			primary = append(primary, isPrimary)
			if as.ms.id != 0 && len(m.Accounts) < maxAccounts &&
				!slices.ContainsFunc(m.Accounts, func(x crm.Account) bool { return x.ID == idStr(as.ms.id) }) {
				a, err := as.finish()
				if err != nil {
					return err
				}
				m.Accounts = append(m.Accounts, a)
			}
		case "l":
			meta, err := cs.ms.meta()
			if err != nil {
				return err
			}
			m.Leads = append(m.Leads, crm.Lead{Meta: meta, FirstName: cs.c.FirstName, LastName: cs.c.LastName,
				Email: cs.c.Email, Company: cs.others, Status: cs.c.Phone})
		case "d":
			a, err := as.finish()
			if err != nil {
				return err
			}
			switch rank := slices.Index(cands, tag); {
			case domainRank == -1 || rank < domainRank:
				domainRank, byDomain = rank, []crm.Account{a}
			case rank == domainRank:
				byDomain = append(byDomain, a)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("crm: match: %w", err)
	}
	if len(m.Contacts) > 1 {
		// Contacts whose primary address this is first, then by id.
		idx := make([]int, len(m.Contacts))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			if primary[a] != primary[b] {
				if primary[a] {
					return -1
				}
				return 1
			}
			return cmp.Compare(idNum(m.Contacts[a].ID), idNum(m.Contacts[b].ID))
		})
		sorted := make([]crm.Contact, len(idx))
		for i, j := range idx {
			sorted[i] = m.Contacts[j]
		}
		m.Contacts = sorted
	}
	slices.SortStableFunc(m.Leads, func(a, b crm.Lead) int { return cmp.Compare(idNum(a.ID), idNum(b.ID)) })
	if len(m.Accounts) == 0 {
		slices.SortFunc(byDomain, func(a, b crm.Account) int { return cmp.Compare(idNum(a.ID), idNum(b.ID)) })
		m.Accounts = byDomain[:min(len(byDomain), maxAccounts)]
	}
	return nil
}

// relatedQuery reads, in one statement, an account's open opportunities
// (soonest close first, no date last) and recent cases, and a contact's
// recent cases. Parameters: tenant, account, tenant, account, tenant,
// contact (0: none). Columns: kind ('o' or 'k'), then the union of both
// records' columns (see scanRelated).
func relatedQuery() string {
	return `SELECT * FROM (SELECT 'o', o.id, o.tenant_id, o.source, COALESCE(o.external_id, ''), o.name, o.stage,
  o.amount, o.close_date, 0, COALESCE(o.account_id, 0), o.closed, 0, o.created_at, o.updated_at
  FROM crm_opportunities o WHERE o.tenant_id = ? AND o.account_id = ? AND o.closed = 0
  ORDER BY o.close_date IS NULL, o.close_date, o.id LIMIT ` + strconv.Itoa(maxOpps) + `)
UNION ALL SELECT * FROM (SELECT 'k', ` + caseUnionCols + ` FROM crm_cases k WHERE k.tenant_id = ? AND k.account_id = ?
  ORDER BY k.updated_at DESC, k.id DESC LIMIT ` + strconv.Itoa(maxCases) + `)
UNION ALL SELECT * FROM (SELECT 'k', ` + caseUnionCols + ` FROM crm_cases k WHERE k.tenant_id = ? AND k.contact_id = ?
  ORDER BY k.updated_at DESC, k.id DESC LIMIT ` + strconv.Itoa(maxCases) + `)`
}

const caseUnionCols = `k.id, k.tenant_id, k.source, COALESCE(k.external_id, ''), k.subject, k.status,
  0.0, NULL, k.ticket_id, COALESCE(k.account_id, 0), 0, COALESCE(k.contact_id, 0), k.created_at, k.updated_at`

func (l *LocalCRM) matchRelated(ctx context.Context, tenant string, acct, contact int64, m *crm.Match) error {
	rows, err := l.related.QueryContext(ctx, tenant, acct, tenant, acct, tenant, contact)
	if err != nil {
		return fmt.Errorf("crm: match opportunities and cases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, title, status string
			ms                  metaScan
			amount              float64
			closeDate           sql.NullString
			ticketID, a, c      int64
			closed              bool
		)
		if err := rows.Scan(append([]any{&kind}, append(ms.dest(), &title, &status, &amount, &closeDate,
			&ticketID, &a, &closed, &c, &ms.created, &ms.updated)...)...); err != nil {
			return fmt.Errorf("crm: match opportunities and cases: %w", err)
		}
		meta, err := ms.meta()
		if err != nil {
			return err
		}
		if kind == "o" {
			cd, err := parseTime(closeDate)
			if err != nil {
				return err
			}
			m.Opportunities = append(m.Opportunities, crm.Opportunity{Meta: meta, Name: title, Stage: status, Amount: amount,
				CloseDate: cd, AccountID: idStr(a), Closed: closed})
		} else {
			m.Cases = append(m.Cases, crm.Case{Meta: meta, Subject: title, Status: status, TicketID: ticketID,
				AccountID: idStr(a), ContactID: idStr(c)})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("crm: match opportunities and cases: %w", err)
	}
	return nil
}

// matchAddress normalises what the sidebar got as the sender: a bare
// address, or a From value with a display name ("Anna <anna@x.example>",
// RFC 5322 section 3.4) or a mailto: URL.
func matchAddress(s string) string {
	s = strings.TrimSpace(s)
	if strings.ContainsRune(s, '<') {
		if a, err := mail.ParseAddress(s); err == nil {
			s = a.Address
		}
	}
	if len(s) > 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	return crm.NormalizeEmail(s)
}

// Account implements Connector.
func (l *LocalCRM) Account(ctx context.Context, tenant, id string) (crm.Account, error) {
	return getOne(ctx, l.r, "account", `SELECT `+accountCols+` FROM crm_accounts a WHERE a.tenant_id = ? AND a.id = ?`, scanAccount, tenant, id)
}

// Contact implements Connector.
func (l *LocalCRM) Contact(ctx context.Context, tenant, id string) (crm.Contact, error) {
	return getOne(ctx, l.r, "contact", `SELECT `+contactCols+` FROM crm_contacts c WHERE c.tenant_id = ? AND c.id = ?`, scanContact, tenant, id)
}

// Lead fetches one lead.
func (l *LocalCRM) Lead(ctx context.Context, tenant, id string) (crm.Lead, error) {
	return getOne(ctx, l.r, "lead", `SELECT `+leadCols+` FROM crm_leads l WHERE l.tenant_id = ? AND l.id = ?`, scanLead, tenant, id)
}

// Opportunity fetches one opportunity.
func (l *LocalCRM) Opportunity(ctx context.Context, tenant, id string) (crm.Opportunity, error) {
	return getOne(ctx, l.r, "opportunity", `SELECT `+oppCols+` FROM crm_opportunities o WHERE o.tenant_id = ? AND o.id = ?`, scanOpportunity, tenant, id)
}

// Case fetches one case.
func (l *LocalCRM) Case(ctx context.Context, tenant, id string) (crm.Case, error) {
	return getOne(ctx, l.r, "case", `SELECT `+caseCols+` FROM crm_cases k WHERE k.tenant_id = ? AND k.id = ?`, scanCase, tenant, id)
}

// Campaign reads one campaign by id.
func (l *LocalCRM) Campaign(ctx context.Context, tenant, id string) (crm.Campaign, error) {
	return getOne(ctx, l.r, "campaign", `SELECT `+campaignCols+` FROM crm_campaigns m WHERE m.tenant_id = ? AND m.id = ?`, scanCampaign, tenant, id)
}

// idNum parses a local record id; 0 when it is not one.
func idNum(id string) int64 {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

func idStr(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// getOne reads one record by id; ErrNotFound when it is not in the tenant.
func getOne[T any](ctx context.Context, q queryer, what, query string, scan func(rowScanner) (T, error), tenant, id string) (T, error) {
	var zero T
	n := idNum(id)
	if n == 0 {
		return zero, fmt.Errorf("crm: %s %q: %w", what, id, crm.ErrNotFound)
	}
	rows, err := q.QueryContext(ctx, query, tenant, n)
	if err != nil {
		return zero, fmt.Errorf("crm: read %s: %w", what, err)
	}
	recs, err := collect(rows, scan)
	if err != nil {
		return zero, fmt.Errorf("crm: read %s: %w", what, err)
	}
	if len(recs) == 0 {
		return zero, fmt.Errorf("crm: %s %q: %w", what, id, crm.ErrNotFound)
	}
	return recs[0], nil
}

func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// meta scans the shared leading columns' destinations.
type metaScan struct {
	id                 int64
	created, updated   sql.NullString
	tenant, src, extID string
}

func (m *metaScan) dest() []any { return []any{&m.id, &m.tenant, &m.src, &m.extID} }

func (m *metaScan) meta() (crm.Meta, error) {
	c, err := parseTime(m.created)
	if err != nil {
		return crm.Meta{}, err
	}
	u, err := parseTime(m.updated)
	if err != nil {
		return crm.Meta{}, err
	}
	return crm.Meta{ID: idStr(m.id), Tenant: m.tenant, Source: m.src, ExternalID: m.extID, CreatedAt: c, UpdatedAt: u}, nil
}

// accountScan and contactScan split scanning into destinations and
// decoding, so one row can carry a contact and its account.
type accountScan struct {
	ms      metaScan
	a       crm.Account
	domains string
}

func (s *accountScan) dest() []any {
	return append(s.ms.dest(), &s.a.Name, &s.a.Website, &s.domains, &s.a.Type, &s.a.Tier, &s.a.Industry,
		&s.a.AnnualRevenue, &s.a.Owner, &s.ms.created, &s.ms.updated)
}

func (s *accountScan) finish() (crm.Account, error) {
	var err error
	s.a.Domains = crm.SplitList(s.domains)
	s.a.Meta, err = s.ms.meta()
	return s.a, err
}

func scanAccount(r rowScanner) (crm.Account, error) {
	var s accountScan
	if err := r.Scan(s.dest()...); err != nil {
		return crm.Account{}, err
	}
	return s.finish()
}

type contactScan struct {
	ms     metaScan
	c      crm.Contact
	others string
	acct   int64
}

func (s *contactScan) dest() []any {
	return append(s.ms.dest(), &s.c.FirstName, &s.c.LastName, &s.c.Email, &s.others, &s.c.Phone, &s.c.Title,
		&s.acct, &s.ms.created, &s.ms.updated)
}

func (s *contactScan) finish() (crm.Contact, error) {
	var err error
	s.c.Emails = crm.SplitList(s.others)
	s.c.AccountID = idStr(s.acct)
	s.c.Meta, err = s.ms.meta()
	return s.c, err
}

func scanContact(r rowScanner) (crm.Contact, error) {
	var s contactScan
	if err := r.Scan(s.dest()...); err != nil {
		return crm.Contact{}, err
	}
	return s.finish()
}

func scanLead(r rowScanner) (crm.Lead, error) {
	var (
		ms metaScan
		l  crm.Lead
	)
	err := r.Scan(append(ms.dest(), &l.FirstName, &l.LastName, &l.Email, &l.Company, &l.Status,
		&ms.created, &ms.updated)...)
	if err != nil {
		return crm.Lead{}, err
	}
	l.Meta, err = ms.meta()
	return l, err
}

func scanOpportunity(r rowScanner) (crm.Opportunity, error) {
	var (
		ms    metaScan
		o     crm.Opportunity
		close sql.NullString
		acct  int64
	)
	err := r.Scan(append(ms.dest(), &o.Name, &o.Stage, &o.Amount, &close, &acct, &o.Closed,
		&ms.created, &ms.updated)...)
	if err != nil {
		return crm.Opportunity{}, err
	}
	if o.CloseDate, err = parseTime(close); err != nil {
		return crm.Opportunity{}, err
	}
	o.AccountID = idStr(acct)
	o.Meta, err = ms.meta()
	return o, err
}

func scanCampaign(r rowScanner) (crm.Campaign, error) {
	var (
		ms         metaScan
		m          crm.Campaign
		start, end sql.NullString
	)
	err := r.Scan(append(ms.dest(), &m.Name, &m.Status, &m.Type, &start, &end, &m.Active, &m.BudgetedCost, &m.Description,
		&ms.created, &ms.updated)...)
	if err != nil {
		return crm.Campaign{}, err
	}
	if m.StartDate, err = parseTime(start); err != nil {
		return crm.Campaign{}, err
	}
	if m.EndDate, err = parseTime(end); err != nil {
		return crm.Campaign{}, err
	}
	m.Meta, err = ms.meta()
	return m, err
}

func scanCase(r rowScanner) (crm.Case, error) {
	var (
		ms            metaScan
		k             crm.Case
		acct, contact int64
	)
	err := r.Scan(append(ms.dest(), &k.Subject, &k.Status, &k.TicketID, &acct, &contact,
		&ms.created, &ms.updated)...)
	if err != nil {
		return crm.Case{}, err
	}
	k.AccountID, k.ContactID = idStr(acct), idStr(contact)
	k.Meta, err = ms.meta()
	return k, err
}

// crmTables are the local CRM's tables, each with a tenant_id.
var crmTables = []string{"crm_accounts", "crm_account_domains", "crm_contacts", "crm_contact_emails",
	"crm_leads", "crm_opportunities", "crm_cases", "crm_links"}

// TableCounts is how many rows each of the local CRM's tables holds for
// tenant (crm_accounts, crm_contact_emails, ...): the size of what an
// import or a seed wrote.
func (l *LocalCRM) TableCounts(ctx context.Context, tenant string) (map[string]int, error) {
	out := make(map[string]int, len(crmTables))
	for _, table := range crmTables {
		var n int
		if err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE tenant_id = ?`, tenant).Scan(&n); err != nil {
			return nil, fmt.Errorf("crm: count %s: %w", table, err)
		}
		out[table] = n
	}
	return out, nil
}
