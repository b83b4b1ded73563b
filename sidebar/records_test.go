package sidebar

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/sidedesk/sidedesk/internal/sftest"
)

// formOf reads a record page's form: its CSRF token and hidden context,
// and every input's value by field name.
func formOf(t *testing.T, doc *goquery.Document) (url.Values, map[string]string) {
	t.Helper()
	form := doc.Find("form.record-form")
	if form.Length() != 1 {
		t.Fatalf("no record form; page: %s", doc.Find("main").Text())
	}
	hidden := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		if !strings.HasPrefix(n, "f_") {
			hidden.Set(n, v)
		}
	})
	vals := map[string]string{}
	form.Find("input, select, textarea").Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		name, ok := strings.CutPrefix(n, "f_")
		if !ok {
			return
		}
		switch {
		case goquery.NodeName(s) == "select":
			vals[name], _ = s.Find("option[selected]").Attr("value")
		case goquery.NodeName(s) == "textarea":
			vals[name] = s.Text()
		case s.AttrOr("type", "") == "checkbox":
			if _, on := s.Attr("checked"); on {
				vals[name] = "true"
			}
		case s.AttrOr("type", "") == "hidden":
			if _, set := vals[name]; !set {
				vals[name] = s.AttrOr("value", "")
			}
		default:
			vals[name] = s.AttrOr("value", "")
		}
	})
	return hidden, vals
}

// post submits a record form with vals (every field as the browser would
// send it) and returns the answer.
func postRecord(t *testing.T, f *panelFixture, c *http.Client, path string, hidden url.Values, vals map[string]string) *http.Response {
	t.Helper()
	form := url.Values{}
	for k, v := range hidden {
		form[k] = v
	}
	for k, v := range vals {
		form.Set("f_"+k, v)
	}
	return f.postForm(c, path, form, nil)
}

