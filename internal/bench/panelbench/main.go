// Command panelbench measures the agent panel (make bench): lookup +
// render of GET /sidebar?message_id=...&from=... against SQLite holding
// 1,000,000 CRM contacts, 200,000 accounts and 500,000 tickets, with load
// from another process on loopback.
//
//   - builds (or reuses, -db) the database: store.GenerateCRMBench for the CRM,
//     a bulk SQL generator here for tickets with one message each;
//   - serves the real sidebar handler in this process, timing each panel
//     in a middleware (server time: from the request's arrival at the
//     handler to the last byte written);
//   - re-executes itself as the load generator (-load), with a valid
//     session cookie, -conns concurrent keep-alive connections asking for
//     random tickets' panels for -duration after a warm-up;
//   - reports p50/p99 server time and panels/s; targets p99 <= 10 ms and
//     >= 1,000 panels/s (2 cores).
//
// Usage: go run ./internal/bench/panelbench [-db DIR] [-duration 20s]
package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidedesk/sidedesk/api"
	"github.com/sidedesk/sidedesk/sidebar"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

const (
	targetP99  = 10 * time.Millisecond
	targetRate = 1000.0
	tenant     = ticket.DefaultTenant
)

type config struct {
	db                          string
	accounts, contacts, tickets int
	conns                       int
	duration, warmup            time.Duration
	// load generator mode
	cpuprofile string
	load       bool
	url        string
	cookie     string
}

func main() {
	var c config
	flag.StringVar(&c.db, "db", filepath.Join(".bench", "panelbench"), "database directory (reused when complete)")
	flag.IntVar(&c.accounts, "accounts", 200_000, "CRM accounts")
	flag.IntVar(&c.contacts, "contacts", 1_000_000, "CRM contacts")
	flag.IntVar(&c.tickets, "tickets", 500_000, "tickets (one message each)")
	flag.IntVar(&c.conns, "conns", 4, "concurrent connections of the load generator (2 per core keeps the 4 read connections busy without queueing)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured load duration")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "warm-up before measuring")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write the server's CPU profile of the measured run to this file")
	flag.BoolVar(&c.load, "load", false, "internal: run as the load generator")
	flag.StringVar(&c.url, "url", "", "internal: server base URL")
	flag.StringVar(&c.cookie, "cookie", "", "internal: session cookie value")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if c.load {
		err = runLoad(ctx, c)
	} else {
		err = run(ctx, c, log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "panelbench:", err)
		os.Exit(1)
	}
}

// loadResult is what the load generator prints (JSON on stdout).
type loadResult struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	ClientP50 float64 `json:"client_p50_ms"`
	ClientP99 float64 `json:"client_p99_ms"`
}

