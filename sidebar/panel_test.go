package sidebar

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestPanelComponents renders the panel for the demo senders and checks
// what an agent sees (goquery on the served HTML).
func TestPanelComponents(t *testing.T) {
	f := newPanelFixture(t)
	f.deliverDemo()
	c := f.client()
	f.signIn(c, agentEmail)

	cases := []struct {
		name  string
		query string
		check func(t *testing.T, doc *goquery.Document)
	}{
		{"known contact with account, opportunities and ticket", "message_id=%3C5f2a9c1e-invoice@initech.example%3E&from=bill.lumbergh@initech.example",
			func(t *testing.T, doc *goquery.Document) {
				wantTexts(t, doc, "#sender .contact strong", "Bill Lumbergh")
				wantTexts(t, doc, "#sender .account strong", "Initech")
				wantContains(t, doc, "#sender .account", "business", "Riley Chen")
				wantTexts(t, doc, "#sender .opp td:first-child .name", "Initech – Higher API rate limit")
				wantContains(t, doc, "#sender .opp", "18,000", "Value Proposition")
				wantContains(t, doc, "#ticket .ticket-title", "Question about our November invoice")
				wantCount(t, doc, "#ticket .messages li", 1, 3)
				wantCount(t, doc, "#sender .lead", 0, 0)
				wantCount(t, doc, "#crm input[name=record]", 3, 10)         // contact, account, opportunity
				wantCount(t, doc, "#crm input[name=record]:disabled", 0, 0) // nothing saved yet
			}},
		{"lead only", "message_id=apikey-20261120@kaisha.example",
			func(t *testing.T, doc *goquery.Document) {
				wantTexts(t, doc, "#sender .lead strong", "Taro Yamada")
				wantContains(t, doc, "#sender .lead", "Kaisha K.K.", "Working")
				wantCount(t, doc, "#sender .contact", 0, 0)
				wantCount(t, doc, "#sender .account", 0, 0)
				wantCount(t, doc, "#sender details.create", 0, 0) // known as a lead: nothing to create
				wantContains(t, doc, "#sender .email", "yamada@kaisha.example")
			}},
		{"unknown sender at a known account domain", "message_id=upgrade-quote@hooli.example&from=monica.hall@hooli.example",
			func(t *testing.T, doc *goquery.Document) {
				wantCount(t, doc, "#sender .contact", 0, 0)
				wantContains(t, doc, "#sender", "Not in the CRM")
				wantTexts(t, doc, "#sender .account strong", "Hooli")
				wantTexts(t, doc, "#sender .opp td:first-child .name", "Hooli – Upgrade to Enterprise plan")
				wantCount(t, doc, "#sender details.create form[action='/sidebar/contact']", 1, 1)
				wantCount(t, doc, "#sender details.create form[action='/sidebar/lead']", 1, 1)
				wantCount(t, doc, "#sender select[name=account_id] option", 2, 2) // Hooli, (none)
			}},
		{"unknown sender nowhere", "from=someone@nowhere.example&subject=Hello",
			func(t *testing.T, doc *goquery.Document) {
				wantContains(t, doc, "#sender", "Not in the CRM")
				wantCount(t, doc, "#sender .account", 0, 0)
				wantContains(t, doc, "#ticket", "not a ticket yet")
				wantCount(t, doc, "#ticket form[action='/sidebar/ticket']", 1, 1)
				wantContains(t, doc, "#crm", "Nothing in the CRM")
			}},
		{"free-mail sender unknown", "message_id=CAK2fa-locked-1@mail.gmail.com",
			func(t *testing.T, doc *goquery.Document) {
				wantContains(t, doc, "#sender .note", "Free-mail")
				wantCount(t, doc, "#sender .account", 0, 0) // example.com is nobody's domain
				wantContains(t, doc, "#sender", "Not in the CRM")
				wantContains(t, doc, "#ticket .ticket-title", "2FA")
			}},
		{"free-mail sender who is a contact", "from=maria.rossi.84@example.com",
			func(t *testing.T, doc *goquery.Document) {
				wantContains(t, doc, "#sender .note", "Free-mail")
				wantTexts(t, doc, "#sender .contact strong", "Maria Rossi")
				wantTexts(t, doc, "#sender .account strong", "Rossi Design Studio")
				wantCount(t, doc, "#others li", 1, 5)
			}},
		{"sender with two contacts", "message_id=AM0PR07MB0001A@AM0PR07MB0001.eurprd07.prod.outlook.com",
			func(t *testing.T, doc *goquery.Document) {
				wantContains(t, doc, "#sender .warn", "2 CRM contacts share this address")
				wantTexts(t, doc, "#sender .contact strong", "Anna Schmidt", "A. Schmidt")
				wantTexts(t, doc, "#sender .account strong", "Globex Corporation")
				wantContains(t, doc, "#sender .account", "enterprise", "Sam Carter")
				var kinds []string
				doc.Find("#crm label.choice .kind").Each(func(_ int, s *goquery.Selection) { kinds = append(kinds, s.Text()) })
				if n := count(kinds, "Contact"); n != 2 {
					t.Errorf("save choices: %d contacts, want 2 (choose among duplicates): %v", n, kinds)
				}
				if !slices.Contains(kinds, "Opportunity") || !slices.Contains(kinds, "Case") || !slices.Contains(kinds, "Account") {
					t.Errorf("save choices %v: want account, opportunity and case too", kinds)
				}
				// Closed Won is not open: only the two open Globex deals.
				wantTexts(t, doc, "#sender .opp td:first-child .name", "Globex – 24/7 Premium Support add-on", "Globex – Enterprise renewal FY27")
				wantContains(t, doc, "#sender .cases", "Production outage")
			}},
		{"ticket by number", "ticket=1",
			func(t *testing.T, doc *goquery.Document) {
				wantContains(t, doc, "#ticket .ticket-title", "#1")
				wantContains(t, doc, "#sender .email", "anna.schmidt@globex.example")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			doc := f.panelDoc(c, q.Encode())
			if doc.Find("main#panel").Length() != 1 {
				t.Fatal("no main#panel")
			}
			if e := doc.Find("p.error").Text(); e != "" {
				t.Errorf("panel shows an error: %q", e)
			}
			tc.check(t, doc)
		})
	}
}

