package ticket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// OpenStore gives a scenario an empty store and a way to list every event
// written to it, oldest first. The in-memory store (TestIngestMem) and the
// SQLite store (ingest_sqlite_test.go, package ticket_test) both run the
// scenarios through RunIngestScenarios.
type OpenStore func(t *testing.T) (Store, func() []Event)

var testSecret = []byte("test reply secret, 32 bytes long")

// env is one scenario's world: a fresh store, a Service on a clock the
// scenario moves, and helpers that fail the test on errors.
type env struct {
	t      *testing.T
	store  Store
	events func() []Event
	svc    *Service
	now    time.Time
}

func newEnv(t *testing.T, open OpenStore, adjust func(*Options)) *env {
	t.Helper()
	st, events := open(t)
	// Near the real time: a store may stamp rows itself.
	e := &env{t: t, store: st, events: events, now: time.Now().UTC().Truncate(time.Millisecond)}
	opts := Options{Store: st, Now: func() time.Time { return e.now }, ReplySecret: testSecret}
	if adjust != nil {
		adjust(&opts)
	}
	svc, err := NewService(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *env) advance(d time.Duration) { e.now = e.now.Add(d) }

func (e *env) ingest(in Inbound) Result {
	e.t.Helper()
	r, err := e.svc.Ingest(context.Background(), in)
	if err != nil {
		e.t.Fatalf("Ingest %s: %v", in.SourceKey, err)
	}
	return r
}

// read runs one look-up in its own transaction.
func read[T any](e *env, what string, look func(context.Context, Tx) (T, error)) T {
	e.t.Helper()
	var v T
	if err := e.store.WithTx(context.Background(), func(tx Tx) (err error) {
		v, err = look(context.Background(), tx)
		return err
	}); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (e *env) ticket(id int64) Ticket {
	e.t.Helper()
	return read(e, fmt.Sprint("ticket ", id), func(ctx context.Context, tx Tx) (Ticket, error) { return tx.Ticket(ctx, DefaultTenant, id) })
}

func (e *env) message(id int64) Message {
	e.t.Helper()
	return read(e, fmt.Sprint("message ", id), func(ctx context.Context, tx Tx) (Message, error) { return tx.Message(ctx, DefaultTenant, id) })
}

func (e *env) update(id int64, ch Change) Ticket {
	e.t.Helper()
	tk, err := e.svc.Update(context.Background(), "", id, ch)
	if err != nil {
		e.t.Fatalf("Update %d: %v", id, err)
	}
	return tk
}

// eventsOf returns the events of one type with their decoded payloads.
func (e *env) eventsOf(typ string) ([]Event, []EventPayload) {
	e.t.Helper()
	var evs []Event
	var ps []EventPayload
	for _, ev := range e.events() {
		if ev.Type != typ {
			continue
		}
		var p EventPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			e.t.Fatalf("event %d payload %q: %v", ev.ID, ev.Payload, err)
		}
		evs, ps = append(evs, ev), append(ps, p)
	}
	return evs, ps
}

// mailOpt adjusts a test mail.
type mailOpt func(*Inbound)

// newMail builds an inbound mail with a source key unique per msgID; the
// body hash derives from msgID and subject.
func newMail(msgID, from, subject string, opts ...mailOpt) Inbound {
	sum := sha256.Sum256([]byte(msgID + "\x00" + subject))
	in := Inbound{
		Mailbox:   "support",
		SourceKey: "imap:1:" + msgID,
		BodyHash:  hex.EncodeToString(sum[:]),
		Raw:       BlobRef{SHA256: hex.EncodeToString(sum[:]), Size: 100},
		Header:    Header{},
		MessageID: "<" + msgID + ">",
		From:      Address{Name: "Sender", Email: from},
		To:        []Address{{Name: "Support", Email: "support@example.com"}},
		Subject:   subject,
		Date:      time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		Text:      "hello",
	}
	for _, o := range opts {
		o(&in)
	}
	return in
}

func inReplyTo(id string) mailOpt { return func(in *Inbound) { in.InReplyTo = "<" + id + ">" } }
func references(ids ...string) mailOpt {
	return func(in *Inbound) {
		for _, id := range ids {
			in.References = append(in.References, "<"+id+">")
		}
	}
}
func header(k, v string) mailOpt {
	return func(in *Inbound) { in.Header[CanonicalKey(k)] = append(in.Header[CanonicalKey(k)], v) }
}
func withSource(mailbox, key string) mailOpt {
	return func(in *Inbound) { in.Mailbox, in.SourceKey = mailbox, key }
}

func wantNew(t *testing.T, r Result) {
	t.Helper()
	if !r.NewTicket || r.TicketID == 0 || r.Held || r.Duplicate {
		t.Fatalf("want a new ticket, got %+v", r)
	}
}

func wantSame(t *testing.T, r Result, ticketID int64) {
	t.Helper()
	if r.NewTicket || r.TicketID != ticketID || r.Held || r.MessageID == 0 {
		t.Fatalf("want message on ticket %d, got %+v", ticketID, r)
	}
}

func wantHeld(t *testing.T, r Result, class Classification) {
	t.Helper()
	if !r.Held || r.TicketID != 0 || r.NewTicket || r.MessageID == 0 || r.Classification != class {
		t.Fatalf("want a held %s message, got %+v", class, r)
	}
}

func wantStatus(t *testing.T, e *env, id int64, s Status) Ticket {
	t.Helper()
	tk := e.ticket(id)
	if tk.Status != s {
		t.Fatalf("ticket %d status %s, want %s", id, tk.Status, s)
	}
	return tk
}

func ptr[T any](v T) *T { return &v }

// RunIngestScenarios runs every Ingest/Update scenario against stores from
// open.
func RunIngestScenarios(t *testing.T, open OpenStore) {
	for _, sc := range ingestScenarios {
		t.Run(sc.name, func(t *testing.T) {
			sc.run(t, newEnv(t, open, sc.opts))
		})
	}
}

var ingestScenarios = []struct {
	name string
	opts func(*Options)
	run  func(*testing.T, *env)
}{
	{name: "gmail reply with In-Reply-To and References", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@mail.gmail.com", "alice@example.org", "Printer broken"))
		wantNew(t, a)
		if a.TicketNumber != 1 || a.Classification != ClassNormal {
			t.Fatalf("first ticket: %+v", a)
		}
		tk := wantStatus(t, e, a.TicketID, StatusNew)
		if tk.Requester.Email != "alice@example.org" || tk.Subject != "Printer broken" || tk.Mailbox != "support" || tk.Priority != PriorityNormal {
			t.Fatalf("ticket fields: %+v", tk)
		}
		e.advance(time.Minute)
		b := e.ingest(newMail("b@mail.gmail.com", "Alice@Example.org", "Re: Printer broken",
			inReplyTo("a@mail.gmail.com"), references("a@mail.gmail.com")))
		wantSame(t, b, a.TicketID)
		if b.TicketNumber != a.TicketNumber {
			t.Fatalf("number %d, want %d", b.TicketNumber, a.TicketNumber)
		}
		m := e.message(b.MessageID)
		if m.MessageID != "b@mail.gmail.com" || m.InReplyTo != "a@mail.gmail.com" || len(m.References) != 1 ||
			m.From.Email != "alice@example.org" || m.Direction != DirectionInbound || m.TicketID != a.TicketID {
			t.Fatalf("stored message: %+v", m)
		}
		if tk := wantStatus(t, e, a.TicketID, StatusNew); !tk.UpdatedAt.Equal(e.now) {
			t.Fatalf("updated_at %v, want %v", tk.UpdatedAt, e.now)
		}
		_, ps := e.eventsOf(EventMessageReceived)
		if len(ps) != 2 || ps[1].Reason != RuleInReplyTo || ps[1].TicketNumber != 1 || ps[1].MessageID != "b@mail.gmail.com" {
			t.Fatalf("message.received payloads: %+v", ps)
		}
		if evs, _ := e.eventsOf(EventTicketCreated); len(evs) != 1 || evs[0].TicketID != a.TicketID || evs[0].MessageID != a.MessageID {
			t.Fatalf("ticket.created events: %+v", evs)
		}
	}},
	{name: "outlook reply with Thread-Index only", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@outlook.com", "bob@corp.example", "VPN down", func(in *Inbound) { in.ConversationID = "AdLkF3A=" }))
		wantNew(t, a)
		b := e.ingest(newMail("b@outlook.com", "bob@corp.example", "AW: VPN down", func(in *Inbound) { in.ConversationID = "AdLkF3A=" }))
		wantSame(t, b, a.TicketID)
		c := e.ingest(newMail("c@outlook.com", "bob@corp.example", "AW: VPN down", func(in *Inbound) { in.ConversationID = "other" }))
		wantNew(t, c)
	}},
	{name: "apple mail reply with rewritten References", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@icloud.com", "carol@example.net", "Invoice question"))
		b := e.ingest(newMail("b@icloud.com", "carol@example.net", "Re: Invoice question", inReplyTo("a@icloud.com")))
		wantSame(t, b, a.TicketID)
		// In-Reply-To names a mail we never saw; only an older reference is known.
		c := e.ingest(newMail("c@icloud.com", "carol@example.net", "Re: Invoice question",
			inReplyTo("unknown@elsewhere"), references("a@icloud.com", "unknown@elsewhere")))
		wantSame(t, c, a.TicketID)
		_, ps := e.eventsOf(EventMessageReceived)
		if ps[2].Reason != RuleReferences {
			t.Fatalf("reason %q, want %q", ps[2].Reason, RuleReferences)
		}
	}},
	{name: "subject tag from participant and stranger", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "dave@example.com", "Login fails", func(in *Inbound) {
			in.Cc = []Address{{Email: "Erin@Example.com"}}
		}))
		n := a.TicketNumber
		tag := fmt.Sprintf("Re: [#%d] Login fails", n)
		wantSame(t, e.ingest(newMail("b@x", "dave@example.com", tag)), a.TicketID)
		wantSame(t, e.ingest(newMail("c@x", "erin@example.com", tag)), a.TicketID) // Cc'd colleague
		s := e.ingest(newMail("d@x", "mallory@evil.example", tag))
		wantNew(t, s)
		if s.TicketID == a.TicketID {
			t.Fatal("stranger got into the ticket")
		}
		// A tag of a ticket that does not exist is no tag.
		wantNew(t, e.ingest(newMail("e@x", "dave@example.com", "[#999] other")))
	}},
	{name: "subject tag with custom prefix", opts: func(o *Options) { o.TagPrefix = "SD-" }, run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "dave@example.com", "Question"))
		wantSame(t, e.ingest(newMail("b@x", "dave@example.com", fmt.Sprintf("Re: [sd-%d] Question", a.TicketNumber))), a.TicketID)
		wantNew(t, e.ingest(newMail("c@x", "dave@example.com", fmt.Sprintf("Re: [#%d] Question", a.TicketNumber))))
	}},
	{name: "reply token valid and forged", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "frank@example.com", "Refund"))
		valid := ReplyAddress(testSecret, DefaultTenant, a.TicketNumber, "support@example.com")
		ok := e.ingest(newMail("b@x", "frank@example.com", "Refund please", func(in *Inbound) {
			in.To = []Address{{Email: valid}}
		}))
		wantSame(t, ok, a.TicketID)
		viaHeader := e.ingest(newMail("c@x", "grace@example.com", "A new thread", header("Delivered-To", valid)))
		wantSame(t, viaHeader, a.TicketID)
		forged := fmt.Sprintf("support+t%d.aaaaaaaaaa@example.com", a.TicketNumber)
		wantNew(t, e.ingest(newMail("d@x", "frank@example.com", "Refund", func(in *Inbound) {
			in.To = []Address{{Email: forged}}
		})))
		other := ReplyAddress(testSecret, "other-tenant", a.TicketNumber, "support@example.com")
		wantNew(t, e.ingest(newMail("e@x", "frank@example.com", "Refund", func(in *Inbound) {
			in.Cc = []Address{{Email: other}}
		})))
	}},
	{name: "reply token ignored without secret", opts: func(o *Options) { o.ReplySecret = nil }, run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "frank@example.com", "Refund"))
		valid := ReplyAddress(testSecret, DefaultTenant, a.TicketNumber, "support@example.com")
		wantNew(t, e.ingest(newMail("b@x", "frank@example.com", "Refund", func(in *Inbound) {
			in.To = []Address{{Email: valid}}
		})))
	}},
	{name: "bounce attaches to its ticket and does not reopen", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "heidi@example.com", "Order 17"))
		e.update(a.TicketID, Change{Status: ptr(StatusSolved)})
		before := e.ticket(a.TicketID)
		e.advance(time.Hour)
		b := e.ingest(newMail("bounce1@mx", "MAILER-DAEMON@mx.example.com", "Undelivered Mail Returned to Sender",
			func(in *Inbound) { in.DeliveryReport, in.ReturnedMessageID = true, "<a@x>" }))
		wantSame(t, b, a.TicketID)
		if b.Classification != ClassBounce || b.Reopened {
			t.Fatalf("bounce result %+v", b)
		}
		after := wantStatus(t, e, a.TicketID, StatusSolved)
		if !after.UpdatedAt.Equal(before.UpdatedAt) || !after.ClosedAt.Equal(before.ClosedAt) {
			t.Fatalf("bounce touched the ticket: %+v → %+v", before, after)
		}
		if m := e.message(b.MessageID); m.Classification != ClassBounce || m.Held {
			t.Fatalf("stored bounce %+v", m)
		}
		if evs, _ := e.eventsOf(EventTicketUpdated); len(evs) != 1 { // only the agent's solve
			t.Fatalf("ticket.updated events %d, want 1", len(evs))
		}
		// A bounce of a mail we never stored is kept, on no ticket.
		u := e.ingest(newMail("bounce2@mx", "mailer-daemon@mx.example.com", "Delivery Status Notification (Failure)",
			func(in *Inbound) { in.DeliveryReport, in.ReturnedMessageID = true, "<never@seen>" }))
		wantHeld(t, u, ClassBounce)
	}},
	{name: "plain-text bounce quoting the returned header attaches to its ticket", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "hanako@example.co.jp", "Export to CSV"))
		b := e.ingest(newMail("ndr1@mx", "MAILER-DAEMON@example.co.jp", "Delivery failure", func(in *Inbound) {
			// qmail and gateway style: no DSN part, the returned mail's
			// header copied into the text, our own Message-ID on top.
			in.Text = "Message-ID: <ndr1@mx>\nUnable to deliver message to the following address(es).\n\n" +
				"--- Original message follows.\n\nTo: hanako@example.co.jp\n> Message-ID: <a@x>\nSubject: Re: Export to CSV\n"
		}))
		wantSame(t, b, a.TicketID)
		if b.Classification != ClassBounce || b.Reopened {
			t.Fatalf("plain-text bounce result %+v, want a bounce on the ticket", b)
		}
	}},
	{name: "out-of-office threaded attaches without status change", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "ivan@example.com", "Contract"))
		e.update(a.TicketID, Change{Status: ptr(StatusPending)})
		before := e.ticket(a.TicketID)
		e.advance(time.Hour)
		o := e.ingest(newMail("ooo@x", "ivan@example.com", "Automatic reply: Contract",
			inReplyTo("a@x"), header("Auto-Submitted", "auto-replied"), header("Return-Path", "<>")))
		wantSame(t, o, a.TicketID)
		if o.Classification != ClassAutoReply {
			t.Fatalf("class %s", o.Classification)
		}
		if after := wantStatus(t, e, a.TicketID, StatusPending); !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatal("auto-reply bumped updated_at")
		}
		_, ps := e.eventsOf(EventMessageReceived)
		if last := ps[len(ps)-1]; last.Classification != ClassAutoReply {
			t.Fatalf("message.received payload %+v", last)
		}
	}},
	{name: "unthreaded out-of-office is held", run: func(t *testing.T, e *env) {
		o := e.ingest(newMail("ooo@x", "judy@example.com", "Out of Office: hello", header("X-Autoreply", "yes")))
		wantHeld(t, o, ClassAutoReply)
		if m := e.message(o.MessageID); !m.Held || m.TicketID != 0 {
			t.Fatalf("stored %+v", m)
		}
		if evs, ps := e.eventsOf(EventMessageHeld); len(evs) != 1 || ps[0].Reason != "unthreaded_auto_reply" || evs[0].MessageID != o.MessageID {
			t.Fatalf("message.held events %+v %+v", evs, ps)
		}
		if evs, _ := e.eventsOf(EventTicketCreated); len(evs) != 0 {
			t.Fatal("a ticket was created")
		}
	}},
	{name: "list mail makes no ticket", run: func(t *testing.T, e *env) {
		l := e.ingest(newMail("list@x", "news@lists.example.com", "Weekly digest", header("List-Id", "<news.lists.example.com>")))
		wantHeld(t, l, ClassList)
	}},
	{name: "flood: 50 mails in a minute", run: func(t *testing.T, e *env) {
		var ticketed, held int
		for i := range 50 {
			r := e.ingest(newMail(fmt.Sprintf("flood%d@x", i), "bot@example.com", fmt.Sprintf("Alert %d", i), dated(e.now)))
			switch {
			case r.NewTicket && !r.Held:
				if held > 0 {
					t.Fatalf("mail %d ticketed after holding began", i)
				}
				ticketed++
			case r.Held && r.TicketID == 0 && r.Classification == ClassNormal:
				held++
			default:
				t.Fatalf("mail %d: %+v", i, r)
			}
			e.advance(time.Second)
		}
		if ticketed != DefaultFloodLimit || held != 50-DefaultFloodLimit {
			t.Fatalf("ticketed %d held %d, want %d and %d", ticketed, held, DefaultFloodLimit, 50-DefaultFloodLimit)
		}
		if _, ps := e.eventsOf(EventMessageHeld); len(ps) != held || ps[0].Reason != "flood" {
			t.Fatalf("message.held payloads %+v", ps)
		}
		// Another sender is not affected; after the window the sender is heard again.
		wantNew(t, e.ingest(newMail("other@x", "human@example.com", "Help", dated(e.now))))
		e.advance(DefaultFloodWindow)
		wantNew(t, e.ingest(newMail("later@x", "bot@example.com", "Alert later", dated(e.now))))
	}},
	{name: "flood window is on the mail's Date: a backlog is not a flood", run: func(t *testing.T, e *env) {
		// An initial sync captures a year of one customer's mail at once.
		start := e.now.AddDate(-1, 0, 0)
		for i := range 3 * DefaultFloodLimit {
			r := e.ingest(newMail(fmt.Sprintf("old%d@x", i), "regular@example.com", fmt.Sprintf("Question %d", i), dated(start.Add(time.Duration(i)*24*time.Hour))))
			if r.Held {
				t.Fatalf("backlog mail %d held as a flood: %+v", i, r)
			}
		}
		// Mail without a usable Date counts at capture time.
		wantNew(t, e.ingest(newMail("undated@x", "regular@example.com", "No date", dated(time.Time{}))))
	}},
	{name: "flood holds replies too", opts: func(o *Options) { o.FloodLimit = 2 }, run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "loop@example.com", "Ping"))
		wantSame(t, e.ingest(newMail("b@x", "loop@example.com", "Re: Ping", inReplyTo("a@x"))), a.TicketID)
		wantHeld(t, e.ingest(newMail("c@x", "loop@example.com", "Re: Ping", inReplyTo("b@x"))), ClassNormal)
	}},
	{name: "same source twice is one message", run: func(t *testing.T, e *env) {
		in := newMail("a@x", "kim@example.com", "Hello")
		first := e.ingest(in)
		again := e.ingest(in)
		if !again.Duplicate || again.MessageID != first.MessageID || again.TicketID != first.TicketID ||
			again.TicketNumber != first.TicketNumber || again.NewTicket {
			t.Fatalf("duplicate %+v of %+v", again, first)
		}
		// Even with the Message-ID gone (broken mail), the source key dedupes.
		broken := newMail("", "kim@example.com", "No id", withSource("support", "imap:1:99"))
		b1, b2 := e.ingest(broken), e.ingest(broken)
		if !b2.Duplicate || b2.MessageID != b1.MessageID || b2.TicketID != b1.TicketID {
			t.Fatalf("broken duplicate %+v of %+v", b2, b1)
		}
		if evs, _ := e.eventsOf(EventMessageReceived); len(evs) != 2 {
			t.Fatalf("message.received events %d, want 2", len(evs))
		}
	}},
	{name: "same mail via two mailboxes is one message", run: func(t *testing.T, e *env) {
		first := e.ingest(newMail("a@x", "lee@example.com", "Hello"))
		second := e.ingest(newMail("a@x", "lee@example.com", "Hello", withSource("sales", "imap:7:1")))
		if !second.Duplicate || second.MessageID != first.MessageID || second.TicketID != first.TicketID {
			t.Fatalf("second mailbox %+v of %+v", second, first)
		}
		// The second mailbox's source is recorded: re-fetching it is a duplicate too.
		if again := e.ingest(newMail("a@x", "lee@example.com", "Hello", withSource("sales", "imap:7:1"))); !again.Duplicate || again.MessageID != first.MessageID {
			t.Fatalf("re-fetch %+v", again)
		}
	}},
	{name: "Message-ID reuse with a different body keeps both", run: func(t *testing.T, e *env) {
		first := e.ingest(newMail("reused@broken", "mo@example.com", "First"))
		second := e.ingest(newMail("reused@broken", "mo@example.com", "Second", withSource("support", "imap:1:2")))
		if second.Duplicate || second.MessageID == first.MessageID {
			t.Fatalf("second %+v of %+v", second, first)
		}
		if m := e.message(second.MessageID); m.Subject != "Second" || m.MessageID != "reused@broken" {
			t.Fatalf("stored %+v", m)
		}
	}},
	{name: "reply within the reopen window reopens", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "nina@example.com", "Broken"))
		if tk := e.update(a.TicketID, Change{Status: ptr(StatusClosed)}); tk.ClosedAt.IsZero() {
			t.Fatal("closing did not stamp ClosedAt")
		}
		e.advance(24 * time.Hour)
		r := e.ingest(newMail("b@x", "nina@example.com", "Re: Broken", inReplyTo("a@x")))
		wantSame(t, r, a.TicketID)
		if !r.Reopened {
			t.Fatalf("not reopened: %+v", r)
		}
		if tk := wantStatus(t, e, a.TicketID, StatusOpen); !tk.ClosedAt.IsZero() {
			t.Fatalf("ClosedAt %v after reopen", tk.ClosedAt)
		}
		evs, ps := e.eventsOf(EventTicketUpdated)
		last := ps[len(ps)-1]
		if len(evs) != 2 || last.Reason != "reopened" || last.Changes["status"] != (FieldChange{"closed", "open"}) {
			t.Fatalf("ticket.updated %+v", ps)
		}
	}},
	{name: "reply after the reopen window starts a linked ticket", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "olga@example.com", "Broken"))
		e.update(a.TicketID, Change{Status: ptr(StatusClosed)})
		e.advance(DefaultReopenWindow + time.Hour)
		r := e.ingest(newMail("b@x", "olga@example.com", "Re: Broken", inReplyTo("a@x")))
		wantNew(t, r)
		if r.Reopened || r.TicketID == a.TicketID {
			t.Fatalf("result %+v", r)
		}
		if tk := wantStatus(t, e, r.TicketID, StatusNew); tk.LinkedTicketID != a.TicketID {
			t.Fatalf("linked %d, want %d", tk.LinkedTicketID, a.TicketID)
		}
		wantStatus(t, e, a.TicketID, StatusClosed)
		// The next reply threads onto the new ticket, not the closed one.
		wantSame(t, e.ingest(newMail("c@x", "olga@example.com", "Re: Broken", inReplyTo("b@x"), references("a@x", "b@x"))), r.TicketID)
	}},
	{name: "customer reply sets a pending ticket open", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "pat@example.com", "Question"))
		e.update(a.TicketID, Change{Status: ptr(StatusPending)})
		r := e.ingest(newMail("b@x", "pat@example.com", "Re: Question", inReplyTo("a@x")))
		if r.Reopened {
			t.Fatal("pending → open is not a reopen")
		}
		wantStatus(t, e, a.TicketID, StatusOpen)
		if _, ps := e.eventsOf(EventTicketUpdated); ps[len(ps)-1].Reason != "customer_reply" {
			t.Fatalf("payloads %+v", ps)
		}
	}},
	{name: "subject matching when enabled", opts: func(o *Options) { o.SubjectMatching = true }, run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "quinn@example.com", "Printer  broken"))
		wantSame(t, e.ingest(newMail("b@x", "quinn@example.com", "RE: AW: printer broken")), a.TicketID)
		wantNew(t, e.ingest(newMail("c@x", "someone@example.com", "Re: Printer broken")))
		e.update(a.TicketID, Change{Status: ptr(StatusSolved)})
		wantNew(t, e.ingest(newMail("d@x", "quinn@example.com", "Re: Printer broken")))
	}},
	{name: "subject matching off by default", run: func(t *testing.T, e *env) {
		e.ingest(newMail("a@x", "quinn@example.com", "Printer broken"))
		wantNew(t, e.ingest(newMail("b@x", "quinn@example.com", "Re: Printer broken")))
	}},
	{name: "threading stays inside the tenant", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "rita@example.com", "Hello"))
		b := e.ingest(newMail("b@x", "rita@example.com", "Re: Hello", inReplyTo("a@x"), func(in *Inbound) {
			in.Tenant = "acme"
			in.ConversationID = "conv"
		}))
		if !b.NewTicket || b.TicketID == a.TicketID || b.TicketNumber != 1 {
			t.Fatalf("other tenant: %+v", b)
		}
		// The same mail in another tenant is not a duplicate either.
		c := e.ingest(newMail("a@x", "rita@example.com", "Hello", func(in *Inbound) { in.Tenant = "acme" }))
		if c.Duplicate {
			t.Fatalf("cross-tenant duplicate: %+v", c)
		}
	}},
	{name: "duplicate of a held message stays held", run: func(t *testing.T, e *env) {
		in := newMail("ooo@x", "sam@example.com", "Auto: away", header("Auto-Submitted", "auto-generated"))
		first := e.ingest(in)
		again := e.ingest(in)
		if !again.Duplicate || !again.Held || again.MessageID != first.MessageID || again.Classification != ClassAutoReply {
			t.Fatalf("duplicate %+v", again)
		}
	}},
	{name: "Update validates and emits one event", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a@x", "tom@example.com", "Hello"))
		for _, bad := range []struct {
			ch   Change
			want string
		}{
			{Change{Status: ptr(Status("done"))}, `"done"`},
			{Change{Priority: ptr(Priority("p1"))}, `"p1"`},
			{Change{Assignee: ptr("not an address")}, `"not an address"`},
			{Change{Assignee: ptr("Agent <agent@example.com>")}, `"Agent <agent@example.com>"`},
		} {
			_, err := e.svc.Update(context.Background(), "", a.TicketID, bad.ch)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Update %+v: err %v, want ErrInvalid naming %s", bad.ch, err, bad.want)
			}
		}
		if _, err := e.svc.Update(context.Background(), "", 424242, Change{Status: ptr(StatusOpen)}); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing ticket: %v", err)
		}
		before := len(e.events())
		tk := e.update(a.TicketID, Change{Status: ptr(StatusOpen), Priority: ptr(PriorityHigh), Assignee: ptr("Agent@Example.com"), Actor: "agent@example.com"})
		if tk.Status != StatusOpen || tk.Priority != PriorityHigh || tk.Assignee != "agent@example.com" {
			t.Fatalf("updated %+v", tk)
		}
		if got := e.ticket(a.TicketID); got.Status != StatusOpen || got.Priority != PriorityHigh || got.Assignee != "agent@example.com" {
			t.Fatalf("stored %+v", got)
		}
		evs := e.events()[before:]
		if len(evs) != 1 || evs[0].Type != EventTicketUpdated || evs[0].TicketID != a.TicketID {
			t.Fatalf("events %+v", evs)
		}
		var p EventPayload
		if err := json.Unmarshal(evs[0].Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Actor != "agent@example.com" || p.Reason != "agent" || len(p.Changes) != 3 ||
			p.Changes["priority"] != (FieldChange{"normal", "high"}) || p.Changes["assignee"] != (FieldChange{"", "agent@example.com"}) {
			t.Fatalf("payload %+v", p)
		}
		// Nothing changed: no event.
		e.update(a.TicketID, Change{Status: ptr(StatusOpen), Priority: ptr(PriorityHigh), Assignee: ptr("agent@example.com")})
		if n := len(e.events()); n != before+1 {
			t.Fatalf("no-op update wrote %d events", n-before-1)
		}
		// Unassign.
		if tk := e.update(a.TicketID, Change{Assignee: ptr("")}); tk.Assignee != "" {
			t.Fatalf("unassign: %+v", tk)
		}
	}},
	{name: "merge: messages move, both numbers and the reply address lead to the target", run: func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.ingest(newMail("m1@example.org", "alice@example.org", "Invoice wrong"))
		b := e.ingest(newMail("m2@example.org", "alice@example.org", "Invoice still wrong"))
		c := e.ingest(newMail("m3@example.org", "carol@example.org", "Other"))
		wantNew(t, a)
		wantNew(t, b)
		e.update(b.TicketID, Change{Tags: &[]string{"billing"}, CustomFields: map[string]any{"plan": "pro", "seats": 12.0}})
		e.update(a.TicketID, Change{CustomFields: map[string]any{"plan": "basic"}})
		e.advance(time.Minute)
		for _, bad := range []struct {
			into int64
			srcs []int64
			want string
		}{
			{a.TicketID, nil, "name the tickets"},
			{a.TicketID, []int64{a.TicketID}, "into itself"},
			{a.TicketID, []int64{b.TicketID, b.TicketID}, "twice"},
			{a.TicketID, []int64{9999}, "9999 does not exist"},
		} {
			if _, err := e.svc.Merge(ctx, "", bad.into, bad.srcs, "agent@example.com"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Merge(%d, %v) = %v, want ErrInvalid saying %q", bad.into, bad.srcs, err, bad.want)
			}
		}
		before := len(e.events())
		tk, err := e.svc.Merge(ctx, "", a.TicketID, []int64{b.TicketID, c.TicketID}, "agent@example.com")
		if err != nil {
			t.Fatal(err)
		}
		// The target keeps its own field values and gains the others'.
		if !slices.Equal(tk.Tags, []string{"billing"}) || tk.CustomFields["plan"] != "basic" || tk.CustomFields["seats"] != 12.0 {
			t.Errorf("target after merge: tags %v fields %v", tk.Tags, tk.CustomFields)
		}
		if got := e.ticket(a.TicketID); got.CustomFields["seats"] != 12.0 || !slices.Equal(got.Tags, []string{"billing"}) {
			t.Errorf("stored target: tags %v fields %v", got.Tags, got.CustomFields)
		}
		src := e.ticket(b.TicketID)
		if src.MergedInto != a.TicketID || src.Status != StatusClosed || src.ClosedAt.IsZero() {
			t.Errorf("merged ticket: %+v, want closed and merged into %d", src, a.TicketID)
		}
		if m := e.message(b.MessageID); m.TicketID != a.TicketID {
			t.Errorf("the merged ticket's message is on ticket %d, want %d", m.TicketID, a.TicketID)
		}
		evs, ps := e.eventsOf(EventTicketUpdated)
		var merged []EventPayload
		for i, ev := range evs {
			if ev.ID > 0 && ps[i].Reason == "merged" {
				merged = append(merged, ps[i])
			}
		}
		if len(e.events())-before != 3 || len(merged) != 3 || merged[2].Changes["merged"].To != "#2,#3" ||
			merged[0].MergedInto != 1 || merged[0].Changes["status"].To != "closed" {
			t.Errorf("merge events: %d new, merged payloads %+v", len(e.events())-before, merged)
		}
		// Merging a merged ticket again, or into a merged one, is refused.
		if _, err := e.svc.Merge(ctx, "", a.TicketID, []int64{b.TicketID}, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("merging a merged ticket again: %v", err)
		}
		if _, err := e.svc.Merge(ctx, "", b.TicketID, []int64{a.TicketID}, ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "merge into that one") {
			t.Errorf("merging into a merged ticket: %v", err)
		}
		// A reply to the merged ticket's mail, its subject tag, and its
		// reply address all land on the target.
		r := e.ingest(newMail("r1@example.org", "alice@example.org", "Re: Invoice still wrong", inReplyTo("m2@example.org")))
		wantSame(t, r, a.TicketID)
		r = e.ingest(newMail("r2@example.org", "alice@example.org", "[#2] one more thing"))
		wantSame(t, r, a.TicketID)
		addr := ReplyAddress(testSecret, DefaultTenant, 2, "support@example.com")
		r = e.ingest(newMail("r3@example.org", "carol@example.org", "hello", func(in *Inbound) { in.To = []Address{{Email: addr}} }))
		wantSame(t, r, a.TicketID)
	}},
	{name: "a feedback report is held, even when it names a ticket's mail", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("fb1@example.org", "alice@example.org", "Order"))
		wantNew(t, a)
		r := e.ingest(newMail("fb2@isp.example", "fbl@isp.example", "FW: Re: Order", inReplyTo("fb1@example.org"),
			func(in *Inbound) { in.FeedbackReport = true }))
		wantHeld(t, r, ClassFeedback)
		if _, ps := e.eventsOf(EventMessageHeld); len(ps) != 1 || ps[0].Reason != "feedback" {
			t.Errorf("message.held payloads %+v, want one with reason feedback", ps)
		}
	}},
	{name: "a mail without Message-ID delivered twice is one message", run: func(t *testing.T, e *env) {
		noID := func(key, raw string) mailOpt {
			return func(in *Inbound) { in.MessageID, in.SourceKey, in.Raw.SHA256 = "", key, raw }
		}
		a := e.ingest(newMail("x", "alice@example.org", "No id", noID("imap:1:1", "raw-a")))
		wantNew(t, a)
		// The same bytes through another alias (another source key).
		b := e.ingest(newMail("x", "alice@example.org", "No id", noID("imap:2:9", "raw-a")))
		if !b.Duplicate || b.MessageID != a.MessageID {
			t.Fatalf("the same raw mail again: %+v, want a duplicate of message %d", b, a.MessageID)
		}
		// Other bytes without an id are another mail.
		c := e.ingest(newMail("x", "alice@example.org", "No id", noID("imap:1:2", "raw-c")))
		if c.Duplicate || c.MessageID == a.MessageID {
			t.Fatalf("other bytes without Message-ID: %+v, want a new message", c)
		}
	}},
	{name: "a parent captured after its reply joins the reply's ticket", run: func(t *testing.T, e *env) {
		reply := e.ingest(newMail("r1@example.org", "alice@example.org", "Re: Printer", inReplyTo("p1@example.org"), references("p1@example.org")))
		wantNew(t, reply)
		parent := e.ingest(newMail("p1@example.org", "alice@example.org", "Printer"))
		wantSame(t, parent, reply.TicketID)
		if _, ps := e.eventsOf(EventMessageReceived); ps[len(ps)-1].Reason != RuleLateParent {
			t.Errorf("rule %q, want %q", ps[len(ps)-1].Reason, RuleLateParent)
		}
		// An unrelated mail is still a ticket of its own.
		wantNew(t, e.ingest(newMail("o1@example.org", "bob@example.org", "Other")))
	}},
	{name: "replies to a root never captured meet on one ticket", run: func(t *testing.T, e *env) {
		a := e.ingest(newMail("a1@example.org", "alice@example.org", "Re: Outage", inReplyTo("root@example.org"), references("root@example.org")))
		wantNew(t, a)
		b := e.ingest(newMail("b1@example.org", "carol@example.org", "Re: Outage", references("root@example.org", "x9@example.org"),
			inReplyTo("x9@example.org")))
		wantSame(t, b, a.TicketID)
		if _, ps := e.eventsOf(EventMessageReceived); ps[len(ps)-1].Reason != RuleSharedRoot {
			t.Errorf("rule %q, want %q", ps[len(ps)-1].Reason, RuleSharedRoot)
		}
	}},
	{name: "custom fields: set, change, remove, refuse", run: func(t *testing.T, e *env) {
		ctx := context.Background()
		tk, _, err := e.svc.Create(ctx, "", NewTicket{Requester: Address{Email: "a@example.org"}, Subject: "x",
			CustomFields: map[string]any{"order_id": "A-17", "vip": true}})
		if err != nil {
			t.Fatal(err)
		}
		if tk.CustomFields["order_id"] != "A-17" || tk.CustomFields["vip"] != true {
			t.Fatalf("created with %v", tk.CustomFields)
		}
		tk = e.update(tk.ID, Change{CustomFields: map[string]any{"vip": nil, "order_id": "A-18", "region": "eu"}, Actor: "x@example.com"})
		if _, has := tk.CustomFields["vip"]; has || tk.CustomFields["order_id"] != "A-18" || tk.CustomFields["region"] != "eu" {
			t.Fatalf("after change: %v", tk.CustomFields)
		}
		if got := e.ticket(tk.ID); got.CustomFields["region"] != "eu" || len(got.CustomFields) != 2 {
			t.Fatalf("stored: %v", got.CustomFields)
		}
		_, ps := e.eventsOf(EventTicketUpdated)
		last := ps[len(ps)-1].Changes
		if last["custom_fields.vip"] != (FieldChange{"true", ""}) || last["custom_fields.order_id"] != (FieldChange{"A-17", "A-18"}) || last["custom_fields.region"] != (FieldChange{"", "eu"}) {
			t.Fatalf("changes %+v", last)
		}
		for _, bad := range []map[string]any{
			{"Order": "x"}, {"1st": "x"}, {"k": map[string]any{"a": 1}}, {"k": []any{1}},
			{"k": strings.Repeat("x", MaxCustomFieldValue+1)},
		} {
			if _, err := e.svc.Update(ctx, "", tk.ID, Change{CustomFields: bad}); !errors.Is(err, ErrInvalid) {
				t.Errorf("Update(%v) = %v, want ErrInvalid", bad, err)
			}
		}
		if _, _, err := e.svc.Create(ctx, "", NewTicket{Requester: Address{Email: "a@example.org"}, CustomFields: map[string]any{"k": nil}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("create with a null field: %v, want ErrInvalid", err)
		}
	}},
}

func TestIngestMem(t *testing.T) {
	RunIngestScenarios(t, func(t *testing.T) (Store, func() []Event) {
		m := newMemStore()
		return m, m.Events
	})
}

// dated sets the mail's Date header.
func dated(d time.Time) mailOpt { return func(in *Inbound) { in.Date = d } }
