package testenv

import (
	"net/http"
	"strings"
	"testing"
)

const radicaleEvent = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

func TestRadicale(t *testing.T) {
	r := StartRadicale(t, "alice", "bob:pw2")
	if r.Password("bob") != "pw2" || r.Password("alice") != "alice-secret" {
		t.Fatalf("passwords: %q %q", r.Password("alice"), r.Password("bob"))
	}
	cal, err := r.MakeCalendar("alice", "work")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put("alice", cal, "e1.ics", []byte(radicaleEvent)); err != nil {
		t.Fatal(err)
	}
	seeded, err := r.SeedCalendar("alice", "seeded", map[string][]byte{"s1.ics": []byte(strings.ReplaceAll(radicaleEvent, "UID:e1", "UID:s1"))})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, path string
		want             int
		body             string
	}{
		{"own object", "alice", cal + "e1.ics", http.StatusOK, "UID:e1"},
		{"seeded object", "alice", seeded + "s1.ics", http.StatusOK, "UID:s1"},
		{"owner only", "bob", cal + "e1.ics", http.StatusForbidden, ""},
		{"missing", "alice", cal + "nope.ics", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := r.Do(tc.user, "GET", tc.path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.want || !strings.Contains(string(body), tc.body) {
				t.Fatalf("GET %s as %s: %d %q, want %d containing %q", tc.path, tc.user, code, body, tc.want, tc.body)
			}
		})
	}
}
