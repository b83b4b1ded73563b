package store

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// benchSource is the Source of GenerateCRMBench's records.
const benchSource = "bench"

// BenchEmail is the address of contact n (0 ≤ n < contacts) in a
// GenerateCRMBench set of that many accounts: contact<n>@acct<n%accounts>.bench.example.
// A load generator picks random n to ask for existing senders; an address
// at acct<m>.bench.example with another local part is an unknown sender at
// a known account.
func BenchEmail(n, accounts int) string {
	return "contact" + strconv.Itoa(n) + "@" + BenchDomain(n%accounts)
}

// BenchDomain is the email domain of account m of a GenerateCRMBench set.
func BenchDomain(m int) string { return "acct" + strconv.Itoa(m) + ".bench.example" }

// benchChunk is how many rows one generator transaction writes.
const benchChunk = 50_000

// GenerateCRMBench writes a benchmark CRM into tenant: accounts accounts
// (domain BenchDomain(m)), contacts contacts (BenchEmail(n, accounts), at
// account n%accounts), an open opportunity at every second account and a
// case at every tenth. seed varies names, tiers and amounts; the addresses
// do not depend on it. The rows are generated inside SQLite (recursive
// CTEs, big transactions), so 1,000,000 contacts take well under a minute
// or two rather than hours. Running it again on a complete set does
// nothing; on a different or partial bench set of the tenant it fails.
func GenerateCRMBench(ctx context.Context, l *LocalCRM, tenant string, accounts, contacts int, seed int64) error {
	if accounts <= 0 || contacts < 0 {
		return fmt.Errorf("crm: bench: need accounts > 0 and contacts >= 0 (got %d, %d)", accounts, contacts)
	}
	var haveA, haveC int
	if err := l.w.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM crm_accounts WHERE tenant_id = ? AND source = ?),
  (SELECT COUNT(*) FROM crm_contacts WHERE tenant_id = ? AND source = ?)`,
		tenant, benchSource, tenant, benchSource).Scan(&haveA, &haveC); err != nil {
		return fmt.Errorf("crm: bench: count: %w", err)
	}
	switch {
	case haveA == accounts && haveC == contacts:
		return nil
	case haveA != 0 || haveC != 0:
		return fmt.Errorf("crm: bench: tenant %q already has a bench set of %d accounts and %d contacts", tenant, haveA, haveC)
	}
	// A bigger page cache for the writer while it loads (the indexes are
	// written in random order); back to the store's default after.
	var cacheSize int64
	if err := l.w.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cacheSize); err != nil {
		return fmt.Errorf("crm: bench: %w", err)
	}
	if _, err := l.w.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
		return fmt.Errorf("crm: bench: %w", err)
	}
	defer l.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = `+strconv.FormatInt(cacheSize, 10))

	start := time.Now()
	now := fmtTime(l.now())
	day := l.now().UTC().Truncate(24 * time.Hour)
	mix := uint64(seed) % 1_000_003
	var aBase, cBase int64
	if err := l.w.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(id), 0) FROM crm_accounts), (SELECT COALESCE(MAX(id), 0) FROM crm_contacts)`).
		Scan(&aBase, &cBase); err != nil {
		return fmt.Errorf("crm: bench: %w", err)
	}

	// n(i, h): the row numbers of a chunk and a per-row hash to pick names by.
	const rowsCTE = `WITH RECURSIVE r(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM r WHERE i + 1 < ?),
n(i, h) AS (SELECT i, (i * 2654435761 + ?) % 1000003 FROM r) `
	accountsSQL := rowsCTE + `
INSERT INTO crm_accounts (id, tenant_id, source, external_id, name, website, domains, type, tier, industry,
  annual_revenue, owner, created_at, updated_at)
SELECT ? + i, ?, 'bench', 'a' || i, ` + pick("h", benchCompanies) + ` || ' ' || i, 'https://acct' || i || '.bench.example',
  'acct' || i || '.bench.example', 'Customer', ` + pick("h / 7", []string{"enterprise", "business", "starter"}) + `,
  ` + pick("h / 11", benchIndustries) + `, (h % 5000) * 100000, ` + pick("h / 13", benchOwners) + `, ?, ? FROM n`
	domainsSQL := `INSERT INTO crm_account_domains (tenant_id, domain, account_id)
SELECT tenant_id, domains, id FROM crm_accounts WHERE id > ? AND id <= ?`
	oppsSQL := `INSERT INTO crm_opportunities (tenant_id, source, external_id, name, stage, amount, close_date, account_id,
  closed, created_at, updated_at)