// TestRecordFormsFromDescribe: with Salesforce behind the panel, each
// record links to a form built from the agent's describe: a field hidden
// by field-level security is absent, a read-only one shown read-only,
// required ones marked, picklists as choices. A save writes only what
// changed, as the agent; Salesforce's refusal (a validation rule) is shown
// next to the field it names; campaigns are found, created and deleted.
func TestRecordFormsFromDescribe(t *testing.T) {
	sf := sftest.New()
	t.Cleanup(sf.Close)
	sf.AddField("Contact", "Region__c", "picklist", "Region", false, "EMEA", "Americas", "APAC")
	acct := sf.Insert("Account", sftest.Record{"Name": "Globex SF", "Website": "globex.example"})
	contact := sf.Insert("Contact", sftest.Record{"FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.example",
		"AccountId": acct, "Title": "VP Sales", "Phone": "+1 555 0100"})
	sf.SetFieldAccess("Contact", "Phone", "hidden")
	sf.SetFieldAccess("Contact", "Title", "readonly")
	sf.AddValidationRule("Contact", "FirstName", "First name may not be a single letter", func(r sftest.Record) bool {
		s, _ := r["FirstName"].(string)
		return len(s) == 1
	})
	f, c := sfBenchPanel(t, sf, 0)

	// The panel links the contact to its form.
	doc := f.panelDoc(c, "from=hank@globex.example&subject=Renewal")
	edit, ok := doc.Find(".record.contact a.edit").Attr("href")
	if !ok || !strings.HasPrefix(edit, "/sidebar/crm/record?") || !strings.Contains(edit, "id="+contact) {
		t.Fatalf("the contact has no Edit link; #sender: %q", doc.Find("#sender").Text())
	}
	if _, ok := doc.Find(".record.account a.edit").Attr("href"); !ok {
		t.Error("the account has no Edit link")
	}
	if find, ok := doc.Find("p.records a").Attr("href"); !ok || !strings.HasPrefix(find, "/sidebar/crm/find") {
		t.Error("the panel has no Find or add link")
	}

	doc, res := f.getDoc(c, edit)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", edit, res.StatusCode)
	}
	if doc.Find("#f_Phone").Length() != 0 || strings.Contains(doc.Find("main").Text(), "555 0100") {
		t.Error("a field hidden from the agent is on the form")
	}
	if ro := doc.Find("output#f_Title"); ro.Length() != 1 || ro.Text() != "VP Sales" || doc.Find("input#f_Title").Length() != 0 {
		t.Errorf("the read-only Title is not shown read-only: %q", doc.Find("[data-field=Title]").Text())
	}
	if _, req := doc.Find("input#f_LastName").Attr("required"); !req || doc.Find("input#f_LastName").AttrOr("value", "") != "Scorpio" {
		t.Error("LastName is not a required input holding the record's value")
	}
	if opts := texts(doc.Find("select#f_Region__c option")); len(opts) != 4 || opts[1] != "EMEA" {
		t.Errorf("the Region picklist offers %q, want none + its three values", opts)
	}
	if back := doc.Find("a.back").AttrOr("href", ""); !strings.HasPrefix(back, "/sidebar?") || !strings.Contains(back, "from=hank%40globex.example") {
		t.Errorf("Back to the email links to %q", back)
	}
	if lx := doc.Find(`a[target=_blank]`).AttrOr("href", ""); !strings.HasSuffix(lx, "/lightning/r/Contact/"+contact+"/view") {
		t.Errorf("Open in Salesforce links to %q", lx)
	}

	// A save writes what changed.
	hidden, vals := formOf(t, doc)
	vals["FirstName"], vals["Region__c"] = "Henry", "EMEA"
	res = postRecord(t, f, c, "/sidebar/crm/record", hidden, vals)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "done=saved") {
		t.Fatalf("save = %d to %q, want 303 back with done=saved", res.StatusCode, loc)
	}
	if row := sf.Get("Contact", contact); row["FirstName"] != "Henry" || row["Region__c"] != "EMEA" || row["LastName"] != "Scorpio" || row["Phone"] != "+1 555 0100" {
		t.Fatalf("the org's contact after the save: %v", row)
	}
	doc, _ = f.getDoc(c, res.Header.Get("Location"))
	if doc.Find("p.flash").Text() != "Saved." {
		t.Errorf("after the save the page says %q", doc.Find("p.flash").Text())
	}

	// Salesforce refuses: its words, next to the field it names, and
	// what the agent typed is kept.
	hidden, vals = formOf(t, doc)
	vals["FirstName"] = "H"
	res = postRecord(t, f, c, "/sidebar/crm/record", hidden, vals)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a save a validation rule refuses = %d, want 422", res.StatusCode)
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if e := doc.Find("[data-field=FirstName] .field-error").Text(); !strings.Contains(e, "First name may not be a single letter") || !strings.Contains(e, "FIELD_CUSTOM_VALIDATION_EXCEPTION") {
		t.Errorf("FirstName's error = %q, want Salesforce's message and code", e)
	}
	if v := doc.Find("input#f_FirstName").AttrOr("value", ""); v != "H" {
		t.Errorf("the refused form holds FirstName %q, want what was typed", v)
	}
	if row := sf.Get("Contact", contact); row["FirstName"] != "Henry" {
		t.Errorf("a refused save changed the org: %v", row["FirstName"])
	}
	// Emptying a required field is refused before Salesforce is asked.
	vals["FirstName"], vals["LastName"] = "Henry", ""
	res = postRecord(t, f, c, "/sidebar/crm/record", hidden, vals)
	doc, _ = goquery.NewDocumentFromReader(res.Body)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("[data-field=LastName] .field-error").Text(), "required") {
		t.Errorf("emptying LastName = %d, error %q", res.StatusCode, doc.Find("[data-field=LastName] .field-error").Text())
	}
	// No CSRF token, no write.
	res = f.postForm(c, "/sidebar/crm/record", url.Values{"object": {"contact"}, "id": {contact}, "f_FirstName": {"Mallory"}}, nil)
	if res.StatusCode != http.StatusForbidden || sf.Get("Contact", contact)["FirstName"] != "Henry" {
		t.Errorf("a post without the CSRF token = %d", res.StatusCode)
	}

	// A new campaign, from Campaign's describe.
	doc, res = f.getDoc(c, "/sidebar/crm/new?object=campaign&from=hank%40globex.example")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET new campaign = %d", res.StatusCode)
	}
	if _, req := doc.Find("input#f_Name").Attr("required"); !req {
		t.Error("a new campaign's Name is not required")
	}
	if doc.Find("#f_NumberOfLeads").Length() != 0 {
		t.Error("the new-campaign form offers a read-only field")
	}
	if opts := texts(doc.Find("select#f_Status option")); len(opts) < 4 {
		t.Errorf("Status offers %q", opts)
	}
	hidden, vals = formOf(t, doc)
	vals["Name"], vals["Type"], vals["StartDate"], vals["IsActive"] = "Spring webinar", "Webinar", "2027-03-01", "true"
	res = postRecord(t, f, c, "/sidebar/crm/new", hidden, vals)
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("done") != "created" {
		t.Fatalf("create campaign = %d to %v", res.StatusCode, loc)
	}
	camp := loc.Query().Get("id")
	if row := sf.Get("Campaign", camp); row["Name"] != "Spring webinar" || row["Type"] != "Webinar" || row["StartDate"] != "2027-03-01" || row["IsActive"] != true {
		t.Fatalf("the org's campaign: %v", row)
	}

	// Found by name, then deleted.
	doc, _ = f.getDoc(c, "/sidebar/crm/find?object=campaign&q=spring&from=hank%40globex.example")
	if hits := doc.Find("ul.found a"); hits.Length() != 1 || !strings.Contains(hits.AttrOr("href", ""), "id="+camp) {
		t.Fatalf("find campaigns spring…: %q", texts(doc.Find("ul.found li")))
	}
	doc, _ = f.getDoc(c, "/sidebar/crm/record?object=campaign&id="+camp)
	del := url.Values{}
	doc.Find("form.record-delete input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		del.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	res = f.postForm(c, "/sidebar/crm/record/delete", del, nil)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "done=deleted") {
		t.Fatalf("delete = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if sf.Get("Campaign", camp) != nil {
		t.Error("the campaign is still in the org")
	}
	if _, res := f.getDoc(c, "/sidebar/crm/record?object=campaign&id="+camp); res.StatusCode != http.StatusNotFound {
		t.Errorf("the deleted campaign's form = %d, want 404", res.StatusCode)
	}
	if _, res := f.getDoc(c, "/sidebar/crm/record?object=widget&id="+camp); res.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown object = %d, want 400", res.StatusCode)
	}
}

