package crm

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in       string
		european bool
		want     float64
		bad      bool
	}{
		{"", false, 0, false},
		{"1234.5", false, 1234.5, false},
		{"1,234.50", false, 1234.5, false},
		{"1,234", false, 1234, false},
		{"1,234", true, 1.234, false},
		{"12,5", false, 12.5, false},
		{"1.234,50", true, 1234.5, false},
		{"1.234", true, 1234, false},
		{"1.234.567", false, 1234567, false},
		{"$ 8,500,000,000.00", false, 8.5e9, false},
		{"12.000.000,50 €", true, 12_000_000.5, false},
		{"EUR 12", false, 12, false},
		{"1'000'000", false, 1e6, false},
		{"(500)", false, -500, false},
		{"-42", false, -42, false},
		{"lots", false, 0, true},
		{"1,2,3", false, 0, true},
		{"1.2.3", false, 0, true},
		{"12abc", false, 0, true},
		{"1e400", false, 0, true},
		{"$", false, 0, true},
	}
	for _, tc := range tests {
		got, err := parseNumber(tc.in, tc.european)
		if tc.bad {
			if !errors.Is(err, ErrBadNumber) {
				t.Errorf("parseNumber(%q) = %v, %v; want ErrBadNumber", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseNumber(%q, european=%v) = %v, %v; want %v", tc.in, tc.european, got, err, tc.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	d := func(y, m, day int) time.Time { return time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		in       string
		dayFirst bool
		want     time.Time
		bad      bool
	}{
		{"", false, time.Time{}, false},
		{"2026-03-31", false, d(2026, 3, 31), false},
		{"2026-03-31T10:00:00Z", false, time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC), false},
		{"2026-03-31 10:00:00", false, time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC), false},
		{"3/31/2026", false, d(2026, 3, 31), false},
		{"1/2/2026", false, d(2026, 1, 2), false},
		{"1/2/2026", true, d(2026, 2, 1), false},
		{"31/3/2026", false, d(2026, 3, 31), false},
		{"3/31/26", false, d(2026, 3, 31), false},
		{"31.03.2026", false, d(2026, 3, 31), false},
		{"3/31/2026 10:00 AM", false, d(2026, 3, 31), false},
		{"31.02.2026", false, time.Time{}, true},
		{"13/13/2026", false, time.Time{}, true},
		{"tomorrow", false, time.Time{}, true},
		{"2026-3", false, time.Time{}, true},
		{"1/2/3/4", false, time.Time{}, true},
	}
	for _, tc := range tests {
		got, err := parseDate(tc.in, tc.dayFirst)
		if tc.bad {
			if !errors.Is(err, ErrBadDate) {
				t.Errorf("parseDate(%q) = %v, %v; want ErrBadDate", tc.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseDate(%q, dayFirst=%v) = %v, %v; want %v", tc.in, tc.dayFirst, got, err, tc.want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.Globex.example/about": "globex.example",
		"globex.example":                   "globex.example",
		"globex.example.":                  "globex.example",
		"http://shop.globex.example:8080":  "shop.globex.example",
		"@initech.example":                 "initech.example",
		"localhost":                        "",
		"":                                 "",
		"not a domain":                     "",
	} {
		if got := normalizeDomain(in); got != want {
			t.Errorf("normalizeDomain(%q) = %q, want %q", in, got, want)
		}
	}
	if got := DomainCandidates("eu.mail.globex.example"); !slices.Equal(got, []string{"eu.mail.globex.example", "mail.globex.example", "globex.example"}) {
		t.Errorf("DomainCandidates = %q", got)
	}
}

func TestCheckEmail(t *testing.T) {
	for in, ok := range map[string]bool{
		" Anna.Schmidt@Globex.example ": true,
		"a+tag@x.example":               true,
		"not-an-address":                false,
		"Anna <anna@globex.example>":    false,
		"anna@localhost":                false,
		"a@b@c.example":                 false,
		"":                              false,
		"a b@c.example":                 false,
	} {
		if _, err := CheckEmail(in); (err == nil) != ok {
			t.Errorf("CheckEmail(%q) error = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestSplitName(t *testing.T) {
	for in, want := range map[string][2]string{
		"Anna Schmidt":      {"Anna", "Schmidt"},
		"Schmidt, Anna":     {"Anna", "Schmidt"},
		"Mary Ann van Dijk": {"Mary Ann van", "Dijk"},
		"Cher":              {"", "Cher"},
	} {
		if f, l := splitName(in); f != want[0] || l != want[1] {
			t.Errorf("splitName(%q) = %q, %q; want %q", in, f, l, want)
		}
	}
}

func TestProgressDrawer(t *testing.T) {
	var buf bytes.Buffer
	draw := progressDrawer(&buf)
	draw(0, 200)
	draw(1, 200) // same percent: no redraw
	draw(100, 200)
	draw(200, 200)
	want := "\r[..............................]   0%  0/200 rows" +
		"\r[###############...............]  50%  100/200 rows" +
		"\r[##############################] 100%  200/200 rows\n"
	if buf.String() != want {
		t.Errorf("drawn %q, want %q", buf.String(), want)
	}
	buf.Reset()
	draw(7, 0)
	if buf.String() != "\r7 rows" {
		t.Errorf("unknown total drawn %q", buf.String())
	}
}