SELECT tenant_id, 'bench', 'o' || substr(external_id, 2), 'Renewal ' || name,
  ` + pick("id", []string{"Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review"}) + `,
  (id % 200) * 1000 + 5000, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', ?, '+' || (id % 120) || ' days'), id, 0, ?, ?
FROM crm_accounts WHERE id > ? AND id <= ? AND id % 2 = 0`
	casesSQL := `INSERT INTO crm_cases (tenant_id, source, external_id, subject, status, account_id, created_at, updated_at)
SELECT tenant_id, 'bench', 'k' || substr(external_id, 2), 'Cannot sign in', 'New', id, ?, ?
FROM crm_accounts WHERE id > ? AND id <= ? AND id % 10 = 0`
	contactsSQL := rowsCTE + `
INSERT INTO crm_contacts (id, tenant_id, source, external_id, first_name, last_name, email, phone, title,
  account_id, created_at, updated_at)
SELECT ? + i, ?, 'bench', 'c' || i, ` + pick("h", benchFirst) + `, ` + pick("h / 17", benchLast) + `,
  'contact' || i || '@acct' || (i % ?) || '.bench.example', '+1 555 ' || (1000000 + h), ` + pick("h / 19", benchTitles) + `,
  ? + 1 + (i % ?), ?, ? FROM n`
	emailsSQL := `INSERT INTO crm_contact_emails (tenant_id, email, contact_id, is_primary)
