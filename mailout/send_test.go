package mailout_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/mailout"
	"github.com/sidedesk/sidedesk/ticket"
)

// smtpServer is testenv's scripted SMTP receiver.
type smtpServer struct{ *testenv.SMTPServer }

func startSMTP(t *testing.T) smtpServer { return smtpServer{testenv.StartSMTPServer(t)} }

func (s smtpServer) transport() *mailout.SMTP {
	return &mailout.SMTP{Host: "127.0.0.1", Port: s.Port(), TLS: "none", Auth: "none", Timeout: 5 * time.Second}
}

func (s smtpServer) script(rcpt, data []*smtp.SMTPError) { s.Script(rcpt, data) }

func (s smtpServer) got() []testenv.SMTPMessage { return s.Received() }

// ingest captures one customer mail through the real parse path.
func (d *desk) ingest(key, raw string) ticket.Result {
	d.t.Helper()
	res, err := capture.Deliver(context.Background(), capture.Delivery{Mailbox: "support", SourceKey: key},
		strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n")), d.st.Blobs(), d.svc, capture.ParseOptions{})
	if err != nil {
		d.t.Fatal(err)
	}
	return res
}

func customerMail(from, id, subject string, date time.Time, extra string) string {
	return fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s>\nDate: %s\n%s\nHello.\n",
		from, supportAddr, subject, id, date.Format(time.RFC1123Z), extra)
}

func (d *desk) deliver(m ticket.Message) error {
	return d.mail.Deliver(context.Background(), ticket.Event{Type: ticket.EventMessageQueued, Tenant: "default", TicketID: m.TicketID, MessageID: m.ID})
}

func (d *desk) delivery(m ticket.Message) ticket.Delivery {
	d.t.Helper()
	dl, err := d.st.Delivery(context.Background(), "default", m.ID)
	if err != nil {
		d.t.Fatal(err)
	}
	return dl
}

// TestSendRetriesTemporaryFailures: 4xx answers and a server that is down
// are retried, each attempt counted with its error; the same bytes go out
// once accepted; a redelivered event sends nothing twice.
func TestSendRetriesTemporaryFailures(t *testing.T) {
	srv := startSMTP(t)
	d := newDesk(t, srv.transport(), false)
	res := d.ingest("k1", customerMail(custAddr, "one@example.org", "Help", time.Now(), ""))
	m, err := d.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "On it."})
	if err != nil {
		t.Fatal(err)
	}
	srv.script(nil, []*smtp.SMTPError{{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}})
	if err := d.deliver(m); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("first attempt: %v, want the 451 to retry", err)
	}
	if dl := d.delivery(m); dl.State != ticket.DeliveryQueued || dl.Attempts != 1 || !strings.Contains(dl.LastError, "try again later") {
		t.Fatalf("after a 451: %+v", dl)
	}
	if err := d.deliver(m); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if dl := d.delivery(m); dl.State != ticket.DeliverySent || dl.Attempts != 2 || dl.LastError != "" {
		t.Fatalf("after acceptance: %+v", dl)
	}
	got := srv.got()
	if len(got) != 1 || got[0].From != supportAddr || fmt.Sprint(got[0].To) != "["+custAddr+"]" ||
		!bytes.Contains(got[0].Raw, []byte("<"+m.MessageID+">")) {
		t.Fatalf("server got %+v", got)
	}
	raw, err := d.st.Blobs().Open(context.Background(), m.Raw.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(raw)
	raw.Close()
	// SMTP dot-stuffing aside, the server got the stored bytes.
	if !bytes.Equal(bytes.TrimRight(got[0].Raw, "\r\n"), bytes.TrimRight(stored, "\r\n")) {
		t.Errorf("sent bytes differ from the stored message")
	}
	if err := d.deliver(m); err != nil || len(srv.got()) != 1 {
		t.Errorf("redelivered event: %v, server has %d messages; want nothing sent again", err, len(srv.got()))
	}

	// A server that is down: retried, counted.
	m2, err := d.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "Again."})
	if err != nil {
		t.Fatal(err)
	}
	down := srv.transport()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d2 := newDeskOn(t, d, down)
	if err := d2.deliver(m2); err == nil {
		t.Fatal("a server that is down was not reported")
	}
	if dl := d2.delivery(m2); dl.State != ticket.DeliveryQueued || dl.Attempts != 1 || dl.LastError == "" {
		t.Errorf("after connection refused: %+v", dl)
	}

	// 421 (the server closes the session: shutting down, overloaded):
	// retried on a fresh session, then sent.
	srv.script([]*smtp.SMTPError{{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "closing, try later"}}, nil)
	if err := d.deliver(m2); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("after a 421: %v, want it retried", err)
	}
	if dl := d.delivery(m2); dl.State != ticket.DeliveryQueued || !strings.Contains(dl.LastError, "closing, try later") {
		t.Fatalf("after a 421: %+v", dl)
	}
	if err := d.deliver(m2); err != nil {
		t.Fatalf("after the 421, the next attempt: %v", err)
	}
	if dl := d.delivery(m2); dl.State != ticket.DeliverySent {
		t.Errorf("after the 421 and a retry: %+v", dl)
	}
}

