package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

// blockTexts lists every section text and field of bs, in order.
func blockTexts(bs slack.Blocks) []string {
	var out []string
	for _, b := range bs.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok {
			if s.Text != nil {
				out = append(out, s.Text.Text)
			}
			for _, f := range s.Fields {
				out = append(out, f.Text)
			}
		}
	}
	return out
}

// actions returns the action_ids of bs's interactive elements and the
// priority select's initial option.
func actions(bs slack.Blocks) (ids []string, initial string) {
	for _, b := range bs.BlockSet {
		a, ok := b.(*slack.ActionBlock)
		if !ok {
			continue
		}
		for _, el := range a.Elements.ElementSet {
			switch el := el.(type) {
			case *slack.ButtonBlockElement:
				ids = append(ids, el.ActionID+"="+el.Text.Text)
			case *slack.SelectBlockElement:
				ids = append(ids, el.ActionID)
				if el.InitialOption != nil {
					initial = el.InitialOption.Value
				}
			}
		}
	}
	return ids, initial
}

func hasText(texts []string, sub string) bool {
	return slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, sub) })
}

func TestUrgentMailGivesOneAlert(t *testing.T) {
	e := newEnv(t)
	e.run(e.bot())
	long := "Our printers are all down since 9:00 & nobody <can> print. " + strings.Repeat("Details follow. ", 40)
	res := e.ingest(e.mail("Printer OUTAGE in Berlin", long))
	e.settle()

	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1: %+v", len(posts), posts)
	}
	p := posts[0]
	if p.Channel != "C_URGENT" || p.ThreadTS != "" {
		t.Errorf("posted to %q thread %q", p.Channel, p.ThreadTS)
	}
	wantText := fmt.Sprintf("[#%d] Printer OUTAGE in Berlin (urgent) from Carol Customer", res.TicketNumber)
	if p.Text != wantText {
		t.Errorf("fallback text %q, want %q", p.Text, wantText)
	}
	texts := blockTexts(p.Blocks)
	for _, want := range []string{
		fmt.Sprintf("*<https://desk.example/sidebar?ticket=%d|#%d Printer OUTAGE in Berlin>*", res.TicketNumber, res.TicketNumber),
		"*Requester*\nCarol Customer <mailto:carol@customer.example|carol@customer.example>",
		"*Account*\ncustomer.example",
		"*Priority*\n:red_circle: Urgent",
		"*Status*\nNew",
		"*Assignee*\n_unassigned_",
		"*Mailbox*\nsupport",
		"> Our printers are all down since 9:00 &amp; nobody &lt;can&gt; print. Details follow.",
	} {
		if !hasText(texts, want) {
			t.Errorf("blocks lack %q; have %q", want, texts)
		}
	}
	quote := texts[len(texts)-1]
	unescaped := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(strings.TrimPrefix(quote, "> "))
	if n := utf8.RuneCountInString(unescaped); n > excerptRunes+10 || !strings.HasSuffix(quote, "…") {
		t.Errorf("excerpt not cut near %d runes (%d): %q", excerptRunes, n, quote)
	}
	ids, initial := actions(p.Blocks)
	id := res.TicketID
	wantIDs := []string{
		fmt.Sprintf("sidedesk_ack:%d=Acknowledge", id), fmt.Sprintf("sidedesk_assign:%d=Assign to me", id),
		fmt.Sprintf("sidedesk_resolve:%d=Resolve", id), fmt.Sprintf("sidedesk_priority:%d", id),
	}
	if !slices.Equal(ids, wantIDs) || initial != "urgent" {
		t.Errorf("actions %q (select at %q), want %q (urgent)", ids, initial, wantIDs)
	}
	if p.Metadata.EventType != metaAlert || p.Metadata.EventPayload["ticket_id"] != fmt.Sprint(id) {
		t.Errorf("metadata %+v", p.Metadata)
	}
	row, err := e.st.SlackMessageFor(context.Background(), ticket.DefaultTenant, ticket.SlackAlert, id, "C_URGENT")
	if err != nil || row.TS != p.TS || row.ChannelID != "C_URGENT" {
		t.Errorf("stored row %+v, %v; want ts %s", row, err, p.TS)
	}
}

