package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
)

// The local CRM's generic record access (crm.Records): the API's
// /api/v1/crm/{object}. Each field of crm.RecordFields is the column of
// the same name; the look-up tables (account domains, contact emails) are
// kept in step in the same transaction.

var _ crm.Records = (*LocalCRM)(nil)

// recordAlias is each table's alias in the *Cols lists.
var recordAlias = map[crm.Object]string{crm.ObjAccount: "a", crm.ObjContact: "c", crm.ObjLead: "l",
	crm.ObjOpportunity: "o", crm.ObjCase: "k", crm.ObjCampaign: "m"}

// GetRecord implements crm.Records.
func (l *LocalCRM) GetRecord(ctx context.Context, tenant string, ref crm.Ref) (crm.Values, error) {
	var (
		rec any
		err error
	)
	switch ref.Object {
	case crm.ObjAccount:
		rec, err = l.Account(ctx, tenant, ref.ID)
	case crm.ObjContact:
		rec, err = l.Contact(ctx, tenant, ref.ID)
	case crm.ObjLead:
		rec, err = l.Lead(ctx, tenant, ref.ID)
	case crm.ObjOpportunity:
		rec, err = l.Opportunity(ctx, tenant, ref.ID)
	case crm.ObjCase:
		rec, err = l.Case(ctx, tenant, ref.ID)
	case crm.ObjCampaign:
		rec, err = l.Campaign(ctx, tenant, ref.ID)
	default:
		return nil, fmt.Errorf("crm: unknown object %q", ref.Object)
	}
	if err != nil {
		return nil, err
	}
	return crm.FieldsOf(rec), nil
}

// ListRecords implements crm.Records: newest first.
func (l *LocalCRM) ListRecords(ctx context.Context, tenant string, obj crm.Object, q crm.RecordQuery) ([]crm.Values, error) {
	table, ok := recordTables[obj]
	if !ok {
		return nil, fmt.Errorf("crm: unknown object %q", obj)
	}
	a := recordAlias[obj]
	cols := map[crm.Object]string{crm.ObjAccount: accountCols, crm.ObjContact: contactCols, crm.ObjLead: leadCols,
		crm.ObjOpportunity: oppCols, crm.ObjCase: caseCols, crm.ObjCampaign: campaignCols}[obj]
	where, args := []string{a + ".tenant_id = ?"}, []any{tenant}
	if q.Email != "" {
		switch obj {
		case crm.ObjContact:
			where = append(where, `c.id IN (SELECT contact_id FROM crm_contact_emails WHERE tenant_id = ? AND email = ?)`)
			args = append(args, tenant, crm.NormalizeEmail(q.Email))
		case crm.ObjLead:
			where, args = append(where, "l.email = ?"), append(args, crm.NormalizeEmail(q.Email))
		default:
			return nil, crm.RecordError{Field: "email", Err: fmt.Errorf("%w: only contacts and leads have an email", crm.ErrInvalidValue)}
		}
	}
	if q.Name != "" {
		like := likePrefix(q.Name)
		switch obj {
		case crm.ObjContact, crm.ObjLead:
			where = append(where, "("+a+".last_name LIKE ? ESCAPE '\\' OR "+a+".first_name LIKE ? ESCAPE '\\' OR ("+a+".first_name || ' ' || "+a+".last_name) LIKE ? ESCAPE '\\')")
			args = append(args, like, like, like)
		case crm.ObjCase:
			where, args = append(where, "k.subject LIKE ? ESCAPE '\\'"), append(args, like)
		default:
			where, args = append(where, a+".name LIKE ? ESCAPE '\\'"), append(args, like)
		}
	}
	if q.AccountID != "" {
		if obj == crm.ObjAccount || obj == crm.ObjLead {
			return nil, crm.RecordError{Field: "account_id", Err: fmt.Errorf("%w: %ss have no account", crm.ErrInvalidValue, obj)}
		}
		where, args = append(where, a+".account_id = ?"), append(args, idNum(q.AccountID))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, min(limit, 200))
	rows, err := l.r.QueryContext(ctx, `SELECT `+cols+` FROM `+table+` `+a+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY `+a+`.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("crm: list %ss: %w", obj, err)
	}
	out := []crm.Values{}
	add := func(v any) { out = append(out, crm.FieldsOf(v)) }
	switch obj {
	case crm.ObjAccount:
		err = collectInto(rows, scanAccount, add)
	case crm.ObjContact:
		err = collectInto(rows, scanContact, add)
	case crm.ObjLead:
		err = collectInto(rows, scanLead, add)
	case crm.ObjOpportunity:
		err = collectInto(rows, scanOpportunity, add)
	case crm.ObjCase:
		err = collectInto(rows, scanCase, add)
	case crm.ObjCampaign:
		err = collectInto(rows, scanCampaign, add)
	}
	if err != nil {
		return nil, fmt.Errorf("crm: list %ss: %w", obj, err)
	}
	return out, nil
}

