package sidebar

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/sidedesk/sidedesk/ticket"
)

const annaMsg = "AM0PR07MB0001A@AM0PR07MB0001.eurprd07.prod.outlook.com"

// panelForm is the hidden context of the panel's forms plus fields.
func panelForm(csrf string, ctx url.Values, kv ...string) url.Values {
	v := url.Values{"csrf_token": {csrf}}
	for k, vs := range ctx {
		v[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestPanelActions: each action, without JavaScript (303 back to the
// panel) and with htmx (the fragment), is reflected at once and survives
// a reload.
func TestPanelActions(t *testing.T) {
	f := newPanelFixture(t)
	f.deliverFile("01-globex-production-down.eml")
	c := f.client()
	csrf := f.signIn(c, agentEmail)
	anna := url.Values{"message_id": {annaMsg}, "from": {"anna.schmidt@globex.example"}}
	doc := f.panelDoc(c, anna.Encode())
	oppKey := ""
	doc.Find("#crm input[name=record]").Each(func(_ int, s *goquery.Selection) {
		if v, _ := s.Attr("value"); strings.HasPrefix(v, "opportunity:") && oppKey == "" {
			oppKey = v
		}
	})
	if oppKey == "" {
		t.Fatal("no opportunity among the save choices")
	}
	tk, err := f.st.TicketByNumber(context.Background(), ticket.DefaultTenant, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := func() string { return strconv.FormatInt(tk.ID, 10) }

	t.Run("link without JavaScript", func(t *testing.T) {
		res := f.postForm(c, "/sidebar/link", panelForm(csrf, anna, "record", oppKey), nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /sidebar/link = %d, want 303", res.StatusCode)
		}
		loc, _ := url.Parse(res.Header.Get("Location"))
		if loc.Path != "/sidebar" || loc.Query().Get("message_id") != annaMsg || loc.Query().Get("done") != "linked" {
			t.Fatalf("Location = %q", res.Header.Get("Location"))
		}
		doc := f.panelDoc(c, loc.RawQuery)
		wantContains(t, doc, ".flash", "Saved to CRM")
		wantContains(t, doc, "#crm .link-saved", "Opportunity: Globex")
		// Reload without the flash: still linked.
		doc = f.panelDoc(c, anna.Encode())
		if doc.Find(`#crm .link-saved[data-key="`+oppKey+`"]`).Length() != 1 {
			t.Errorf("after reload the link is gone: %q", texts(doc.Find("#crm")))
		}
		if _, ok := doc.Find(`#crm input[value="` + oppKey + `"]`).Attr("disabled"); !ok {
			t.Error("the linked record is still offered")
		}
		// Linking again is idempotent: still one link.
		f.postForm(c, "/sidebar/link", panelForm(csrf, anna, "record", oppKey), nil)
		links, err := f.crm.Links(context.Background(), ticket.DefaultTenant, 0, annaMsg, 0)
		if err != nil || len(links) != 1 {
			t.Errorf("Links = %d, %v; want 1", len(links), err)
		}
	})

	t.Run("link with htmx answers the crm fragment", func(t *testing.T) {
		var contactKey string
		doc.Find("#crm input[name=record]").Each(func(_ int, s *goquery.Selection) {
			if v, _ := s.Attr("value"); strings.HasPrefix(v, "contact:") && contactKey == "" {
				contactKey = v
			}
		})
		res := f.postForm(c, "/sidebar/link", panelForm("", anna, "record", contactKey),
			map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("htmx link = %d: %s", res.StatusCode, body)
		}
		s := string(body)
		if !strings.HasPrefix(strings.TrimSpace(s), `<section id="crm"`) || strings.Contains(s, "<html") || strings.Contains(s, `id="ticket"`) {
			t.Fatalf("htmx answer is not just the crm fragment: %.300s", s)
		}
		if !strings.Contains(s, `data-key="`+contactKey+`"`) || !strings.Contains(s, "Saved to CRM") {
			t.Errorf("fragment lacks the new link: %.500s", s)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("fragment CSP = %q", csp)
		}
	})

	t.Run("status, priority, assignee", func(t *testing.T) {
		// Only agents can be assigned: Bob is one.
		if _, err := f.st.CreateUser(context.Background(), ticket.DefaultTenant, "bob@acme.example", "Bob", ticket.RoleAgent, ""); err != nil {
			t.Fatal(err)
		}
		res := f.postForm(c, "/sidebar/ticket/update", panelForm(csrf, anna, "id", id(), "status", "pending", "priority", "urgent", "assignee", "bob@acme.example"), nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("update = %d", res.StatusCode)
		}
		doc := f.panelDoc(c, anna.Encode())
		wantTexts(t, doc, "#ticket .badges .badge", "pending", "urgent", "bob@acme.example")
		// Assign to me, with htmx: the ticket fragment.
		res = f.postForm(c, "/sidebar/ticket/update", panelForm("", anna, "id", id(), "assign_me", "1"),
			map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
		body, _ := io.ReadAll(res.Body)
		if !strings.HasPrefix(strings.TrimSpace(string(body)), `<section id="ticket"`) || !strings.Contains(string(body), agentEmail) {
			t.Errorf("assign to me fragment: %.300s", body)
		}
		got, _ := f.st.Ticket(context.Background(), ticket.DefaultTenant, tk.ID)
		if got.Assignee != agentEmail || got.Status != ticket.StatusPending || got.Priority != ticket.PriorityUrgent {
			t.Errorf("stored ticket = %s %s %q", got.Status, got.Priority, got.Assignee)
		}
	})

	t.Run("invalid status is refused with a message", func(t *testing.T) {
		res := f.postForm(c, "/sidebar/ticket/update", panelForm(csrf, anna, "id", id(), "status", "bogus"), nil)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("bad status = %d, want 422", res.StatusCode)
		}
		doc, _ := goquery.NewDocumentFromReader(res.Body)
		wantContains(t, doc, "p.error", "Not saved", "bogus")
	})

	t.Run("internal note", func(t *testing.T) {
		res := f.postForm(c, "/sidebar/note", panelForm(csrf, anna, "id", id(), "note", "Called Anna, <b>escalated</b> to SRE."), nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("note = %d", res.StatusCode)
		}
		doc := f.panelDoc(c, anna.Encode())
		wantContains(t, doc, "#ticket .dir-note", "Called Anna, <b>escalated</b> to SRE.", agentEmail)
	})

	t.Run("another tenant's ticket cannot be changed", func(t *testing.T) {
		c2 := f.client()
		csrf2 := f.signIn(c2, otherEmail)
		res := f.postForm(c2, "/sidebar/ticket/update", panelForm(csrf2, nil, "id", id(), "status", "closed"), nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("other tenant's update = %d, want 404", res.StatusCode)
		}
		res = f.get(c2, "/sidebar?ticket=1")
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("other tenant's GET ?ticket=1 = %d, want 404", res.StatusCode)
		}
		doc := f.panelDoc(c2, url.Values{"message_id": {annaMsg}}.Encode())
		if doc.Find("#ticket .ticket-title").Length() != 0 || doc.Find("#sender .contact").Length() != 0 {
			t.Error("tenant other sees tenant default's ticket or CRM")
		}
	})
}

// TestPanelCreate: a ticket for an email capture has not stored, and a
// contact and a lead for an unknown sender.
func TestPanelCreate(t *testing.T) {
	f := newPanelFixture(t)
	c := f.client()
	csrf := f.signIn(c, agentEmail)
	mail := url.Values{"message_id": {"<fresh-1@nowhere.example>"}, "from": {"Zed Zero <zed@nowhere.example>"}, "subject": {"Help with export"}}

	res := f.postForm(c, "/sidebar/ticket", panelForm(csrf, mail, "priority", "high"), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create ticket = %d", res.StatusCode)
	}
	doc := f.panelDoc(c, mail.Encode())
	wantContains(t, doc, "#ticket .ticket-title", "#1", "Help with export")
	wantTexts(t, doc, "#ticket .badges .badge", "new", "high", "unassigned")
	// A second click does not make a second ticket.
	f.postForm(c, "/sidebar/ticket", panelForm(csrf, mail, "priority", "high"), nil)
	if _, err := f.st.TicketByNumber(context.Background(), ticket.DefaultTenant, 2); err == nil {
		t.Error("second create made ticket #2")
	}

	res = f.postForm(c, "/sidebar/contact", panelForm(csrf, mail, "first_name", "Zed", "last_name", "Zero", "title", "CTO"), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create contact = %d", res.StatusCode)
	}
	doc = f.panelDoc(c, mail.Encode())
	wantTexts(t, doc, "#sender .contact strong", "Zed Zero")
	wantCount(t, doc, "#sender details.create", 0, 0)

	lead := url.Values{"from": {"new.prospect@startup.example"}}
	res = f.postForm(c, "/sidebar/lead", panelForm("", lead, "first_name", "Nia", "last_name", "Prospect", "company", "Startup"),
		map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
	body, _ := io.ReadAll(res.Body)
	if !strings.HasPrefix(strings.TrimSpace(string(body)), `<main id="panel"`) || !strings.Contains(string(body), "Nia Prospect") {
		t.Errorf("htmx lead answer: %.300s", body)
	}
	doc = f.panelDoc(c, lead.Encode())
	wantContains(t, doc, "#sender .lead", "Nia Prospect", "Startup")

	res = f.postForm(c, "/sidebar/contact", panelForm(csrf, lead, "first_name", "X"), nil)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("contact without last name = %d, want 422", res.StatusCode)
	}
}
