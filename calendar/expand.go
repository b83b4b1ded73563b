package calendar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// maxInstances bounds the recurrence instances generated for one event, so a
// FREQ=SECONDLY rule cannot stall a sync.
const maxInstances = 100_000

// errTooManyInstances is returned (with no event data) when a rule would
// generate more than maxInstances instances before the window ends.
var errTooManyInstances = errors.New("calendar: recurrence expands to too many instances")

// expander turns the VEVENTs of one calendar object resource into busy
// intervals overlapping [from, to).
type expander struct {
	from, to time.Time
	// local is the agent's zone: floating times and DATE values (all-day
	// events) are taken in it.
	local     *time.Location
	vtimezone map[string]*ical.Component
	zones     map[string]*time.Location
	// unknownTZ counts TZIDs that resolved to nothing (local was used).
	unknownTZ int
	// iana caches time.LoadLocation across the objects of a calendar
	// (it reads the zone file each time): name -> zone, nil if unknown.
	iana map[string]*time.Location
}

// loadIANA is time.LoadLocation, cached in x.
func (x *expander) loadIANA(name string) (*time.Location, error) {
	loc, ok := x.iana[name]
	if !ok {
		loc, _ = time.LoadLocation(name)
		if x.iana == nil {
			x.iana = map[string]*time.Location{}
		}
		x.iana[name] = loc
	}
	if loc == nil {
		return nil, errUnknownZone
	}
	return loc, nil
}

// errUnknownZone is loadIANA's answer for a name that is no IANA zone.
var errUnknownZone = errors.New("calendar: unknown time zone")

// busyFromObject returns the busy intervals of one calendar object resource
// (RFC 4791 section 4.1: one UID, a master and its overrides). It reads only
// DTSTART, DTEND, DURATION, RRULE, RDATE, EXDATE, RECURRENCE-ID, TRANSP and
// STATUS, plus the VTIMEZONEs the times refer to.
func (x *expander) busyFromObject(cal *ical.Calendar) ([]Interval, error) {
	x.vtimezone = map[string]*ical.Component{}
	x.zones = map[string]*time.Location{}
	var masters, overrides []*ical.Component
	for _, c := range cal.Children {
		switch c.Name {
		case ical.CompTimezone:
			x.vtimezone[propValue(c, ical.PropTimezoneID)] = c
		case ical.CompEvent:
			if c.Props.Get(ical.PropRecurrenceID) != nil {
				overrides = append(overrides, c)
			} else {
				masters = append(masters, c)
			}
		}
	}
	// RFC 5545 section 3.8.4.4: an override replaces the instance whose
	// original start equals its RECURRENCE-ID, whatever its own status.
	replaced := map[int64]bool{}
	var out []Interval
	for _, o := range overrides {
		rid, _, err := x.parseTime(o.Props.Get(ical.PropRecurrenceID), "")
		if err != nil {
			return nil, err
		}
		replaced[rid.Unix()] = true
		ivs, err := x.expandEvent(o, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ivs...)
	}
	for _, m := range masters {
		ivs, err := x.expandEvent(m, replaced)
		if err != nil {
			return nil, err
		}
		out = append(out, ivs...)
	}
	return out, nil
}

