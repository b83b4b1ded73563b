package store

import (
	"database/sql"
	"testing"
	"time"
)

func TestTimeRoundTripAndOrder(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	a := time.Date(2026, 3, 1, 12, 0, 0, 5, berlin)
	b := a.Add(time.Nanosecond)
	for _, tt := range []time.Time{a, b} {
		got, err := parseTime(nullTime(tt))
		if err != nil || !got.Equal(tt) || got.Location() != time.UTC {
			t.Errorf("parseTime(nullTime(%v)) = %v, %v; want it back in UTC", tt, got, err)
		}
	}
	if !(fmtTime(a) < fmtTime(b)) {
		t.Errorf("%q does not sort before %q", fmtTime(a), fmtTime(b))
	}
	for _, tt := range []time.Time{{}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if v := nullTime(tt); v.Valid {
			t.Errorf("nullTime(%v) = %q, want NULL", tt, v.String)
		}
	}
	if got, err := parseTime(sql.NullString{}); err != nil || !got.IsZero() {
		t.Errorf("parseTime(NULL) = %v, %v", got, err)
	}
	if _, err := parseTime(sql.NullString{String: "yesterday", Valid: true}); err == nil {
		t.Error("Parse of garbage succeeded")
	}
}
