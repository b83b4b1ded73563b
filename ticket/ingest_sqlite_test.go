package ticket_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/store/storetest"
	"github.com/sidedesk/sidedesk/ticket"
)

// TestIngestSQLite runs the Ingest/Update scenarios of scenarios_test.go
// against the real SQLite store, in a file under t.TempDir().
func TestIngestSQLite(t *testing.T) { ticket.RunIngestScenarios(t, openSQLite) }

// TestIngestBatchSQLite runs the IngestBatch scenarios of batch_test.go
// against the real SQLite store.
func TestIngestBatchSQLite(t *testing.T) { ticket.RunIngestBatchScenarios(t, openSQLite) }

// openSQLite is a ticket.OpenStore: a migrated SQLite store in t.TempDir().
func openSQLite(t *testing.T) (ticket.Store, func() []ticket.Event) {
	ctx := context.Background()
	st := storetest.Open(t)
	return st, func() []ticket.Event {
		t.Helper()
		evs, err := st.PendingEvents(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
}

// BenchmarkIngestSQLite measures one Ingest into the SQLite store: every
// other mail a reply (In-Reply-To) to the one before, so both the new-ticket
// and the threading path are in the figure.
func BenchmarkIngestSQLite(b *testing.B) {
	ctx := context.Background()
	st := storetest.Open(b)
	svc, err := ticket.NewService(ticket.Options{Store: st, FloodLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench%d@example.com", i)
		in := ticket.Inbound{
			Mailbox: "support", SourceKey: "imap:1:" + id, MessageID: id, BodyHash: id,
			From:    ticket.Address{Email: fmt.Sprintf("customer%d@example.org", i%100)},
			To:      []ticket.Address{{Email: "support@example.com"}},
			Subject: "Benchmark", Text: "hello", Header: ticket.Header{},
		}
		if i%2 == 1 {
			in.InReplyTo = fmt.Sprintf("bench%d@example.com", i-1)
			in.References = []string{in.InReplyTo}
		}
		if _, err := svc.Ingest(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestBatchSQLite measures the capture's committing path per
// message: Commit of 300 new mails at a time (a third replies to an
// earlier one, each with a 4 KB text and HTML body, two recipients and an
// attachment) under a cancellable context, as imapsource commits them. Its
// CPU per message is the commit goroutine's share of a capture.
func BenchmarkIngestBatchSQLite(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := storetest.Open(b)
	svc, err := ticket.NewService(ticket.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("Hello, our order did not arrive. ", 128)
	html := "<p>" + text + "</p>"
	const batch = 300
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		b.StopTimer()
		ps := make([]*ticket.Pending, batch)
		for j := range ps {
			id := fmt.Sprintf("batch%d@example.com", n)
			in := ticket.Inbound{
				Mailbox: "support", SourceKey: fmt.Sprintf("imap:1:%d", n), MessageID: id, BodyHash: id,
				From:    ticket.Address{Name: "Customer", Email: fmt.Sprintf("customer%d@example.org", n%500)},
				To:      []ticket.Address{{Email: "support@example.com"}, {Email: "sales@example.com"}},
				Subject: fmt.Sprintf("Order %d", n), Text: text, HTML: html, Header: ticket.Header{},
				Date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute),
				Attachments: []ticket.Attachment{{Filename: "invoice.pdf", ContentType: "application/pdf",
					Size: 1000, SHA256: fmt.Sprintf("%064x", n)}},
			}
			if n%3 == 2 {
				in.InReplyTo = fmt.Sprintf("batch%d@example.com", n-1)
				in.References = []string{in.InReplyTo}
			}
			ps[j] = svc.Prepare(ctx, in)
			n++
		}
		b.StartTimer()
		if _, err := svc.Commit(ctx, ps); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
}