func TestNoAlertForNormalOrRobotMail(t *testing.T) {
	e := newEnv(t)
	e.run(e.bot())
	e.ingest(e.mail("Invoice question", "Could you resend the invoice?"))
	// Robots shouting: never a ticket, never an alert.
	e.ingest(e.mail("Automatic reply: OUTAGE", "I am out of office; for an outage call us", func(in *ticket.Inbound) {
		in.Header = ticket.Header{"Auto-Submitted": {"auto-replied"}, "Importance": {"high"}}
	}))
	e.ingest(e.mail("Undelivered Mail Returned to Sender", "outage report could not be delivered", func(in *ticket.Inbound) {
		in.From = ticket.Address{Email: "MAILER-DAEMON@mx.example"}
		in.DeliveryReport = true
	}))
	e.ingest(e.mail("[list] outage digest", "outage outage", func(in *ticket.Inbound) {
		in.Header = ticket.Header{"List-Id": {"<ops.lists.example>"}}
	}))
	e.settle()
	if posts, _, _ := e.slack.snapshot(); len(posts) != 0 {
		t.Fatalf("posts for normal/robot mail: %+v", posts)
	}
}

func TestAutoReplyOnAlertedTicketIsNotThreaded(t *testing.T) {
	e := newEnv(t)
	e.run(e.bot())
	first := e.mail("Site down", "everything is down")
	e.ingest(first)
	e.ingest(e.mail("Automatic reply: Site down", "out of office", func(in *ticket.Inbound) {
		in.InReplyTo, in.References = first.MessageID, []string{first.MessageID}
		in.Header = ticket.Header{"Auto-Submitted": {"auto-replied"}}
	}))
	e.settle()
	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 || posts[0].ThreadTS != "" {
		t.Fatalf("posts %+v, want only the alert", posts)
	}
}

func TestAlertRules(t *testing.T) {
	rules := []AlertRule{
		{Name: "urgent", Channel: "C_URGENT", MinPriority: ticket.PriorityUrgent},
		{Name: "high billing", Channel: "C_BILLING", MinPriority: ticket.PriorityHigh, Mailboxes: []string{"billing"}},
		{Name: "vip", Channel: "C_VIP", VIP: true},
		{Name: "security", Channel: "C_SEC", Keywords: []string{"breach", "phishing"}},
		{Name: "urgent again", Channel: "C_URGENT", Keywords: []string{"down"}}, // same channel: still one alert
	}
	cases := []struct {
		name string
		mail func(e *env) ticket.Inbound
		want []string // channels, sorted
	}{
		{"urgent keyword", func(e *env) ticket.Inbound { return e.mail("outage", "") }, []string{"C_URGENT"}},
		{"two rules one channel", func(e *env) ticket.Inbound { return e.mail("site down", "") }, []string{"C_URGENT"}},
		{"high but wrong mailbox", func(e *env) ticket.Inbound { return e.mail("urgent: card", "") }, nil},
		{"high billing", func(e *env) ticket.Inbound {
			return e.mail("urgent: card", "", func(in *ticket.Inbound) { in.Mailbox = "billing" })
		}, []string{"C_BILLING"}},
		{"urgent billing", func(e *env) ticket.Inbound {
			return e.mail("outage", "", func(in *ticket.Inbound) { in.Mailbox = "billing" })
		}, []string{"C_BILLING", "C_URGENT"}},
		{"vip normal", func(e *env) ticket.Inbound {
			return e.mail("hello", "", func(in *ticket.Inbound) { in.From.Email = "boss@vip.example" })
		}, []string{"C_VIP"}},
		{"keyword in text", func(e *env) ticket.Inbound { return e.mail("question", "is this a Phishing mail?") }, []string{"C_SEC"}},
		{"keyword not whole word", func(e *env) ticket.Inbound { return e.mail("breaches", "phishings") }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, rules...)
			e.run(e.bot())
			e.ingest(c.mail(e))
			e.settle()
			posts, _, _ := e.slack.snapshot()
			var got []string
			for _, p := range posts {
				got = append(got, p.Channel)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("alerted %q, want %q", got, c.want)
			}
		})
	}
}

