package store

// The choice of SQL driver lives in this one file: modernc.org/sqlite (pure
// Go, no cgo), registered under its own driver name "sqlite".

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const driverName = "sqlite"

// connRole is what a pool's connections are for.
type connRole int

const (
	roleReader       connRole = iota // query_only
	roleWriter                       // the one writing connection
	roleCheckpointer                 // background WAL checkpoints (checkpointer)
)

// dsn builds the connection string for path. The writer pool begins every
// transaction with BEGIN IMMEDIATE, so a writer waits (busy_timeout) for the
// write lock up front instead of failing half-way when a deferred read
// transaction tries to upgrade; reader connections are query_only; the
// checkpointer's connection only checkpoints, with the writer's
// synchronous setting (a checkpoint fsyncs the database file as a commit
// fsyncs the WAL).
func dsn(absPath string, role connRole, busy time.Duration, normalSync bool) string {
	u := url.URL{Scheme: "file", Path: absPath}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	// SQLite's default page cache (2 MiB) made every capture transaction
	// re-read hundreds of index pages once the database outgrew it; 8 MiB
	// captures 10,000 and 50,000 mails as fast as 32 MiB did (imapbench),
	// for 24 MB less memory (the cache is outside Go's heap).
	// FULL: a commit is on disk (the WAL fsynced) before it is
	// acknowledged, so a power loss cannot take back an agent's change or
	// a captured message. NORMAL (Options.NormalSync) survives a process
	// crash but may lose the last commits on power loss.
	synchronous := "FULL"
	if normalSync {
		synchronous = "NORMAL"
	}
	switch role {
	case roleCheckpointer:
		q.Add("_pragma", "cache_size(-256)") // it reads no tables
		q.Set("_synchronous", synchronous)
	case roleWriter:
		q.Add("_pragma", "cache_size(-8192)") // 8 MiB
		// The checkpointer copies the WAL into the database beside the
		// writer; the writer's automatic checkpoint is the backstop, at
		// 64 MiB of WAL rather than SQLite's 4 MiB (checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(backstopCheckpointPages)+")")
		// Statement journals (the pages a statement inside a transaction
		// may have to roll back) stay in memory: past 64 KiB SQLite
		// spills them to a temporary file, and those writes were 0.22 s
		// of a 10,000-mail capture's committing goroutine. The writer
		// runs no big sorts, so its temporary data stays small.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", synchronous)
		q.Set("_txlock", "immediate")
	default:
		q.Add("_pragma", "cache_size(-8192)") // 8 MiB per reader
		q.Set("_query_only", "1")
	}
	// url.URL renders "file:///abs/path" with '?', '#' and '%' in the path
	// escaped; SQLite decodes %HH in URI file names.
	return u.String() + "?" + q.Encode()
}

// openDB opens one pool of conns connections, kept open for good.
func openDB(absPath string, role connRole, busy time.Duration, normalSync bool, conns int) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn(absPath, role, busy, normalSync))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// isBusy reports whether err is SQLite's "database is busy/locked", the
// errors after which a whole transaction can be retried.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// tableExists reports whether the database has a table of that name.
func tableExists(ctx context.Context, q querier, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// insertID runs an INSERT into a table whose key is "id INTEGER PRIMARY
// KEY" and returns the new row's id. Not "RETURNING id": SQLite answers
// RETURNING through an ephemeral table it creates per statement, which
// made each insert of a capture several times dearer (seen in CPU
// profiles). A PostgreSQL store would append RETURNING id here.
func insertID(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}
