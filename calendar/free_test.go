package calendar

import (
	"testing"
	"time"
)

func weekdays(start, end time.Duration) WorkingHours {
	var h WorkingHours
	for d := time.Monday; d <= time.Friday; d++ {
		h = append(h, WorkPeriod{Weekday: d, Start: start, End: end})
	}
	return h
}

func slotsFrom(first string, n int, step time.Duration) []Interval {
	var out []Interval
	s := utc(first)
	for range n {
		out = append(out, Interval{Start: s, End: s.Add(step)})
		s = s.Add(step)
	}
	return out
}

func TestFreeSlots(t *testing.T) {
	cat := func(parts ...[]Interval) []Interval {
		var out []Interval
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name     string
		hours    WorkingHours
		zone     string
		from, to string
		busy     []Interval
		slot     time.Duration
		want     []Interval
	}{
		{"berlin across spring DST: Fri CET, weekend off, Mon CEST", weekdays(9*time.Hour, 17*time.Hour), "Europe/Berlin",
			"2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z", nil, 4 * time.Hour,
			cat(slotsFrom("2026-03-27T08:00:00Z", 2, 4*time.Hour), slotsFrom("2026-03-30T07:00:00Z", 2, 4*time.Hour))},
		{"new york across spring DST", weekdays(9*time.Hour, 17*time.Hour), "America/New_York",
			"2026-03-06T00:00:00Z", "2026-03-10T00:00:00Z", nil, 8 * time.Hour,
			[]Interval{iv("2026-03-06T14:00:00Z", "2026-03-06T22:00:00Z"), iv("2026-03-09T13:00:00Z", "2026-03-09T21:00:00Z")}},
		{"berlin autumn DST", weekdays(9*time.Hour, 10*time.Hour), "Europe/Berlin",
			"2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z", nil, time.Hour,
			[]Interval{iv("2026-10-23T07:00:00Z", "2026-10-23T08:00:00Z"), iv("2026-10-26T08:00:00Z", "2026-10-26T09:00:00Z")}},
		{"busy cuts slots on the grid", weekdays(9*time.Hour, 12*time.Hour), "UTC",
			"2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z",
			[]Interval{iv("2026-03-02T09:40:00Z", "2026-03-02T10:10:00Z"), iv("2026-03-02T11:30:00Z", "2026-03-02T13:00:00Z")},
			30 * time.Minute,
			[]Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T09:30:00Z"), iv("2026-03-02T10:30:00Z", "2026-03-02T11:00:00Z"),
				iv("2026-03-02T11:00:00Z", "2026-03-02T11:30:00Z")}},
		{"range starts mid-period", weekdays(9*time.Hour, 11*time.Hour), "UTC",
			"2026-03-02T09:45:00Z", "2026-03-02T12:00:00Z", nil, 30 * time.Minute,
			[]Interval{iv("2026-03-02T10:00:00Z", "2026-03-02T10:30:00Z"), iv("2026-03-02T10:30:00Z", "2026-03-02T11:00:00Z")}},
		{"night shift crosses midnight", WorkingHours{{Weekday: time.Sunday, Start: 22 * time.Hour, End: 2 * time.Hour}}, "Europe/Berlin",
			"2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z", nil, 2 * time.Hour,
			[]Interval{iv("2026-03-01T21:00:00Z", "2026-03-01T23:00:00Z"), iv("2026-03-01T23:00:00Z", "2026-03-02T01:00:00Z")}},
		{"fully busy", weekdays(9*time.Hour, 17*time.Hour), "UTC",
			"2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z", []Interval{iv("2026-03-02T08:00:00Z", "2026-03-02T18:00:00Z")}, 30 * time.Minute, nil},
		{"no working hours", nil, "UTC", "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z", nil, time.Hour, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FreeSlots(tc.hours, mustLoc(t, tc.zone), utc(tc.from), utc(tc.to), tc.busy, tc.slot)
			assertIntervals(t, got, tc.want)
		})
	}
}

func TestNormalizeAndSubtract(t *testing.T) {
	from, to := utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z")
	got := normalize([]Interval{
		iv("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"),
		iv("2026-03-01T22:00:00Z", "2026-03-02T01:00:00Z"), // clipped
		iv("2026-03-02T10:30:00Z", "2026-03-02T12:00:00Z"), // overlaps
		iv("2026-03-02T12:00:00Z", "2026-03-02T12:30:00Z"), // touches
		iv("2026-03-02T15:00:00Z", "2026-03-02T15:00:00Z"), // empty
		iv("2026-03-02T23:00:00Z", "2026-03-03T02:00:00Z"), // clipped
	}, from, to)
	assertIntervals(t, got, []Interval{
		iv("2026-03-02T00:00:00Z", "2026-03-02T01:00:00Z"),
		iv("2026-03-02T10:00:00Z", "2026-03-02T12:30:00Z"),
		iv("2026-03-02T23:00:00Z", "2026-03-03T00:00:00Z"),
	})
	assertIntervals(t, subtract(Interval{Start: from, End: to}, got), []Interval{
		iv("2026-03-02T01:00:00Z", "2026-03-02T10:00:00Z"),
		iv("2026-03-02T12:30:00Z", "2026-03-02T23:00:00Z"),
	})
}