func TestUpdateInPlaceAndThread(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	stop := e.run(e.bot())
	first := e.mail("Checkout down", "cannot pay")
	res := e.ingest(first)
	e.settle()
	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 {
		t.Fatalf("posts %d", len(posts))
	}
	alert := posts[0]

	// A change from the panel or API updates the message in place.
	assignee := "alice@acme.example"
	if _, err := e.svc.Update(ctx, ticket.DefaultTenant, res.TicketID, ticket.Change{Assignee: &assignee, Actor: "api:test"}); err != nil {
		t.Fatal(err)
	}
	// The customer writes again: posted in the alert's thread.
	e.ingest(e.mail("Re: Checkout down", "still broken, losing money", func(in *ticket.Inbound) {
		in.InReplyTo, in.References = first.MessageID, []string{first.MessageID}
	}))
	e.settle()
	posts, updates, _ := e.slack.snapshot()
	if len(updates) != 1 || updates[0].TS != alert.TS || updates[0].Channel != "C_URGENT" {
		t.Fatalf("updates %+v, want one of %s", updates, alert.TS)
	}
	if !hasText(blockTexts(updates[0].Blocks), "*Assignee*\nalice@acme.example") {
		t.Errorf("updated blocks %q lack the assignee", blockTexts(updates[0].Blocks))
	}
	if len(posts) != 2 {
		t.Fatalf("posts %+v, want alert + thread reply", posts)
	}
	reply := posts[1]
	if reply.ThreadTS != alert.TS || reply.Channel != "C_URGENT" ||
		reply.Text != "New message from Carol Customer:\n> still broken, losing money" {
		t.Errorf("reply %+v", reply)
	}

	// Replaying the whole outbox (an admin resets the cursor) posts nothing
	// twice: posts are recorded; updates are repeatable.
	stop()
	if err := e.st.SetConsumerCursor(ctx, "slack:"+ticket.DefaultTenant, 0); err != nil {
		t.Fatal(err)
	}
	e.run(e.bot())
	e.settle()
	if posts, _, _ := e.slack.snapshot(); len(posts) != 2 {
		t.Errorf("replay posted again: %d posts", len(posts))
	}
}

func TestPriorityRaisedLaterAlertsOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.run(e.bot())
	res := e.ingest(e.mail("question", "hello"))
	e.settle()
	urgent, low := ticket.PriorityUrgent, ticket.PriorityLow
	for _, p := range []*ticket.Priority{&urgent, &low, &urgent} {
		if _, err := e.svc.Update(ctx, ticket.DefaultTenant, res.TicketID, ticket.Change{Priority: p, Actor: "api:test"}); err != nil {
			t.Fatal(err)
		}
		e.settle()
	}
	posts, updates, _ := e.slack.snapshot()
	if len(posts) != 1 || len(updates) != 2 {
		t.Fatalf("%d posts, %d updates; want 1 alert (when raised) and 2 updates", len(posts), len(updates))
	}
	if _, initial := actions(updates[1].Blocks); initial != "urgent" {
		t.Errorf("last update shows %q", initial)
	}
}

func TestSlackFailuresGiveOneMessage(t *testing.T) {
	cases := []struct {
		name        string
		fail        []string
		wantLookups bool          // the bot had to look for a post whose answer it lost
		wantWait    time.Duration // a wait the bot must have made (Retry-After)
	}{
		{name: "429 then success", fail: []string{"429:7"}, wantWait: 7 * time.Second},
		{name: "429 twice then success", fail: []string{"429:1", "429:2"}, wantWait: 2 * time.Second},
		{name: "5xx then success", fail: []string{"500", "500"}, wantLookups: true},
		{name: "answer lost", fail: []string{"drop"}, wantLookups: true},
		{name: "slack internal_error", fail: []string{"internal_error"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.slack.failNext(c.fail...)
			e.run(e.bot())
			res := e.ingest(e.mail("total outage", "help"))
			e.settle()
			posts, _, _ := e.slack.snapshot()
			if len(posts) != 1 {
				t.Fatalf("%d posts, want exactly 1", len(posts))
			}
			row, err := e.st.SlackMessageFor(context.Background(), ticket.DefaultTenant, ticket.SlackAlert, res.TicketID, "C_URGENT")
			if err != nil || row.TS != posts[0].TS {
				t.Errorf("stored %+v, %v; want ts %s", row, err, posts[0].TS)
			}
			e.slack.mu.Lock()
			lookups := e.slack.lookups
			e.slack.mu.Unlock()
			if (lookups > 0) != c.wantLookups {
				t.Errorf("history look-ups %d, want some: %v", lookups, c.wantLookups)
			}
			if c.wantWait > 0 && !slices.Contains(e.recordedWaits(), c.wantWait) {
				t.Errorf("waits %v lack Retry-After %v", e.recordedWaits(), c.wantWait)
			}
		})
	}
}

