package sidebar

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sidedesk/sidedesk/crm/salesforce"
	"github.com/sidedesk/sidedesk/internal/sftest"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

// TestPanelSalesforceE2E drives the panel in headless Chromium with the
// fake Salesforce org behind it: sign in, click "Connect Salesforce" (the
// consent page redirects back to the panel's callback), see the contact
// with its Lightning link, set the opportunity's stage (htmx), save the
// email to the account.
func TestPanelSalesforceE2E(t *testing.T) {
	sf := sftest.New()
	t.Cleanup(sf.Close)
	acct := sf.Insert("Account", sftest.Record{"Name": "Globex SF", "Website": "globex.example"})
	sf.Insert("Contact", sftest.Record{"FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.example", "AccountId": acct})
	opp := sf.Insert("Opportunity", sftest.Record{"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2027-01-01", "AccountId": acct})

	// The panel's address must be known to the connector (its callback).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	ln.Close()
	sf.RedirectURI = public + "/sidebar/crm/callback"
	late := &lateStore{}
	conn, err := salesforce.New(salesforce.Options{LoginURL: sf.URL, ClientID: sf.ClientID, ClientSecret: sf.ClientSecret,
		RedirectURL: sf.RedirectURI, Store: late, Saved: late, Key: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	f := newPanelFixture(t, func(o *Options) { o.CRM = conn; o.PublicURL = public })
	late.Store = f.st

	ctx := testenv.StartChromium(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, steps...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ": " + (document.body ? document.body.innerText.slice(0, 400) : '')`))
			t.Fatalf("%s: %v (at %s)\nserver log:\n%s", what, err, body, f.logs.String())
		}
	}
	eval := func(expr string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	run("viewport", chromedp.EmulateViewport(320, 900))
	q := url.Values{"from": {"hank@globex.example"}, "message_id": {"e2e-1@globex.example"}, "subject": {"Renewal questions"}}.Encode()
	run("sign in",
		chromedp.Navigate(public+"/sidebar?"+q),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), agentEmail),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), agentPass),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#crm-connect a`)))
	// The link opens a new window in a task pane; here the tab follows it.
	eval(`document.querySelector('#crm-connect a').removeAttribute('target'), 'ok'`)
	run("connect",
		chromedp.Click(chromedp.CSS(`#crm-connect a`)),
		chromedp.WaitVisible(chromedp.CSS(`#sender .record.contact`)))
	flash := eval(`document.querySelector('p.flash') ? document.querySelector('p.flash').innerText : ''`)
	contact := eval(`document.querySelector('#sender .record.contact').innerText`)
	href := eval(`document.querySelector('#sender .record.account a').getAttribute('href')`)
	if flash != "CRM account connected." || !bytes.Contains([]byte(contact), []byte("Hank Scorpio")) ||
		href != sf.URL+"/lightning/r/Account/"+acct+"/view" {
		t.Fatalf("after connecting: flash %q, contact %q, account link %q", flash, contact, href)
	}
	run("set stage",
		chromedp.SetValue(chromedp.CSS(`form.setfield select[name=value]`), "Closed Won"),
		chromedp.Click(chromedp.CSS(`form.setfield button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	deadline := time.Now().Add(5 * time.Second)
	for sf.Get("Opportunity", opp)["StageName"] != "Closed Won" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := sf.Get("Opportunity", opp)["StageName"]; got != "Closed Won" {
		t.Fatalf("stage in Salesforce %v, want Closed Won", got)
	}
	acctKey := fmt.Sprintf("account:%s", acct)
	run("save to account",
		// The stage change reloads the panel: let that page settle before
		// clicking its nodes (a node of the old page is gone).
		chromedp.Sleep(500*time.Millisecond),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#crm input[value=%q]`, acctKey))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#crm input[value=%q]`, acctKey))),
		chromedp.Click(chromedp.CSS(`#crm button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#crm .link-saved[data-key=%q]`, acctKey))))
	em := sf.Rows("EmailMessage")
	if len(em) != 1 || em[0]["RelatedToId"] != acct || em[0]["Subject"] != "Renewal questions" {
		t.Fatalf("EmailMessages %+v", em)
	}
	// The contact's describe-built form: edit a field, save, back.
	run("edit contact",
		chromedp.Click(chromedp.CSS(`#sender .record.contact a.edit`)),
		chromedp.WaitVisible(chromedp.CSS(`form.record-form input#f_FirstName`)),
		chromedp.SetValue(chromedp.CSS(`input#f_Title`), "Head of Sales"),
		chromedp.Click(chromedp.CSS(`form.record-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := sf.Rows("Contact")[0]["Title"]; got != "Head of Sales" {
		t.Fatalf("Title in Salesforce %v after the form, want Head of Sales", got)
	}
	// Deleting asks first; declined, nothing happens.
	run("decline delete",
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => false`),
		chromedp.Click(chromedp.CSS(`form.record-delete button`)),
		chromedp.Sleep(300*time.Millisecond))
	if len(sf.Rows("Contact")) != 1 {
		t.Fatal("a declined delete deleted the contact")
	}
	run("back to the email",
		chromedp.Click(chromedp.CSS(`a.back`)),
		chromedp.WaitVisible(chromedp.CSS(`#sender .record.contact`)))
}
