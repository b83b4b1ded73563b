package store

import (
	"database/sql"
	"fmt"
	"time"
)

// timeLayout is how every table stores a time: UTC text of fixed width,
// nanoseconds always printed, so that comparing the text compares the
// times and a value reads back exactly equal.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// fmtTime renders t for a NOT NULL column.
func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime renders t for a nullable column: the zero time, and times
// outside years 1..9999 that the fixed-width form cannot hold (hostile Date
// headers), are NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return sql.NullString{}
	}
	return sql.NullString{String: fmtTime(t), Valid: true}
}

// parseTime reads a stored time; NULL or "" is the zero time.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: stored time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}
