package mailout_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/capture/imapsource"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/mailout"
	"github.com/sidedesk/sidedesk/outbox"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
	"github.com/sidedesk/sidedesk/ticket"
)

const (
	supportAddr = "support@acme.example"
	supportPass = "support-secret"
	custAddr    = "customer@example.org"
	custPass    = "customer-secret"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// desk is sidedesk's capture, ticket service, mail service and outbox
// runner over a real store.
type desk struct {
	t    *testing.T
	st   *store.Store
	svc  *ticket.Service
	mail *mailout.Service
}

func newDesk(t *testing.T, transport mailout.Transport, ack bool) *desk {
	t.Helper()
	st := storetest.Open(t)
	svc, err := ticket.NewService(ticket.Options{Store: st, ReplySecret: testSecret, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mail, err := mailout.New(mailout.Options{
		Store: st, Blobs: st.Blobs(), Tickets: svc, ReplySecret: testSecret, Logger: testLogger(t),
		Mailboxes: []mailout.Mailbox{{Name: "support", Address: supportAddr, FromName: "Acme Support",
			Ack: ack, Transport: transport}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &desk{t: t, st: st, svc: svc, mail: mail}
}

// run runs the mail consumer on an outbox runner until the test ends.
func (d *desk) run() {
	r, err := outbox.New(outbox.Options{Store: d.st, Notify: d.st, Logger: testLogger(d.t),
		FirstBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		d.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx, outbox.Consumer{Name: mailout.ConsumerName("default"), Tenant: "default",
			Deliver: d.mail.Deliver, FromStart: true})
	}()
	d.t.Cleanup(func() { cancel(); <-done })
}

// capture runs an IMAP source on the support INBOX (IDLE) until the test ends.
func (d *desk) capture(dc *testenv.Dovecot) {
	src, err := imapsource.New(imapsource.Options{
		Name: "support", Host: "127.0.0.1", Port: dc.Port(), TLS: imapsource.TLSNone,
		Username: supportAddr, Password: func(context.Context) (string, error) { return supportPass, nil },
		InitialSync: imapsource.InitialSince, Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		IDLE: true, PollInterval: time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		State: d.st, Lease: d.st, Logger: testLogger(d.t),
		Pipeline: &capture.Pipeline{Blobs: d.st.Blobs(), Sink: d.svc},
	})
	if err != nil {
		d.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(ctx)
	}()
	d.t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// submit sends raw through the Postfix as user.
func submit(t *testing.T, pf *testenv.Postfix, user, pass, from string, to []string, raw string) {
	t.Helper()
	c, err := smtp.Dial(pf.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(from, to, strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n"))); err != nil {
		t.Fatalf("submit: %v\n%s", err, pf.Log())
	}
}

// inbox returns every message in user's INBOX, parsed.
func inbox(t *testing.T, dc *testenv.Dovecot, user string) []*mail.Message {
	t.Helper()
	c := dc.Client(t, user)
	defer c.Logout()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSetNum(seqs(sel.NumMessages)...), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []*mail.Message
	for _, m := range msgs {
		for _, b := range m.BodySection {
			pm, err := mail.ReadMessage(bytes.NewReader(b.Bytes))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pm)
		}
	}
	return out
}

func seqs(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

func body(t *testing.T, m *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRoundTripThroughPostfix: a customer's mail is captured and
// acknowledged, an agent's reply reaches the customer through a real MTA
// with the thread's headers, and the customer's answer to it, sent to the
// signed reply address, threads back onto the same ticket.
func TestRoundTripThroughPostfix(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.User{Email: supportAddr, Password: supportPass},
		testenv.User{Email: custAddr, Password: custPass})
	pf := testenv.StartPostfix(t, dc)
	d := newDesk(t, &mailout.SMTP{Host: "127.0.0.1", Port: pf.Port(), TLS: "none", Auth: "plain",
		Username: supportAddr, Password: func(context.Context) (string, error) { return supportPass, nil }}, true)
	d.capture(dc)
	d.run()
	ctx := context.Background()

	submit(t, pf, custAddr, custPass, custAddr, []string{supportAddr}, fmt.Sprintf(`From: Cora Customer <%s>
To: %s
Subject: Printer on fire
Message-ID: <first@example.org>
Date: %s

It is on fire.
`, custAddr, supportAddr, time.Now().Format(time.RFC1123Z)))

	// The acknowledgement arrives in the customer's mailbox.
	var got []*mail.Message
	waitFor(t, "the acknowledgement in the customer's INBOX", 20*time.Second, func() bool {
		got = inbox(t, dc, custAddr)
		return len(got) >= 1
	})
	ack := got[0]
	tickets, _, err := d.st.ListTickets(ctx, "default", ticket.TicketFilter{})
	if err != nil || len(tickets) != 1 {
		t.Fatalf("tickets %v, %v; want one", tickets, err)
	}
	tk := tickets[0]
	tag := fmt.Sprintf("[#%d]", tk.Number)
	replyTo := ticket.ReplyAddress(testSecret, "default", tk.Number, supportAddr)
	if h := ack.Header; h.Get("Auto-Submitted") != "auto-replied" || !strings.Contains(h.Get("Subject"), tag) ||
		h.Get("In-Reply-To") != "<first@example.org>" || !strings.Contains(h.Get("Reply-To"), replyTo) ||
		!strings.Contains(h.Get("From"), supportAddr) {
		t.Errorf("acknowledgement headers: %v", h)
	}
	if b := body(t, ack); !strings.Contains(b, tag) {
		t.Errorf("acknowledgement body does not name %s:\n%s", tag, b)
	}

	// The agent's reply.
	m, err := d.mail.Reply(ctx, "default", tk.ID, ticket.ReplyRequest{BodyText: "We are sending the fire brigade.", Actor: "agent@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Direction != ticket.DirectionOutgoing || m.Delivery == nil || m.Delivery.State != ticket.DeliveryQueued {
		t.Fatalf("queued reply %+v", m)
	}
	waitFor(t, "the reply in the customer's INBOX", 20*time.Second, func() bool {
		got = inbox(t, dc, custAddr)
		return len(got) >= 2
	})
	reply := got[1]
	if h := reply.Header; h.Get("Message-Id") != "<"+m.MessageID+">" || h.Get("In-Reply-To") != "<first@example.org>" ||
		!strings.Contains(h.Get("References"), "<first@example.org>") || h.Get("Subject") != "Re: Printer on fire "+tag ||
		h.Get("Auto-Submitted") != "" || !strings.Contains(h.Get("Reply-To"), replyTo) {
		t.Errorf("reply headers: %v", h)
	}
	if b := body(t, reply); !strings.Contains(b, "fire brigade") || !strings.Contains(b, "text/html") {
		t.Errorf("reply body lacks the text or its HTML part:\n%s", b)
	}
	waitFor(t, "the reply recorded sent", 5*time.Second, func() bool {
		dl, err := d.st.Delivery(ctx, "default", m.ID)
		return err == nil && dl.State == ticket.DeliverySent && !dl.SentAt.IsZero()
	})
	if tk, err := d.st.Ticket(ctx, "default", tk.ID); err != nil || tk.Status != ticket.StatusPending {
		t.Errorf("ticket after the reply: %s, %v; want pending", tk.Status, err)
	}

	// The customer answers the reply, to its signed Reply-To address.
	submit(t, pf, custAddr, custPass, custAddr, []string{replyTo}, fmt.Sprintf(`From: Cora Customer <%s>
To: %s
Subject: Re: Printer on fire %s
Message-ID: <second@example.org>
In-Reply-To: <%s>
References: <first@example.org> <%s>
Date: %s

Thanks, it is out.
`, custAddr, replyTo, tag, m.MessageID, m.MessageID, time.Now().Format(time.RFC1123Z)))
	var thread []ticket.Message
	waitFor(t, "the customer's answer on the ticket", 20*time.Second, func() bool {
		thread, err = d.st.TicketMessages(ctx, "default", tk.ID)
		return err == nil && len(thread) == 4
	})
	dirs := []ticket.Direction{}
	for _, tm := range thread {
		dirs = append(dirs, tm.Direction)
	}
	want := []ticket.Direction{ticket.DirectionInbound, ticket.DirectionOutgoing, ticket.DirectionOutgoing, ticket.DirectionInbound}
	if fmt.Sprint(dirs) != fmt.Sprint(want) || thread[3].MessageID != "second@example.org" {
		t.Errorf("thread %v (last %s), want %v ending with the answer", dirs, thread[3].MessageID, want)
	}
	if tickets, _, _ := d.st.ListTickets(ctx, "default", ticket.TicketFilter{}); len(tickets) != 1 {
		t.Errorf("%d tickets, want the answer on the first", len(tickets))
	}
	if tk, _ := d.st.Ticket(ctx, "default", tk.ID); tk.Status != ticket.StatusOpen {
		t.Errorf("ticket after the customer's answer: %s, want open", tk.Status)
	}
	// One acknowledgement only, though the answer came from the same sender.
	time.Sleep(200 * time.Millisecond)
	if got := inbox(t, dc, custAddr); len(got) != 2 {
		t.Errorf("customer has %d mails, want the acknowledgement and the reply", len(got))
	}
}

// BenchmarkDrainThroughPostfix queues b.N replies, then starts the mail
// consumer on an outbox runner and measures how fast they are handed to a
// real Postfix (drain msgs/s); then, with the runner running, 50 single
// replies one after another, each from queued (the API's 202) to accepted
// by the MTA (p50_ms, p99_ms).
func BenchmarkDrainThroughPostfix(b *testing.B) {
	dc := testenv.StartDovecot(b, testenv.User{Email: supportAddr, Password: supportPass},
		testenv.User{Email: custAddr, Password: custPass})
	pf := testenv.StartPostfix(b, dc)
	st := storetest.Open(b)
	svc, err := ticket.NewService(ticket.Options{Store: st, ReplySecret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	mail, err := mailout.New(mailout.Options{Store: st, Blobs: st.Blobs(), Tickets: svc, ReplySecret: testSecret,
		Mailboxes: []mailout.Mailbox{{Name: "support", Address: supportAddr, Transport: &mailout.SMTP{
			Host: "127.0.0.1", Port: pf.Port(), TLS: "none", Auth: "plain", Username: supportAddr,
			Password: func(context.Context) (string, error) { return supportPass, nil }}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	res, err := capture.Deliver(ctx, capture.Delivery{Mailbox: "support", SourceKey: "k1"},
		strings.NewReader(strings.ReplaceAll(fmt.Sprintf("From: %s\nTo: %s\nSubject: Bench\nMessage-ID: <bench@example.org>\n\nHi\n",
			custAddr, supportAddr), "\n", "\r\n")), st.Blobs(), svc, capture.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	reply := func(i int) int64 {
		m, err := mail.Reply(ctx, "default", res.TicketID, ticket.ReplyRequest{BodyText: fmt.Sprintf("Reply %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		return m.ID
	}
	sent := func(id int64) time.Time {
		for {
			d, err := st.Delivery(ctx, "default", id)
			if err != nil {
				b.Fatal(err)
			}
			switch d.State {
			case ticket.DeliverySent:
				return d.SentAt
			case ticket.DeliveryFailed:
				b.Fatalf("reply failed: %s", d.LastError)
			}
			time.Sleep(500 * time.Microsecond)
		}
	}
	ids := make([]int64, b.N)
	for i := range b.N {
		ids[i] = reply(i)
	}
	r, err := outbox.New(outbox.Options{Store: st, Notify: st})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer close(done)
		_ = r.Run(rctx, outbox.Consumer{Name: mailout.ConsumerName("default"), Tenant: "default", Deliver: mail.Deliver, FromStart: true})
	}()
	defer func() { cancel(); <-done }()
	last := sent(ids[len(ids)-1])
	b.StopTimer()
	b.ReportMetric(float64(b.N)/last.Sub(start).Seconds(), "drain_msgs/s")
	var lat []time.Duration
	for i := range 50 {
		queued := time.Now()
		id := reply(b.N + i)
		lat = append(lat, sent(id).Sub(queued))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}
