// Package calendar publishes agents' availability as free/busy only.
//
// Sources (CalDAV, Google Calendar) are read for a time window; every event
// is reduced on read to the time it occupies, and everything else about it
// (summary, description, location, attendees, organizer, UID) is dropped
// before it can be stored, logged or sent anywhere. The busy intervals are
// stored per agent, served as JSON with free slots inside working hours,
// published as an RFC 5545 VFREEBUSY feed, and handed to a scheduler Sink.
//
// A source that can tell cheaply whether anything changed (VersionedSource:
// CalDAV CTags) is read for the window plus a day, with the digest of its
// change tokens stored next to the intervals; a later sync that finds the
// same digest, with the stored intervals still covering its window, keeps
// them instead of reading the events again.
package calendar

import (
	"context"
	"slices"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Interval is a half-open span of busy time [Start, End), always in UTC.
type Interval = ticket.Interval

// Source reports the busy time of one agent's calendars. Implementations
// return only intervals: no other event data may leave them.
type Source interface {
	// Busy returns the busy intervals overlapping [from, to), in any order;
	// the caller merges and clips them.
	Busy(ctx context.Context, from, to time.Time) ([]Interval, error)
}

// VersionedSource is a Source that can tell cheaply whether an agent's
// calendars changed since an earlier sync, so the periodic sync keeps the
// stored busy time of unchanged calendars instead of reading them again.
type VersionedSource interface {
	Source
	// Version returns an opaque token that changes whenever any event of
	// the agent's calendars changes (or a calendar is added or removed),
	// or "" when the server offers no such token. It is stored in the
	// database, so it must not carry event data (no href, no UID).
	Version(ctx context.Context) (string, error)
}

// WorkingHours lists the daily working periods of an agent, in the agent's
// local wall-clock time. Start and End are offsets from local midnight
// (9h, 17h); End <= Start means the period ends on the next day.
type WorkingHours []WorkPeriod

// WorkPeriod is one working period on a weekday.
type WorkPeriod struct {
	Weekday    time.Weekday
	Start, End time.Duration
}

// Agent is a person whose availability is published.
type Agent struct {
	ID, Name, Email string
	// Location is the agent's time zone: working hours and all-day events
	// are taken in it. Nil means UTC.
	Location *time.Location
	Hours    WorkingHours
	Source   Source
}

func (a Agent) location() *time.Location {
	if a.Location == nil {
		return time.UTC
	}
	return a.Location
}

// normalize converts intervals to UTC, clips them to [from, to), drops empty
// ones, sorts them and merges overlapping or touching ones.
func normalize(in []Interval, from, to time.Time) []Interval {
	out := make([]Interval, 0, len(in))
	for _, iv := range in {
		s, e := iv.Start.UTC().Truncate(time.Second), iv.End.UTC().Truncate(time.Second)
		if s.Before(from) {
			s = from
		}
		if e.After(to) {
			e = to
		}
		if !s.Before(e) {
			continue
		}
		out = append(out, Interval{Start: s, End: e})
	}
	slices.SortFunc(out, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	merged := out[:0]
	for _, iv := range out {
		if n := len(merged); n > 0 && !iv.Start.After(merged[n-1].End) {
			if iv.End.After(merged[n-1].End) {
				merged[n-1].End = iv.End
			}
			continue
		}
		merged = append(merged, iv)
	}
	return merged
}

// subtract returns the parts of iv not covered by busy (sorted, merged).
func subtract(iv Interval, busy []Interval) []Interval {
	var out []Interval
	cur := iv.Start
	for _, b := range busy {
		if !b.End.After(cur) {
			continue
		}
		if !b.Start.Before(iv.End) {
			break
		}
		if b.Start.After(cur) {
			out = append(out, Interval{Start: cur, End: b.Start})
		}
		cur = b.End
		if !cur.Before(iv.End) {
			return out
		}
	}
	if cur.Before(iv.End) {
		out = append(out, Interval{Start: cur, End: iv.End})
	}
	return out
}
