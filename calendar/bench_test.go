package calendar

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

// BenchmarkSyncRadicale times one full sync of 200 agents with 150 events
// each (a quarter weekly recurring) from Radicale, calendars discovered
// from the home set. Issue 5 target: <= 10 s per sync.
func BenchmarkSyncRadicale(b *testing.B) {
	const agents, events = 200, 150
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	users := make([]string, agents)
	for i := range users {
		users[i] = fmt.Sprintf("agent%03d", i)
	}
	rad := testenv.StartRadicale(b, users...)
	if _, err := caltest.SeedAgents(rad.SeedCalendar, agents, events, start); err != nil {
		b.Fatal(err)
	}
	db, _ := openTestDB(b)
	svc := benchService(b, rad, users, db, start)
	// Warm Radicale's item cache once: the first read of seeded files parses
	// them all, which a running server has long done.
	if _, err := svc.SyncOnce(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := svc.SyncOnce(b.Context())
		if err != nil || rep.Intervals == 0 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}

func benchService(b testing.TB, rad *testenv.Radicale, users []string, db *sql.DB, now time.Time) *Service {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	var list []Agent
	for _, u := range users {
		src, err := NewCalDAV(CalDAVOptions{URL: rad.URL + "/", Username: u,
			Password:   func(context.Context) (string, error) { return rad.Password(u), nil },
			HTTPClient: &http.Client{Transport: tr}})
		if err != nil {
			b.Fatal(err)
		}
		list = append(list, Agent{ID: u, Source: src})
	}
	svc, err := New(Options{DB: db, Agents: list, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}
