package store

import (
	"context"
	"database/sql"
	"testing"
)

// TestStmtCacheNotesRepeatedQueries: a query is prepared only after it ran
// twice, so the one-off texts of multi-row statements take no place.
func TestStmtCacheNotesRepeatedQueries(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c := newStmtCache()
	defer c.close()
	const q = `SELECT 1`
	for run := 1; run <= 2; run++ {
		if c.get(q) != nil {
			t.Fatalf("run %d: prepared statement before any prepare", run)
		}
		c.prepare(ctx, db)
	}
	if c.get(q) == nil {
		t.Error("a query run twice was not prepared")
	}
	c.get(`SELECT 2`)
	c.prepare(ctx, db)
	if len(c.stmts) != 1 {
		t.Errorf("%d statements prepared, want 1 (the one-off query is not)", len(c.stmts))
	}
}