SELECT tenant_id, email, id, 1 FROM crm_contacts WHERE id > ? AND id <= ?`

	for lo := 0; lo < accounts; lo += benchChunk {
		hi := min(lo+benchChunk, accounts)
		err := l.inTx(ctx, func(t *wtx) error {
			if _, err := t.exec(ctx, accountsSQL, lo, hi, mix, aBase+1, tenant, now, now); err != nil {
				return err
			}
			from, to := aBase+1+int64(lo)-1, aBase+int64(hi)
			if _, err := t.exec(ctx, domainsSQL, from, to); err != nil {
				return err
			}
			if _, err := t.exec(ctx, oppsSQL, day.Format(time.DateOnly), now, now, from, to); err != nil {
				return err
			}
			_, err := t.exec(ctx, casesSQL, now, now, from, to)
			return err
		})
		if err != nil {
			return fmt.Errorf("crm: bench: accounts %d-%d: %w", lo, hi, err)
		}
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "crm: bench accounts written", slog.Int("accounts", accounts),
		slog.Duration("elapsed", time.Since(start)))
	for lo := 0; lo < contacts; lo += benchChunk {
		hi := min(lo+benchChunk, contacts)
		err := l.inTx(ctx, func(t *wtx) error {
			if _, err := t.exec(ctx, contactsSQL, lo, hi, mix, cBase+1, tenant, accounts, aBase, accounts, now, now); err != nil {
				return err
			}
			_, err := t.exec(ctx, emailsSQL, cBase+int64(lo), cBase+int64(hi))
			return err
		})
		if err != nil {
			return fmt.Errorf("crm: bench: contacts %d-%d: %w", lo, hi, err)
		}
		if hi%200_000 == 0 || hi == contacts {
			l.log.LogAttrs(ctx, slog.LevelInfo, "crm: bench contacts", slog.Int("done", hi), slog.Int("of", contacts),
				slog.Duration("elapsed", time.Since(start)))
		}
	}
	// No ANALYZE: modernc's SQLite is built with STAT4, and with statistics
	// present a prepared statement is re-planned (re-parsed) whenever a bound
	// value changes, which made Match four times slower. Its plans need none.
	return nil
}

// pick is an SQL expression choosing one of vals by the integer expression.
func pick(expr string, vals []string) string {
	var b strings.Builder
	b.WriteString("(CASE (" + expr + ") % " + strconv.Itoa(len(vals)))
	for i, v := range vals {
		b.WriteString(" WHEN " + strconv.Itoa(i) + " THEN '" + strings.ReplaceAll(v, "'", "''") + "'")
	}
	b.WriteString(" END)")
	return b.String()
}

var (
	benchCompanies  = []string{"Globex", "Initech", "Hooli", "Umbrella", "Acme", "Stark", "Wayne", "Wonka", "Soylent", "Cyberdyne", "Tyrell", "Massive Dynamic"}
	benchIndustries = []string{"Manufacturing", "Software", "Technology", "Pharmaceuticals", "Retail", "Finance", "Logistics", "Media"}
	benchOwners     = []string{"Sam Carter", "Riley Chen", "Jordan Lee", "Alex Morgan", "Casey Kim", "Taylor Diaz", "Jamie Fox", "Robin Park"}
	benchFirst      = []string{"Anna", "Jonas", "Maria", "Peter", "Bill", "Priya", "Lars", "Tom", "Alice", "Carlos", "Jill", "Monica", "Gavin", "Yuki", "Fatima", "Noah"}
	benchLast       = []string{"Schmidt", "Bauer", "Rossi", "Gibbons", "Lumbergh", "Patel", "Nilsson", "Baker", "Abernathy", "Oliveira", "Valentine", "Hall", "Belson", "Tanaka", "Haddad", "Müller"}
	benchTitles     = []string{"Engineer", "IT Manager", "CTO", "Head of Operations", "Developer", "Analyst", "Director", "Administrator"}
)

// GenerateBenchTickets writes n tickets of tenant for benchmarks (the
// panel's), each with one inbound message whose Message-ID is
// "bench-<i>@bench.example", from the contact BenchEmail((i*7919) %
// contacts, accounts), in big transactions of rows generated inside SQLite.
// A complete set is reused; a different one is refused.
func (s *Store) GenerateBenchTickets(ctx context.Context, tenant string, n, contacts, accounts int) error {
	db := s.w
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE tenant_id = ?`, tenant).Scan(&have); err != nil {
		return err
	}
	if have == n {
		return nil
	}
	if have != 0 {
		return fmt.Errorf("database has %d tickets, want 0 or %d: use another -db", have, n)
	}
	const chunk = 50_000
	// Text of a typical short support mail (~600 bytes).
	body := "Hello support,\n\nsince this morning our integration fails with a timeout when we call the orders API. " +
		"We did not change anything on our side. Could you please have a look? The request id of the last failure is " +
		"in the log excerpt below.\n\n2026-11-16T07:42:10Z POST /v2/orders 504 Gateway Timeout (30.0 s)\n\n" +
		"This blocks our warehouse, so a quick answer would be much appreciated.\n\nBest regards"
	for lo := 1; lo <= n; lo += chunk {
		hi := min(n, lo+chunk-1)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		email := `'contact' || ((i * 7919) % ?) || '@acct' || (((i * 7919) % ?) % ?) || '.bench.example'`
		ts := `strftime('%Y-%m-%dT%H:%M:%S', 1760000000 + i * 60, 'unixepoch') || '.000000000Z'`
		_, err = tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
INSERT INTO tickets (id, tenant_id, number, subject, status, priority, requester_name, requester_email,
  mailbox, assignee, conversation_id, created_at, updated_at)
SELECT i, ?, i, 'Orders API times out (case ' || i || ')',
  CASE i % 5 WHEN 0 THEN 'new' WHEN 1 THEN 'open' WHEN 2 THEN 'pending' WHEN 3 THEN 'solved' ELSE 'closed' END,
  CASE i % 7 WHEN 0 THEN 'high' WHEN 1 THEN 'low' ELSE 'normal' END,
  '', `+email+`, 'support', '', '', `+ts+`, `+ts+` FROM seq`,
			lo, hi, tenant, contacts, contacts, accounts)
		if err == nil {
			_, err = tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
INSERT INTO messages (id, tenant_id, ticket_id, mailbox, message_id, direction, classification,
  from_name, from_email, subject, date, text_body, body_hash, created_at)
SELECT i, ?, i, 'support', 'bench-' || i || '@bench.example', 'inbound', 'normal',
  '', `+email+`, 'Orders API times out (case ' || i || ')', `+ts+`, ?, 'bench' || i, `+ts+` FROM seq`,
				lo, hi, tenant, contacts, contacts, accounts, body)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO message_search (rowid, subject, body, sender)
SELECT id, subject, text_body, from_email || ' ' || from_name FROM messages WHERE id BETWEEN ? AND ?`, lo, hi)
		}
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("tickets %d..%d: %w", lo, hi, err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	// No ANALYZE: modernc's SQLite has STAT4, with which every bound
	// statement is re-planned per execution (GenerateCRMBench says the same).
	if _, err := db.ExecContext(ctx, `INSERT INTO ticket_counters (tenant_id, last_number) VALUES (?, ?)
  ON CONFLICT (tenant_id) DO UPDATE SET last_number = excluded.last_number`, tenant, n); err != nil {
		return err
	}
	// The rows were written around InsertMessage: their words too.
	return s.RebuildSearchTerms(ctx)
}
