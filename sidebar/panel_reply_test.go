package sidebar

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/mailout"
	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// deferredReplier is a Replier set once the fixture's store exists.
type deferredReplier struct{ r Replier }

func (d *deferredReplier) Reply(ctx context.Context, tenant string, id int64, r ticket.ReplyRequest) (ticket.Message, error) {
	return d.r.Reply(ctx, tenant, id, r)
}

// TestPanelReply: the agent answers from the panel; the reply shows in the
// thread as sending, goes out through the mailbox, then shows as sent, and
// the ticket takes the status chosen with it.
func TestPanelReply(t *testing.T) {
	smtpSrv := testenv.StartSMTPServer(t)
	dr := &deferredReplier{}
	f := newPanelFixture(t, func(o *Options) {
		o.Replies = dr
		o.Macros = []Macro{{Name: "Restarted", Body: "Hello {{.RequesterName}}, {{.Tag}} is fixed.\n{{.AgentName}}"},
			{Name: "Broken", Body: "{{.Nope}}"}}
	})
	mail, err := mailout.New(mailout.Options{Store: f.st, Blobs: f.st.Blobs(), Tickets: f.svc,
		Mailboxes: []mailout.Mailbox{{Name: "support", Address: "support@acme.example",
			Transport: &mailout.SMTP{Host: "127.0.0.1", Port: smtpSrv.Port(), TLS: "none", Auth: "none"}}}})
	if err != nil {
		t.Fatal(err)
	}
	dr.r = mail
	f.deliverFile("01-globex-production-down.eml")
	c := f.client()
	csrf := f.signIn(c, agentEmail)
	anna := url.Values{"message_id": {annaMsg}, "from": {"anna.schmidt@globex.example"}}
	doc := f.panelDoc(c, anna.Encode())
	if doc.Find("#ticket form.reply-form textarea[name=reply]").Length() != 1 {
		t.Fatalf("no reply box: %q", texts(doc.Find("#ticket")))
	}
	tk, err := f.st.TicketByNumber(context.Background(), ticket.DefaultTenant, 1)
	if err != nil {
		t.Fatal(err)
	}
	res := f.postForm(c, "/sidebar/reply", panelForm(csrf, anna, "id", strconv.FormatInt(tk.ID, 10),
		"reply", "We are restarting the cluster now.", "status", "pending"), map[string]string{"HX-Request": "true"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /sidebar/reply = %d", res.StatusCode)
	}
	doc = f.panelDoc(c, anna.Encode())
	out := doc.Find("#ticket li.dir-outgoing")
	if out.Length() != 1 || !strings.Contains(out.Text(), "restarting the cluster") || !strings.Contains(out.Text(), "sending") {
		t.Fatalf("thread after the reply: %q", texts(doc.Find("#ticket .messages")))
	}
	thread, _ := f.st.TicketMessages(context.Background(), ticket.DefaultTenant, tk.ID)
	m := thread[len(thread)-1]
	if err := mail.Deliver(context.Background(), ticket.Event{Type: ticket.EventMessageQueued, Tenant: ticket.DefaultTenant, MessageID: m.ID}); err != nil {
		t.Fatal(err)
	}
	if got := smtpSrv.Received(); len(got) != 1 || got[0].To[0] != "anna.schmidt@globex.example" {
		t.Fatalf("server got %+v", got)
	}
	doc = f.panelDoc(c, anna.Encode())
	if txt := doc.Find("#ticket li.dir-outgoing .badge").Text(); !strings.Contains(txt, "sent") {
		t.Errorf("delivery badge %q, want sent", txt)
	}
	if tk, _ := f.st.Ticket(context.Background(), ticket.DefaultTenant, tk.ID); tk.Status != ticket.StatusPending {
		t.Errorf("ticket %s, want pending", tk.Status)
	}
	// An empty reply is refused with the reason, nothing queued.
	res = f.postForm(c, "/sidebar/reply", panelForm(csrf, anna, "id", strconv.FormatInt(tk.ID, 10), "reply", " "),
		map[string]string{"HX-Request": "true"})
	body := readBody(t, res)
	if !strings.Contains(body, "Not saved") || !strings.Contains(body, "body_text") {
		t.Errorf("empty reply answer lacks the reason: %s", body)
	}

	// Canned replies: offered rendered for this ticket (the one that does
	// not render is left out); picked with an empty box, it is the reply.
	doc = f.panelDoc(c, anna.Encode())
	opts := doc.Find("#ticket select[name=macro] option[data-text]")
	if opts.Length() != 1 || opts.Text() != "Restarted" || !strings.Contains(opts.AttrOr("data-text", ""), "[#1] is fixed") ||
		!strings.Contains(opts.AttrOr("data-text", ""), "Hello Schmidt, Anna") {
		t.Fatalf("macro options: %d %q %q", opts.Length(), opts.Text(), opts.AttrOr("data-text", ""))
	}
	res = f.postForm(c, "/sidebar/reply", panelForm(csrf, anna, "id", strconv.FormatInt(tk.ID, 10), "reply", "",
		"macro", opts.AttrOr("value", ""), "status", "pending"), map[string]string{"HX-Request": "true"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("macro reply = %d", res.StatusCode)
	}
	thread, _ = f.st.TicketMessages(context.Background(), ticket.DefaultTenant, tk.ID)
	if m := thread[len(thread)-1]; m.Direction != ticket.DirectionOutgoing || !strings.HasPrefix(m.Text, "Hello Schmidt, Anna") {
		t.Errorf("macro reply text %q", m.Text)
	}
	res = f.postForm(c, "/sidebar/reply", panelForm(csrf, anna, "id", strconv.FormatInt(tk.ID, 10), "reply", "",
		"macro", "7"), map[string]string{"HX-Request": "true"})
	if body := readBody(t, res); !strings.Contains(body, "no such canned reply") {
		t.Errorf("unknown macro: %s", body)
	}
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, res.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestAssigneePickerAndRefusals: the ticket form offers the tenant's
// agents; assigning someone who is not one of them, or saving a contact to
// another tenant's account, is refused with 422 and the reason, not 500.
func TestAssigneePickerAndRefusals(t *testing.T) {
	f := newPanelFixture(t)
	f.deliverFile("01-globex-production-down.eml")
	c := f.client()
	csrf := f.signIn(c, agentEmail)
	anna := url.Values{"message_id": {annaMsg}, "from": {"anna.schmidt@globex.example"}}
	doc := f.panelDoc(c, anna.Encode())
	if doc.Find(`#ticket datalist#agents option[value="`+agentEmail+`"]`).Length() != 1 ||
		doc.Find(`#ticket datalist#agents option[value="`+otherEmail+`"]`).Length() != 0 {
		t.Errorf("picker offers %q", texts(doc.Find("#ticket datalist option")))
	}
	tk, _ := f.st.TicketByNumber(context.Background(), ticket.DefaultTenant, 1)
	res := f.postForm(c, "/sidebar/ticket/update", panelForm(csrf, anna, "id", strconv.FormatInt(tk.ID, 10),
		"assignee", otherEmail), nil)
	body := readBody(t, res)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not an agent") {
		t.Errorf("assigning another tenant's agent: %d %s", res.StatusCode, body)
	}
	// An account of tenant "other" (ids are numbers shared by the tenants).
	if _, err := f.crm.UpsertAccounts(context.Background(), "other", []crm.Account{{Name: "Other Corp", Domains: []string{"other-corp.example"}}}); err != nil {
		t.Fatal(err)
	}
	otherID := ""
	for id := 1; id < 10000 && otherID == ""; id++ {
		if _, err := f.crm.Account(context.Background(), "other", strconv.Itoa(id)); err == nil {
			otherID = strconv.Itoa(id)
		}
	}
	if otherID == "" {
		t.Fatal("the other tenant's account was not stored")
	}
	stranger := url.Values{"message_id": {"nobody-1@x.example"}, "from": {"new.person@initech.example"}}
	res = f.postForm(c, "/sidebar/contact", panelForm(csrf, stranger, "first_name", "New", "last_name", "Person", "account_id", otherID), nil)
	body = readBody(t, res)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "account") {
		t.Errorf("contact on an unknown account: %d %s", res.StatusCode, body)
	}
}

// TestPanelWholeThread: a long ticket shows its latest messages with a
// link to the earlier ones, page by page back to the first, each dated by
// the mail's own Date; another tenant's ticket is not shown.
func TestPanelWholeThread(t *testing.T) {
	f := newPanelFixture(t)
	first := f.deliver("default", "t:0", []byte("From: Cora <cora@customer.example>\r\nTo: support@acme.example\r\n"+
		"Subject: Long story\r\nMessage-ID: <m0@customer.example>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\nPart 0\r\n"))
	for i := 1; i < 45; i++ {
		f.deliver("default", fmt.Sprintf("t:%d", i), []byte(fmt.Sprintf("From: Cora <cora@customer.example>\r\nTo: support@acme.example\r\n"+
			"Subject: Re: Long story\r\nMessage-ID: <m%d@customer.example>\r\nIn-Reply-To: <m%d@customer.example>\r\n"+
			"Date: Mon, 02 Mar 2026 %02d:%02d:00 +0000\r\n\r\nPart %d\r\n", i, i-1, 9+i/60, i%60, i)))
	}
	c := f.client()
	f.signIn(c, agentEmail)
	doc := f.panelDoc(c, url.Values{"message_id": {"m44@customer.example"}}.Encode())
	if n := doc.Find("#ticket ol.messages li").Length(); n != 20 {
		t.Fatalf("panel shows %d messages, want the latest 20", n)
	}
	if !strings.Contains(doc.Find("#ticket ol.messages li").Last().Text(), "Part 44") {
		t.Errorf("the latest message is not last: %q", doc.Find("#ticket ol.messages li").Last().Text())
	}
	var parts []string
	next, _ := doc.Find("#ticket a.earlier").Attr("href")
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("the earlier links do not end")
		}
		page, res := f.getDoc(c, next)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", next, res.StatusCode)
		}
		var these []string
		page.Find("ol.messages li p.text").Each(func(_ int, s *goquery.Selection) { these = append(these, s.Text()) })
		parts = append(these, parts...)
		next, _ = page.Find("a.earlier").Attr("href")
	}
	if len(parts) != 25 || parts[0] != "Part 0" || parts[24] != "Part 24" {
		t.Errorf("earlier pages hold %d messages (%v…), want Part 0 to Part 24", len(parts), parts[:min(3, len(parts))])
	}
	// The mail's own date (Part 25 is dated 09:25 on 2 March), not when
	// it was captured.
	page, _ := f.getDoc(c, views.ThreadURL(first.TicketID, 1<<40))
	if txt := page.Find("ol.messages li").First().Find(".meta").Text(); !strings.Contains(txt, "2026-03-02 09:25") {
		t.Errorf("message dated %q, want the mail's Date 2026-03-02 09:25", txt)
	}
	other := f.deliver("other", "o:1", []byte("From: x@y.example\r\nTo: support@acme.example\r\nSubject: Secret\r\nMessage-ID: <o1@y.example>\r\n\r\nhidden\r\n"))
	if _, res := f.getDoc(c, views.ThreadURL(other.TicketID, 1<<40)); res.StatusCode != 404 {
		t.Errorf("another tenant's thread: %d, want 404", res.StatusCode)
	}
	if _, res := f.getDoc(c, "/sidebar/thread?ticket=x"); res.StatusCode != 400 {
		t.Errorf("a broken thread link: %d, want 400", res.StatusCode)
	}
}
