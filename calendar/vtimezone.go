package calendar

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// resolveTZID maps an iCalendar TZID (RFC 5545 section 3.2.19) to a
// location: an IANA name first (what nearly every client sends), then the
// VTIMEZONE of the same object (section 3.6.5; Exchange sends Windows names
// such as "W. Europe Standard Time" with one), then an IANA name at the end
// of a prefixed TZID ("/mozilla.org/20050126_1/Europe/Berlin"). It reports
// false when none of these works.
// load is time.LoadLocation or a cache in front of it.
func resolveTZID(tzid string, vtimezones map[string]*ical.Component, load func(string) (*time.Location, error)) (*time.Location, bool) {
	if tzid == "" || strings.EqualFold(tzid, "Local") {
		return nil, false
	}
	if loc, err := load(tzid); err == nil {
		return loc, true
	}
	if c := vtimezones[tzid]; c != nil {
		if loc, err := locationFromVTIMEZONE(tzid, c); err == nil {
			return loc, true
		}
	}
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	for n := 3; n >= 2; n-- {
		if len(parts) > n {
			if loc, err := load(strings.Join(parts[len(parts)-n:], "/")); err == nil {
				return loc, true
			}
		}
	}
	return nil, false
}

type tzTransition struct {
	when   int64 // Unix seconds of the onset
	offset int   // UTC offset in seconds from the onset on
	dst    bool
	name   string
	from   int // UTC offset before the onset
}

// vtzHorizon bounds how far observance rules are expanded.
var vtzHorizon = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// locationFromVTIMEZONE builds a *time.Location from the STANDARD and
// DAYLIGHT observances of a VTIMEZONE (RFC 5545 section 3.6.5) by
// expanding their onsets and encoding them as TZif data (RFC 8536), which
// the time package loads like any IANA zone. Go's own zone lookup then does
// the DST arithmetic, and rrule-go can expand recurrences in it.
func locationFromVTIMEZONE(tzid string, vtz *ical.Component) (*time.Location, error) {
	var trans []tzTransition
	for _, obs := range vtz.Children {
		if obs.Name != ical.CompTimezoneStandard && obs.Name != ical.CompTimezoneDaylight {
			continue
		}
		from, err := parseUTCOffset(propValue(obs, ical.PropTimezoneOffsetFrom))
		if err != nil {
			return nil, err
		}
		to, err := parseUTCOffset(propValue(obs, ical.PropTimezoneOffsetTo))
		if err != nil {
			return nil, err
		}
		// DTSTART of an observance is a local time in the offset that was in
		// effect before the onset (TZOFFSETFROM); parse it as wall clock.
		start, err := time.ParseInLocation("20060102T150405", propValue(obs, ical.PropDateTimeStart), time.UTC)
		if err != nil {
			return nil, fmt.Errorf("calendar: VTIMEZONE observance DTSTART: %w", err)
		}
		name := propValue(obs, ical.PropTimezoneName)
		if name == "" {
			name = formatOffset(to)
		}
		add := func(wall time.Time) {
			trans = append(trans, tzTransition{when: wall.Unix() - int64(from), offset: to, dst: obs.Name == ical.CompTimezoneDaylight, name: name, from: from})
		}
		onsets := []time.Time{start}
		if p := obs.Props.Get(ical.PropRecurrenceRule); p != nil {
			opt, err := rrule.StrToROptionInLocation(p.Value, time.UTC)
			if err != nil {
				return nil, fmt.Errorf("calendar: VTIMEZONE RRULE: %w", err)
			}
			// Observances often start in 1601 (Exchange) or 1970; rrule-go
			// gives up long before the present when started that early, so
			// expand yearly rules from 1970 on (earlier times are moot here).
			rs := start
			if rs.Year() < 1970 && opt.Freq == rrule.YEARLY && opt.Interval <= 1 {
				rs = time.Date(1970, rs.Month(), rs.Day(), rs.Hour(), rs.Minute(), rs.Second(), 0, time.UTC)
			}
			opt.Dtstart = rs
			r, err := rrule.NewRRule(*opt)
			if err != nil {
				return nil, fmt.Errorf("calendar: VTIMEZONE RRULE: %w", err)
			}
			onsets = r.Between(rs, vtzHorizon, true)
			if len(onsets) > 2000 {
				onsets = onsets[:2000]
			}
		}
		for _, rd := range obs.Props.Values(ical.PropRecurrenceDates) {
			for _, v := range strings.Split(rd.Value, ",") {
				if t, err := time.ParseInLocation("20060102T150405", v, time.UTC); err == nil {
					onsets = append(onsets, t)
				}
			}
		}
		for _, o := range onsets {
			add(o)
		}
	}
	if len(trans) == 0 {
		return nil, fmt.Errorf("calendar: VTIMEZONE without observances")
	}
	slices.SortFunc(trans, func(a, b tzTransition) int { return int(a.when - b.when) })
	trans = slices.CompactFunc(trans, func(a, b tzTransition) bool { return a.when == b.when })
	return time.LoadLocationFromTZData(tzid, tzif(trans))
}