func TestRestartMidDeliveryGivesOneMessage(t *testing.T) {
	e := newEnv(t)
	e.slack.failNext("hold")
	stop := e.run(e.bot())
	res := e.ingest(e.mail("database outage", "prod is down"))
	select {
	case <-e.slack.held: // Slack has the post; its answer is not out yet
	case <-time.After(20 * time.Second):
		t.Fatal("post never reached Slack")
	}
	stop() // the process dies before it learns the ts
	close(e.slack.release)
	row, err := e.st.SlackMessageFor(context.Background(), ticket.DefaultTenant, ticket.SlackAlert, res.TicketID, "C_URGENT")
	if err != nil || row.Posted() {
		t.Fatalf("after the crash the row is %+v, %v; want begun, not posted", row, err)
	}

	e.run(e.bot()) // restart
	e.settle()
	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 {
		t.Fatalf("%d posts after restart, want 1", len(posts))
	}
	row, err = e.st.SlackMessageFor(context.Background(), ticket.DefaultTenant, ticket.SlackAlert, res.TicketID, "C_URGENT")
	if err != nil || row.TS != posts[0].TS {
		t.Errorf("row %+v, %v; want ts %s", row, err, posts[0].TS)
	}
}

func TestRestartBeforePostPostsOnce(t *testing.T) {
	// The row was begun but the process died before the post left: the
	// look-up finds nothing, and the alert is posted once.
	ctx := context.Background()
	e := newEnv(t)
	res := e.ingest(e.mail("outage", "x"))
	if _, err := e.st.BeginSlackMessage(ctx, ticket.SlackMessage{Tenant: ticket.DefaultTenant, Kind: ticket.SlackAlert,
		Ref: res.TicketID, TicketID: res.TicketID, Channel: "C_URGENT"}); err != nil {
		t.Fatal(err)
	}
	e.run(e.bot())
	e.settle()
	posts, _, _ := e.slack.snapshot()
	e.slack.mu.Lock()
	lookups := e.slack.lookups
	e.slack.mu.Unlock()
	if len(posts) != 1 || lookups == 0 {
		t.Fatalf("%d posts, %d look-ups; want 1 post after a look-up", len(posts), lookups)
	}
}

func TestPermanentErrorDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	e.slack.failNext("channel_not_found")
	e.run(e.bot())
	e.ingest(e.mail("outage one", ""))
	e.ingest(e.mail("outage two", "", func(in *ticket.Inbound) { in.From.Email = "dave@customer.example" }))
	e.settle()
	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "outage two") {
		t.Fatalf("posts %+v, want only the second alert", posts)
	}
	dls, err := e.st.DeadLetters(context.Background(), "slack:default", 0)
	if err != nil || len(dls) != 1 || !strings.Contains(dls[0].LastError, "channel_not_found") {
		t.Fatalf("dead letters %+v, %v; want the first alert's event with Slack's error", dls, err)
	}
}

func TestFirstStartSkipsHistory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.ingest(e.mail("old outage", ""))
	// A deployment that had no Slack before: no cursor yet.
	if err := e.st.DeleteConsumerCursor(ctx, "slack:default"); err != nil {
		t.Fatal(err)
	}
	e.run(e.bot())
	// Wait for the bot to store its starting cursor, then mail again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := e.st.ConsumerCursor(ctx, "slack:default"); err == nil {
			break
		} else if !errors.Is(err, ticket.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("cursor: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.ingest(e.mail("new outage", "", func(in *ticket.Inbound) { in.From.Email = "erin@customer.example" }))
	e.settle()
	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "new outage") {
		t.Fatalf("posts %+v, want only the new alert", posts)
	}
}

func TestOtherTenantIgnored(t *testing.T) {
	e := newEnv(t)
	e.run(e.bot())
	e.ingest(e.mail("outage elsewhere", "", func(in *ticket.Inbound) { in.Tenant = "other" }))
	e.settle()
	if posts, _, _ := e.slack.snapshot(); len(posts) != 0 {
		t.Fatalf("alerted another tenant's ticket: %+v", posts)
	}
}

