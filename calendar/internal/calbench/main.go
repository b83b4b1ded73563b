// Command calbench measures the free/busy sync of many agents against a
// private Radicale (200 agents x 150 events, target <= 10 s for a
// full sync):
//
//	go run ./calendar/internal/calbench [-agents 200] [-events 150] [-concurrency 8] [-max-per-server N] [-dir DIR]
//
// Each agent's source is configured with its principal URL (as the example
// config documents caldav_url), and all share one calendar.ServerGates, as
// `sidedesk serve` does.
//
// It reports, with wall time, sidedesk's CPU time, Radicale's CPU time and
// the machine's load average:
//   - cold: the first sync after seeding, while Radicale builds its item
//     cache (skipped when -dir holds a storage that was synced before);
//   - full sync (no stored state): a new database and new sources, as
//     `sidedesk calendar sync --once` on a fresh install: discovery, change
//     tokens and a calendar-query per agent;
//   - periodic sync (unchanged calendars): the same service again, which
//     asks each calendar for its CTag and keeps the stored intervals.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sidedesk/sidedesk/calendar"
	"github.com/sidedesk/sidedesk/calendar/internal/caltest"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "calbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	rad          *testenv.Radicale
	radPID       int
	dir          string
	users        []string
	concurrency  int
	maxPerServer int
	gates        *calendar.ServerGates // of the latest service
	start        time.Time
	dbDir        string // the databases of the services, one per full sync
	dbs          int
}