func collectInto[T any](rows *sql.Rows, scan func(rowScanner) (T, error), add func(any)) error {
	recs, err := collect(rows, scan)
	for _, r := range recs {
		add(r)
	}
	return err
}

// likePrefix is a LIKE pattern for names starting with s.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(strings.TrimSpace(s)) + "%"
}

// CreateRecord implements crm.Records.
func (l *LocalCRM) CreateRecord(ctx context.Context, tenant string, obj crm.Object, f crm.Values) (crm.Values, error) {
	f, err := crm.CheckFields(obj, f, true, false)
	if err != nil {
		return nil, err
	}
	var id int64
	err = l.inTx(ctx, func(t *wtx) error {
		cols, vals, err := recordColumns(ctx, t, tenant, obj, f)
		if err != nil {
			return err
		}
		cols = append(cols, "tenant_id", "source", "created_at", "updated_at")
		vals = append(vals, tenant, "local", t.now, t.now)
		id, err = t.insertID(ctx, `INSERT INTO `+recordTables[obj]+` (`+strings.Join(cols, ", ")+`) VALUES (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+`)`, vals...)
		if err != nil {
			return err
		}
		return syncLookups(ctx, t, tenant, obj, id, f, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("crm: create %s: %w", obj, err)
	}
	return l.GetRecord(ctx, tenant, crm.Ref{Object: obj, ID: idStr(id)})
}

// UpdateRecord implements crm.Records: the fields named change, others
// stay.
func (l *LocalCRM) UpdateRecord(ctx context.Context, tenant string, ref crm.Ref, f crm.Values) (crm.Values, error) {
	f, err := crm.CheckFields(ref.Object, f, false, false)
	if err != nil {
		return nil, err
	}
	for _, rf := range crm.RecordFields[ref.Object] {
		if v, ok := f[rf.Name]; ok && rf.Required && (v == "" || v == nil) {
			return nil, crm.RecordError{Field: rf.Name, Err: crm.ErrMissingField}
		}
	}
	old, err := l.GetRecord(ctx, tenant, ref)
	if err != nil {
		return nil, err
	}
	if len(f) > 0 {
		err = l.inTx(ctx, func(t *wtx) error {
			cols, vals, err := recordColumns(ctx, t, tenant, ref.Object, f)
			if err != nil {
				return err
			}
			set := make([]string, 0, len(cols)+1)
			for _, c := range cols {
				set = append(set, c+" = ?")
			}
			set = append(set, "updated_at = ?")
			vals = append(vals, t.now, tenant, idNum(ref.ID))
			res, err := t.exec(ctx, `UPDATE `+recordTables[ref.Object]+` SET `+strings.Join(set, ", ")+` WHERE tenant_id = ? AND id = ?`, vals...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("%s %s: %w", ref.Object, ref.ID, crm.ErrNotFound)
			}
			return syncLookups(ctx, t, tenant, ref.Object, idNum(ref.ID), f, old)
		})
		if err != nil {
			return nil, fmt.Errorf("crm: update %s: %w", ref.Object, err)
		}
	}
	return l.GetRecord(ctx, tenant, ref)
}

// DeleteRecord implements crm.Records: the record, its look-up rows and
// its links go; records that pointed at it keep no dangling reference.
func (l *LocalCRM) DeleteRecord(ctx context.Context, tenant string, ref crm.Ref) error {
	table, ok := recordTables[ref.Object]
	if !ok {
		return fmt.Errorf("crm: unknown object %q", ref.Object)
	}
	id := idNum(ref.ID)
	err := l.inTx(ctx, func(t *wtx) error {
		res, err := t.exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = ? AND id = ?`, tenant, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || id == 0 {
			return fmt.Errorf("%s %q: %w", ref.Object, ref.ID, crm.ErrNotFound)
		}
		var stmts []string
		switch ref.Object {
		case crm.ObjAccount:
			stmts = []string{`DELETE FROM crm_account_domains WHERE tenant_id = ? AND account_id = ?`,
				`UPDATE crm_contacts SET account_id = NULL WHERE tenant_id = ? AND account_id = ?`,
				`UPDATE crm_opportunities SET account_id = NULL WHERE tenant_id = ? AND account_id = ?`,
				`UPDATE crm_cases SET account_id = NULL WHERE tenant_id = ? AND account_id = ?`}
		case crm.ObjContact:
			stmts = []string{`DELETE FROM crm_contact_emails WHERE tenant_id = ? AND contact_id = ?`,
				`UPDATE crm_cases SET contact_id = NULL WHERE tenant_id = ? AND contact_id = ?`}
		}
		for _, s := range stmts {
			if _, err := t.exec(ctx, s, tenant, id); err != nil {
				return err
			}
		}
		_, err = t.exec(ctx, `DELETE FROM crm_links WHERE tenant_id = ? AND object = ? AND record_id = ?`, tenant, string(ref.Object), idStr(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("crm: delete %s: %w", ref.Object, err)
	}
	return nil
}

// recordColumns turns checked fields into columns and values; references
// must name a record of the tenant.
func recordColumns(ctx context.Context, t *wtx, tenant string, obj crm.Object, f crm.Values) ([]string, []any, error) {
	var cols []string
	var vals []any
	for _, rf := range crm.RecordFields[obj] {
		v, ok := f[rf.Name]
		if !ok {
			continue
		}
		switch rf.Kind {
		case crm.KindList:
			v = strings.Join(v.([]string), " ")
		case crm.KindRef:
			s := v.(string)
			if s == "" {
				v = sql.NullInt64{}
				break
			}
			target := map[string]crm.Object{"account_id": crm.ObjAccount, "contact_id": crm.ObjContact}[rf.Name]
			var one int
			found, err := t.row(ctx, `SELECT 1 FROM `+recordTables[target]+` WHERE tenant_id = ? AND id = ?`, []any{tenant, idNum(s)}, &one)
			if err != nil {
				return nil, nil, err
			}
			if !found {
				return nil, nil, crm.RecordError{Field: rf.Name, Err: fmt.Errorf("%w: no %s %q", crm.ErrUnknownRecord, target, s)}
			}
			v = idNum(s)
		case crm.KindDate:
			s := v.(string)
			if s == "" {
				v = sql.NullString{}
				break
			}
			d, _ := time.Parse(time.DateOnly, s)
			v = nullTime(d)
		case crm.KindNumber:
			if rf.Name == "ticket_id" {
				v = int64(v.(float64))
			}
		}
		cols, vals = append(cols, rf.Name), append(vals, v)
	}
	if obj == crm.ObjOpportunity {
		if st, ok := f["stage"].(string); ok {
			cols, vals = append(cols, "closed"), append(vals, crm.IsClosedStage(st))
		}
	}
	return cols, vals, nil
}

// syncLookups keeps crm_account_domains and crm_contact_emails in step
// with a written record (old: its fields before an update; nil on create).
func syncLookups(ctx context.Context, t *wtx, tenant string, obj crm.Object, id int64, f, old crm.Values) error {
	list := func(v crm.Values, k string) []string {
		if v == nil {
			return nil
		}
		l, _ := v[k].([]string)
		return l
	}
	str := func(v crm.Values, k string) string {
		if v == nil {
			return ""
		}
		s, _ := v[k].(string)
		return s
	}
	pick := func(k string) crm.Values { // the new value where written, else the old
		if _, ok := f[k]; ok {
			return f
		}
		return old
	}
	switch obj {
	case crm.ObjAccount:
		_, d := f["domains"]
		_, w := f["website"]
		if !d && !w {
			return nil
		}
		a := crm.Account{Website: str(pick("website"), "website"), Domains: list(pick("domains"), "domains")}
		doms := crm.AccountDomains(&a)
		if _, err := t.exec(ctx, `UPDATE crm_accounts SET domains = ? WHERE tenant_id = ? AND id = ?`, strings.Join(doms, " "), tenant, id); err != nil {
			return err
		}
		return syncKeys(ctx, t, tenant, id, list(old, "domains"), doms, "",
			`DELETE FROM crm_account_domains WHERE tenant_id = ? AND domain = ? AND account_id = ?`,
			`INSERT INTO crm_account_domains (tenant_id, domain, account_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
	case crm.ObjContact:
		_, e := f["email"]
		_, o := f["other_emails"]
		if !e && !o {
			return nil
		}
		primary := str(pick("email"), "email")
		others := slices.DeleteFunc(slices.Clone(list(pick("other_emails"), "other_emails")), func(x string) bool { return x == primary })
		if _, err := t.exec(ctx, `UPDATE crm_contacts SET other_emails = ? WHERE tenant_id = ? AND id = ?`, strings.Join(others, " "), tenant, id); err != nil {
			return err
		}
		var was, all []string
		if p := str(old, "email"); p != "" {
			was = append(was, p)
		}
		was = append(was, list(old, "other_emails")...)
		if primary != "" {
			all = append(all, primary)
		}
		all = append(all, others...)
		return syncKeys(ctx, t, tenant, id, was, all, cmpOr(primary, "\x00"),
			`DELETE FROM crm_contact_emails WHERE tenant_id = ? AND email = ? AND contact_id = ?`,
			`INSERT INTO crm_contact_emails (tenant_id, email, contact_id, is_primary) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, email, contact_id) DO UPDATE SET is_primary = excluded.is_primary`)
	}
	return nil
}

// The local CRM's describe-built forms (crm.RecordForms): its objects
// described from crm.RecordFields, values as text.
var _ crm.RecordForms = (*LocalCRM)(nil)

// Fields implements crm.RecordEditor.
func (l *LocalCRM) Fields(_ context.Context, _ string, obj crm.Object) ([]crm.FieldInfo, error) {
	if _, ok := recordTables[obj]; !ok {
		return nil, fmt.Errorf("crm: unknown object %q", obj)
	}
	return crm.DescribeLocal(obj), nil
}

// Update implements crm.RecordEditor.
func (l *LocalCRM) Update(ctx context.Context, tenant string, rec crm.Ref, values map[string]string) error {
	f, err := crm.ValuesFromText(rec.Object, values)
	if err != nil {
		return err
	}
	_, err = l.UpdateRecord(ctx, tenant, rec, f)
	return err
}

// ReadFields implements crm.RecordForms.
func (l *LocalCRM) ReadFields(ctx context.Context, tenant string, rec crm.Ref) (map[string]string, error) {
	v, err := l.GetRecord(ctx, tenant, rec)
	if err != nil {
		return nil, err
	}
	return crm.TextOf(v), nil
}

// CreateFields implements crm.RecordForms.
func (l *LocalCRM) CreateFields(ctx context.Context, tenant string, obj crm.Object, values map[string]string) (string, error) {
	f, err := crm.ValuesFromText(obj, values)
	if err != nil {
		return "", err
	}
	v, err := l.CreateRecord(ctx, tenant, obj, f)
	if err != nil {
		return "", err
	}
	return v.Text("id"), nil
}

// RecordURL implements crm.RecordForms: the local CRM has no UI of its own.
func (l *LocalCRM) RecordURL(context.Context, string, crm.Ref) string { return "" }