// TestRecordFormsLocalCRM: the embedded CRM (the demo's) has the same
// forms, described from its own fields.
func TestRecordFormsLocalCRM(t *testing.T) {
	f := newPanelFixture(t)
	c := f.client()
	f.signIn(c, agentEmail)
	doc := f.panelDoc(c, "from=bill.lumbergh@initech.example")
	edit, ok := doc.Find(".record.contact a.edit").Attr("href")
	if !ok {
		t.Fatalf("the local contact has no Edit link; #sender: %q", doc.Find("#sender").Text())
	}
	doc, res := f.getDoc(c, edit)
	if res.StatusCode != http.StatusOK || doc.Find("h1").Text() != "Contact: Bill Lumbergh" {
		t.Fatalf("GET %s = %d, heading %q", edit, res.StatusCode, doc.Find("h1").Text())
	}
	if in := doc.Find("input#f_email"); in.AttrOr("type", "") != "email" || in.AttrOr("value", "") != "bill.lumbergh@initech.example" {
		t.Errorf("email input: type %q value %q", in.AttrOr("type", ""), in.AttrOr("value", ""))
	}
	hidden, vals := formOf(t, doc)
	vals["title"] = "Division VP"
	res = postRecord(t, f, c, "/sidebar/crm/record", hidden, vals)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save = %d", res.StatusCode)
	}
	id := hidden.Get("id")
	if got, err := f.crm.Contact(t.Context(), "default", id); err != nil || got.Title != "Division VP" || got.Email != "bill.lumbergh@initech.example" {
		t.Fatalf("the local contact after the save: %+v %v", got, err)
	}
	vals["email"] = "not an address"
	res = postRecord(t, f, c, "/sidebar/crm/record", hidden, vals)
	doc, _ = goquery.NewDocumentFromReader(res.Body)
	if res.StatusCode != http.StatusUnprocessableEntity || doc.Find("[data-field=email] .field-error").Length() != 1 {
		t.Errorf("a bad email = %d, field error %q", res.StatusCode, doc.Find("[data-field=email] .field-error").Text())
	}
	// The panel's own create forms ask nothing twice: the local CRM's
	// required fields are the forms' own inputs, not extras.
	doc = f.panelDoc(c, "from=someone.new@nowhere.example")
	if n := doc.Find(`form[action="/sidebar/contact"] input[name$=last_name]`).Length(); n != 1 {
		t.Errorf("the create-contact form has %d last-name inputs, want 1", n)
	}
	if n := doc.Find(`form[action="/sidebar/lead"] input[name$=company]`).Length(); n != 1 {
		t.Errorf("the create-lead form has %d company inputs, want 1", n)
	}
	// A local campaign, its status from the picklist.
	doc, _ = f.getDoc(c, "/sidebar/crm/new?object=campaign")
	if opts := texts(doc.Find("select#f_status option")); len(opts) < 4 {
		t.Fatalf("a new local campaign's status offers %q", opts)
	}
	hidden, vals = formOf(t, doc)
	vals["name"], vals["status"], vals["active"], vals["budgeted_cost"] = "Partner day", "Planned", "true", "2500"
	res = postRecord(t, f, c, "/sidebar/crm/new", hidden, vals)
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc == nil {
		t.Fatalf("create local campaign = %d", res.StatusCode)
	}
	got, err := f.crm.Campaign(t.Context(), "default", loc.Query().Get("id"))
	if err != nil || got.Name != "Partner day" || !got.Active || got.BudgetedCost != 2500 || got.Status != "Planned" {
		t.Fatalf("the local campaign: %+v %v", got, err)
	}
}
