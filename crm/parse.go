package crm

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Reasons a CSV value is refused; RowError.Reason starts with one.
var (
	ErrBadNumber = errors.New("bad number")
	ErrBadDate   = errors.New("bad date")
	ErrBadBool   = errors.New("bad true/false value")
)

var (
	thousandsComma = regexp.MustCompile(`^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$`)
	thousandsDot   = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{3})+(,[0-9]*)?$`)
)

// parseNumber reads an amount as spreadsheets and CRM exports write it:
// "1234.5", "1,234.50", "$ 1,234", "1.234,50 €", "EUR 12", "1'000", "(500)"
// for -500. With decimalComma (a ';'-separated file, as a European Excel
// writes) a lone comma is the decimal mark ("12,5"); otherwise "1,234" is
// a thousand two hundred thirty-four. Empty is 0.
func parseNumber(s string, decimalComma bool) (float64, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	neg := false
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		neg, s = true, s[1:len(s)-1]
	}
	// Currency symbols and codes around the number, and group separators
	// that cannot be mistaken for a decimal mark.
	s = strings.TrimFunc(s, func(r rune) bool {
		return unicode.Is(unicode.Sc, r) || unicode.IsSpace(r) || (r >= 'A' && r <= 'Z')
	})
	s = strings.Map(func(r rune) rune {
		if r == '\'' || r == '\u00a0' || r == '\u202f' || r == ' ' || r == '_' {
			return -1
		}
		return r
	}, s)
	if strings.HasPrefix(s, "-") {
		neg, s = !neg, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' }) {
		return 0, fmt.Errorf("%w %q", ErrBadNumber, orig)
	}
	dots, commas := strings.Count(s, "."), strings.Count(s, ",")
	switch {
	case dots > 0 && commas > 0:
		if strings.LastIndexByte(s, ',') > strings.LastIndexByte(s, '.') {
			if !thousandsDot.MatchString(s) {
				return 0, fmt.Errorf("%w %q", ErrBadNumber, orig)
			}
			s = strings.ReplaceAll(strings.ReplaceAll(s, ".", ""), ",", ".")
		} else {
			if !thousandsComma.MatchString(s) {
				return 0, fmt.Errorf("%w %q", ErrBadNumber, orig)
			}
			s = strings.ReplaceAll(s, ",", "")
		}
	case commas == 1 && (decimalComma || !thousandsComma.MatchString(s)):
		s = strings.Replace(s, ",", ".", 1)
	case commas > 0:
		if !thousandsComma.MatchString(s) {
			return 0, fmt.Errorf("%w %q", ErrBadNumber, orig)
		}
		s = strings.ReplaceAll(s, ",", "")
	case dots == 1 && decimalComma && thousandsDot.MatchString(s):
		s = strings.ReplaceAll(s, ".", "") // "1.234" in a European file
	case dots > 1:
		if !thousandsDot.MatchString(s) {
			return 0, fmt.Errorf("%w %q", ErrBadNumber, orig)
		}
		s = strings.ReplaceAll(s, ".", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%w %q", ErrBadNumber, orig)
	}
	if neg {
		f = -f
	}
	return f, nil
}

var isoLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", "2006/01/02"}

// parseDate reads a date as exports write it: ISO 8601 ("2026-03-31",
// with or without a time), "31.03.2026" (day first), and slashed dates,
// month first ("3/31/2026", Salesforce's US locale) unless the first part
// cannot be a month or dayFirst is set (a ';'-separated European file).
// Two-digit years are 20xx. The result is midnight UTC for a bare date.
// Empty is the zero time.
func parseDate(s string, dayFirst bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	date, _, _ := strings.Cut(s, " ") // "3/31/2026 10:00 AM": the date is what counts
	sep := ""
	switch {
	case strings.Count(date, "/") == 2:
		sep = "/"
	case strings.Count(date, ".") == 2:
		sep, dayFirst = ".", true
	case strings.Count(date, "-") == 2:
		sep = "-"
	default:
		return time.Time{}, fmt.Errorf("%w %q", ErrBadDate, s)
	}
	parts := strings.Split(strings.TrimSuffix(date, sep), sep)
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("%w %q", ErrBadDate, s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return time.Time{}, fmt.Errorf("%w %q", ErrBadDate, s)
		}
		n[i] = v
	}
	day, month, year := n[1], n[0], n[2]
	if dayFirst || n[0] > 12 {
		day, month = n[0], n[1]
	}
	if len(parts[2]) == 2 {
		year += 2000
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if month < 1 || month > 12 || day < 1 || t.Day() != day || year < 1000 || year > 9999 {
		return time.Time{}, fmt.Errorf("%w %q", ErrBadDate, s)
	}
	return t, nil
}

// parseBool reads true/false, 1/0, yes/no, y/n, x (a ticked box); empty is false.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no", "n", "f":
		return false, nil
	case "true", "1", "yes", "y", "t", "x":
		return true, nil
	}
	return false, fmt.Errorf("%w %q", ErrBadBool, s)
}

// splitEmails splits a cell holding several addresses.
func splitEmails(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// splitName splits a full name: "Schmidt, Anna" or "Anna Schmidt".
func splitName(s string) (first, last string) {
	s = strings.TrimSpace(s)
	if l, f, ok := strings.Cut(s, ","); ok {
		return strings.TrimSpace(f), strings.TrimSpace(l)
	}
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		return strings.TrimSpace(s[:i]), s[i+1:]
	}
	return "", s
}
