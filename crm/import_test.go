package crm_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
)

func importFile(t *testing.T, l *store.LocalCRM, obj crm.Object, path string, opts crm.ImportOptions) *crm.ImportReport {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := crm.Import(context.Background(), l, "default", obj, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func rowsOf(errs []crm.RowError) []int {
	var out []int
	for _, e := range errs {
		out = append(out, e.Row)
	}
	return out
}

func TestImportSalesforceExport(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	rep := importFile(t, l, crm.ObjAccount, "testdata/salesforce_accounts.csv", crm.ImportOptions{})
	if rep.Rows != 5 || rep.Inserted != 3 || rep.Updated != 0 || rep.Failed != 2 {
		t.Errorf("accounts report: %+v", rep)
	}
	wantCols := map[string]string{"Account ID": "external_id", "Account Name": "name", "Website": "website", "Type": "type",
		"Customer Tier": "tier", "Industry": "industry", "Annual Revenue": "annual_revenue", "Account Owner": "owner"}
	for col, f := range wantCols {
		if rep.Columns[col] != f {
			t.Errorf("column %q → %q, want %q", col, rep.Columns[col], f)
		}
	}
	if !slices.Equal(rep.Ignored, []string{"Billing City"}) {
		t.Errorf("ignored = %q", rep.Ignored)
	}
	if got := rowsOf(rep.Errors); !slices.Equal(got, []int{5, 6}) {
		t.Errorf("error rows = %v, want [5 6]: %+v", got, rep.Errors)
	}
	if e := rep.Errors[0]; e.Column != "Annual Revenue" || e.Value != "lots" || !strings.Contains(e.Reason, "bad number") {
		t.Errorf("row 5 error = %+v", e)
	}
	if e := rep.Errors[1]; e.Column != "Account Name" || !strings.Contains(e.Reason, "missing required field") {
		t.Errorf("row 6 error = %+v", e)
	}

	rep = importFile(t, l, crm.ObjContact, "testdata/salesforce_contacts.csv", crm.ImportOptions{})
	if rep.Rows != 7 || rep.Inserted != 3 || rep.Failed != 4 {
		t.Errorf("contacts report: %+v", rep)
	}
	wantErrs := []struct {
		row          int
		column, word string
	}{
		{5, "Email", "bad email"},
		{6, "Email", "missing required field"},
		{7, "Account ID", "unknown account"},
		{8, "", "broken CSV"},
	}
	if len(rep.Errors) != len(wantErrs) {
		t.Fatalf("errors = %+v", rep.Errors)
	}
	for i, w := range wantErrs {
		if e := rep.Errors[i]; e.Row != w.row || e.Column != w.column || !strings.Contains(e.Reason, w.word) {
			t.Errorf("error %d = %+v, want row %d column %q reason with %q", i, e, w.row, w.column, w.word)
		}
	}

	// The good rows are kept, with their accounts resolved by Salesforce id.
	m, err := l.Match(ctx, "default", "jonas@globex.example")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(contactNames(m), []string{"Jonas Bauer"}) || !slices.Equal(accountNames(m), []string{"Globex Corporation"}) {
		t.Errorf("match jonas: %q %q", contactNames(m), accountNames(m))
	}
	if a := m.Accounts[0]; a.AnnualRevenue != 1.2e9 || a.ExternalID != "001A000001GlbxAAA" || a.Source != "csv" ||
		!slices.Equal(a.Domains, []string{"globex.example"}) {
		t.Errorf("account = %+v", a)
	}
	if c := m.Contacts[0]; !slices.Equal(c.Emails, []string{"j.bauer@globex.example", "jonas@globex.example"}) {
		t.Errorf("contact emails = %q", c.Emails)
	}
	if m, _ := l.Match(ctx, "default", "ceo@hooli.example"); !slices.Equal(accountNames(m), []string{"Hooli"}) ||
		m.Accounts[0].AnnualRevenue != 8.5e9 {
		t.Errorf("hooli by domain: %+v", m.Accounts)
	}
	anna, _ := l.Match(ctx, "default", "anna.schmidt@globex.example")
	if len(anna.Contacts) != 1 || anna.Contacts[0].Phone != "+49 30 1234567" {
		t.Errorf("anna (multi-line row): %+v", anna.Contacts)
	}

	// The error report as CSV.
	var buf bytes.Buffer
	if err := rep.WriteErrors(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || !slices.Equal(recs[0], []string{"row", "column", "field", "value", "reason"}) ||
		recs[1][0] != "5" || recs[1][1] != "Email" || recs[1][2] != "email" || recs[1][3] != "not-an-address" {
		t.Errorf("error CSV = %q", recs)
	}
}

func TestImportSemicolonBOM(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	accounts := "\ufeffAccount ID;Account Name;Website;Annual Revenue\r\n" +
		"A1;Müller & Söhne GmbH;mueller-soehne.example;\"12.000.000,50\"\r\n"
	rep, err := crm.Import(ctx, l, "default", crm.ObjAccount, strings.NewReader(accounts), crm.ImportOptions{})
	if err != nil || rep.Inserted != 1 || rep.Failed != 0 {
		t.Fatalf("accounts: %+v, %v", rep, err)
	}
	opps := "\ufeffId;Opportunity Name;Stage;Amount;Close Date;Account ID\r\n" +
		"O1;\"Lager; Erweiterung\";Prospecting;1.234,50;31.03.2027;A1\r\n" +
		"O2;Wartung;Closed Won;99,9;01/02/2027;A1\r\n" +
		"O3;Kaputt;Prospecting;12;31.02.2027;A1\r\n"
	rep, err = crm.Import(ctx, l, "default", crm.ObjOpportunity, strings.NewReader(opps), crm.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 2 || rep.Failed != 1 || rep.Errors[0].Row != 4 || rep.Errors[0].Column != "Close Date" ||
		!strings.Contains(rep.Errors[0].Reason, "bad date") {
		t.Errorf("report: %+v", rep)
	}
	if rep.Columns["Id"] != "external_id" || rep.Columns["Close Date"] != "close_date" || rep.Columns["Account ID"] != "account_external_id" {
		t.Errorf("columns: %v (BOM left in the first header?)", rep.Columns)
	}
	m, err := l.Match(ctx, "default", "info@mueller-soehne.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Accounts) != 1 || m.Accounts[0].AnnualRevenue != 12_000_000.5 {
		t.Fatalf("accounts: %+v", m.Accounts)
	}
	if len(m.Opportunities) != 1 { // O2 is Closed Won
		t.Fatalf("open opportunities: %+v", m.Opportunities)
	}
	o := m.Opportunities[0]
	if o.Name != "Lager; Erweiterung" || o.Amount != 1234.5 || !o.CloseDate.Equal(time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("opportunity = %+v", o)
	}
	closed, err := l.Opportunity(ctx, "default", idOfOpp(t, l, "O2"))
	if err != nil {
		t.Fatal(err)
	}
	// Day first in a ';' file: 1 February.
	if !closed.Closed || closed.Amount != 99.9 || !closed.CloseDate.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("closed opportunity = %+v", closed)
	}
}

// idOfOpp finds an opportunity's local id by re-importing its external id
// with nothing else: an update that reports what it matched is overkill, so
// look through Match of its account instead.
func idOfOpp(t *testing.T, l *store.LocalCRM, ext string) string {
	t.Helper()
	for id := 1; id < 100; id++ {
		o, err := l.Opportunity(context.Background(), "default", fmt.Sprint(id))
		if err == nil && o.ExternalID == ext {
			return o.ID
		}
	}
	t.Fatalf("no opportunity %s", ext)
	return ""
}

func TestImportReimportUpserts(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	const leads = "Lead ID,First Name,Last Name,Email,Company,Lead Status\n" +
		"L1,Taro,Yamada,yamada@kaisha.example,Kaisha K.K.,Open\n" +
		",Priya,Patel,priya.patel@example.com,,Open\n"
	const contacts = "Email,First Name,Last Name,Account Name\n" +
		"peter.gibbons@initech.example,Peter,Gibbons,Initech\n"
	if _, err := l.UpsertAccounts(ctx, "default", []crm.Account{{Name: "Initech", Website: "initech.example"}}); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		rep, err := crm.Import(ctx, l, "default", crm.ObjLead, strings.NewReader(leads), crm.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantIns, wantUpd := 2, 0
		if round == 2 {
			wantIns, wantUpd = 0, 2
		}
		if rep.Inserted != wantIns || rep.Updated != wantUpd || rep.Failed != 0 {
			t.Errorf("leads round %d: %+v", round, rep)
		}
		rep, err = crm.Import(ctx, l, "default", crm.ObjContact, strings.NewReader(contacts), crm.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Inserted+rep.Updated != 1 || rep.Failed != 0 || (round == 2 && rep.Updated != 1) {
			t.Errorf("contacts round %d: %+v", round, rep)
		}
	}
	counts, err := l.TableCounts(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"crm_leads": 2, "crm_contacts": 1, "crm_contact_emails": 1} {
		if n := counts[table]; n != want {
			t.Errorf("%s has %d rows, want %d", table, n, want)
		}
	}
	// An update with an empty cell keeps the stored value; a new value replaces it.
	if _, err := crm.Import(ctx, l, "default", crm.ObjLead, strings.NewReader("Lead ID,Lead Status,Company\nL1,Qualified,\n"),
		crm.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	m, _ := l.Match(ctx, "default", "yamada@kaisha.example")
	if len(m.Leads) != 1 || m.Leads[0].Status != "Qualified" || m.Leads[0].Company != "Kaisha K.K." || m.Leads[0].FirstName != "Taro" {
		t.Errorf("lead after partial update: %+v", m.Leads)
	}
	m, _ = l.Match(ctx, "default", "peter.gibbons@initech.example")
	if !slices.Equal(accountNames(m), []string{"Initech"}) {
		t.Errorf("contact's account by name: %q", accountNames(m))
	}
}

func TestImportMapping(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	const in = "Vorname,Nachname,Mail,Firma,Notiz\nJürgen,Müller,j.mueller@mueller-soehne.example,Müller & Söhne,hallo\n"
	m, err := crm.ParseMap("Vorname=first_name, Nachname=last_name,mail=email,Firma=company,Notiz=-")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := crm.Import(ctx, l, "default", crm.ObjLead, strings.NewReader(in), crm.ImportOptions{Map: m, Source: "hubspot"})
	if err != nil || rep.Inserted != 1 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	if !slices.Equal(rep.Ignored, []string{"Notiz"}) || rep.Columns["Mail"] != "email" {
		t.Errorf("columns %v, ignored %q", rep.Columns, rep.Ignored)
	}
	match, _ := l.Match(ctx, "default", "j.mueller@mueller-soehne.example")
	if len(match.Leads) != 1 || match.Leads[0].FirstName != "Jürgen" || match.Leads[0].Company != "Müller & Söhne" ||
		match.Leads[0].Source != "hubspot" {
		t.Errorf("lead = %+v", match.Leads)
	}

	for _, bad := range []struct {
		name string
		m    map[string]string
		in   string
		want string
	}{
		{"column not in header", map[string]string{"Emial": "email"}, in, `"Emial" is not in the header`},
		{"unknown field", map[string]string{"Mail": "e_mail"}, in, `no field "e_mail"`},
		{"two columns one field", map[string]string{"Mail": "email", "Firma": "email"}, in, `two columns map to field "email"`},
		{"no field at all", nil, "Foo,Bar\n1,2\n", "names a field"},
		{"empty input", nil, "", "empty"},
	} {
		_, err := crm.Import(ctx, l, "default", crm.ObjLead, strings.NewReader(bad.in), crm.ImportOptions{Map: bad.m})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one with %q", bad.name, err, bad.want)
		}
	}
	if _, err := crm.Import(ctx, l, "default", crm.ObjCase, strings.NewReader(in), crm.ImportOptions{}); err == nil {
		t.Error("importing cases succeeded")
	}
}

func TestParseMap(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{"", map[string]string{}, ""},
		{"Mail=email", map[string]string{"Mail": "email"}, ""},
		{" Full Name = name , Org=company", map[string]string{"Full Name": "name", "Org": "company"}, ""},
		{"Mail=email,Firma", nil, `"Firma"`},
		{"Mail=email,=company", nil, `"=company"`},
		{"Mail=,Org=company", nil, `"Mail="`},
		{"Mail=email,Mail=emails", nil, `"Mail=emails"`},
	}
	for _, tc := range tests {
		got, err := crm.ParseMap(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMap(%q) error = %v, want one naming %s", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("ParseMap(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("ParseMap(%q)[%q] = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

// contactsCSV generates n contact rows.
func contactsCSV(n int) string {
	var b strings.Builder
	b.WriteString("Email,First Name,Last Name\n")
	for i := range n {
		fmt.Fprintf(&b, "c%d@bulk.example,C,%d\n", i, i)
	}
	return b.String()
}

func TestImportProgress(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	in := contactsCSV(2500)
	type call struct{ done, total int }
	for _, tc := range []struct {
		name string
		r    io.Reader
		want []call
	}{
		{"seekable: total counted ahead", strings.NewReader(in), []call{{1000, 2500}, {2000, 2500}, {2500, 2500}, {2500, 2500}}},
		{"stream: total unknown", io.MultiReader(strings.NewReader(in)), []call{{1000, 0}, {2000, 0}, {2500, 0}, {2500, 2500}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []call
			rep, err := crm.Import(ctx, l, "default", crm.ObjContact, tc.r, crm.ImportOptions{
				Progress: func(done, total int) { calls = append(calls, call{done, total}) },
			})
			if err != nil || rep.Rows != 2500 || rep.Inserted+rep.Updated != 2500 {
				t.Fatalf("report %+v, %v", rep, err)
			}
			if !slices.Equal(calls, tc.want) {
				t.Errorf("progress calls = %v, want %v", calls, tc.want)
			}
		})
	}
}

func TestProgressBarNotTerminal(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	crm.ProgressBar(&buf)(1, 2)
	crm.ProgressBar(f)(1, 2)
	if fi, _ := f.Stat(); buf.Len() != 0 || fi.Size() != 0 {
		t.Errorf("drew on a non-terminal: %q, file %d bytes", buf.String(), fi.Size())
	}
}

func contactNames(m crm.Match) []string {
	var out []string
	for _, c := range m.Contacts {
		out = append(out, c.FirstName+" "+c.LastName)
	}
	return out
}

func accountNames(m crm.Match) []string {
	var out []string
	for _, a := range m.Accounts {
		out = append(out, a.Name)
	}
	return out
}

// TestImportRefusesDuplicateIDsShortRowsAndNamelessContacts: each is
// refused with its row (and field); the good rows are kept.
func TestImportRefusesDuplicateIDsShortRowsAndNamelessContacts(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	in := "Contact ID,First Name,Last Name,Email\n" +
		"C1,Ann,Lee,ann@globex.example\n" + // row 2
		"C2,Bob\n" + // row 3: too few fields
		"C1,Ann,Lee-Other,ann.other@globex.example\n" + // row 4: C1 again
		"C3,,,nobody@globex.example\n" + // row 5: no name
		"C4,Cid,Ok,cid@initech.example\n" // row 6
	rep, err := crm.Import(ctx, l, "default", crm.ObjContact, strings.NewReader(in), crm.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 2 || rep.Failed != 3 {
		t.Fatalf("report %+v: want 2 inserted, 3 refused", rep)
	}
	want := []struct {
		row          int
		field, value string
		reason       string
	}{
		{3, "", "", "2 fields, the header has 4"},
		{4, "external_id", "C1", "duplicate id: row 2"},
		{5, "last_name", "", "needs a name"},
	}
	for i, w := range want {
		e := rep.Errors[i]
		if e.Row != w.row || e.Field != w.field || e.Value != w.value || !strings.Contains(e.Reason, w.reason) {
			t.Errorf("error %d = %+v, want row %d field %q value %q reason ~%q", i, e, w.row, w.field, w.value, w.reason)
		}
	}
	m, err := l.Match(ctx, "default", "ann@globex.example")
	if err != nil || len(m.Contacts) != 1 || m.Contacts[0].LastName != "Lee" {
		t.Errorf("row 2's contact %+v, %v: the duplicate row must not overwrite it", m.Contacts, err)
	}
}
