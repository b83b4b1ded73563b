package ticket

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// TestAgentCopyIsOutgoing: an agent who answers from their own mail client
// with the support address in Cc (or Bcc) sends a copy to the inbox; on the
// ticket it threads onto it is the agent's outgoing reply and sets the
// ticket pending. An agent's mail about no ticket, on a ticket they opened
// themselves, or from someone who is not an agent stays inbound.
func TestAgentCopyIsOutgoing(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	asked := 0
	svc, err := NewService(Options{Store: m, Agents: func(_ context.Context, tenant string) ([]string, error) {
		asked++
		if tenant != DefaultTenant {
			return nil, nil
		}
		return []string{"Ana@Acme.example"}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ingest := func(in Inbound) (Result, Message, Ticket) {
		t.Helper()
		in.Mailbox, in.SourceKey, in.BodyHash = "support", "k:"+in.MessageID, in.MessageID
		res, err := svc.Ingest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var (
			msg Message
			tk  Ticket
		)
		m.WithTx(ctx, func(tx Tx) error {
			if res.MessageID != 0 {
				msg, _ = tx.Message(ctx, DefaultTenant, res.MessageID)
			}
			if res.TicketID != 0 {
				tk, _ = tx.Ticket(ctx, DefaultTenant, res.TicketID)
			}
			return nil
		})
		return res, msg, tk
	}
	cust := Address{Email: "cora@customer.example"}
	ana := Address{Email: "ana@acme.example", Name: "Ana"}
	first, _, _ := ingest(Inbound{MessageID: "q1@customer.example", From: cust, Subject: "Printer"})
	res, msg, tk := ingest(Inbound{MessageID: "a1@acme.example", InReplyTo: "q1@customer.example", From: ana,
		To: []Address{cust}, Cc: []Address{{Email: "support@acme.example"}}, Subject: "Re: Printer"})
	if res.TicketID != first.TicketID || msg.Direction != DirectionOutgoing || tk.Status != StatusPending {
		t.Fatalf("agent's copied reply: ticket %d (want %d), direction %q, status %q; want outgoing on the ticket, pending",
			res.TicketID, first.TicketID, msg.Direction, tk.Status)
	}
	// Within the minute the tenant's agents are not read again.
	_, msg, _ = ingest(Inbound{MessageID: "a2@acme.example", InReplyTo: "a1@acme.example", From: ana, Subject: "Re: Printer"})
	if msg.Direction != DirectionOutgoing || asked != 1 {
		t.Errorf("second copy: %q, agents read %d times; want outgoing, read once", msg.Direction, asked)
	}
	// The customer answers: inbound again, the ticket opens.
	_, msg, tk = ingest(Inbound{MessageID: "q2@customer.example", InReplyTo: "a1@acme.example", From: cust, Subject: "Re: Printer"})
	if msg.Direction != DirectionInbound || tk.Status != StatusOpen {
		t.Errorf("customer's answer: %q, %q", msg.Direction, tk.Status)
	}
	// Ana writes about nothing we know: a new ticket, hers.
	res, msg, tk = ingest(Inbound{MessageID: "n1@acme.example", From: ana, Subject: "VPN broken"})
	if !res.NewTicket || msg.Direction != DirectionInbound || tk.Requester.Email != ana.Email {
		t.Errorf("agent's own request: new %v, %q, requester %q", res.NewTicket, msg.Direction, tk.Requester.Email)
	}
	// ... and follows up on it: still her own ticket's inbound mail.
	_, msg, _ = ingest(Inbound{MessageID: "n2@acme.example", InReplyTo: "n1@acme.example", From: ana, Subject: "Re: VPN broken"})
	if msg.Direction != DirectionInbound {
		t.Errorf("follow-up on her own ticket: %q, want inbound", msg.Direction)
	}
}

// TestDuplicateLogNamesTheStoredMessage: the same mail arriving in a
// second mailbox is recorded as another source of the stored one, and the
// log line says which message it matched and how; the same source fetched
// again logs nothing.
func TestDuplicateLogNamesTheStoredMessage(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	svc, err := NewService(Options{Store: newMemStore(), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	in := Inbound{Mailbox: "support", SourceKey: "imap:1:1", MessageID: "dup@customer.example", BodyHash: "h1",
		From: Address{Email: "cora@customer.example"}, Subject: "Hello"}
	first, err := svc.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := svc.Ingest(ctx, in) // the same source again (a crash re-fetch)
	if !again.Duplicate || strings.Contains(buf.String(), "already stored") {
		t.Fatalf("a re-fetched source: duplicate %v, log:\n%s", again.Duplicate, buf.String())
	}
	in.Mailbox, in.SourceKey = "sales", "imap:9:4"
	copyRes, _ := svc.Ingest(ctx, in)
	log := buf.String()
	if !copyRes.Duplicate || copyRes.MessageID != first.MessageID || !strings.Contains(log, "already stored") ||
		!strings.Contains(log, fmt.Sprintf("stored_message=%d", first.MessageID)) || !strings.Contains(log, "stored_mailbox=support") ||
		!strings.Contains(log, "matched_by=message_id_and_body") || !strings.Contains(log, "mailbox=sales") {
		t.Errorf("a copy in another mailbox: %+v, log:\n%s", copyRes, log)
	}
}

// wordsStore is a memStore that indexes words (ticket.WordIndexer): it
// says which texts it was handed.
type wordsStore struct{ *memStore }

func (wordsStore) SearchWords(subject, text, fromEmail, fromName string) []string {
	return []string{"subject=" + subject, "text=" + text, "from=" + fromEmail + " " + fromName}
}

// TestPrepareWorksOutSearchWords: a store that indexes words gets them
// worked out from the normalised mail before the transaction, on the
// message it inserts.
func TestPrepareWorksOutSearchWords(t *testing.T) {
	m := newMemStore()
	svc, err := NewService(Options{Store: wordsStore{m}, ReplySecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Ingest(context.Background(), Inbound{Mailbox: "support", SourceKey: "imap:1:7", MessageID: "w@customer.example",
		From: Address{Email: "Cora@Customer.example", Name: "Cora"}, Subject: "  Printer jam ", Text: "It jams."})
	if err != nil {
		t.Fatal(err)
	}
	got := m.s.messages[res.MessageID].SearchWords
	want := []string{"subject=Printer jam", "text=It jams.", "from=cora@customer.example Cora"}
	if !slices.Equal(got, want) {
		t.Errorf("SearchWords of the inserted message = %q, want %q", got, want)
	}
}