// newDeskOn is d's store and service with another transport.
func newDeskOn(t *testing.T, d *desk, tr mailout.Transport) *desk {
	mail, err := mailout.New(mailout.Options{Store: d.st, Blobs: d.st.Blobs(), Tickets: d.svc, ReplySecret: testSecret,
		Mailboxes: []mailout.Mailbox{{Name: "support", Address: supportAddr, Transport: tr}}})
	if err != nil {
		t.Fatal(err)
	}
	return &desk{t: t, st: d.st, svc: d.svc, mail: mail}
}

// TestSendPermanentFailure: a 5xx for the message marks it failed with
// the server's text, on the message and as a message.failed event.
func TestSendPermanentFailure(t *testing.T) {
	srv := startSMTP(t)
	d := newDesk(t, srv.transport(), false)
	res := d.ingest("k1", customerMail(custAddr, "one@example.org", "Help", time.Now(), ""))
	m, err := d.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "On it."})
	if err != nil {
		t.Fatal(err)
	}
	srv.script([]*smtp.SMTPError{{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}}, nil)
	if err := d.deliver(m); err != nil {
		t.Fatalf("a 550 is recorded, not retried: %v", err)
	}
	dl := d.delivery(m)
	if dl.State != ticket.DeliveryFailed || !strings.Contains(dl.LastError, "550") || !strings.Contains(dl.LastError, "no such user") {
		t.Fatalf("after a 550: %+v", dl)
	}
	events, err := d.st.PendingEvents(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var failed []ticket.Event
	for _, e := range events {
		if e.Type == ticket.EventMessageFailed {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || failed[0].MessageID != m.ID || !strings.Contains(string(failed[0].Payload), "no such user") {
		t.Errorf("message.failed events %+v", failed)
	}
	thread, _ := d.st.TicketMessages(context.Background(), "default", res.TicketID)
	if last := thread[len(thread)-1]; last.Delivery == nil || last.Delivery.State != ticket.DeliveryFailed {
		t.Errorf("the ticket's thread does not show the failure: %+v", last.Delivery)
	}
}

// TestAcknowledgementRules: one acknowledgement for a customer's new
// ticket, through the outbox; none for our own addresses, old mail, mail
// that opens no ticket (auto-replies), or a sender acknowledged within the
// interval.
func TestAcknowledgementRules(t *testing.T) {
	srv := startSMTP(t)
	d := newDesk(t, srv.transport(), true)
	d.run()
	now := time.Now()
	d.ingest("k1", customerMail("Cora <"+custAddr+">", "a1@example.org", "Printer broken", now, ""))
	waitFor(t, "the acknowledgement", 5*time.Second, func() bool { return len(srv.got()) == 1 })
	d.ingest("k2", customerMail(custAddr, "a2@example.org", "Another problem", now, ""))                                    // within the interval
	d.ingest("k3", customerMail(supportAddr, "a3@acme.example", "Internal", now, ""))                                       // our own address
	d.ingest("k4", customerMail("old@example.org", "a4@example.org", "From last year", now.AddDate(-1, 0, 0), ""))          // a first sync's old mail
	d.ingest("k5", customerMail("ooo@example.org", "a5@example.org", "Out of office", now, "Auto-Submitted: auto-replied")) // opens no ticket
	d.ingest("k6", customerMail("new@example.org", "a6@example.org", "Second customer", now, ""))
	waitFor(t, "the second customer's acknowledgement", 5*time.Second, func() bool { return len(srv.got()) >= 2 })
	time.Sleep(300 * time.Millisecond) // anything else would have been sent by now
	got := srv.got()
	if len(got) != 2 || fmt.Sprint(got[0].To) != "["+custAddr+"]" || fmt.Sprint(got[1].To) != "[new@example.org]" {
		var to []string
		for _, g := range got {
			to = append(to, g.To...)
		}
		t.Fatalf("acknowledged %v, want %s and new@example.org only", to, custAddr)
	}
	if !bytes.Contains(got[0].Raw, []byte("Auto-Submitted: auto-replied")) || !bytes.Contains(got[0].Raw, []byte("Hello Cora")) {
		t.Errorf("acknowledgement:\n%s", got[0].Raw)
	}
}

// TestReplyRefusals: bad replies are refused with the field and the fix,
// and a ticket whose mailbox cannot send says so.
func TestReplyRefusals(t *testing.T) {
	srv := startSMTP(t)
	d := newDesk(t, srv.transport(), false)
	res := d.ingest("k1", customerMail(custAddr, "one@example.org", "Help", time.Now(), ""))
	for name, r := range map[string]ticket.ReplyRequest{
		"empty":  {BodyText: "  "},
		"bad cc": {BodyText: "x", Cc: []ticket.Address{{Email: "not an address"}}},
	} {
		if _, err := d.mail.Reply(context.Background(), "default", res.TicketID, r); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: %v, want an invalid-request error", name, err)
		}
	}
	if _, err := d.mail.Reply(context.Background(), "other", res.TicketID, ticket.ReplyRequest{BodyText: "x"}); err == nil {
		t.Error("a reply to another tenant's ticket was queued")
	}
	mute := newDeskOn(t, d, nil)
	if _, err := mute.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "x"}); err == nil ||
		!strings.Contains(err.Error(), "smtp_host") {
		t.Errorf("no transport: %v, want the smtp_host hint", err)
	}
	// Header injection through the ticket's subject stays in the subject.
	m, err := d.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "ok",
		Cc: []ticket.Address{{Name: "Evil\r\nBcc: victim@example.net", Email: "cc@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.deliver(m); err != nil {
		t.Fatal(err)
	}
	got := srv.got()
	if len(got) != 1 || bytes.Contains(got[0].Raw, []byte("\r\nBcc:")) || fmt.Sprint(got[0].To) != "["+custAddr+" cc@example.org]" {
		t.Errorf("header injection through a Cc name: to %v\n%s", got[0].To, got[0].Raw)
	}
}

