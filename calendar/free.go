package calendar

import (
	"time"
)

// FreeSlots returns the free slots of length slot inside the working hours
// (wall clock in loc, so DST changes move them correctly in UTC) that lie
// within [from, to) and overlap no busy interval. Slots sit on a grid that
// starts at the beginning of each working period (9:00, 9:30, ...); busy
// must be sorted and merged (as stored). Results are in UTC.
func FreeSlots(hours WorkingHours, loc *time.Location, from, to time.Time, busy []Interval, slot time.Duration) []Interval {
	if slot <= 0 || !from.Before(to) {
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	var out []Interval
	// Start a day early: a period that crosses midnight may begin before from.
	lf := from.In(loc)
	day := time.Date(lf.Year(), lf.Month(), lf.Day()-1, 0, 0, 0, 0, loc)
	for ; day.Before(to); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc) {
		for _, p := range hours {
			if p.Weekday != day.Weekday() {
				continue
			}
			ws := wallClock(day, 0, p.Start)
			endDay := 0
			if p.End <= p.Start {
				endDay = 1
			}
			we := wallClock(day, endDay, p.End)
			work := Interval{Start: maxTime(ws, from), End: minTime(we, to)}
			if !work.Start.Before(work.End) {
				continue
			}
			for _, f := range subtract(work, busy) {
				k := (f.Start.Sub(ws) + slot - 1) / slot
				for s := ws.Add(k * slot); !s.Add(slot).After(f.End); s = s.Add(slot) {
					out = append(out, Interval{Start: s.UTC(), End: s.Add(slot).UTC()})
				}
			}
		}
	}
	return out
}

// wallClock returns the time off after local midnight of day+addDays, as
// wall-clock time (17h is 17:00 even on a 23-hour DST day).
func wallClock(day time.Time, addDays int, off time.Duration) time.Time {
	h := int(off / time.Hour)
	m := int(off % time.Hour / time.Minute)
	s := int(off % time.Minute / time.Second)
	return time.Date(day.Year(), day.Month(), day.Day()+addDays, h, m, s, 0, day.Location())
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
