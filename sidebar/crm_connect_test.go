package sidebar

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/crm/salesforce"
	"github.com/sidedesk/sidedesk/internal/sftest"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// With Salesforce behind the panel, an agent who has not connected sees
// "Connect Salesforce"; the link runs the OAuth consent against the fake
// org, the callback stores the agent's connection, and the panel then
// shows the Salesforce records with links into Lightning.
func TestPanelConnectSalesforce(t *testing.T) {
	sf := sftest.New()
	t.Cleanup(sf.Close)
	const redirect = "https://desk.acme.example/sidebar/crm/callback"
	sf.RedirectURI = redirect
	// The org requires a custom field on new contacts (see the create form below).
	sf.AddField("Contact", "Region__c", "picklist", "Region", true, "EMEA", "Americas", "APAC")
	acct := sf.Insert("Account", sftest.Record{"Name": "Globex SF", "Website": "globex.example"})
	contact := sf.Insert("Contact", sftest.Record{"FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.example", "AccountId": acct, "Region__c": "Americas"})
	opp := sf.Insert("Opportunity", sftest.Record{"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2027-01-01", "AccountId": acct})
	// The connector keeps connections in the fixture's store, made after.
	late := &lateStore{}
	conn, err := salesforce.New(salesforce.Options{LoginURL: sf.URL, ClientID: sf.ClientID, ClientSecret: sf.ClientSecret,
		RedirectURL: redirect, Store: late, Saved: late, Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	f := newPanelFixture(t, func(o *Options) { o.CRM = conn })
	late.Store = f.st
	hash, err := HashPassword(agentPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateUser(context.Background(), ticket.DefaultTenant, "agent2@acme.example", "Second Agent", ticket.RoleAgent, hash); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	csrf := f.signIn(c, agentEmail)
	doc := f.panelDoc(c, "from=hank@globex.example")
	link, ok := doc.Find("#crm-connect a").Attr("href")
	if !ok || !strings.HasPrefix(link, "/sidebar/crm/connect?") {
		t.Fatalf("panel of an unconnected agent has no Connect link; #sender: %q", doc.Find("#sender").Text())
	}
	if doc.Find("p.error").Length() != 0 {
		t.Fatalf("an unconnected agent sees an error: %q", doc.Find("p.error").Text())
	}
	res := f.get(c, link)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), sf.URL+"/services/oauth2/authorize?") {
		t.Fatalf("connect = %d to %q, want 303 to the org's authorize endpoint", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = c.Get(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(back.String(), redirect) {
		t.Fatalf("authorize = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The browser comes back to our callback.
	res = f.get(c, "/sidebar/crm/callback?"+back.RawQuery)
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/sidebar?") || !strings.Contains(loc, "done=crm") {
		t.Fatalf("callback = %d to %q, want 303 back to the panel", res.StatusCode, loc)
	}
	doc = f.panelDoc(c, "from=hank@globex.example&done=crm")
	if doc.Find("#crm-connect").Length() != 0 {
		t.Fatal("the Connect link is still shown after connecting")
	}
	wantContains(t, doc, "#sender .record.contact", "Hank Scorpio")
	href, _ := doc.Find("#sender .record.account a").Attr("href")
	if want := sf.URL + "/lightning/r/Account/" + acct + "/view"; href != want {
		t.Fatalf("account link %q, want %q", href, want)
	}
	// Save the email (not captured: what the mail client passed) to Hank.
	form := url.Values{"csrf_token": {csrf}, "from": {"hank@globex.example"}, "message_id": {"<m1@globex.example>"},
		"subject": {"Broken again"}, "record": {"contact:" + contact}}
	res = f.postForm(c, "/sidebar/link", form, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /sidebar/link = %d", res.StatusCode)
	}
	em := sf.Rows("EmailMessage")
	if len(em) != 1 || em[0]["Subject"] != "Broken again" || em[0]["MessageIdentifier"] != "<m1@globex.example>" {
		t.Fatalf("EmailMessages after saving: %+v", em)
	}
	doc = f.panelDoc(c, "from=hank@globex.example&message_id=m1@globex.example")
	wantContains(t, doc, "#crm .link-saved", "Hank Scorpio")
	// Saved to a closed case too: the look-up (open cases) does not find
	// it, the panel still shows the case the mail is on.
	closed := sf.Insert("Case", sftest.Record{"Subject": "Old outage", "Status": "Closed", "ContactId": contact, "AccountId": acct})
	form.Set("record", "case:"+closed)
	if res = f.postForm(c, "/sidebar/link", form, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save to the closed case = %d", res.StatusCode)
	}
	doc = f.panelDoc(c, "from=hank@globex.example&message_id=m1@globex.example")
	wantContains(t, doc, "#sender ul.cases", "Old outage")
	wantContains(t, doc, "#crm .link-saved", "Case: Old outage")
	// The opportunity's stage is set in place, in Salesforce.
	if n := doc.Find(`form.setfield select[name=value] option`).Length(); n < 5 {
		t.Fatalf("stage picker has %d options, want the picklist's values", n)
	}
	form = url.Values{"csrf_token": {csrf}, "from": {"hank@globex.example"}, "record": {"opportunity:" + opp},
		"field": {"StageName"}, "value": {"Negotiation/Review"}}
	res = f.postForm(c, "/sidebar/crm/update", form, nil)
	if res.StatusCode != http.StatusSeeOther || sf.Get("Opportunity", opp)["StageName"] != "Negotiation/Review" {
		t.Fatalf("POST /sidebar/crm/update = %d, stage %v", res.StatusCode, sf.Get("Opportunity", opp)["StageName"])
	}
	form.Set("value", "Almost won")
	res = f.postForm(c, "/sidebar/crm/update", form, nil)
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "Stage") {
		t.Fatalf("a stage not in the picklist = %d %q", res.StatusCode, raw)
	}
	// A lead is converted from the panel, into the matched account.
	lead := sf.Insert("Lead", sftest.Record{"FirstName": "Bill", "LastName": "Lumbergh", "Company": "Globex", "Email": "bill@globex.example"})
	doc = f.panelDoc(c, "from=bill@globex.example")
	if doc.Find(`details.convert form input[name=lead][value="`+lead+`"]`).Length() != 1 {
		t.Fatal("the lead has no Convert form")
	}
	form = url.Values{"csrf_token": {csrf}, "from": {"bill@globex.example"}, "lead": {lead}, "account_id": {acct}, "opportunity": {"Globex upsell"}}
	res = f.postForm(c, "/sidebar/crm/convert", form, nil)
	if res.StatusCode != http.StatusSeeOther || sf.Get("Lead", lead)["IsConverted"] != true {
		t.Fatalf("POST /sidebar/crm/convert = %d, lead %+v", res.StatusCode, sf.Get("Lead", lead))
	}
	doc = f.panelDoc(c, "from=bill@globex.example")
	wantContains(t, doc, "#sender .record.contact", "Bill Lumbergh")
	// The org requires a custom field on new contacts: the panel's create
	// form asks for it, from describe, and the contact is created with it.
	doc = f.panelDoc(c, "from=peter@initech.example")
	if doc.Find(`details.create select[name=f_Region__c] option`).Length() != 3 {
		t.Fatalf("the create form does not ask for the required Region: %q", doc.Find("details.create").Text())
	}
	form = url.Values{"csrf_token": {csrf}, "from": {"peter@initech.example"}, "first_name": {"Peter"}, "last_name": {"Gibbons"}, "f_Region__c": {"EMEA"}}
	if res = f.postForm(c, "/sidebar/contact", form, nil); res.StatusCode != http.StatusSeeOther {
		raw, _ := io.ReadAll(res.Body)
		t.Fatalf("create contact = %d %s", res.StatusCode, raw)
	}
	var made sftest.Record
	for _, rec := range sf.Rows("Contact") {
		if rec["Email"] == "peter@initech.example" {
			made = rec
		}
	}
	if made == nil || made["Region__c"] != "EMEA" || made["LastName"] != "Gibbons" {
		t.Fatalf("created contact %+v", made)
	}
	// A lead made from the panel takes the org's default status.
	form = url.Values{"csrf_token": {csrf}, "from": {"samir@initech.example"}, "last_name": {"Nagheenanajar"}, "company": {"Initech"}}
	if res = f.postForm(c, "/sidebar/lead", form, nil); res.StatusCode != http.StatusSeeOther {
		raw, _ := io.ReadAll(res.Body)
		t.Fatalf("create lead = %d %s", res.StatusCode, raw)
	}
	// A callback replayed by another signed-in agent does not connect them.
	c2 := f.client()
	f.signIn(c2, "agent2@acme.example")
	res = f.get(c2, "/sidebar/crm/callback?"+back.RawQuery)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback for another agent = %d, want 400", res.StatusCode)
	}
	// A denied consent says so.
	res = f.get(c, "/sidebar/crm/callback?error=access_denied&error_description=end-user+denied+authorization")
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	body := string(raw)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "end-user denied authorization") {
		t.Fatalf("denied consent = %d %q", res.StatusCode, body)
	}
}

type lateStore struct{ *store.Store }

// TestConsentRefused: a provider's refusal in the callback (RFC 6749
// §4.1.2.1) is told to the agent with its code, description and where to
// start again; a callback without one is no refusal.
func TestConsentRefused(t *testing.T) {
	msg, refused := consentRefused(url.Values{"error": {"access_denied"}, "error_description": {"The user declined"}},
		"Salesforce", "the panel")
	if !refused || msg != "Salesforce did not connect (access_denied: The user declined). Start again from the panel." {
		t.Errorf("refusal: %v %q", refused, msg)
	}
	if _, refused := consentRefused(url.Values{"code": {"x"}}, "Salesforce", "the panel"); refused {
		t.Error("a code taken for a refusal")
	}
}