func TestDispatcherLeaseOneAtATime(t *testing.T) {
	// Two processes on one database: only the lease holder delivers, so
	// the alert is posted once even though both run.
	e := newEnv(t)
	e.holder = "p1"
	e.run(e.bot())
	e.holder = "p2"
	e.run(e.bot())
	for i := range 5 {
		e.ingest(e.mail(fmt.Sprintf("outage %d", i), "", func(in *ticket.Inbound) {
			in.From.Email = fmt.Sprintf("c%d@customer.example", i)
		}))
	}
	e.settle()
	if posts, _, _ := e.slack.snapshot(); len(posts) != 5 {
		t.Fatalf("%d posts, want 5", len(posts))
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t)
	base := e.opts
	for name, mod := range map[string]func(o *Options){
		"no store":       func(o *Options) { o.Store = nil },
		"no token":       func(o *Options) { o.BotToken = "" },
		"bad mode":       func(o *Options) { o.Mode = "rtm" },
		"socket no app":  func(o *Options) { o.Mode, o.AppToken = ModeSocket, "" },
		"http no secret": func(o *Options) { o.SigningSecret = "" },
		"bad command":    func(o *Options) { o.Command = "sidedesk" },
		"rule channel":   func(o *Options) { o.Rules = []AlertRule{{MinPriority: ticket.PriorityHigh}} },
		"rule priority":  func(o *Options) { o.Rules = []AlertRule{{Channel: "C", MinPriority: "asap"}} },
		"rule keyword":   func(o *Options) { o.Rules = []AlertRule{{Channel: "C", Keywords: []string{" "}}} },
	} {
		o := base
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExcerpt(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a  b\n\tc", 10, "a b c"},
		{"héllo wörld", 5, "héllo…"},
		{"", 5, ""},
		{"exact", 5, "exact"},
	} {
		if got := excerpt(c.in, c.n); got != c.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestParseActionID(t *testing.T) {
	for s, want := range map[string]string{
		"sidedesk_ack:12":      "ack 12",
		"sidedesk_priority:3":  "priority 3",
		"sidedesk_ack:0":       "",
		"sidedesk_ack:x":       "",
		"sidedesk_delete:1":    "",
		"other_ack:1":          "",
		"sidedesk_resolve":     "",
		"sidedesk_assign:-4":   "",
		"sidedesk_assign:9:10": "",
	} {
		verb, id, ok := parseActionID(s)
		got := ""
		if ok {
			got = fmt.Sprintf("%s %d", verb, id)
		}
		if got != want {
			t.Errorf("parseActionID(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestAPIURLWithoutTrailingSlash(t *testing.T) {
	// slack.api_url = "http://host/api" must work like ".../api/".
	e := newEnv(t)
	e.opts.APIURL = strings.TrimSuffix(e.slack.url(), "/")
	e.run(e.bot())
	e.ingest(e.mail("outage", "help"))
	e.settle()
	if posts, _, _ := e.slack.snapshot(); len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
}

// TestFailedReplyAndAgentReplyInThread: a reply of ours that could not be
// delivered is posted in the alert's thread with the server's answer
// (escaped), and an agent's reply captured from their own client is too.
func TestFailedReplyAndAgentReplyInThread(t *testing.T) {
	e := newEnv(t)
	e.run(e.bot())
	first := e.mail("Site down", "everything is down")
	res := e.ingest(first)
	ctx := context.Background()
	m, _, err := e.svc.QueueOutgoing(ctx, ticket.DefaultTenant, ticket.Outgoing{TicketID: res.TicketID, Kind: ticket.OutgoingReply,
		Mailbox: "support", From: "support@acme.example", Recipients: []string{"anna@customer.example"},
		Message: ticket.Message{MessageID: "reply-1@acme.example", To: []ticket.Address{{Email: "anna@customer.example"}}, Text: "On it."}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.RecordDelivery(ctx, ticket.DefaultTenant, m.ID, ticket.DeliveryFailed, "550 5.1.1 <anna@customer.example>: no such user"); err != nil {
		t.Fatal(err)
	}
	e.ingest(e.mail("Re: Site down", "We restarted it.", func(in *ticket.Inbound) {
		in.InReplyTo, in.References = first.MessageID, []string{first.MessageID}
		in.From = ticket.Address{Name: "Ana Agent", Email: "support@acme.example"}
		in.Outgoing = true
	}))
	e.settle()
	posts, _, _ := e.slack.snapshot()
	var thread []string
	for _, p := range posts {
		if p.ThreadTS != "" {
			thread = append(thread, p.Text)
		}
	}
	if len(thread) != 2 || !strings.Contains(thread[0], "could not be delivered") || !strings.Contains(thread[0], "550 5.1.1 &lt;anna@customer.example&gt;") ||
		!strings.HasPrefix(thread[1], "Reply from Ana Agent") {
		t.Fatalf("thread %q", thread)
	}
}
