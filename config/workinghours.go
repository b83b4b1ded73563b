package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WorkingPeriod is one span of working time on a weekday; Start and End are
// offsets from local midnight (End may be 24h).
type WorkingPeriod struct {
	Weekday    time.Weekday
	Start, End time.Duration
}

// WorkingHours is an agent's weekly working time, sorted by weekday (Sunday
// first) and start, without overlaps.
type WorkingHours []WorkingPeriod

// weekdayByName reads "Mon" or "Monday", any case.
func weekdayByName(s string) (time.Weekday, bool) {
	s = strings.ToLower(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if s == full || s == full[:3] {
			return d, true
		}
	}
	return 0, false
}

// ParseWorkingHours parses a weekly schedule: groups separated by ";", each
// a list of days (names like Mon or Monday, ranges like Mon-Fri, also
// wrapping like Sat-Sun; joined with ",") followed by one or more time
// ranges HH:MM-HH:MM (joined with ","). Examples:
//
//	Mon-Fri 09:00-17:00
//	Mon,Wed 10:00-12:00; Fri 09:00-13:00
//	Mon-Thu 09:00-12:00,13:00-17:30
//
// End 24:00 means midnight; a range must not be empty or cross midnight,
// and periods of one day must not overlap.
func ParseWorkingHours(s string) (WorkingHours, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty; want e.g. \"Mon-Fri 09:00-17:00\"")
	}
	var wh WorkingHours
	for group := range strings.SplitSeq(s, ";") {
		group = strings.TrimSpace(group)
		days, times, ok := strings.Cut(group, " ")
		if !ok || strings.TrimSpace(times) == "" {
			return nil, fmt.Errorf("%q: want days then times, e.g. \"Mon-Fri 09:00-17:00\"", group)
		}
		ds, err := parseDays(days)
		if err != nil {
			return nil, err
		}
		for r := range strings.SplitSeq(strings.ReplaceAll(times, " ", ""), ",") {
			start, end, err := parseTimeRange(r)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				wh = append(wh, WorkingPeriod{Weekday: d, Start: start, End: end})
			}
		}
	}
	slices.SortFunc(wh, func(a, b WorkingPeriod) int {
		if a.Weekday != b.Weekday {
			return int(a.Weekday) - int(b.Weekday)
		}
		return int(a.Start - b.Start)
	})
	for i := 1; i < len(wh); i++ {
		if p, q := wh[i-1], wh[i]; p.Weekday == q.Weekday && q.Start < p.End {
			return nil, fmt.Errorf("%s: %s overlaps %s", q.Weekday, fmtSpan(q), fmtSpan(p))
		}
	}
	return wh, nil
}

func parseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	for item := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(item), "-")
		a, ok := weekdayByName(from)
		if !ok {
			return nil, fmt.Errorf("%q is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", from)
		}
		b := a
		if isRange {
			if b, ok = weekdayByName(to); !ok {
				return nil, fmt.Errorf("%q is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			if slices.Contains(out, d) {
				return nil, fmt.Errorf("%q names %s twice", s, d)
			}
			out = append(out, d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

func parseTimeRange(s string) (start, end time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want a time range like 09:00-17:00", s)
	}
	if start, err = parseClock(a); err != nil {
		return 0, 0, err
	}
	if end, err = parseClock(b); err != nil {
		return 0, 0, err
	}
	if end <= start {
		return 0, 0, fmt.Errorf("%q: end is not after start", s)
	}
	return start, end, nil
}

func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil ||
		hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 24:00)", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

func fmtClock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func fmtSpan(p WorkingPeriod) string { return fmtClock(p.Start) + "-" + fmtClock(p.End) }

// String formats the schedule one group per weekday, in a form
// ParseWorkingHours reads back: "Mon 09:00-17:00; Tue 09:00-17:00".
func (wh WorkingHours) String() string {
	var b strings.Builder
	for i, p := range wh {
		switch {
		case i > 0 && wh[i-1].Weekday == p.Weekday:
			b.WriteString(",")
		case i > 0:
			b.WriteString("; ")
			fallthrough
		default:
			b.WriteString(p.Weekday.String()[:3] + " ")
		}
		b.WriteString(fmtSpan(p))
	}
	return b.String()
}

// Contains reports whether t, read in its own location (convert it to the
// agent's Location first), falls in working time. Start is inclusive, End
// exclusive.
func (wh WorkingHours) Contains(t time.Time) bool {
	h, m, sec := t.Clock() // wall clock, so DST days read as printed
	since := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	for _, p := range wh {
		if p.Weekday == t.Weekday() && since >= p.Start && since < p.End {
			return true
		}
	}
	return false
}
