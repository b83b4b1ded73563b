package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// TestBackgroundCheckpoint: commits wake the checkpointer, which copies
// the WAL into the database file on its own connection; the writer's
// automatic checkpoint is only the backstop.
func TestBackgroundCheckpoint(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var pages int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != backstopCheckpointPages {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want the backstop %d", pages, err, backstopCheckpointPages)
	}
	runs0, _, _ := s.ckpt.last()
	for i := range 20 {
		if err := s.WithTx(ctx, func(tx ticket.Tx) error {
			tk := ticket.Ticket{Tenant: "a", Subject: fmt.Sprintf("ticket %d", i)}
			return tx.CreateTicket(ctx, &tk)
		}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, frames, copied := s.ckpt.last()
		if runs > runs0 && frames > 0 && copied == frames {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpointer: %d runs (%d before the commits), last found %d frames, %d copied; want a run that copied them all",
				runs, runs0, frames, copied)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
