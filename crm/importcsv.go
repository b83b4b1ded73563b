package crm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// ImportOptions configures Import.
type ImportOptions struct {
	// Map maps CSV columns (header names, case-insensitive) to field names
	// (Fields(obj)); "-" ignores a column. Columns not in Map are matched by
	// name: a header equal to a field name or a known alias, ignoring case,
	// spaces and punctuation (Salesforce export headers such as
	// "Account Name", "First Name", "Annual Revenue", "Close Date", "Stage",
	// "Account ID", "Id" work as they are).
	Map map[string]string
	// Progress, when set, is called after each batch with the rows read so
	// far and the total: counted ahead when the input can seek (a file),
	// else 0 (unknown). See ProgressBar.
	Progress func(done, total int)
	// Source is the records' Source, part of the upsert key with the
	// external id. Default "csv". Contacts and opportunities find their
	// account's external id ("Account ID") in the same Source.
	Source string
	// MaxErrors is how many row errors the report keeps (all are counted).
	// Default 10,000.
	MaxErrors int
}

// ImportReport is the outcome of Import.
type ImportReport struct {
	Object Object
	// Rows is the number of data rows read; Inserted + Updated + Failed + Skipped = Rows.
	Rows, Inserted, Updated, Failed, Skipped int
	// Columns is the mapping used (column → field); Ignored lists the
	// columns that fed no field.
	Columns map[string]string
	Ignored []string
	// Errors are the refused rows, in row order (the first MaxErrors).
	Errors []RowError
}

// RowError says why one CSV row was not imported.
type RowError struct {
	// Row is the line of the file the record starts on (the header is line
	// 1), which is a spreadsheet's row number unless a field spans lines.
	Row    int
	Column string // CSV column at fault, "" for the whole row
	Field  string // field at fault
	Value  string
	Reason string
}

// String is the error as a CLI prints it: row 7 column "Email": bad email ...
func (e RowError) String() string {
	s := "row " + strconv.Itoa(e.Row)
	if e.Column != "" {
		s += " column " + strconv.Quote(e.Column)
	}
	return s + ": " + e.Reason
}

// WriteErrors writes the row errors as CSV (row,column,field,value,reason),
// for the user to fix and re-import.
func (r *ImportReport) WriteErrors(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"row", "column", "field", "value", "reason"}); err != nil {
		return fmt.Errorf("crm: write errors: %w", err)
	}
	for _, e := range r.Errors {
		if err := cw.Write([]string{strconv.Itoa(e.Row), e.Column, e.Field, e.Value, e.Reason}); err != nil {
			return fmt.Errorf("crm: write errors: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("crm: write errors: %w", err)
	}
	return nil
}

// field is one importable field of record type T.
type field[T any] struct {
	name    string
	aliases []string // header names, compared by normKey
	set     func(rec *T, v string, p *parseCtx) error
}

// parseCtx carries what the file's shape says about its values.
type parseCtx struct{ european bool } // ';'-separated: decimal comma, day-first dates

func str[T any](get func(*T) *string) func(*T, string, *parseCtx) error {
	return func(r *T, v string, _ *parseCtx) error { *get(r) = strings.TrimSpace(v); return nil }
}

func email[T any](get func(*T) *string) func(*T, string, *parseCtx) error {
	return func(r *T, v string, _ *parseCtx) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		e, err := CheckEmail(v)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrBadEmail, v)
		}
		*get(r) = e
		return nil
	}
}

func number[T any](get func(*T) *float64) func(*T, string, *parseCtx) error {
	return func(r *T, v string, p *parseCtx) (err error) { *get(r), err = parseNumber(v, p.european); return err }
}

func fullName[T any](first, last func(*T) *string) func(*T, string, *parseCtx) error {
	return func(r *T, v string, _ *parseCtx) error {
		f, l := splitName(v)
		if *first(r) == "" {
			*first(r) = f
		}
		if *last(r) == "" {
			*last(r) = l
		}
		return nil
	}
}

