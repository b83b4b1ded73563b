package dbtime

import (
	"database/sql"
	"testing"
	"time"
)

func TestRoundTripAndOrder(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	a := time.Date(2026, 3, 1, 12, 0, 0, 5, berlin)
	b := a.Add(time.Nanosecond)
	for _, tt := range []time.Time{a, b} {
		got, err := Parse(Null(tt))
		if err != nil || !got.Equal(tt) || got.Location() != time.UTC {
			t.Errorf("Parse(Null(%v)) = %v, %v; want it back in UTC", tt, got, err)
		}
	}
	if !(Format(a) < Format(b)) {
		t.Errorf("%q does not sort before %q", Format(a), Format(b))
	}
	for _, tt := range []time.Time{{}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if v := Null(tt); v.Valid {
			t.Errorf("Null(%v) = %q, want NULL", tt, v.String)
		}
	}
	if got, err := Parse(sql.NullString{}); err != nil || !got.IsZero() {
		t.Errorf("Parse(NULL) = %v, %v", got, err)
	}
	if _, err := Parse(sql.NullString{String: "yesterday", Valid: true}); err == nil {
		t.Error("Parse of garbage succeeded")
	}
}
