package calendar

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func iv(a, b string) Interval { return Interval{Start: utc(a), End: utc(b)} }

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// windowsVTZ is how Exchange sends Berlin time: a Windows name and rules.
const windowsVTZ = "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n" +
	"BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n" +
	"BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n" +
	"END:VTIMEZONE\r\n"

// busyInBerlin expands one event (its VEVENT props, extra components) for
// an agent in Europe/Berlin over [from, to).
func busyInBerlin(t *testing.T, from, to time.Time, props []string, extra ...string) (*expander, []Interval) {
	t.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader(caltest.Event("x", props, extra...))).Decode()
	if err != nil {
		t.Fatal(err)
	}
	x := &expander{from: from, to: to, local: mustLoc(t, "Europe/Berlin")}
	got, err := x.busyFromObject(cal)
	if err != nil {
		t.Fatal(err)
	}
	return x, got
}

func TestBusyFromObject(t *testing.T) {
	from, to := utc("2026-03-01T00:00:00Z"), utc("2026-04-01T00:00:00Z")
	tests := []struct {
		name  string
		props []string
		extra []string
		want  []Interval
	}{
		{"utc single", []string{"DTSTART:20260302T090000Z", "DTEND:20260302T100000Z"},
			nil, []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")}},
		{"floating is agent zone", []string{"DTSTART:20260302T090000", "DTEND:20260302T100000"},
			nil, []Interval{iv("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z")}},
		{"duration", []string{"DTSTART:20260302T090000Z", "DURATION:PT1H30M"},
			nil, []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:30:00Z")}},
		{"nominal day across DST", []string{"DTSTART;TZID=Europe/Berlin:20260328T120000", "DURATION:P1D"},
			nil, []Interval{iv("2026-03-28T11:00:00Z", "2026-03-29T10:00:00Z")}},
		{"no end is instant", []string{"DTSTART:20260302T090000Z"}, nil, nil},
		{"all-day default one day", []string{"DTSTART;VALUE=DATE:20260305"},
			nil, []Interval{iv("2026-03-04T23:00:00Z", "2026-03-05T23:00:00Z")}},
		{"all-day two days over DST", []string{"DTSTART;VALUE=DATE:20260328", "DTEND;VALUE=DATE:20260330"},
			nil, []Interval{iv("2026-03-27T23:00:00Z", "2026-03-29T22:00:00Z")}},
		{"transparent", []string{"DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", "TRANSP:TRANSPARENT"}, nil, nil},
		{"cancelled", []string{"DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", "STATUS:CANCELLED"}, nil, nil},
		{"clipped before window kept", []string{"DTSTART:20260228T230000Z", "DTEND:20260301T010000Z"},
			nil, []Interval{iv("2026-02-28T23:00:00Z", "2026-03-01T01:00:00Z")}},
		{"outside window", []string{"DTSTART:20260402T090000Z", "DTEND:20260402T100000Z"}, nil, nil},
		{"windows tzid via VTIMEZONE across DST", []string{
			"DTSTART;TZID=W. Europe Standard Time:20260327T090000", "DTEND;TZID=W. Europe Standard Time:20260327T100000",
			"RRULE:FREQ=DAILY;COUNT=3"},
			[]string{windowsVTZ}, []Interval{
				iv("2026-03-27T08:00:00Z", "2026-03-27T09:00:00Z"),
				iv("2026-03-28T08:00:00Z", "2026-03-28T09:00:00Z"),
				iv("2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")}},
		{"prefixed tzid", []string{"DTSTART;TZID=/mozilla.org/20050126_1/America/New_York:20260306T090000", "DURATION:PT1H"},
			nil, []Interval{iv("2026-03-06T14:00:00Z", "2026-03-06T15:00:00Z")}},
		{"rrule with exdate list and rdate period", []string{
			"DTSTART;TZID=America/New_York:20260306T090000", "DTEND;TZID=America/New_York:20260306T100000",
			"RRULE:FREQ=DAILY;UNTIL=20260309T140000Z",
			"EXDATE;TZID=America/New_York:20260307T090000,20260309T090000",
			"RDATE;VALUE=PERIOD:20260320T120000Z/PT2H"},
			nil, []Interval{
				iv("2026-03-06T14:00:00Z", "2026-03-06T15:00:00Z"),
				iv("2026-03-08T13:00:00Z", "2026-03-08T14:00:00Z"),
				iv("2026-03-20T12:00:00Z", "2026-03-20T14:00:00Z")}},
		{"rdate without rrule keeps dtstart", []string{
			"DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", "RDATE:20260303T090000Z,20260304T090000Z"},
			nil, []Interval{
				iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
				iv("2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z"),
				iv("2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z")}},
		{"all-day weekly until date", []string{
			"DTSTART;VALUE=DATE:20260302", "DTEND;VALUE=DATE:20260303", "RRULE:FREQ=WEEKLY;UNTIL=20260316"},
			nil, []Interval{
				iv("2026-03-01T23:00:00Z", "2026-03-02T23:00:00Z"),
				iv("2026-03-08T23:00:00Z", "2026-03-09T23:00:00Z"),
				iv("2026-03-15T23:00:00Z", "2026-03-16T23:00:00Z")}},
		{"overrides move, cancel, make transparent and opaque", []string{
			"DTSTART;TZID=Europe/Berlin:20260302T100000", "DTEND;TZID=Europe/Berlin:20260302T110000",
			"RRULE:FREQ=WEEKLY;COUNT=5"},
			[]string{
				"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260309T100000\r\nDTSTART;TZID=Europe/Berlin:20260310T140000\r\nDTEND;TZID=Europe/Berlin:20260310T150000\r\nEND:VEVENT\r\n",
				"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260316T090000Z\r\nDTSTART;TZID=Europe/Berlin:20260316T100000\r\nDTEND;TZID=Europe/Berlin:20260316T110000\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n",
				"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260323T100000\r\nDTSTART;TZID=Europe/Berlin:20260323T100000\r\nDTEND;TZID=Europe/Berlin:20260323T110000\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n",
			}, []Interval{
				iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
				iv("2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z"),
				iv("2026-03-30T08:00:00Z", "2026-03-30T09:00:00Z")}},
		{"transparent master, opaque override", []string{
			"DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", "RRULE:FREQ=DAILY;COUNT=3", "TRANSP:TRANSPARENT"},
			[]string{"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260303T090000Z\r\nDTSTART:20260303T120000Z\r\nDTEND:20260303T130000Z\r\nEND:VEVENT\r\n"},
			[]Interval{iv("2026-03-03T12:00:00Z", "2026-03-03T13:00:00Z")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, got := busyInBerlin(t, from, to, tc.props, tc.extra...)
			assertIntervals(t, normalize(got, from.Add(-48*time.Hour), to), tc.want)
			if x.unknownTZ != 0 {
				t.Errorf("unknown TZIDs: %d", x.unknownTZ)
			}
		})
	}
}

func TestBusyFromObjectErrors(t *testing.T) {
	from, to := utc("2026-03-01T00:00:00Z"), utc("2026-04-01T00:00:00Z")
	tests := []struct {
		name  string
		props []string
		want  error
	}{
		{"too dense", []string{"DTSTART:20200101T000000Z", "DURATION:PT1S", "RRULE:FREQ=SECONDLY"}, errTooManyInstances},
		{"bad date", []string{"DTSTART:2026XX02T090000Z-CANARY", "DURATION:PT1H"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cal, err := ical.NewDecoder(bytes.NewReader(caltest.Event("x", tc.props))).Decode()
			if err != nil {
				t.Fatal(err)
			}
			x := &expander{from: from, to: to, local: time.UTC}
			_, err = x.busyFromObject(cal)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "CANARY") {
				t.Fatalf("error quotes event data: %v", err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want span
		ok   bool
	}{
		{"PT1H30M", span{exact: 90 * time.Minute}, true},
		{"P1DT12H", span{days: 1, exact: 12 * time.Hour}, true},
		{"P2W", span{days: 14}, true},
		{"-PT1H", span{}, true},
		{"PT15S", span{exact: 15 * time.Second}, true},
		{"P", span{}, false},
		{"1H", span{}, false},
		{"PT1D", span{}, false},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func assertIntervals(t *testing.T, got, want []Interval) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d intervals %v, want %d %v", len(got), fmtIvs(got), len(want), fmtIvs(want))
	}
	for i := range got {
		if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
			t.Fatalf("interval %d: got %v, want %v (all: %v)", i, fmtIvs(got[i:i+1]), fmtIvs(want[i:i+1]), fmtIvs(got))
		}
	}
}

func fmtIvs(ivs []Interval) string {
	var b strings.Builder
	for _, x := range ivs {
		b.WriteString("[" + x.Start.UTC().Format(time.RFC3339) + " " + x.End.UTC().Format(time.RFC3339) + "] ")
	}
	return b.String()
}

// TestFallBackRepeatedHourIsFirst: a local time that happens twice at a DST
// fall-back is its first occurrence (RFC 5545 section 3.3.5), for DTSTART
// and for recurrences; times next to the repeated hour are left alone.
func TestFallBackRepeatedHourIsFirst(t *testing.T) {
	from, to := utc("2027-10-25T00:00:00Z"), utc("2027-11-05T00:00:00Z")
	tests := []struct {
		name  string
		props []string
		want  []Interval
	}{
		{"berlin 02:05 on fall-back day", []string{
			"DTSTART;TZID=Europe/Berlin:20271031T020500", "DTEND;TZID=Europe/Berlin:20271031T023500"},
			// 02:05 CEST (UTC+2), not 02:05 CET one hour later.
			[]Interval{iv("2027-10-31T00:05:00Z", "2027-10-31T00:35:00Z")}},
		{"daily at 02:30 across fall-back", []string{
			"DTSTART;TZID=Europe/Berlin:20271030T023000", "DURATION:PT15M", "RRULE:FREQ=DAILY;COUNT=3"},
			[]Interval{
				iv("2027-10-30T00:30:00Z", "2027-10-30T00:45:00Z"),
				iv("2027-10-31T00:30:00Z", "2027-10-31T00:45:00Z"),
				iv("2027-11-01T01:30:00Z", "2027-11-01T01:45:00Z")}},
		{"03:30 after the repeated hour is unique", []string{
			"DTSTART;TZID=Europe/Berlin:20271031T033000", "DURATION:PT15M"},
			[]Interval{iv("2027-10-31T02:30:00Z", "2027-10-31T02:45:00Z")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := busyInBerlin(t, from, to, tc.props)
			assertIntervals(t, got, tc.want)
		})
	}
	// West of UTC too: 01:30 EDT (UTC-4), the first of the two.
	ny := mustLoc(t, "America/New_York")
	if got := firstOccurrence(time.Date(2027, 11, 7, 1, 30, 0, 0, ny)); !got.Equal(utc("2027-11-07T05:30:00Z")) {
		t.Errorf("new york 01:30 on fall-back day = %v, want 05:30Z (EDT)", got.UTC())
	}
}
