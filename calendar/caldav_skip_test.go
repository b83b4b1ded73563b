package calendar

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

// requestCounter is an http.RoundTripper that counts requests by method and
// URL path.
type requestCounter struct {
	mu   sync.Mutex
	n    map[string]int
	next http.RoundTripper
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[req.Method+" "+req.URL.Path]++
	c.n[req.Method]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

// take returns the counts since the last take.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// TestCalDAVSkipsUnchangedCalendars: the periodic sync asks each calendar
// for its CTag and sends no REPORT for one that has not changed, keeping its
// stored intervals (also in a new process on the same database); a changed
// calendar is read again (the new busy time present, the removed time gone),
// and so is an unchanged one once the stored intervals stop covering the
// window.
func TestCalDAVSkipsUnchangedCalendars(t *testing.T) {
	rad := testenv.StartRadicale(t, "dave", "erin")
	paths := map[string]string{}
	for _, u := range []string{"dave", "erin"} {
		p, err := rad.MakeCalendar(u, "work")
		if err != nil {
			t.Fatal(err)
		}
		paths[u] = p
		for i, day := range []string{"02", "03"} {
			ev := caltest.Event(fmt.Sprintf("%s-%d", u, i), []string{"DTSTART:202603" + day + "T090000Z", "DTEND:202603" + day + "T100000Z"})
			if err := rad.Put(u, p, fmt.Sprintf("%s-%d.ics", u, i), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	db, _ := openTestDB(t)
	counter := &requestCounter{n: map[string]int{}, next: http.DefaultTransport}
	var clockMu sync.Mutex
	now := utc("2026-03-01T00:00:00Z")
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	newService := func() *Service {
		var agents []Agent
		for _, u := range []string{"dave", "erin"} {
			src, err := NewCalDAV(CalDAVOptions{URL: rad.URL + "/", Username: u,
				Password:   func(context.Context) (string, error) { return rad.Password(u), nil },
				HTTPClient: &http.Client{Transport: counter}})
			if err != nil {
				t.Fatal(err)
			}
			agents = append(agents, Agent{ID: u, Source: src})
		}
		svc, err := New(Options{Store: db, Agents: agents, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := newService()
	before := []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), iv("2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z")}
	moved := []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), iv("2026-03-04T11:00:00Z", "2026-03-04T12:00:00Z")}
	steps := []struct {
		name      string
		change    func()
		reports   []string // agents whose calendar gets a REPORT
		unchanged int
		want      map[string][]Interval
	}{
		{"first sync reads everything", nil, []string{"dave", "erin"}, 0,
			map[string][]Interval{"dave": before, "erin": before}},
		{"nothing changed: no REPORT", nil, nil, 2,
			map[string][]Interval{"dave": before, "erin": before}},
		{"a new process on the same database: no REPORT", func() { svc = newService() }, nil, 2,
			map[string][]Interval{"dave": before, "erin": before}},
		{"dave moves an event: only dave is read", func() {
			ev := caltest.Event("dave-1", []string{"DTSTART:20260304T110000Z", "DTEND:20260304T120000Z"})
			if err := rad.Put("dave", paths["dave"], "dave-1.ics", ev); err != nil {
				t.Fatal(err)
			}
		}, []string{"dave"}, 1, map[string][]Interval{"dave": moved, "erin": before}},
		{"the window moved past the stored coverage: read again", func() {
			clockMu.Lock()
			now = now.Add(coverMargin + time.Hour)
			clockMu.Unlock()
		}, []string{"dave", "erin"}, 0, map[string][]Interval{"dave": moved, "erin": before}},
		{"and kept again after that", nil, nil, 2, map[string][]Interval{"dave": moved, "erin": before}},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		counter.take()
		rep, err := svc.SyncOnce(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		n := counter.take()
		if rep.Unchanged != st.unchanged || rep.Failed != 0 {
			t.Errorf("%s: report %+v, want %d unchanged", st.name, rep, st.unchanged)
		}
		if n["REPORT"] != len(st.reports) {
			t.Errorf("%s: %d REPORTs, want %d (%v)", st.name, n["REPORT"], len(st.reports), n)
		}
		for _, u := range st.reports {
			if n["REPORT "+paths[u]] != 1 {
				t.Errorf("%s: no REPORT for %s (%v)", st.name, u, n)
			}
		}
		if n["PROPFIND"] == 0 {
			t.Errorf("%s: no change-token PROPFIND (%v)", st.name, n)
		}
		for u, want := range st.want {
			sb, err := svc.st.StoredBusy(t.Context(), svc.tenant, u, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
			if err != nil {
				t.Fatal(err)
			}
			t.Run(strings.ReplaceAll(st.name, " ", "_")+"/"+u, func(t *testing.T) { assertIntervals(t, sb.Busy, want) })
		}
		for _, as := range svc.Status() {
			if as.LastError != "" || !as.LastSync.Equal(clock()) || as.Intervals != len(st.want[as.AgentID]) {
				t.Errorf("%s: status %+v", st.name, as)
			}
		}
	}
}