var accountFields = []field[Account]{
	{"external_id", []string{"id", "account id", "external id"}, str(func(a *Account) *string { return &a.ExternalID })},
	{"name", []string{"account name", "account", "company", "company name"}, str(func(a *Account) *string { return &a.Name })},
	{"website", []string{"url", "web site", "homepage"}, str(func(a *Account) *string { return &a.Website })},
	{"domains", []string{"domain", "email domain", "email domains"}, func(a *Account, v string, _ *parseCtx) error {
		a.Domains = splitEmails(v)
		return nil
	}},
	{"type", []string{"account type"}, str(func(a *Account) *string { return &a.Type })},
	{"tier", []string{"customer tier", "account tier", "plan", "segment"}, str(func(a *Account) *string { return &a.Tier })},
	{"industry", nil, str(func(a *Account) *string { return &a.Industry })},
	{"annual_revenue", []string{"revenue"}, number(func(a *Account) *float64 { return &a.AnnualRevenue })},
	{"owner", []string{"account owner", "owner name", "owner email"}, str(func(a *Account) *string { return &a.Owner })},
}

var contactFields = []field[Contact]{
	{"external_id", []string{"id", "contact id", "external id"}, str(func(c *Contact) *string { return &c.ExternalID })},
	{"first_name", []string{"first", "given name"}, str(func(c *Contact) *string { return &c.FirstName })},
	{"last_name", []string{"last", "surname", "family name"}, str(func(c *Contact) *string { return &c.LastName })},
	{"name", []string{"full name", "contact name", "contact"}, fullName(func(c *Contact) *string { return &c.FirstName },
		func(c *Contact) *string { return &c.LastName })},
	{"email", []string{"email address", "e-mail", "primary email"}, email(func(c *Contact) *string { return &c.Email })},
	{"emails", []string{"other emails", "other email", "secondary email", "alternate email", "additional emails"},
		func(c *Contact, v string, _ *parseCtx) error {
			for _, e := range splitEmails(v) {
				n, err := CheckEmail(e)
				if err != nil {
					return fmt.Errorf("%w: %q", ErrBadEmail, e)
				}
				c.Emails = append(c.Emails, n)
			}
			return nil
		}},
	{"phone", []string{"business phone", "phone number", "mobile", "mobile phone"}, str(func(c *Contact) *string { return &c.Phone })},
	{"title", []string{"job title"}, str(func(c *Contact) *string { return &c.Title })},
	{"account_external_id", []string{"account id", "account_id"}, str(func(c *Contact) *string { return &c.AccountExternalID })},
	{"account_name", []string{"account name", "account", "company", "company name"}, str(func(c *Contact) *string { return &c.AccountName })},
	{"account_local_id", nil, str(func(c *Contact) *string { return &c.AccountID })},
}

var leadFields = []field[Lead]{
	{"external_id", []string{"id", "lead id", "external id"}, str(func(l *Lead) *string { return &l.ExternalID })},
	{"first_name", []string{"first", "given name"}, str(func(l *Lead) *string { return &l.FirstName })},
	{"last_name", []string{"last", "surname", "family name"}, str(func(l *Lead) *string { return &l.LastName })},
	{"name", []string{"full name", "lead name"}, fullName(func(l *Lead) *string { return &l.FirstName },
		func(l *Lead) *string { return &l.LastName })},
	{"email", []string{"email address", "e-mail"}, email(func(l *Lead) *string { return &l.Email })},
	{"company", []string{"company name", "account name", "organization", "organisation"}, str(func(l *Lead) *string { return &l.Company })},
	{"status", []string{"lead status"}, str(func(l *Lead) *string { return &l.Status })},
}

var opportunityFields = []field[Opportunity]{
	{"external_id", []string{"id", "opportunity id", "external id"}, str(func(o *Opportunity) *string { return &o.ExternalID })},
	{"name", []string{"opportunity name", "opportunity", "deal name"}, str(func(o *Opportunity) *string { return &o.Name })},
	{"stage", []string{"stage name", "stagename", "opportunity stage"}, str(func(o *Opportunity) *string { return &o.Stage })},
	{"amount", []string{"opportunity amount", "value"}, number(func(o *Opportunity) *float64 { return &o.Amount })},
	{"close_date", []string{"closedate", "expected close date"}, func(o *Opportunity, v string, p *parseCtx) (err error) {
		o.CloseDate, err = parseDate(v, p.european)
		return err
	}},
	{"closed", []string{"is closed", "isclosed"}, func(o *Opportunity, v string, _ *parseCtx) (err error) {
		o.Closed, err = parseBool(v)
		return err
	}},
	{"account_external_id", []string{"account id", "account_id"}, str(func(o *Opportunity) *string { return &o.AccountExternalID })},
	{"account_name", []string{"account name", "account"}, str(func(o *Opportunity) *string { return &o.AccountName })},
	{"account_local_id", nil, str(func(o *Opportunity) *string { return &o.AccountID })},
}

