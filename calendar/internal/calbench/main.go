// Command calbench measures one full free/busy sync of many agents against a
// private Radicale (issue 5: 200 agents x 150 events, target <= 10 s):
//
//	go run ./calendar/internal/calbench [-agents 200] [-events 150]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sidedesk/sidedesk/calendar"
	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "calbench:", err)
		os.Exit(1)
	}
}

func run() error {
	agents := flag.Int("agents", 200, "agents")
	events := flag.Int("events", 150, "events per agent (a quarter recurring)")
	concurrency := flag.Int("concurrency", 8, "agents synced at once")
	flag.Parse()

	dir, err := os.MkdirTemp("", "calbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	users := make([]string, *agents)
	for i := range users {
		users[i] = fmt.Sprintf("agent%03d", i)
	}
	rad, err := testenv.LaunchRadicale(dir, users...)
	if err != nil {
		return err
	}
	defer rad.Close()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	if _, err := caltest.SeedAgents(rad.SeedCalendar, *agents, *events, start); err != nil {
		return err
	}
	fmt.Printf("seeded %d agents x %d events in %v\n", *agents, *events, time.Since(t0).Round(time.Millisecond))

	db, err := caltest.OpenDB(filepath.Join(dir, "bench.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	var list []calendar.Agent
	for _, u := range users {
		src, err := calendar.NewCalDAV(calendar.CalDAVOptions{URL: rad.URL + "/", Username: u,
			Password:   func(context.Context) (string, error) { return rad.Password(u), nil },
			HTTPClient: &http.Client{Transport: tr}})
		if err != nil {
			return err
		}
		list = append(list, calendar.Agent{ID: u, Source: src})
	}
	svc, err := calendar.New(calendar.Options{DB: db, Agents: list, Concurrency: *concurrency,
		Now: func() time.Time { return start }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	for _, label := range []string{"cold (Radicale indexes the seeded files)", "warm", "warm"} {
		rep, err := svc.SyncOnce(context.Background())
		if err != nil {
			return err
		}
		fmt.Printf("sync %-42s %v  (%d agents, %d failed, %d busy intervals)\n", label+":", rep.Duration.Round(time.Millisecond), rep.Agents, rep.Failed, rep.Intervals)
	}
	return nil
}