// expandEvent returns the busy instances of one VEVENT; skip lists instance
// starts (Unix seconds) that overrides replace.
func (x *expander) expandEvent(ev *ical.Component, skip map[int64]bool) ([]Interval, error) {
	// RFC 5545 section 3.8.2.7: TRANSPARENT events do not take up time;
	// section 3.8.1.11: CANCELLED events do not happen.
	if strings.EqualFold(strings.TrimSpace(propValue(ev, ical.PropTransparency)), "TRANSPARENT") ||
		strings.EqualFold(strings.TrimSpace(propValue(ev, ical.PropStatus)), "CANCELLED") {
		return nil, nil
	}
	dtstartProp := ev.Props.Get(ical.PropDateTimeStart)
	if dtstartProp == nil {
		return nil, nil // not schedulable (RFC 5545 allows it only with METHOD)
	}
	start, allDay, err := x.parseTime(dtstartProp, "")
	if err != nil {
		return nil, err
	}
	sp, err := x.span(ev, start, allDay)
	if err != nil {
		return nil, err
	}
	var out []Interval
	emit := func(s time.Time, sp span) {
		s = firstOccurrence(s) // a recurrence in a repeated hour, as for DTSTART
		if skip[s.Unix()] {
			return
		}
		if e := sp.end(s); e.After(x.from) && s.Before(x.to) {
			out = append(out, Interval{Start: s, End: e})
		}
	}

	rrules := ev.Props.Values(ical.PropRecurrenceRule)
	rdates := ev.Props.Values(ical.PropRecurrenceDates)
	if len(rrules) == 0 && len(rdates) == 0 {
		emit(start, sp)
		return out, nil
	}

	set := &rrule.Set{}
	set.DTStart(start)
	if len(rrules) > 0 {
		// More than one RRULE is deprecated (RFC 5545 section 3.8.5.3); use the first.
		opt, err := rrule.StrToROptionInLocation(rrules[0].Value, start.Location())
		if err != nil {
			return nil, fmt.Errorf("calendar: invalid RRULE: %w", err)
		}
		opt.Dtstart = start
		r, err := rrule.NewRRule(*opt)
		if err != nil {
			return nil, fmt.Errorf("calendar: invalid RRULE")
		}
		set.RRule(r)
	} else {
		set.RDate(start) // DTSTART is always the first instance
	}
	for i := range rdates {
		p := &rdates[i]
		for _, v := range strings.Split(p.Value, ",") {
			if strings.EqualFold(p.Params.Get(ical.ParamValue), "PERIOD") || strings.Contains(v, "/") {
				s, psp, err := x.parsePeriod(p, v)
				if err != nil {
					return nil, err
				}
				emit(s, psp)
				continue
			}
			t, _, err := x.parseTime(p, v)
			if err != nil {
				return nil, err
			}
			set.RDate(t)
		}
	}
	for _, p := range ev.Props.Values(ical.PropExceptionDates) {
		for _, v := range strings.Split(p.Value, ",") {
			t, _, err := x.parseTime(&p, v)
			if err != nil {
				return nil, err
			}
			set.ExDate(t)
		}
	}
	next := set.Iterator()
	for n := 0; ; n++ {
		if n > maxInstances {
			return nil, errTooManyInstances
		}
		t, ok := next()
		if !ok || !t.Before(x.to) {
			break
		}
		emit(t, sp)
	}
	return out, nil
}

// span is an event's length: nominal days (which follow the local wall
// clock across DST changes) plus exact time (RFC 5545 section 3.3.6).
type span struct {
	days  int
	exact time.Duration
}

func (s span) end(start time.Time) time.Time {
	if s.days != 0 {
		// Nominal days follow the wall clock; AddDate goes through
		// time.Date, so even 0 days would move a start in a repeated
		// fall-back hour to its later occurrence.
		start = firstOccurrence(start.AddDate(0, 0, s.days))
	}
	return start.Add(s.exact)
}

// span returns the length of each instance of ev: DTEND minus DTSTART (the
// same exact duration for every instance, section 3.8.5.3), or DURATION, or
// for no end one day for a DATE start and nothing for a DATE-TIME start
// (section 3.6.1).
func (x *expander) span(ev *ical.Component, start time.Time, allDay bool) (span, error) {
	if p := ev.Props.Get(ical.PropDateTimeEnd); p != nil {
		end, endAllDay, err := x.parseTime(p, "")
		if err != nil {
			return span{}, err
		}
		if allDay && endAllDay {
			return span{days: civilDays(start, end)}, nil
		}
		return span{exact: max(end.Sub(start), 0)}, nil
	}
	if p := ev.Props.Get(ical.PropDuration); p != nil {
		return parseDuration(p.Value)
	}
	if allDay {
		return span{days: 1}, nil
	}
	return span{}, nil
}

// civilDays counts calendar days from a's date to b's date.
func civilDays(a, b time.Time) int {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	return max(int(db.Sub(da)/(24*time.Hour)), 0)
}