func run() error {
	agents := flag.Int("agents", 200, "agents")
	events := flag.Int("events", 150, "events per agent (a quarter recurring)")
	concurrency := flag.Int("concurrency", 8, "agents synced at once")
	maxPerServer := flag.Int("max-per-server", 0, "most requests in flight to a far server (0: calendar.DefaultMaxPerServer); Radicale on loopback is near and gets 1")
	runs := flag.Int("runs", 3, "runs of each kind of sync")
	keep := flag.String("dir", "", "keep Radicale's storage in this directory and reuse it (seeded and cached) when it was made before with the same -agents and -events")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the full syncs to this file")
	flag.Parse()

	b := &bench{concurrency: *concurrency, maxPerServer: *maxPerServer, start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	b.dir = *keep
	if b.dir == "" {
		d, err := os.MkdirTemp("", "calbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		b.dir = d
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	var err error
	if b.dbDir, err = os.MkdirTemp("", "calbench-db"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dbDir)
	b.users = make([]string, *agents)
	for i := range b.users {
		b.users[i] = fmt.Sprintf("agent%03d", i)
	}
	if b.rad, err = testenv.LaunchRadicale(b.dir, b.users...); err != nil {
		return err
	}
	defer b.rad.Close()
	if b.radPID, err = findPID(filepath.Join(b.dir, "radicale.conf")); err != nil {
		return err
	}
	fmt.Printf("radicale pid %d, %d agents x %d events, concurrency %d, GOMAXPROCS default, %s\n",
		b.radPID, *agents, *events, *concurrency, loadavg())

	seeded := filepath.Join(b.dir, fmt.Sprintf("seeded-%d-%d", *agents, *events))
	cached := filepath.Join(b.dir, fmt.Sprintf("cached-%d-%d", *agents, *events))
	if _, err := os.Stat(seeded); err == nil {
		fmt.Printf("reusing the storage seeded in %s\n", b.dir)
	} else {
		os.Remove(cached)
		t0 := time.Now()
		if _, err := caltest.SeedAgents(b.rad.SeedCalendar, *agents, *events, b.start); err != nil {
			return err
		}
		if err := os.WriteFile(seeded, nil, 0o644); err != nil {
			return err
		}
		fmt.Printf("seeded %d agents x %d events in %v\n", *agents, *events, time.Since(t0).Round(time.Millisecond))
	}
	if _, err := os.Stat(cached); err != nil {
		t0 := time.Now()
		if err := caltest.PrewarmRadicale(filepath.Join(b.dir, "radicale.conf"), b.users, "work", runtime.NumCPU()); err != nil {
			fmt.Printf("building Radicale's item cache ahead failed (%v): the cold sync builds it\n", err)
		} else {
			fmt.Printf("Radicale's item cache built in %d processes in %v\n", runtime.NumCPU(), time.Since(t0).Round(time.Millisecond))
		}
		if _, _, err := b.sync("cold (first sync after seeding)", nil); err != nil {
			return err
		}
		if err := os.WriteFile(cached, nil, 0o644); err != nil {
			return err
		}
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var svc *calendar.Service
	var full, periodic []time.Duration
	for i := range *runs {
		d, s, err := b.sync(fmt.Sprintf("full sync (no stored state) #%d", i+1), nil)
		if err != nil {
			return err
		}
		full, svc = append(full, d), s
	}
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	for i := range *runs {
		d, _, err := b.sync(fmt.Sprintf("periodic sync (unchanged calendars) #%d", i+1), svc)
		if err != nil {
			return err
		}
		periodic = append(periodic, d)
	}
	fmt.Printf("median: full sync %v, periodic sync %v (target for the full sync: <= 10s)\n",
		median(full).Round(time.Millisecond), median(periodic).Round(time.Millisecond))
	return nil
}

// sync runs one SyncOnce on svc, or on a new service (new database, new
// sources: nothing cached, nothing stored) when svc is nil, and prints its
// wall time, the CPU time of this process and of Radicale, and the load.
func (b *bench) sync(label string, svc *calendar.Service) (time.Duration, *calendar.Service, error) {
	if svc == nil {
		var err error
		if svc, err = b.newService(); err != nil {
			return 0, nil, err
		}
	}
	u, err := url.Parse(b.rad.URL)
	if err != nil {
		return 0, nil, err
	}
	self0, rad0, g0 := selfCPU(), procCPU(b.radPID), b.gates.Stats(u.Scheme, u.Host)
	rep, err := svc.SyncOnce(context.Background())
	if err != nil {
		return 0, nil, err
	}
	self1, rad1, g1 := selfCPU(), procCPU(b.radPID), b.gates.Stats(u.Scheme, u.Host)
	fmt.Printf("%-42s wall %7v  cpu sidedesk %7v  radicale %7v  (%d agents, %d failed, %d unchanged, %d busy intervals; %s)\n",
		label+":", rep.Duration.Round(time.Millisecond), (self1 - self0).Round(time.Millisecond), (rad1 - rad0).Round(10*time.Millisecond),
		rep.Agents, rep.Failed, rep.Unchanged, rep.Intervals, loadavg())
	fmt.Printf("%-42s %d requests, %v answering them (summed), in flight at most %d at the end\n", "",
		g1.Requests-g0.Requests, (g1.Held - g0.Held).Round(time.Millisecond), g1.Limit)
	if rep.Failed > 0 || rep.Intervals == 0 {
		return 0, nil, errors.New("sync incomplete")
	}
	return rep.Duration, svc, nil
}

func (b *bench) newService() (*calendar.Service, error) {
	b.dbs++
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{Path: filepath.Join(b.dbDir, fmt.Sprintf("bench%d.db", b.dbs))})
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * b.concurrency}
	var list []calendar.Agent
	gates := calendar.NewServerGates(b.maxPerServer)
	b.gates = gates
	for _, u := range b.users {
		src, err := calendar.NewCalDAV(calendar.CalDAVOptions{URL: b.rad.URL + "/" + u + "/", Username: u,
			Password:   func(context.Context) (string, error) { return b.rad.Password(u), nil },
			HTTPClient: &http.Client{Transport: tr}, Gates: gates})
		if err != nil {
			return nil, err
		}
		list = append(list, calendar.Agent{ID: u, Source: src})
	}
	return calendar.New(calendar.Options{Store: db, Agents: list, Concurrency: b.concurrency,
		Now: func() time.Time { return b.start }, Logger: slog.New(slog.DiscardHandler)})
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// selfCPU is the user+system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU time of process pid, from /proc/PID/stat
// (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// findPID returns the process started with --config conf.
func findPID(conf string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte("--config\x00"+conf+"\x00")) {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("%d processes run with --config %s, want 1", len(found), conf)
	}
	return found[0], nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load ?"
	}
	f := strings.Fields(string(b))
	return "load " + strings.Join(f[:3], " ")
}
