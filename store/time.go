package store

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/sidedesk/sidedesk/internal/dbtime"
)

// timeLayout is how every time is stored (internal/dbtime).
const timeLayout = dbtime.Layout

// fmtTime renders t for a NOT NULL column.
func fmtTime(t time.Time) string { return dbtime.Format(t) }

// nullTime renders t for a nullable column (NULL for the zero time and
// years outside 1..9999).
func nullTime(t time.Time) sql.NullString { return dbtime.Null(t) }

// parseTime reads a stored time; NULL is the zero time.
func parseTime(s sql.NullString) (time.Time, error) {
	t, err := dbtime.Parse(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: stored time %q: %w", s.String, err)
	}
	return t, nil
}