// parseDuration parses an RFC 5545 section 3.3.6 DURATION ("PT1H30M",
// "P1D", "P2W", "P1DT12H"). Negative durations count as zero.
func parseDuration(s string) (span, error) {
	bad := fmt.Errorf("calendar: invalid DURATION")
	s = strings.TrimSpace(strings.ToUpper(s))
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return span{}, bad
	}
	s = s[1:]
	var sp span
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			inTime, s = true, s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return span{}, bad
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return span{}, bad
		}
		unit := s[i]
		s = s[i+1:]
		switch {
		case !inTime && unit == 'W':
			sp.days += 7 * n
		case !inTime && unit == 'D':
			sp.days += n
		case inTime && unit == 'H':
			sp.exact += time.Duration(n) * time.Hour
		case inTime && unit == 'M':
			sp.exact += time.Duration(n) * time.Minute
		case inTime && unit == 'S':
			sp.exact += time.Duration(n) * time.Second
		default:
			return span{}, bad
		}
	}
	if neg {
		return span{}, nil
	}
	return sp, nil
}

// parsePeriod parses an RDATE PERIOD value, "start/end" or "start/duration"
// (RFC 5545 section 3.3.9).
func (x *expander) parsePeriod(p *ical.Prop, v string) (time.Time, span, error) {
	a, b, ok := strings.Cut(v, "/")
	if !ok {
		return time.Time{}, span{}, fmt.Errorf("calendar: invalid PERIOD")
	}
	s, _, err := x.parseTime(p, a)
	if err != nil {
		return time.Time{}, span{}, err
	}
	if strings.HasPrefix(b, "P") || strings.HasPrefix(b, "+P") || strings.HasPrefix(b, "-P") {
		sp, err := parseDuration(b)
		return s, sp, err
	}
	e, _, err := x.parseTime(p, b)
	if err != nil {
		return time.Time{}, span{}, err
	}
	return s, span{exact: max(e.Sub(s), 0)}, nil
}

// parseTime parses a DATE or DATE-TIME value of p (or v, one value of a
// list property) per RFC 5545 sections 3.3.4 and 3.3.5: UTC ("Z"), with a
// TZID, or floating (taken in the agent's zone). A DATE is the agent's local
// midnight and reports allDay. Errors never quote the value.
func (x *expander) parseTime(p *ical.Prop, v string) (t time.Time, allDay bool, err error) {
	if p == nil {
		return time.Time{}, false, fmt.Errorf("calendar: missing date-time")
	}
	if v == "" {
		v = p.Value
	}
	v = strings.TrimSpace(v)
	if strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE") || len(v) == 8 {
		t, err := time.ParseInLocation("20060102", v, x.local)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("calendar: invalid DATE value")
		}
		return t, true, nil
	}
	loc := x.local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	} else if tzid := p.Params.Get(ical.PropTimezoneID); tzid != "" {
		loc = x.zone(tzid)
	}
	t, err = time.ParseInLocation("20060102T150405", v, loc)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("calendar: invalid DATE-TIME value")
	}
	return firstOccurrence(t), false, nil
}

// firstOccurrence is t or, when t's wall clock happens twice in its zone
// (the repeated hour of a DST fall-back), the first of the two instants:
// RFC 5545 section 3.3.5 says a local time that occurs twice means its first
// occurrence, while Go's time.Date may pick the later one (it does for
// zones east of UTC: Europe/Berlin 2027-10-31 02:05 came out as 02:05 CET,
// one hour late).
func firstOccurrence(t time.Time) time.Time {
	_, off := t.Zone()
	_, before := t.Add(-3 * time.Hour).Zone()
	if before <= off {
		return t // no fall-back just before t
	}
	c := t.Add(-time.Duration(before-off) * time.Second)
	if _, coff := c.Zone(); coff != before {
		return t
	}
	cy, cm, cd := c.Date()
	ty, tm, td := t.Date()
	if cy == ty && cm == tm && cd == td && c.Hour() == t.Hour() && c.Minute() == t.Minute() && c.Second() == t.Second() {
		return c
	}
	return t
}

func (x *expander) zone(tzid string) *time.Location {
	if loc, ok := x.zones[tzid]; ok {
		return loc
	}
	loc, ok := resolveTZID(tzid, x.vtimezone, x.loadIANA)
	if !ok {
		x.unknownTZ++
		loc = x.local
	}
	x.zones[tzid] = loc
	return loc
}