func fieldNames[T any](fs []field[T]) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// Fields lists the field names Import knows for obj (the targets of
// ImportOptions.Map), or nil for an object it cannot import.
func Fields(obj Object) []string {
	switch obj {
	case ObjAccount:
		return fieldNames(accountFields)
	case ObjContact:
		return fieldNames(contactFields)
	case ObjLead:
		return fieldNames(leadFields)
	case ObjOpportunity:
		return fieldNames(opportunityFields)
	}
	return nil
}

// normKey folds a header for matching: lower case, letters and digits only
// ("Account Name", "account_name", "AccountName" → "accountname").
func normKey(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

// ParseMap parses the CLI's --map "col=field,col2=field2"; spaces around
// names are trimmed. The error names the bad pair.
func ParseMap(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		col, fld, ok := strings.Cut(pair, "=")
		col, fld = strings.TrimSpace(col), strings.TrimSpace(fld)
		if !ok || col == "" || fld == "" {
			return nil, fmt.Errorf("crm: --map: %q is not column=field", strings.TrimSpace(pair))
		}
		if _, dup := out[col]; dup {
			return nil, fmt.Errorf("crm: --map: column %q is mapped twice (%q)", col, strings.TrimSpace(pair))
		}
		out[col] = fld
	}
	return out, nil
}

// Import reads a CSV of obj records from r and upserts them into conn for
// tenant, in batches of UpsertBatch rows (one transaction each): by external
// id when the row has one, else contacts and leads by email, accounts by
// name, opportunities by name within their account (see the Upsert
// methods). Bad rows (bad email, number or date, missing required field,
// unknown account, broken CSV) are reported with their row number in the
// report while the good ones are kept. The input streams: only one batch is
// in memory. A UTF-8 BOM, CRLF line ends, quoted fields and ';' or tab as
// the separator (detected from the header line) are accepted; a
// ';'-separated file is read the European way (decimal comma, day-first
// dates). The error is for the import as a whole (unreadable input, a
// header that names no field, the database failing); the report then holds
// what was done before.
func Import(ctx context.Context, conn Upserter, tenant string, obj Object, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	switch obj {
	case ObjAccount:
		return importCSV(ctx, conn.UpsertAccounts, tenant, obj, accountFields, func(a *Account, s string) { a.Source = s }, r, opts)
	case ObjContact:
		return importCSV(ctx, conn.UpsertContacts, tenant, obj, contactFields, func(c *Contact, s string) { c.Source = s }, r, opts)
	case ObjLead:
		return importCSV(ctx, conn.UpsertLeads, tenant, obj, leadFields, func(l *Lead, s string) { l.Source = s }, r, opts)
	case ObjOpportunity:
		return importCSV(ctx, conn.UpsertOpportunities, tenant, obj, opportunityFields, func(o *Opportunity, s string) { o.Source = s }, r, opts)
	}
	return nil, fmt.Errorf("crm: import: cannot import %q (account, contact, lead or opportunity)", obj)
}

// Upserter writes records in bulk; the local CRM (store.LocalCRM)
// implements it. Each method writes what it can and reports the records it
// refused in UpsertResult.Failed.
type Upserter interface {
	UpsertAccounts(ctx context.Context, tenant string, recs []Account) (UpsertResult, error)
	UpsertContacts(ctx context.Context, tenant string, recs []Contact) (UpsertResult, error)
	UpsertLeads(ctx context.Context, tenant string, recs []Lead) (UpsertResult, error)
	UpsertOpportunities(ctx context.Context, tenant string, recs []Opportunity) (UpsertResult, error)
}

