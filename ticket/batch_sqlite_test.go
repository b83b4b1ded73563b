package ticket_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// TestIngestBatchSQLite runs the IngestBatch scenarios of batch_test.go
// against the real SQLite store.
func TestIngestBatchSQLite(t *testing.T) {
	ticket.RunIngestBatchScenarios(t, func(t *testing.T) (ticket.Store, func() []ticket.Event) {
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
	})
}
