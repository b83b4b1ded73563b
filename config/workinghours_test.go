package config

import (
	"reflect"
	"testing"
	"time"
)

func TestParseWorkingHours(t *testing.T) {
	h := func(hh, mm int) time.Duration { return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute }
	weekdays := func(start, end time.Duration, days ...time.Weekday) WorkingHours {
		var wh WorkingHours
		for _, d := range days {
			wh = append(wh, WorkingPeriod{d, start, end})
		}
		return wh
	}
	tests := []struct {
		in      string
		want    WorkingHours
		wantErr string
	}{
		{"Mon-Fri 09:00-17:00", weekdays(h(9, 0), h(17, 0), time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday), ""},
		{"Mon,Wed 10:00-12:00; Fri 09:00-13:00", WorkingHours{
			{time.Monday, h(10, 0), h(12, 0)}, {time.Wednesday, h(10, 0), h(12, 0)}, {time.Friday, h(9, 0), h(13, 0)}}, ""},
		{"monday 09:00-12:00, 13:00-17:30", WorkingHours{{time.Monday, h(9, 0), h(12, 0)}, {time.Monday, h(13, 0), h(17, 30)}}, ""},
		{"Sat-Sun 20:00-24:00", WorkingHours{{time.Sunday, h(20, 0), h(24, 0)}, {time.Saturday, h(20, 0), h(24, 0)}}, ""},
		{"Fri-Mon 08:00-09:00", weekdays(h(8, 0), h(9, 0), time.Sunday, time.Monday, time.Friday, time.Saturday), ""},
		{"", nil, `empty; want e.g. "Mon-Fri 09:00-17:00"`},
		{"Mon-Fri", nil, `"Mon-Fri": want days then times, e.g. "Mon-Fri 09:00-17:00"`},
		{"Mo-Fr 09:00-17:00", nil, `"Mo" is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)`},
		{"Mon 9:00-17:00", nil, `"9:00" is not a time of day HH:MM (00:00 to 24:00)`},
		{"Mon 09:00-24:30", nil, `"24:30" is not a time of day HH:MM (00:00 to 24:00)`},
		{"Mon 17:00-09:00", nil, `"17:00-09:00": end is not after start`},
		{"Mon 09:00-12:00; Mon 11:00-13:00", nil, `Monday: 11:00-13:00 overlaps 09:00-12:00`},
		{"Mon,Mon 09:00-12:00", nil, `"Mon,Mon" names Monday twice`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWorkingHours(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v; want %v", got, tt.want)
			}
			again, err := ParseWorkingHours(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("String %q does not parse back: %v %v", got.String(), again, err)
			}
		})
	}
}

func TestWorkingHoursContains(t *testing.T) {
	wh, err := ParseWorkingHours("Mon-Fri 09:00-17:00")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	tests := []struct {
		t    time.Time
		want bool
	}{
		{time.Date(2026, 3, 2, 9, 0, 0, 0, berlin), true},   // Monday, start inclusive
		{time.Date(2026, 3, 2, 16, 59, 0, 0, berlin), true}, // Monday
		{time.Date(2026, 3, 2, 17, 0, 0, 0, berlin), false}, // end exclusive
		{time.Date(2026, 3, 7, 10, 0, 0, 0, berlin), false}, // Saturday
		{time.Date(2026, 3, 30, 9, 30, 0, 0, berlin), true}, // Monday after the DST switch
		{time.Date(2026, 3, 29, 10, 0, 0, 0, berlin), false},
	}
	for _, tt := range tests {
		if got := wh.Contains(tt.t); got != tt.want {
			t.Errorf("Contains(%v) = %v; want %v", tt.t, got, tt.want)
		}
	}
}

func FuzzParseWorkingHours(f *testing.F) {
	for _, s := range []string{"Mon-Fri 09:00-17:00", "Mon,Wed 10:00-12:00; Fri 09:00-13:00", "Sat-Sun 00:00-24:00", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wh, err := ParseWorkingHours(s)
		if err != nil {
			return
		}
		again, err := ParseWorkingHours(wh.String())
		if err != nil || !reflect.DeepEqual(again, wh) {
			t.Fatalf("%q: String %q does not parse back: %v", s, wh.String(), err)
		}
	})
}