// tzif encodes transitions as TZif version 2 data (RFC 8536): an empty
// version 1 block, then the 64-bit block the time package reads.
func tzif(trans []tzTransition) []byte {
	type ttinfo struct {
		offset int
		dst    bool
		name   string
	}
	first := ttinfo{offset: trans[0].from, name: formatOffset(trans[0].from)}
	types := []ttinfo{first}
	index := func(t ttinfo) byte {
		if i := slices.Index(types, t); i >= 0 {
			return byte(i)
		}
		types = append(types, t)
		return byte(len(types) - 1)
	}
	idx := make([]byte, len(trans))
	for i, tr := range trans {
		idx[i] = index(ttinfo{offset: tr.offset, dst: tr.dst, name: tr.name})
		if len(types) > 250 {
			trans, idx = trans[:i], idx[:i]
			types = types[:250]
			break
		}
	}
	var chars bytes.Buffer
	nameAt := make([]byte, len(types))
	for i, t := range types {
		nameAt[i] = byte(chars.Len())
		chars.WriteString(t.name)
		chars.WriteByte(0)
	}
	var b bytes.Buffer
	header := func(timecnt, typecnt, charcnt int) {
		b.WriteString("TZif2")
		b.Write(make([]byte, 15))
		for _, n := range []int{0, 0, 0, timecnt, typecnt, charcnt} {
			_ = binary.Write(&b, binary.BigEndian, uint32(n))
		}
	}
	header(0, 0, 0) // version 1 block: empty, skipped by readers of v2
	header(len(trans), len(types), chars.Len())
	for _, tr := range trans {
		_ = binary.Write(&b, binary.BigEndian, tr.when)
	}
	b.Write(idx)
	for i, t := range types {
		_ = binary.Write(&b, binary.BigEndian, int32(t.offset))
		if t.dst {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
		b.WriteByte(nameAt[i])
	}
	b.Write(chars.Bytes())
	return b.Bytes()
}

// parseUTCOffset parses an RFC 5545 section 3.3.14 UTC-OFFSET ("+0100",
// "-0530", "+013000") into seconds.
func parseUTCOffset(s string) (int, error) {
	if len(s) != 5 && len(s) != 7 || (s[0] != '+' && s[0] != '-') {
		return 0, fmt.Errorf("calendar: invalid UTC offset")
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[3:5])
	sec := 0
	var err3 error
	if len(s) == 7 {
		sec, err3 = strconv.Atoi(s[5:7])
	}
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("calendar: invalid UTC offset")
	}
	off := h*3600 + m*60 + sec
	if s[0] == '-' {
		off = -off
	}
	return off, nil
}

func formatOffset(sec int) string {
	sign := '+'
	if sec < 0 {
		sign, sec = '-', -sec
	}
	return fmt.Sprintf("%c%02d%02d", sign, sec/3600, sec/60%60)
}

func propValue(c *ical.Component, name string) string {
	if p := c.Props.Get(name); p != nil {
		return p.Value
	}
	return ""
}