// TestOwnMailComingBack: our reply coming back into the mailbox (a BCC
// copy, a list's echo with a footer added to the body) is recognised by
// its Message-ID: no second message, no new ticket.
func TestOwnMailComingBack(t *testing.T) {
	srv := startSMTP(t)
	d := newDesk(t, srv.transport(), false)
	res := d.ingest("k1", customerMail(custAddr, "one@example.org", "Help", time.Now(), ""))
	m, err := d.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "On it."})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := d.st.Blobs().Open(context.Background(), m.Raw.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	for key, echo := range map[string]string{
		"bcc":  "Delivered-To: support@acme.example\r\n" + string(raw),
		"list": "List-Id: <help.lists.example>\r\n" + string(raw) + "\r\n-- \r\nYou are subscribed to help@lists.example\r\n",
	} {
		got, err := capture.Deliver(context.Background(), capture.Delivery{Mailbox: "support", SourceKey: key},
			strings.NewReader(echo), d.st.Blobs(), d.svc, capture.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Duplicate || got.MessageID != m.ID || got.TicketID != res.TicketID {
			t.Errorf("%s echo: %+v, want a duplicate of message %d", key, got, m.ID)
		}
	}
	if n, _ := d.st.CountMessages(context.Background(), "default"); n != 2 {
		t.Errorf("%d messages stored, want the customer's and the reply", n)
	}
}

// TestBounceMarksReplyFailed: a bounce returning our reply attaches to its
// ticket and marks the reply failed with the server's answer.
func TestBounceMarksReplyFailed(t *testing.T) {
	srv := startSMTP(t)
	d := newDesk(t, srv.transport(), false)
	res := d.ingest("k1", customerMail(custAddr, "one@example.org", "Help", time.Now(), ""))
	m, err := d.mail.Reply(context.Background(), "default", res.TicketID, ticket.ReplyRequest{BodyText: "On it."})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.deliver(m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../capture/testdata/bounce-postfix.eml")
	if err != nil {
		t.Fatal(err)
	}
	bounce := strings.ReplaceAll(string(raw), "ticket-1070-reply-1@acme.example", m.MessageID)
	got := d.ingest("bounce", strings.ReplaceAll(bounce, "\r\n", "\n"))
	if got.TicketID != res.TicketID || got.Classification != ticket.ClassBounce {
		t.Fatalf("bounce: %+v, want it on ticket %d", got, res.TicketID)
	}
	dl := d.delivery(m)
	if dl.State != ticket.DeliveryFailed || !strings.Contains(dl.LastError, "550 5.1.1") || !strings.Contains(dl.LastError, "User unknown") {
		t.Errorf("reply after its bounce: %+v", dl)
	}
}