// runLoad asks for random tickets' panels on c.conns connections for
// c.duration.
func runLoad(ctx context.Context, c config) error {
	tr := &http.Transport{MaxIdleConnsPerHost: c.conns, MaxConnsPerHost: c.conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var (
		n, errs atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(c.duration)
	start := time.Now()
	for w := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := 1 + rng.IntN(c.tickets)
				q := url.Values{"message_id": {benchMessageID(i)}, "from": {store.BenchEmail(requester(i, c.contacts), c.accounts)}}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/sidebar?"+q.Encode(), nil)
				req.AddCookie(&http.Cookie{Name: "sidedesk_session", Value: c.cookie})
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mine = append(mine, time.Since(t0))
				if res.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return json.NewEncoder(os.Stdout).Encode(loadResult{
		Requests: n.Load(), Errors: errs.Load(), Seconds: time.Since(start).Seconds(),
		ClientP50: ms(pct(lat, 0.50)), ClientP99: ms(pct(lat, 0.99)),
	})
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchMessageID is the Message-ID of ticket i's message.
func benchMessageID(i int) string { return "bench-" + strconv.Itoa(i) + "@bench.example" }

// requester is the contact number of ticket i's requester (spread over
// the contacts; the SQL generator computes the same).
func requester(i, contacts int) int { return int((int64(i) * 7919) % int64(contacts)) }

// timer records the server time of each panel request.
type timer struct {
	mu sync.Mutex
	d  []time.Duration
}

func (t *timer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		if r.URL.Path == "/sidebar" {
			d := time.Since(start)
			t.mu.Lock()
			t.d = append(t.d, d)
			t.mu.Unlock()
		}
	})
}

func (t *timer) reset() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.d
	t.d = nil
	return d
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(c.db, "sidedesk.db"), SkipBlobFsync: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	local, err := st.NewLocalCRM(store.LocalCRMOptions{})
	if err != nil {
		return err
	}
	defer local.Close()
	t0 := time.Now()
	if err := store.GenerateCRMBench(ctx, local, tenant, c.accounts, c.contacts, 1); err != nil {
		return err
	}
	log.Info("CRM ready", "accounts", c.accounts, "contacts", c.contacts, "took", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := st.GenerateBenchTickets(ctx, tenant, c.tickets, c.contacts, c.accounts); err != nil {
		return err
	}
	log.Info("tickets ready", "tickets", c.tickets, "took", time.Since(t0).Round(time.Millisecond))

	svc, err := ticket.NewService(ticket.Options{Store: st})
	if err != nil {
		return err
	}
	cookie, err := benchSession(ctx, st)
	if err != nil {
		return err
	}
	reads := st.NewPanelReads()
	defer reads.Close()
	panel, err := sidebar.New(sidebar.Options{Panel: reads, CRM: local, Actions: svc})
	if err != nil {
		return err
	}
	srv, err := api.New(api.Options{Store: st, Tickets: svc, Blobs: st.Blobs(), Lookup: func(ctx context.Context, tenant string, q url.Values) (api.LookupFacts, error) {
		f, err := panel.Lookup(ctx, tenant, q)
		return api.LookupFacts(f), err
	}})
	if err != nil {
		return err
	}
	if err := panel.Register(srv.Mount); err != nil {
		return err
	}
	var tm timer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: tm.wrap(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	load := func(d time.Duration) (loadResult, error) {
		self, err := os.Executable()
		if err != nil {
			return loadResult{}, err
		}
		cmd := exec.CommandContext(ctx, self, "-load", "-url", base, "-cookie", cookie,
			"-accounts", strconv.Itoa(c.accounts), "-contacts", strconv.Itoa(c.contacts),
			"-tickets", strconv.Itoa(c.tickets), "-conns", strconv.Itoa(c.conns), "-duration", d.String())
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return loadResult{}, err
		}
		if err := cmd.Start(); err != nil {
			return loadResult{}, err
		}
		var res loadResult
		derr := json.NewDecoder(bufio.NewReader(out)).Decode(&res)
		if err := cmd.Wait(); err != nil {
			return loadResult{}, fmt.Errorf("load generator: %w", err)
		}
		return res, derr
	}
	if _, err := load(c.warmup); err != nil {
		return err
	}
	tm.reset()
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	res, err := load(c.duration)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	d := tm.reset()
	slices.Sort(d)
	rate := float64(res.Requests) / res.Seconds
	p50, p99 := pct(d, 0.50), pct(d, 0.99)
	fmt.Printf("panelbench: %d contacts, %d accounts, %d tickets; %d connections from another process for %s\n",
		c.contacts, c.accounts, c.tickets, c.conns, c.duration)
	fmt.Printf("  panels: %d (%d errors), %.0f panels/s (target >= %.0f)\n", res.Requests, res.Errors, rate, targetRate)
	fmt.Printf("  server time: p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 <= %v)\n", ms(p50), ms(p99), ms(pct(d, 1)), targetP99)
	fmt.Printf("  client time: p50 %.2f ms, p99 %.2f ms\n", res.ClientP50, res.ClientP99)
	if res.Errors > 0 {
		return fmt.Errorf("%d requests failed", res.Errors)
	}
	if p99 > targetP99 || rate < targetRate {
		fmt.Println("  TARGET MISSED")
	}
	return nil
}

// benchSession makes an agent and a session and returns the cookie value.
func benchSession(ctx context.Context, st *store.Store) (string, error) {
	u, err := st.UserByEmail(ctx, tenant, "bench@acme.example")
	if errors.Is(err, ticket.ErrNotFound) {
		u, err = st.CreateUser(ctx, tenant, "bench@acme.example", "Bench Agent", ticket.RoleAgent, "")
	}
	if err != nil {
		return "", err
	}
	var b [32]byte
	_, _ = crand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := st.CreateSession(ctx, tenant, u.ID, sidebar.HashSessionID(id), "bench-csrf", time.Now().Add(24*time.Hour)); err != nil {
		return "", err
	}
	return id, nil
}
