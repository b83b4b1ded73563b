package calendar

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
)

// recorder is an http.RoundTripper that keeps every outbound request body.
type recorder struct {
	mu     sync.Mutex
	bodies bytes.Buffer
	next   http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.bodies.WriteString(req.Method + " " + req.URL.String() + "\n")
		r.bodies.Write(b)
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return r.next.RoundTrip(req)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies.String()
}

// openTestDB opens a migrated store and gives its database file's path.
func openTestDB(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sidedesk.db")
	st, err := store.Open(context.Background(), store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, path
}

// scenario is one event of the Radicale test: its content lines and the
// components that follow it (overrides) or precede it (VTIMEZONE).
type scenario struct {
	name  string
	props []string
	extra []string
}

// canaries plants unique strings in every privacy-relevant property.
func canaries(n int) (uid string, props []string) {
	c := func(what string) string { return fmt.Sprintf("CANARY%s%02dZQX", what, n) }
	return c("UID"), []string{
		"SUMMARY:" + c("SUMMARY"),
		"DESCRIPTION:" + c("DESCRIPTION"),
		"LOCATION:" + c("LOCATION"),
		"ORGANIZER;CN=" + c("ORGNAME") + ":mailto:" + c("ORGANIZER") + "@example.com",
		"ATTENDEE;CN=" + c("ATTNAME") + ":mailto:" + c("ATTENDEE") + "@example.com",
	}
}

func override(n int, lines ...string) string {
	uid, priv := canaries(n)
	return "BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20260101T000000Z\r\n" + strings.Join(append(priv, lines...), "\r\n") + "\r\nEND:VEVENT\r\n"
}

// TestCalDAVRadicaleScenarios syncs an agent whose Radicale calendar holds
// every case of issue 5 and checks the exact busy intervals, then proves
// that no canary of any event reached the database file, the logs, any
// outbound request body or the sink.
func TestCalDAVRadicaleScenarios(t *testing.T) {
	rad := testenv.StartRadicale(t, "alice")
	calPath, err := rad.MakeCalendar("alice", "work")
	if err != nil {
		t.Fatal(err)
	}
	// The window is 2026-03-01 .. 2026-03-31: America/New_York springs
	// forward on 8 March, Europe/Berlin on 29 March.
	events := []scenario{
		{"weekly with one moved and one cancelled occurrence", []string{
			"DTSTART;TZID=Europe/Berlin:20260302T100000", "DTEND;TZID=Europe/Berlin:20260302T110000",
			"RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE;TZID=Europe/Berlin:20260316T100000"},
			[]string{
				override(0, "RECURRENCE-ID;TZID=Europe/Berlin:20260309T100000",
					"DTSTART;TZID=Europe/Berlin:20260310T140000", "DTEND;TZID=Europe/Berlin:20260310T150000"),
				override(0, "RECURRENCE-ID;TZID=Europe/Berlin:20260323T100000",
					"DTSTART;TZID=Europe/Berlin:20260323T100000", "DTEND;TZID=Europe/Berlin:20260323T110000", "STATUS:CANCELLED"),
			}},
		{"all-day", []string{"DTSTART;VALUE=DATE:20260305", "DTEND;VALUE=DATE:20260306"}, nil},
		{"transparent", []string{"DTSTART:20260311T090000Z", "DTEND:20260311T100000Z", "TRANSP:TRANSPARENT"}, nil},
		{"cancelled", []string{"DTSTART:20260312T090000Z", "DTEND:20260312T100000Z", "STATUS:CANCELLED"}, nil},
		{"new york daily across its DST change", []string{
			"DTSTART;TZID=America/New_York:20260306T090000", "DTEND;TZID=America/New_York:20260306T100000",
			"RRULE:FREQ=DAILY;COUNT=4"}, nil},
		{"berlin daily across its DST change", []string{
			"DTSTART;TZID=Europe/Berlin:20260327T140000", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=4"}, nil},
		{"spanning midnight", []string{
			"DTSTART;TZID=Europe/Berlin:20260313T220000", "DTEND;TZID=Europe/Berlin:20260314T020000"}, nil},
		{"exchange time zone name", []string{
			"DTSTART;TZID=W. Europe Standard Time:20260317T150000", "DTEND;TZID=W. Europe Standard Time:20260317T160000"},
			[]string{windowsVTZ}},
		{"started before the window", []string{"DTSTART:20260228T230000Z", "DTEND:20260301T010000Z"}, nil},
		{"after the window", []string{"DTSTART:20260402T090000Z", "DTEND:20260402T100000Z"}, nil},
		{"overlaps the all-day event", []string{"DTSTART:20260305T100000Z", "DTEND:20260306T010000Z"}, nil},
	}
	var allCanaries []string
	for i, ev := range events {
		uid, priv := canaries(i)
		for _, p := range priv {
			_, v, _ := strings.Cut(p, ":")
			allCanaries = append(allCanaries, v)
		}
		allCanaries = append(allCanaries, uid)
		// Clients name objects after the UID: the path is private too.
		if err := rad.Put("alice", calPath, uid+".ics", caltest.Event(uid, append(priv, ev.props...), ev.extra...)); err != nil {
			t.Fatalf("%s: %v", ev.name, err)
		}
	}
	// Prefixes too: catch partial leaks.
	allCanaries = append(allCanaries, "CANARYSUMMARY", "CANARYORGNAME", "CANARYATTENDEE")

	db, dbPath := openTestDB(t)
	var logs testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := &recorder{next: http.DefaultTransport}
	src, err := NewCalDAV(CalDAVOptions{
		URL: rad.URL + "/", Username: "alice",
		Password:   func(context.Context) (string, error) { return rad.Password("alice"), nil },
		Location:   mustLoc(t, "Europe/Berlin"),
		HTTPClient: &http.Client{Transport: rec},
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := NewLocalSink()
	svc, err := New(Options{
		Store:  db,
		Agents: []Agent{{ID: "alice", Location: mustLoc(t, "Europe/Berlin"), Source: src}},
		Sink:   sink, FeedSecret: []byte("feed-secret-0123456789abcdef0123"),
		Now:    func() time.Time { return utc("2026-03-01T00:00:00Z") },
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.SyncOnce(t.Context())
	if err != nil {
		t.Fatalf("sync: %v (logs: %s)", err, logs.String())
	}
	want := []Interval{
		iv("2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"), // started before the window, clipped
		iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), // weekly, CET
		iv("2026-03-04T23:00:00Z", "2026-03-06T01:00:00Z"), // all-day Berlin midnight..midnight, merged with overlap
		iv("2026-03-06T14:00:00Z", "2026-03-06T15:00:00Z"), // New York EST
		iv("2026-03-07T14:00:00Z", "2026-03-07T15:00:00Z"),
		iv("2026-03-08T13:00:00Z", "2026-03-08T14:00:00Z"), // New York EDT
		iv("2026-03-09T13:00:00Z", "2026-03-09T14:00:00Z"), // (weekly 9 March moved away)
		iv("2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z"), // moved occurrence
		iv("2026-03-13T21:00:00Z", "2026-03-14T01:00:00Z"), // spanning midnight
		iv("2026-03-17T14:00:00Z", "2026-03-17T15:00:00Z"), // Exchange zone name via VTIMEZONE
		// 16 March excluded, 23 March cancelled override
		iv("2026-03-27T13:00:00Z", "2026-03-27T14:00:00Z"), // Berlin CET
		iv("2026-03-28T13:00:00Z", "2026-03-28T14:00:00Z"),
		iv("2026-03-29T12:00:00Z", "2026-03-29T13:00:00Z"), // Berlin CEST
		iv("2026-03-30T08:00:00Z", "2026-03-30T09:00:00Z"), // weekly, CEST
		iv("2026-03-30T12:00:00Z", "2026-03-30T13:00:00Z"),
	}
	pub, ok := sink.Get("alice")
	if !ok {
		t.Fatal("nothing published to the sink")
	}
	assertIntervals(t, pub.Busy, want)
	if rep.Intervals != len(want) || rep.Failed != 0 {
		t.Errorf("report %+v", rep)
	}
	sb, err := svc.st.StoredBusy(t.Context(), svc.tenant, "alice", utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	assertIntervals(t, sb.Busy, want)
	if st := svc.Status(); len(st) != 1 || st[0].LastError != "" || st[0].Intervals != len(want) || st[0].LastSync.IsZero() {
		t.Errorf("status %+v", st)
	}

	// The privacy proof (issue 5). Also read what the API and feed serve.
	api := httptest.NewRecorder()
	svc.Handler(writeTestError).ServeHTTP(api, httptest.NewRequest("GET", "/api/v1/agents/alice/freebusy?from=2026-03-01T00:00:00Z&to=2026-03-31T00:00:00Z", nil))
	feed := httptest.NewRecorder()
	svc.FeedHandler().ServeHTTP(feed, httptest.NewRequest("GET", "/freebusy/"+feedTok(t, svc, "alice")+".ics", nil))
	if api.Code != 200 || feed.Code != 200 {
		t.Fatalf("api %d, feed %d", api.Code, feed.Code)
	}
	places := map[string]string{
		"logs":             logs.String(),
		"outbound bodies":  rec.String(),
		"sink":             fmt.Sprintf("%+v", pub),
		"api":              api.Body.String(),
		"feed":             feed.Body.String(),
		"last error":       fmt.Sprintf("%+v", svc.Status()),
		"database file":    readFile(t, dbPath),
		"database wal":     readFile(t, dbPath+"-wal"),
		"database shm":     readFile(t, dbPath+"-shm"),
		"database journal": readFile(t, dbPath+"-journal"),
	}
	if !strings.Contains(rec.String(), "REPORT") || !strings.Contains(places["database file"]+places["database wal"], "2026-03-10T13:00:00.000000000Z") {
		t.Fatal("the privacy proof looks at the wrong bytes: no REPORT recorded or no interval stored")
	}
	for where, data := range places {
		for _, c := range allCanaries {
			if strings.Contains(data, c) {
				t.Errorf("canary %s leaked into %s", c, where)
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestCalDAVDiscoveryAndFailures: with no calendars configured every
// calendar of the home set is read; an agent with a wrong password fails
// without stopping the others and keeps its earlier intervals.
func TestCalDAVDiscoveryAndFailures(t *testing.T) {
	rad := testenv.StartRadicale(t, "bob", "carol")
	for i, name := range []string{"one", "two"} {
		p, err := rad.MakeCalendar("bob", name)
		if err != nil {
			t.Fatal(err)
		}
		ev := caltest.Event(name, []string{fmt.Sprintf("DTSTART:2026030%dT090000Z", i+2), "DURATION:PT1H"})
		if err := rad.Put("bob", p, name+".ics", ev); err != nil {
			t.Fatal(err)
		}
	}
	p, err := rad.MakeCalendar("carol", "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := rad.Put("carol", p, "c.ics", caltest.Event("c", []string{"DTSTART:20260304T090000Z", "DURATION:PT1H"})); err != nil {
		t.Fatal(err)
	}
	carolPW := rad.Password("carol")
	var pwMu sync.Mutex
	mk := func(user string, pw func() string) *CalDAVSource {
		s, err := NewCalDAV(CalDAVOptions{URL: rad.URL + "/", Username: user,
			Password: func(context.Context) (string, error) { pwMu.Lock(); defer pwMu.Unlock(); return pw(), nil }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	db, _ := openTestDB(t)
	svc, err := New(Options{Store: db, Now: func() time.Time { return utc("2026-03-01T00:00:00Z") }, Agents: []Agent{
		{ID: "bob", Source: mk("bob", func() string { return rad.Password("bob") })},
		{ID: "carol", Source: mk("carol", func() string { return carolPW })},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	pwMu.Lock()
	carolPW = "wrong"
	pwMu.Unlock()
	rep, err := svc.SyncOnce(t.Context())
	if err == nil || rep.Failed != 1 || !strings.Contains(err.Error(), `"carol"`) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("second sync: %+v, %v", rep, err)
	}
	tests := []struct {
		agent string
		want  []Interval
		err   bool
	}{
		{"bob", []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), iv("2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z")}, false},
		{"carol", []Interval{iv("2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z")}, true},
	}
	status := map[string]AgentStatus{}
	for _, st := range svc.Status() {
		status[st.AgentID] = st
	}
	for _, tc := range tests {
		sb, err := svc.st.StoredBusy(t.Context(), svc.tenant, tc.agent, utc("2026-03-01T00:00:00Z"), utc("2026-04-01T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		assertIntervals(t, sb.Busy, tc.want)
		if (status[tc.agent].LastError != "") != tc.err {
			t.Errorf("%s: status %+v", tc.agent, status[tc.agent])
		}
	}
	// A fresh Service on the same database (another process) sees the
	// stored status.
	svc2, err := New(Options{Store: db, Agents: []Agent{{ID: "carol", Source: mk("carol", func() string { return "" })}}})
	if err != nil {
		t.Fatal(err)
	}
	if st := svc2.Status(); len(st) != 1 || !strings.Contains(st[0].LastError, "401") || st[0].LastSync.IsZero() {
		t.Errorf("stored status: %+v", st)
	}
}
