package config

import (
	"fmt"
	"time"
)

// dateLayout is the form of dates in the configuration.
const dateLayout = "2006-01-02"

// Date is a calendar day ("2026-01-01"), written in TOML either as a string
// or as a TOML local date. Its Time is midnight UTC of that day.
type Date struct{ time.Time }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Date) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return d.UnmarshalText([]byte(v))
	case time.Time:
		d.Time = time.Date(v.Year(), v.Month(), v.Day(), 0, 0, 0, 0, time.UTC)
		return nil
	}
	return fmt.Errorf("want a date like \"2026-01-01\", got %T", v)
}

// UnmarshalText implements encoding.TextUnmarshaler ("" is the zero Date).
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		d.Time = time.Time{}
		return nil
	}
	t, err := time.Parse(dateLayout, string(b))
	if err != nil {
		return fmt.Errorf("want a date like \"2026-01-01\", got %q", b)
	}
	d.Time = t
	return nil
}

// MarshalText implements encoding.TextMarshaler ("" for the zero Date).
func (d Date) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte{}, nil
	}
	return []byte(d.Format(dateLayout)), nil
}

// String returns the date as "2006-01-02", or "" when zero.
func (d Date) String() string {
	b, _ := d.MarshalText()
	return string(b)
}
