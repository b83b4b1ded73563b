package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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

// TestCheckpointFailureLoggedOnce: a checkpoint that keeps failing (here
// on a closed connection pool) is logged once a minute with the count of
// failures, not four times a second.
func TestCheckpointFailureLoggedOnce(t *testing.T) {
	s := newStore(t)
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	db, err := openDB(s.path, roleCheckpointer, time.Second, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	c := &checkpointer{db: db, log: log}
	for range 3 {
		c.checkpoint()
	}
	if n := strings.Count(buf.String(), "background checkpoint failed"); n != 1 {
		t.Fatalf("%d log lines for 3 failures, want 1:\n%s", n, buf.String())
	}
	c.loggedAt = time.Now().Add(-checkpointLogEvery)
	c.checkpoint()
	if out := buf.String(); strings.Count(out, "background checkpoint failed") != 2 || !strings.Contains(out, "failures=3") {
		t.Fatalf("after a minute: want a second line counting the 3 failures since the first:\n%s", out)
	}
	if runs, _, _ := c.last(); runs != 0 {
		t.Errorf("%d runs counted for failed checkpoints, want 0", runs)
	}
}
