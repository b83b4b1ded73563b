package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the write path's statements prepared on the single writer
// connection, so a capture transaction does not re-parse its SQL every time
// (parsing was about a third of an insert's CPU).
//
// Statements cannot be prepared inside a transaction (the one connection is
// taken), so a statement first runs unprepared and is noted; the next
// transaction prepares what was noted before it begins.
//
// Statements whose text varies with their number of rows (multi-row
// INSERTs, IN lists) make many distinct queries: a query is noted only the
// second time it runs, so one-off variants never take a place in the cache.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	seen   map[string]bool // run once, not noted yet
}

// maxCachedStmts bounds the cache; maxSeen bounds the queries remembered
// as run once (forgotten all together when full).
const (
	maxCachedStmts = 256
	maxSeen        = 4096
)

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}, seen: map[string]bool{}}
}

// get returns the prepared statement for query, or nil (noting the query
// when it ran before).
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st
	}
	if !c.seen[query] {
		if len(c.seen) >= maxSeen {
			clear(c.seen)
		}
		c.seen[query] = true
		return nil
	}
	if len(c.stmts)+len(c.wanted) < maxCachedStmts {
		delete(c.seen, query)
		c.wanted[query] = true
	}
	return nil
}

// prepare prepares the noted queries on db; call it holding no connection
// of db. A query that fails to prepare (say, its table does not exist yet)
// is dropped: it runs unprepared and may be noted again.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	wanted := c.wanted
	c.wanted = map[string]bool{}
	c.mu.Unlock()
	for q := range wanted {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.stmts[q] == nil {
			c.stmts[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

// close releases every prepared statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// cachedTx is the querier of a write transaction: cached statements rebound
// to the transaction once per transaction (database/sql reuses their
// preparation on the same connection), anything else run directly.
//
// Statements run with the context's cancellation stripped, after checking
// it: with a cancellable context, the SQLite driver starts a goroutine and
// installs a progress handler for every statement so that it can interrupt
// it, and a capture runs about a dozen short statements per message (a
// third of the commit's scheduling delay went to those goroutines). The
// transaction itself still ends with the context: database/sql rolls it
// back, and the next statement fails.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
	bound map[string]*sql.Stmt
}

func newCachedTx(tx *sql.Tx, cache *stmtCache) *cachedTx {
	return &cachedTx{tx: tx, cache: cache, bound: map[string]*sql.Stmt{}}
}

// stmt returns query's cached statement bound to the transaction, nil when
// it is not cached.
func (c *cachedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := c.bound[query]; ok {
		return st
	}
	st := c.cache.get(query)
	if st != nil {
		st = c.tx.StmtContext(ctx, st)
	}
	c.bound[query] = st
	return st
}

func (c *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, query, args...)
}

func (c *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, query, args...)
}

func (c *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	// A *sql.Row cannot carry an error made here: a cancelled context is
	// passed on as it is, and database/sql reports it.
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
	}
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, query, args...)
}
