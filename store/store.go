// Package store is sidedesk's persistence: SQLite (modernc.org/sqlite, pure
// Go) with embedded ordered migrations, content-addressed blobs on disk, the
// ticket.Store / ticket.Tx implementation, and the tenant-scoped read side of
// the HTTP API. The SQL is kept portable to PostgreSQL where that costs
// nothing.
//
// Concurrency: writes go through one pool with a single connection whose
// transactions begin IMMEDIATE (they take SQLite's write lock up front, and
// another process's writer waits up to busy_timeout); reads go through a
// separate pool of query-only connections, which WAL lets run beside the
// writer. WithTx retries a transaction that still fails with SQLITE_BUSY.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Options configures Open.
type Options struct {
	// Path of the SQLite database file; its parent directory is created.
	Path string
	// BlobDir is the directory for content-addressed blobs (raw messages,
	// attachments). Default: "blobs" beside Path.
	BlobDir string
	// DiskReserve is the free space, in bytes, kept on the filesystem the
	// database shares with the blobs: blob writes stop below it (failing
	// as a full disk does), so the transactions that reference the blobs
	// already written can still commit. 0 keeps none.
	DiskReserve int64
	// Logger receives migration and retry notes. Default: discard.
	Logger *slog.Logger
	// SkipBlobFsync leaves blob data to the OS's writeback instead of
	// fsyncing the packs before a transaction indexes their blobs
	// (Blobs.Sync). Nothing is lost when the process crashes either way;
	// after a power loss, blobs written in the last seconds may be
	// missing. For bulk imports and benchmarks.
	SkipBlobFsync bool
	// NormalSync commits with SQLite's synchronous=NORMAL instead of FULL:
	// safe against a process crash, but the last commits before a power
	// loss may be lost (faster writes; [database] synchronous = "normal").
	NormalSync bool
}

// busyTimeout is how long SQLite waits for another connection's lock
// before reporting SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// txAttempts is how often WithTx runs fn when the database stays busy.
const txAttempts = 5

// Store is an open sidedesk database plus its blob directory. It is safe for
// concurrent use.
type Store struct {
	w     *sql.DB // single connection, BEGIN IMMEDIATE: every write
	r     *sql.DB // query_only connections: the read side
	ckpt  *checkpointer
	blobs *Blobs
	stmts *stmtCache // prepared write statements
	log   *slog.Logger
	path  string
	// committed fires after a transaction that appended events commits.
	committed signal
	// terms are the search words known to be in search_terms.
	terms termCache

	// Seams for tests in this package.
	now        func() time.Time
	migrations func() ([]migration, error)
	onRetry    func(attempt int, err error)
}

var _ ticket.Store = (*Store)(nil)

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open opens (creating if needed) the database at opts.Path and the blob
// directory, and sets the connection pragmas (WAL, busy_timeout,
// foreign_keys, synchronous=NORMAL). It does not migrate: call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, busyTimeout)
}

func open(ctx context.Context, opts Options, busy time.Duration) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("store: Options.Path is required")
	}
	if opts.Path == ":memory:" {
		return nil, errors.New("store: an in-memory database is not supported; give a file path")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("store: database path %q: %w", opts.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("store: create database directory: %w", err)
	}
	blobDir := opts.BlobDir
	if blobDir == "" {
		blobDir = filepath.Join(filepath.Dir(abs), "blobs")
	}
	blobs, err := newBlobs(blobDir, !opts.SkipBlobFsync, opts.DiskReserve)
	if err != nil {
		return nil, err
	}
	if blobs.reserve > 0 {
		// The reserve is for the database: it matters only when the
		// blobs and the database share a filesystem.
		_, bdev, berr := freeSpace(blobs.packDir)
		_, ddev, derr := freeSpace(filepath.Dir(abs))
		if berr == nil && derr == nil && bdev != ddev {
			blobs.reserve = 0
		}
	}

	// Create the file owner-only before SQLite does (it would use the
	// umask, often world-readable); SQLite gives its -wal and -shm files
	// the database file's permissions.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("store: create %s: %w", abs, err)
	}
	// One writer connection: writers of this process queue in database/sql
	// (respecting ctx) instead of contending for SQLite's lock.
	w, err := openDB(abs, roleWriter, busy, opts.NormalSync, 1)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	// The first connection switches the file to WAL before any reader opens.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: read journal_mode: %w", abs, err)
	}
	if mode != "wal" {
		w.Close()
		return nil, fmt.Errorf("store: open %s: journal_mode is %q, want wal", abs, mode)
	}

	r, err := openDB(abs, roleReader, busy, opts.NormalSync, max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}

	ck, err := openDB(abs, roleCheckpointer, busy, opts.NormalSync, 1)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}

	blobs.attach(r)
	return &Store{
		w:          w,
		r:          r,
		ckpt:       newCheckpointer(ck, log),
		blobs:      blobs,
		stmts:      newStmtCache(),
		log:        log,
		path:       abs,
		now:        time.Now,
		migrations: embeddedMigrations,
	}, nil
}

