// Package dbtime is how sidedesk's SQL tables store times (store and the
// local CRM share the tables' conventions): UTC text of fixed width,
// nanoseconds always printed, so that comparing the text compares the
// times and a value reads back exactly equal.
package dbtime

import (
	"database/sql"
	"time"
)

// Layout is the stored form.
const Layout = "2006-01-02T15:04:05.000000000Z"

// Format renders t for a NOT NULL column.
func Format(t time.Time) string { return t.UTC().Format(Layout) }

// Null renders t for a nullable column: the zero time, and times outside
// years 1..9999 that the fixed-width form cannot hold (hostile Date
// headers), are NULL.
func Null(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return sql.NullString{}
	}
	return sql.NullString{String: Format(t), Valid: true}
}

// Parse reads a stored time; NULL or "" is the zero time.
func Parse(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(Layout, s.String)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