func count(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// wantTexts checks the whitespace-normalised texts of sel, in order.
func wantTexts(t *testing.T, doc *goquery.Document, sel string, want ...string) {
	t.Helper()
	if got := texts(doc.Find(sel)); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", sel, got, want)
	}
}

// wantContains checks that the text of sel contains every part.
func wantContains(t *testing.T, doc *goquery.Document, sel string, parts ...string) {
	t.Helper()
	got := strings.Join(texts(doc.Find(sel)), " | ")
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("%s = %q, want it to contain %q", sel, got, p)
		}
	}
}

// wantCount checks that sel matches between lo and hi elements.
func wantCount(t *testing.T, doc *goquery.Document, sel string, lo, hi int) {
	t.Helper()
	if n := doc.Find(sel).Length(); n < lo || n > hi {
		t.Errorf("%s: %d elements, want %d..%d", sel, n, lo, hi)
	}
}

// TestPanelRequiresSignIn: no session, no panel; the login page brings
// the agent back to the panel asked for.
func TestPanelRequiresSignIn(t *testing.T) {
	f := newPanelFixture(t)
	c := f.client()
	res := f.get(c, "/sidebar?from=bill.lumbergh@initech.example")
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /sidebar without session = %d, want 303", res.StatusCode)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc.Path != "/login" || loc.Query().Get("next") != "/sidebar?from=bill.lumbergh@initech.example" {
		t.Fatalf("Location = %q", res.Header.Get("Location"))
	}
	for _, p := range []string{"/sidebar/link", "/sidebar/note", "/sidebar/ticket", "/sidebar/ticket/update", "/sidebar/contact", "/sidebar/lead", "/logout"} {
		res := f.postForm(c, p, url.Values{}, nil)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without session = %d, want 401", p, res.StatusCode)
		}
		res = f.postForm(c, p, url.Values{}, map[string]string{"HX-Request": "true"})
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("HX-Redirect") != "/login" {
			t.Errorf("htmx POST %s without session = %d HX-Redirect %q", p, res.StatusCode, res.Header.Get("HX-Redirect"))
		}
	}
}
