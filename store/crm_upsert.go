package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/sidedesk/sidedesk/crm"
	"slices"
	"strings"
)

// fieldError is a record's fault (not the database's): the batch goes on.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func badField(field string, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		return &fieldError{field, err}
	}
	return &fieldError{field, fmt.Errorf("%w: %s", err, msg)}
}

// wtx is one write transaction with its statements prepared once.
type wtx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	now   string
	// accounts caches resolveAccount within the transaction: an import's
	// rows name the same accounts over and over.
	accounts map[[3]string]int64
	events   bool // an event was appended: fire the store's signal after commit
}

func (t *wtx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.stmts[q] = st
	return st, nil
}

func (t *wtx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// row runs a query expected to give at most one row; found is false for none.
func (t *wtx) row(ctx context.Context, q string, args []any, dest ...any) (found bool, err error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return false, err
	}
	err = st.QueryRowContext(ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// insertID runs an INSERT and returns the new row id.
func (t *wtx) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// inTx runs fn in one write transaction.
func (l *LocalCRM) inTx(ctx context.Context, fn func(t *wtx) error) error {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("crm: begin: %w", err)
	}
	t := &wtx{tx: tx, stmts: map[string]*sql.Stmt{}, now: fmtTime(l.now())}
	err = fn(t)
	for _, st := range t.stmts {
		st.Close()
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("crm: commit: %w", err)
	}
	// Any committed write may have given an account a tier.
	l.forgetTiers()
	if t.events && l.fire != nil {
		l.fire()
	}
	return nil
}

// upsertAll writes recs in transactions of UpsertBatch; one that fn refuses
// (a *fieldError) is reported and skipped, any other error stops.
func upsertAll[T any](ctx context.Context, l *LocalCRM, what string, recs []T, fn func(ctx context.Context, t *wtx, rec *T) (id int64, inserted bool, err error)) (crm.UpsertResult, error) {
	var res crm.UpsertResult
	for start := 0; start < len(recs); start += crm.UpsertBatch {
		batch := recs[start:min(start+crm.UpsertBatch, len(recs))]
		var part crm.UpsertResult
		err := l.inTx(ctx, func(t *wtx) error {
			part = crm.UpsertResult{}
			for i := range batch {
				_, inserted, err := fn(ctx, t, &batch[i])
				var fe *fieldError
				switch {
				case errors.As(err, &fe):
					part.Failed = append(part.Failed, crm.RecordError{Index: start + i, Field: fe.field, Err: fe.err})
				case err != nil:
					return fmt.Errorf("crm: upsert %s %d: %w", what, start+i, err)
				case inserted:
					part.Inserted++
				default:
					part.Updated++
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Inserted += part.Inserted
		res.Updated += part.Updated
		res.Failed = append(res.Failed, part.Failed...)
	}
	return res, nil
}

func sourceOr(s string) string {
	if s == "" {
		return "local"
	}
	return s
}

// UpsertAccounts writes accounts: a record with an ID updates that account;
// else one with an ExternalID is matched by (Source, ExternalID); else by
// name (case-insensitive) in the same Source. Source "" is "local". On
// update, empty fields keep the stored value; the domains (Domains plus the
// Website's) replace the stored ones when there are any.
func (l *LocalCRM) UpsertAccounts(ctx context.Context, tenant string, recs []crm.Account) (crm.UpsertResult, error) {
	return upsertAll(ctx, l, "account", recs, func(ctx context.Context, t *wtx, a *crm.Account) (int64, bool, error) {
		return l.upsertAccount(ctx, t, tenant, a)
	})
}

func (l *LocalCRM) upsertAccount(ctx context.Context, t *wtx, tenant string, a *crm.Account) (int64, bool, error) {
	src := sourceOr(a.Source)
	name := strings.TrimSpace(a.Name)
	var (
		id     int64
		oldDom string
		found  bool
		err    error
	)
	switch {
	case a.ID != "":
		found, err = t.row(ctx, `SELECT id, domains FROM crm_accounts WHERE tenant_id = ? AND id = ?`,
			[]any{tenant, idNum(a.ID)}, &id, &oldDom)
		if err == nil && !found {
			return 0, false, badField("id", crm.ErrUnknownRecord, "account %s", a.ID)
		}
	case a.ExternalID != "":
		found, err = t.row(ctx, `SELECT id, domains FROM crm_accounts WHERE tenant_id = ? AND source = ? AND external_id = ?`,
			[]any{tenant, src, a.ExternalID}, &id, &oldDom)
	case name != "":
		found, err = t.row(ctx, `SELECT id, domains FROM crm_accounts WHERE tenant_id = ? AND source = ? AND name = ? COLLATE NOCASE ORDER BY id LIMIT 1`,
			[]any{tenant, src, name}, &id, &oldDom)
	}
	if err != nil {
		return 0, false, err
	}
	doms := crm.AccountDomains(a)
	if !found {
		if name == "" {
			return 0, false, badField("name", crm.ErrMissingField, "")
		}
		id, err = t.insertID(ctx, `INSERT INTO crm_accounts (tenant_id, source, external_id, name, website, domains, type, tier,
  industry, annual_revenue, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, src, nullString(a.ExternalID), name, strings.TrimSpace(a.Website), strings.Join(doms, " "),
			a.Type, a.Tier, a.Industry, a.AnnualRevenue, a.Owner, t.now, t.now)
		if err != nil {
			return 0, false, err
		}
	} else {
		_, err = t.exec(ctx, `UPDATE crm_accounts SET name = COALESCE(NULLIF(?, ''), name),
  website = COALESCE(NULLIF(?, ''), website), domains = COALESCE(NULLIF(?, ''), domains),
  type = COALESCE(NULLIF(?, ''), type), tier = COALESCE(NULLIF(?, ''), tier),
  industry = COALESCE(NULLIF(?, ''), industry),
  annual_revenue = CASE WHEN ? = 0 THEN annual_revenue ELSE ? END,
  owner = COALESCE(NULLIF(?, ''), owner), updated_at = ? WHERE id = ?`,
			name, strings.TrimSpace(a.Website), strings.Join(doms, " "), a.Type, a.Tier, a.Industry,
			a.AnnualRevenue, a.AnnualRevenue, a.Owner, t.now, id)
		if err != nil {
			return 0, false, err
		}
	}
	if len(doms) > 0 {
		if err := syncKeys(ctx, t, tenant, id, crm.SplitList(oldDom), doms, "",
			`DELETE FROM crm_account_domains WHERE tenant_id = ? AND domain = ? AND account_id = ?`,
			`INSERT INTO crm_account_domains (tenant_id, domain, account_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`); err != nil {
			return 0, false, err
		}
	}
	return id, !found, nil
}

// syncKeys replaces the look-up rows (tenant, key, id) of old by those of
// new. With primary set (contact emails), its row is flagged is_primary.
func syncKeys(ctx context.Context, t *wtx, tenant string, id int64, old, new []string, primary, del, ins string) error {
	for _, k := range old {
		if !slices.Contains(new, k) {
			if _, err := t.exec(ctx, del, tenant, k, id); err != nil {
				return err
			}
		}
	}
	for _, k := range new {
		args := []any{tenant, k, id}
		if primary != "" {
			args = append(args, k == primary)
		}
		if _, err := t.exec(ctx, ins, args...); err != nil {
			return err
		}
	}
	return nil
}

// resolveAccount finds the account a contact or opportunity names: by local
// id, else by external id in src, else by name; 0 when it names none.
func resolveAccount(ctx context.Context, t *wtx, tenant, src, id, extID, name string) (int64, error) {
	key := [3]string{id, src + "\x00" + extID, strings.ToLower(strings.TrimSpace(name))}
	if acct, ok := t.accounts[key]; ok {
		return acct, nil
	}
	acct, err := lookupAccount(ctx, t, tenant, src, id, extID, name)
	if err == nil && acct != 0 {
		if t.accounts == nil {
			t.accounts = map[[3]string]int64{}
		}
		t.accounts[key] = acct
	}
	return acct, err
}

func lookupAccount(ctx context.Context, t *wtx, tenant, src, id, extID, name string) (int64, error) {
	var (
		acct  int64
		found bool
		err   error
	)
	switch {
	case id != "":
		found, err = t.row(ctx, `SELECT id FROM crm_accounts WHERE tenant_id = ? AND id = ?`, []any{tenant, idNum(id)}, &acct)
		if err == nil && !found {
			return 0, badField("account", crm.ErrUnknownAccount, "id %q", id)
		}
	case extID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_accounts WHERE tenant_id = ? AND source = ? AND external_id = ?`,
			[]any{tenant, src, extID}, &acct)
		if err == nil && !found {
			return 0, badField("account", crm.ErrUnknownAccount, "external id %q", extID)
		}
	case strings.TrimSpace(name) != "":
		var n int
		_, err = t.row(ctx, `SELECT MIN(id), COUNT(*) FROM crm_accounts WHERE tenant_id = ? AND name = ? COLLATE NOCASE`,
			[]any{tenant, strings.TrimSpace(name)}, &acct, &n)
		switch {
		case err != nil:
		case n == 0:
			return 0, badField("account", crm.ErrUnknownAccount, "name %q", name)
		case n > 1:
			return 0, badField("account", crm.ErrAmbiguous, "%d accounts are named %q", n, name)
		}
	}
	return acct, err
}

// cleanEmails validates a contact's addresses: the primary and the others,
// lower-case, without duplicates.
func cleanEmails(primary string, others []string) (string, []string, error) {
	var p string
	if strings.TrimSpace(primary) != "" {
		var err error
		if p, err = crm.CheckEmail(primary); err != nil {
			return "", nil, badField("email", crm.ErrBadEmail, "%q", primary)
		}
	}
	var out []string
	for _, o := range others {
		if strings.TrimSpace(o) == "" {
			continue
		}
		e, err := crm.CheckEmail(o)
		if err != nil {
			return "", nil, badField("emails", crm.ErrBadEmail, "%q", o)
		}
		if e != p && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if others != nil && out == nil {
		out = []string{}
	}
	return p, out, nil
}

// UpsertContacts writes contacts: by ID, else by (Source, ExternalID), else
// by primary email (the oldest contact with that primary address). The
// account is AccountID, else AccountExternalID in the same Source, else
// AccountName; naming one that does not exist refuses the record. On
// update, empty fields keep the stored value and a nil Emails keeps the
// other addresses.
func (l *LocalCRM) UpsertContacts(ctx context.Context, tenant string, recs []crm.Contact) (crm.UpsertResult, error) {
	return upsertAll(ctx, l, "contact", recs, func(ctx context.Context, t *wtx, c *crm.Contact) (int64, bool, error) {
		return l.upsertContact(ctx, t, tenant, c)
	})
}

func (l *LocalCRM) upsertContact(ctx context.Context, t *wtx, tenant string, c *crm.Contact) (int64, bool, error) {
	src := sourceOr(c.Source)
	email, others, err := cleanEmails(c.Email, c.Emails)
	if err != nil {
		return 0, false, err
	}
	acct, err := resolveAccount(ctx, t, tenant, src, c.AccountID, c.AccountExternalID, c.AccountName)
	if err != nil {
		return 0, false, err
	}
	var (
		id                  int64
		oldEmail, oldOthers string
		found               bool
	)
	const sel = `SELECT id, email, other_emails FROM crm_contacts WHERE tenant_id = ? AND `
	switch {
	case c.ID != "":
		found, err = t.row(ctx, sel+`id = ?`, []any{tenant, idNum(c.ID)}, &id, &oldEmail, &oldOthers)
		if err == nil && !found {
			return 0, false, badField("id", crm.ErrUnknownRecord, "contact %s", c.ID)
		}
	case c.ExternalID != "":
		found, err = t.row(ctx, sel+`source = ? AND external_id = ?`, []any{tenant, src, c.ExternalID}, &id, &oldEmail, &oldOthers)
	case email != "":
		found, err = t.row(ctx, `SELECT c.id, c.email, c.other_emails FROM crm_contact_emails e
JOIN crm_contacts c ON c.id = e.contact_id WHERE e.tenant_id = ? AND e.email = ? AND e.is_primary = 1
ORDER BY c.id LIMIT 1`, []any{tenant, email}, &id, &oldEmail, &oldOthers)
	default:
		return 0, false, badField("email", crm.ErrMissingField, "a contact needs an email or an external id")
	}
	if err != nil {
		return 0, false, err
	}
	if !found && strings.TrimSpace(c.FirstName) == "" && strings.TrimSpace(c.LastName) == "" {
		// A nameless contact shows as an empty line in the panel
		// (Salesforce requires LastName too).
		return 0, false, badField("last_name", crm.ErrMissingField, "a new contact needs a name")
	}
	if !found {
		id, err = t.insertID(ctx, `INSERT INTO crm_contacts (tenant_id, source, external_id, first_name, last_name, email,
  other_emails, phone, title, account_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, src, nullString(c.ExternalID), strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName),
			email, strings.Join(others, " "), c.Phone, c.Title, sql.NullInt64{Int64: acct, Valid: acct != 0}, t.now, t.now)
		if err != nil {
			return 0, false, err
		}
	} else {
		if email == "" {
			email = oldEmail
		}
		if others == nil {
			others = crm.SplitList(oldOthers)
		}
		others = slices.DeleteFunc(others, func(e string) bool { return e == email })
		_, err = t.exec(ctx, `UPDATE crm_contacts SET first_name = COALESCE(NULLIF(?, ''), first_name),
  last_name = COALESCE(NULLIF(?, ''), last_name), email = ?, other_emails = ?,
  phone = COALESCE(NULLIF(?, ''), phone), title = COALESCE(NULLIF(?, ''), title),
  account_id = COALESCE(?, account_id), updated_at = ? WHERE id = ?`,
			strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName), email, strings.Join(others, " "),
			c.Phone, c.Title, sql.NullInt64{Int64: acct, Valid: acct != 0}, t.now, id)
		if err != nil {
			return 0, false, err
		}
	}
	var old, all []string
	if oldEmail != "" {
		old = append(old, oldEmail)
	}
	old = append(old, crm.SplitList(oldOthers)...)
	if email != "" {
		all = append(all, email)
	}
	all = append(all, others...)
	err = syncKeys(ctx, t, tenant, id, old, all, cmpOr(email, "\x00"),
		`DELETE FROM crm_contact_emails WHERE tenant_id = ? AND email = ? AND contact_id = ?`,
		`INSERT INTO crm_contact_emails (tenant_id, email, contact_id, is_primary) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, email, contact_id) DO UPDATE SET is_primary = excluded.is_primary`)
	return id, !found, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// UpsertLeads writes leads: by ID, else by (Source, ExternalID), else by
// email (the oldest lead with it). On update, empty fields keep the stored
// value.
func (l *LocalCRM) UpsertLeads(ctx context.Context, tenant string, recs []crm.Lead) (crm.UpsertResult, error) {
	return upsertAll(ctx, l, "lead", recs, func(ctx context.Context, t *wtx, ld *crm.Lead) (int64, bool, error) {
		return l.upsertLead(ctx, t, tenant, ld)
	})
}

func (l *LocalCRM) upsertLead(ctx context.Context, t *wtx, tenant string, ld *crm.Lead) (int64, bool, error) {
	src := sourceOr(ld.Source)
	var email string
	if strings.TrimSpace(ld.Email) != "" {
		var err error
		if email, err = crm.CheckEmail(ld.Email); err != nil {
			return 0, false, badField("email", crm.ErrBadEmail, "%q", ld.Email)
		}
	}
	var (
		id    int64
		found bool
		err   error
	)
	switch {
	case ld.ID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_leads WHERE tenant_id = ? AND id = ?`, []any{tenant, idNum(ld.ID)}, &id)
		if err == nil && !found {
			return 0, false, badField("id", crm.ErrUnknownRecord, "lead %s", ld.ID)
		}
	case ld.ExternalID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_leads WHERE tenant_id = ? AND source = ? AND external_id = ?`,
			[]any{tenant, src, ld.ExternalID}, &id)
	case email != "":
		found, err = t.row(ctx, `SELECT id FROM crm_leads WHERE tenant_id = ? AND email = ? ORDER BY id LIMIT 1`,
			[]any{tenant, email}, &id)
	default:
		return 0, false, badField("email", crm.ErrMissingField, "a lead needs an email or an external id")
	}
	if err != nil {
		return 0, false, err
	}
	if !found {
		id, err = t.insertID(ctx, `INSERT INTO crm_leads (tenant_id, source, external_id, first_name, last_name, email,
  company, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, src, nullString(ld.ExternalID), strings.TrimSpace(ld.FirstName), strings.TrimSpace(ld.LastName),
			email, ld.Company, ld.Status, t.now, t.now)
		return id, true, err
	}
	_, err = t.exec(ctx, `UPDATE crm_leads SET first_name = COALESCE(NULLIF(?, ''), first_name),
  last_name = COALESCE(NULLIF(?, ''), last_name), email = COALESCE(NULLIF(?, ''), email),
  company = COALESCE(NULLIF(?, ''), company), status = COALESCE(NULLIF(?, ''), status),
  updated_at = ? WHERE id = ?`,
		strings.TrimSpace(ld.FirstName), strings.TrimSpace(ld.LastName), email, ld.Company, ld.Status, t.now, id)
	return id, false, err
}

// UpsertOpportunities writes opportunities: by ID, else by (Source,
// ExternalID), else by name within the same account. The account is
// resolved as for contacts. Closed is set by Closed or by a stage that
// starts with "Closed". On update, empty fields (and a zero Amount or
// CloseDate) keep the stored value.
func (l *LocalCRM) UpsertOpportunities(ctx context.Context, tenant string, recs []crm.Opportunity) (crm.UpsertResult, error) {
	return upsertAll(ctx, l, "opportunity", recs, func(ctx context.Context, t *wtx, o *crm.Opportunity) (int64, bool, error) {
		return l.upsertOpportunity(ctx, t, tenant, o)
	})
}

func (l *LocalCRM) upsertOpportunity(ctx context.Context, t *wtx, tenant string, o *crm.Opportunity) (int64, bool, error) {
	src := sourceOr(o.Source)
	name := strings.TrimSpace(o.Name)
	acct, err := resolveAccount(ctx, t, tenant, src, o.AccountID, o.AccountExternalID, o.AccountName)
	if err != nil {
		return 0, false, err
	}
	var (
		id    int64
		found bool
	)
	switch {
	case o.ID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_opportunities WHERE tenant_id = ? AND id = ?`, []any{tenant, idNum(o.ID)}, &id)
		if err == nil && !found {
			return 0, false, badField("id", crm.ErrUnknownRecord, "opportunity %s", o.ID)
		}
	case o.ExternalID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_opportunities WHERE tenant_id = ? AND source = ? AND external_id = ?`,
			[]any{tenant, src, o.ExternalID}, &id)
	case acct != 0 && name != "":
		found, err = t.row(ctx, `SELECT id FROM crm_opportunities WHERE tenant_id = ? AND account_id = ? AND source = ? AND name = ?
ORDER BY id LIMIT 1`, []any{tenant, acct, src, name}, &id)
	}
	if err != nil {
		return 0, false, err
	}
	closed := o.Closed || crm.IsClosedStage(o.Stage)
	acctArg := sql.NullInt64{Int64: acct, Valid: acct != 0}
	if !found {
		if name == "" {
			return 0, false, badField("name", crm.ErrMissingField, "")
		}
		id, err = t.insertID(ctx, `INSERT INTO crm_opportunities (tenant_id, source, external_id, name, stage, amount,
  close_date, account_id, closed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, src, nullString(o.ExternalID), name, o.Stage, o.Amount, nullTime(o.CloseDate), acctArg, closed, t.now, t.now)
		return id, true, err
	}
	_, err = t.exec(ctx, `UPDATE crm_opportunities SET name = COALESCE(NULLIF(?, ''), name),
  stage = COALESCE(NULLIF(?, ''), stage), amount = CASE WHEN ? = 0 THEN amount ELSE ? END,
  close_date = COALESCE(?, close_date), account_id = COALESCE(?, account_id),
  closed = CASE WHEN ? <> '' THEN ? ELSE (closed OR ?) END, updated_at = ? WHERE id = ?`,
		name, o.Stage, o.Amount, o.Amount, nullTime(o.CloseDate), acctArg, o.Stage, closed, o.Closed, t.now, id)
	return id, false, err
}

// UpsertCases writes cases: by ID, else by (Source, ExternalID), else a new
// case. AccountID and ContactID must exist. On update, empty fields keep the
// stored value.
func (l *LocalCRM) UpsertCases(ctx context.Context, tenant string, recs []crm.Case) (crm.UpsertResult, error) {
	return upsertAll(ctx, l, "case", recs, func(ctx context.Context, t *wtx, k *crm.Case) (int64, bool, error) {
		return l.upsertCase(ctx, t, tenant, k)
	})
}

func (l *LocalCRM) upsertCase(ctx context.Context, t *wtx, tenant string, k *crm.Case) (int64, bool, error) {
	src := sourceOr(k.Source)
	acct, err := resolveAccount(ctx, t, tenant, src, k.AccountID, "", "")
	if err != nil {
		return 0, false, err
	}
	var contact int64
	if k.ContactID != "" {
		found, err := t.row(ctx, `SELECT id FROM crm_contacts WHERE tenant_id = ? AND id = ?`, []any{tenant, idNum(k.ContactID)}, &contact)
		if err != nil {
			return 0, false, err
		}
		if !found {
			return 0, false, badField("contact", crm.ErrUnknownRecord, "contact %s", k.ContactID)
		}
	}
	var (
		id    int64
		found bool
	)
	switch {
	case k.ID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_cases WHERE tenant_id = ? AND id = ?`, []any{tenant, idNum(k.ID)}, &id)
		if err == nil && !found {
			return 0, false, badField("id", crm.ErrUnknownRecord, "case %s", k.ID)
		}
	case k.ExternalID != "":
		found, err = t.row(ctx, `SELECT id FROM crm_cases WHERE tenant_id = ? AND source = ? AND external_id = ?`,
			[]any{tenant, src, k.ExternalID}, &id)
	}
	if err != nil {
		return 0, false, err
	}
	acctArg := sql.NullInt64{Int64: acct, Valid: acct != 0}
	contactArg := sql.NullInt64{Int64: contact, Valid: contact != 0}
	if !found {
		if strings.TrimSpace(k.Subject) == "" {
			return 0, false, badField("subject", crm.ErrMissingField, "")
		}
		id, err = t.insertID(ctx, `INSERT INTO crm_cases (tenant_id, source, external_id, subject, status, ticket_id,
  account_id, contact_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, src, nullString(k.ExternalID), strings.TrimSpace(k.Subject), k.Status, k.TicketID, acctArg, contactArg, t.now, t.now)
		return id, true, err
	}
	_, err = t.exec(ctx, `UPDATE crm_cases SET subject = COALESCE(NULLIF(?, ''), subject),
  status = COALESCE(NULLIF(?, ''), status), ticket_id = CASE WHEN ? = 0 THEN ticket_id ELSE ? END,
  account_id = COALESCE(?, account_id), contact_id = COALESCE(?, contact_id), updated_at = ? WHERE id = ?`,
		strings.TrimSpace(k.Subject), k.Status, k.TicketID, k.TicketID, acctArg, contactArg, t.now, id)
	return id, false, err
}

// CreateContact implements Connector: it adds a contact for an unknown
// sender (Tenant and Email required). A second call for the same address
// (a double click) updates and returns the contact the first one made.
func (l *LocalCRM) CreateContact(ctx context.Context, c crm.Contact) (crm.Contact, error) {
	if c.Tenant == "" {
		return crm.Contact{}, errors.New("crm: create contact: Tenant is required")
	}
	if strings.TrimSpace(c.Email) == "" {
		return crm.Contact{}, fmt.Errorf("crm: create contact: %w: email", crm.ErrMissingField)
	}
	c.ID = ""
	var id int64
	err := l.inTx(ctx, func(t *wtx) (err error) {
		id, _, err = l.upsertContact(ctx, t, c.Tenant, &c)
		return err
	})
	if err != nil {
		return crm.Contact{}, fmt.Errorf("crm: create contact: %w", err)
	}
	return l.Contact(ctx, c.Tenant, idStr(id))
}

// CreateLead implements Connector, like CreateContact for a lead.
func (l *LocalCRM) CreateLead(ctx context.Context, ld crm.Lead) (crm.Lead, error) {
	if ld.Tenant == "" {
		return crm.Lead{}, errors.New("crm: create lead: Tenant is required")
	}
	if strings.TrimSpace(ld.Email) == "" {
		return crm.Lead{}, fmt.Errorf("crm: create lead: %w: email", crm.ErrMissingField)
	}
	ld.ID = ""
	var id int64
	err := l.inTx(ctx, func(t *wtx) (err error) {
		id, _, err = l.upsertLead(ctx, t, ld.Tenant, &ld)
		return err
	})
	if err != nil {
		return crm.Lead{}, fmt.Errorf("crm: create lead: %w", err)
	}
	return l.Lead(ctx, ld.Tenant, idStr(id))
}

// nullString is NULL for "" (external ids: records without one never
// collide in the unique index).
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
