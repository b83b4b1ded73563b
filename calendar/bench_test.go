package calendar

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
)

// BenchmarkSyncRadicale times the sync of 200 agents with 150 events each
// (a quarter weekly recurring) from one Radicale, calendars discovered from
// the home set (issue 5 target: <= 10 s for a full sync). full: a new
// database and new sources each time (nothing stored, nothing cached);
// periodic: the same service again, every calendar unchanged (CTags).
// calbench prints the same with CPU times.
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
	// A running server has long indexed its objects; the seeded ones are
	// indexed here, in parallel, not by the first sync.
	if err := caltest.PrewarmRadicale(filepath.Join(rad.Dir, "radicale.conf"), users, "work", runtime.NumCPU()); err != nil {
		b.Logf("prewarm: %v (the first sync indexes the objects)", err)
	}
	var svc *Service
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db, _ := openTestDB(b)
			svc = benchService(b, rad, users, db, start)
			b.StartTimer()
			rep, err := svc.SyncOnce(b.Context())
			if err != nil || rep.Intervals == 0 || rep.Unchanged != 0 {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
	b.Run("periodic", func(b *testing.B) {
		for b.Loop() {
			rep, err := svc.SyncOnce(b.Context())
			if err != nil || rep.Intervals == 0 || rep.Unchanged != agents {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
}

func benchService(b testing.TB, rad *testenv.Radicale, users []string, db *store.Store, now time.Time) *Service {
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
	svc, err := New(Options{Store: db, Agents: list, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}