// externalID is the record's external id, "" when it has none.
func externalID(v any) string {
	switch r := v.(type) {
	case *Account:
		return r.ExternalID
	case *Contact:
		return r.ExternalID
	case *Lead:
		return r.ExternalID
	case *Opportunity:
		return r.ExternalID
	}
	return ""
}

// column is one CSV column bound to a field (fld < 0: ignored).
type column struct {
	name string
	fld  int
}

func importCSV[T any](ctx context.Context, upsert func(context.Context, string, []T) (UpsertResult, error),
	tenant string, obj Object, fields []field[T], setSource func(*T, string), r io.Reader, opts ImportOptions) (*ImportReport, error) {
	rep := &ImportReport{Object: obj, Columns: map[string]string{}}
	if opts.Source == "" {
		opts.Source = "csv"
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 10_000
	}
	total := 0
	if opts.Progress != nil {
		if rs, ok := r.(io.ReadSeeker); ok {
			n, err := countRecords(rs)
			if err != nil {
				return rep, fmt.Errorf("crm: import: %w", err)
			}
			total = max(n-1, 0) // less the header
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	sep, err := detectSeparator(br)
	if err != nil {
		return rep, fmt.Errorf("crm: import: %w", err)
	}
	pc := &parseCtx{european: sep == ';'}
	cr := csv.NewReader(br)
	cr.Comma = sep
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return rep, errors.New("crm: import: the file is empty (no header line)")
	}
	if err != nil {
		return rep, fmt.Errorf("crm: import: header: %w", err)
	}
	cols, err := bindColumns(slices.Clone(header), fields, opts.Map, obj)
	if err != nil {
		return rep, err
	}
	for _, c := range cols {
		if c.fld >= 0 {
			rep.Columns[c.name] = fields[c.fld].name
		} else {
			rep.Ignored = append(rep.Ignored, c.name)
		}
	}

	addErr := func(e RowError) {
		rep.Failed++
		if len(rep.Errors) < opts.MaxErrors {
			rep.Errors = append(rep.Errors, e)
		}
	}
	batch := make([]T, 0, UpsertBatch)
	rows := make([]int, 0, UpsertBatch)
	seen := map[string]int{} // external id → the row that had it first
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := upsert(ctx, tenant, batch)
		if err != nil {
			return err
		}
		rep.Inserted += res.Inserted
		rep.Updated += res.Updated
		for _, f := range res.Failed {
			e := RowError{Row: rows[f.Index], Field: f.Field, Reason: f.Err.Error()}
			e.Column = columnOf(cols, fields, f.Field)
			addErr(e)
		}
		// Row errors of a batch arrive after the parse errors of later rows.
		slices.SortStableFunc(rep.Errors, func(a, b RowError) int { return a.Row - b.Row })
		batch, rows = batch[:0], rows[:0]
		if opts.Progress != nil {
			if total > 0 {
				total = max(total, rep.Rows) // the count was an estimate
			}
			opts.Progress(rep.Rows, total)
		}
		return ctx.Err()
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return rep, fmt.Errorf("crm: import: read: %w", err)
			}
			rep.Rows++
			addErr(RowError{Row: pe.StartLine, Reason: "broken CSV: " + pe.Err.Error()})
			continue
		}
		rep.Rows++
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			rep.Skipped++
			continue
		}
		if len(rec) < len(cols) {
			// A short row would import its missing cells as empty: refuse
			// it rather than guess which cells went missing.
			addErr(RowError{Row: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))})
			continue
		}
		var v T
		setSource(&v, opts.Source)
		ok := true
		for i, cell := range rec {
			if i >= len(cols) {
				if strings.TrimSpace(cell) != "" {
					addErr(RowError{Row: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))})
					ok = false
				}
				break
			}
			if cols[i].fld < 0 {
				continue
			}
			f := &fields[cols[i].fld]
			if err := f.set(&v, cell, pc); err != nil {
				addErr(RowError{Row: line, Column: cols[i].name, Field: f.name, Value: cell, Reason: err.Error()})
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if id := externalID(&v); id != "" {
			// The same id twice in one file: the later row would silently
			// overwrite the earlier one.
			if first, dup := seen[id]; dup {
				addErr(RowError{Row: line, Column: columnOf(cols, fields, "external_id"), Field: "external_id", Value: id,
					Reason: fmt.Sprintf("duplicate id: row %d has it already", first)})
				continue
			}
			seen[id] = line
		}
		batch = append(batch, v)
		rows = append(rows, line)
		if len(batch) == UpsertBatch {
			if err := flush(); err != nil {
				return rep, fmt.Errorf("crm: import: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return rep, fmt.Errorf("crm: import: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(rep.Rows, rep.Rows)
	}
	return rep, nil
}

// columnOf names the column bound to field, or to the first of its
// variants ("account" → account_external_id, account_name, ...).
func columnOf[T any](cols []column, fields []field[T], name string) string {
	for _, exact := range []bool{true, false} {
		for _, c := range cols {
			if c.fld < 0 {
				continue
			}
			if n := fields[c.fld].name; (exact && n == name) || (!exact && strings.HasPrefix(n, name+"_")) {
				return c.name
			}
		}
	}
	return ""
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// bindColumns maps header columns to fields: explicit Map entries first,
// then the rest by name.
func bindColumns[T any](header []string, fields []field[T], m map[string]string, obj Object) ([]column, error) {
	cols := make([]column, len(header))
	byName := map[string]int{}
	for i, f := range fields {
		byName[f.name] = i
	}
	taken := map[int]bool{}
	for i, h := range header {
		cols[i] = column{name: strings.TrimSpace(h), fld: -1}
	}
	explicit := map[int]bool{}
	for col, fname := range m {
		idx := slices.IndexFunc(cols, func(c column) bool { return strings.EqualFold(c.name, strings.TrimSpace(col)) })
		if idx < 0 {
			return nil, fmt.Errorf("crm: import: --map column %q is not in the header (%s)", col, strings.Join(header, ", "))
		}
		explicit[idx] = true
		if fname == "-" {
			continue
		}
		fi, ok := byName[strings.ToLower(fname)]
		if !ok {
			return nil, fmt.Errorf("crm: import: --map %s=%s: %s has no field %q (fields: %s)", col, fname, obj, fname,
				strings.Join(fieldNames(fields), ", "))
		}
		if taken[fi] {
			return nil, fmt.Errorf("crm: import: --map: two columns map to field %q", fields[fi].name)
		}
		taken[fi] = true
		cols[idx].fld = fi
	}
	for i := range cols {
		if explicit[i] {
			continue
		}
		k := normKey(cols[i].name)
		for fi, f := range fields {
			if taken[fi] {
				continue
			}
			match := normKey(f.name) == k
			for _, a := range f.aliases {
				match = match || normKey(a) == k
			}
			if match {
				cols[i].fld = fi
				taken[fi] = true
				break
			}
		}
	}
	if !slices.ContainsFunc(cols, func(c column) bool { return c.fld >= 0 }) {
		return nil, fmt.Errorf("crm: import: no column of the header (%s) names a field of %s (fields: %s); use --map column=field",
			strings.Join(header, ", "), obj, strings.Join(fieldNames(fields), ", "))
	}
	return cols, nil
}

// detectSeparator reads the header line (without consuming it) and picks
// the separator it uses most outside quotes: ',', ';' or tab.
func detectSeparator(br *bufio.Reader) (rune, error) {
	var line []byte
	for n := 4096; ; n *= 2 {
		b, err := br.Peek(n)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i]
			break
		}
		if err != nil { // EOF (a header without data) or a header longer than the buffer
			line = b
			break
		}
	}
	counts := map[rune]int{}
	inQuote := false
	for _, c := range line {
		switch {
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ',' || c == ';' || c == '\t'):
			counts[rune(c)]++
		}
	}
	sep := ','
	for _, c := range []rune{';', '\t'} {
		if counts[c] > counts[sep] {
			sep = c
		}
	}
	return sep, nil
}

// countRecords counts the CSV records of rs (newlines outside quotes, so a
// field spanning lines counts once) and seeks back to where it started.
func countRecords(rs io.ReadSeeker) (int, error) {
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	n, inQuote, last := 0, false, byte('\n')
	for {
		k, err := rs.Read(buf)
		for _, c := range buf[:k] {
			if c == '"' {
				inQuote = !inQuote
			} else if c == '\n' && !inQuote {
				n++
			}
		}
		if k > 0 {
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return 0, err
	}
	return n, nil
}