// Close stops the checkpointer and closes the connection pools.
func (s *Store) Close() error {
	s.blobs.close()
	s.stmts.close()
	// The checkpointer goes first: the writer's connection, closed last,
	// checkpoints what is left and removes the WAL.
	return errors.Join(s.ckpt.close(), s.r.Close(), s.w.Close())
}

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Blobs returns the content-addressed blob store beside the database.
func (s *Store) Blobs() *Blobs { return s.blobs }

// WithTx runs fn in one write transaction (ticket.Store): committed when fn
// returns nil, rolled back otherwise. When the database stays busy (another
// process holds the write lock past busy_timeout), the whole fn is run again,
// a few times, with backoff; fn must have no side effects outside tx.
//
// Before it begins, WithTx makes every blob Put so far durable
// (Blobs.Sync), outside SQLite's write lock: whatever fn stores, no
// committed row references a blob a power loss could take away. A batch of
// messages in one transaction shares one round of blob fsyncs.
func (s *Store) WithTx(ctx context.Context, fn func(ticket.Tx) error) error {
	if err := s.blobs.Sync(ctx); err != nil {
		return err
	}
	return s.withTx(ctx, fn)
}

// withTx is WithTx without the blob Sync.
func (s *Store) withTx(ctx context.Context, fn func(ticket.Tx) error) error {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.withTxOnce(ctx, fn)
		if err == nil || !isBusy(err) || attempt >= txAttempts {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "store: database busy, retrying transaction",
			slog.Int("attempt", attempt), slog.String("error", err.Error()))
		if s.onRetry != nil {
			s.onRetry(attempt, err)
		}
		wait := backoff + rand.N(backoff)
		backoff *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store: transaction: %w (after %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (s *Store) withTxOnce(ctx context.Context, fn func(ticket.Tx) error) (err error) {
	s.stmts.prepare(ctx, s.w)
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// fn panicked: roll back and let the panic go on.
			_ = sqlTx.Rollback()
		}
	}()
	q := newCachedTx(sqlTx, s.stmts)
	// Blobs made durable so far enter the index with this transaction:
	// with, or before, the first row that references them.
	index := s.blobs.durableEntries()
	var t *tx
	ferr := insertIndex(ctx, q, index)
	if ferr == nil {
		t = &tx{s: s, q: q}
		ferr = fn(t)
	}
	if ferr == nil {
		ferr = t.flushRequesters(ctx)
	}
	if ferr == nil {
		ferr = t.flushCounters(ctx)
	}
	if ferr == nil {
		ferr = t.flushSearch(ctx)
	}
	done = true
	if ferr != nil {
		if rerr := sqlTx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "store: rollback failed", slog.String("error", rerr.Error()))
		}
		return ferr
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.blobs.committed(index)
	s.ckpt.committed()
	s.terms.add(t.newTerms)
	if t.events {
		s.committed.fire()
	}
	return nil
}

// write runs fn in a write transaction for the store's own methods. Their
// rows (sync state, tokens, sessions, …) reference no blobs, so they do
// not wait for pending blobs to become durable: a capture saving its sync
// state must not queue behind the fsyncs of messages it is still parsing.
func (s *Store) write(ctx context.Context, fn func(q querier) error) error {
	return s.withTx(ctx, func(t ticket.Tx) error { return fn(t.(*tx).q) })
}

// nowUTC is the store's clock, in UTC.
func (s *Store) nowUTC() time.Time { return s.now().UTC() }
