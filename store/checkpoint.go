package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// Checkpoints: SQLite copies the WAL's pages back into the database file
// (a checkpoint) in whichever commit pushes the WAL past
// wal_autocheckpoint pages. That commit then writes and fsyncs the
// database file while every other writer waits: in a 10,000-mail capture,
// 0.47 s of CPU and 0.64 s of system calls on the one goroutine that
// commits (imapbench -cpuprofile and -trace). The checkpointer does the
// same work on a connection of its own, beside the writer: a PASSIVE
// checkpoint takes no write lock, so commits go on while it copies, and
// the writer starts the WAL over at its next commit once everything was
// copied. Under a steady stream of commits that moment seldom comes (new
// frames arrive while it copies), so the writer's own automatic
// checkpoint stays, at twice the size: it finds most of the WAL copied
// already, copies the rest, and lets the WAL start over. It also covers
// writes that bypass WithTx. The WAL file so peaks at some 64 MiB.
const (
	// checkpointEvery is the least time between two checkpoints: about
	// what 32 MiB of WAL takes a busy capture, so a hot index page
	// written again and again in between is copied once, as with the
	// automatic checkpoint it replaces.
	checkpointEvery = 250 * time.Millisecond
	// backstopCheckpointPages is the writer's wal_autocheckpoint.
	backstopCheckpointPages = 16384 // 64 MiB of 4 KiB pages
)

// checkpointer runs PASSIVE checkpoints on its own connection after
// commits (wake), at most one per checkpointEvery.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	wake chan struct{}
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once

	// What the last checkpoint found: the WAL's frames and how many of
	// them are in the database file now (tests look).
	mu             sync.Mutex
	runs           int
	frames, copied int

	// failures since the last one logged; a failing checkpoint is logged
	// at most once per checkpointLogEvery, with the count.
	failures int
	loggedAt time.Time
}

const checkpointLogEvery = time.Minute

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.done.Go(c.run)
	return c
}

// committed tells the checkpointer a transaction committed; it never
// waits.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.checkpoint()
		select { // commits in the meantime leave one wake behind
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// checkpoint copies what it can of the WAL into the database file. A
// failure is logged: the writer's own automatic checkpoint still runs.
func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, frames, copied int
	err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	if err != nil {
		c.failures++
		if now := time.Now(); now.Sub(c.loggedAt) >= checkpointLogEvery {
			c.log.LogAttrs(ctx, slog.LevelWarn, "store: background checkpoint failed (the writer's own checkpoints go on)",
				slog.String("error", err.Error()), slog.Int("failures", c.failures))
			c.loggedAt, c.failures = now, 0
		}
		return
	}
	c.mu.Lock()
	c.runs, c.frames, c.copied = c.runs+1, frames, copied
	c.mu.Unlock()
}

// last returns how many checkpoints ran and what the last one found.
func (c *checkpointer) last() (runs, frames, copied int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs, c.frames, c.copied
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		c.done.Wait()
		err = c.db.Close()
	})
	return err
}
