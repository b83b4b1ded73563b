package ticket_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sidedesk/sidedesk/store"
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
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "sidedesk.db"), BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
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
	dir := b.TempDir()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "sidedesk.db"), BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
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
