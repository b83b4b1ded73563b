package gmailsource

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// env is a real store + ticket.Service + capture.Pipeline in a temp dir.
type env struct {
	st       *store.Store
	svc      *ticket.Service
	pipeline *capture.Pipeline
	status   *capture.Status
}

func newEnv(t testing.TB) *env { return newEnvFsync(t, true) }

// newEnvFsync is newEnv with a choice of blob fsync (benchmarks measure
// both: on many disks an fsync costs more than the rest of a capture).
func newEnvFsync(t testing.TB, fsync bool) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := migratedDB()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db.sqlite"), db, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "db.sqlite"), BlobDir: filepath.Join(dir, "blobs"),
		SkipBlobFsync: !fsync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := ticket.NewService(ticket.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		st:       st,
		svc:      svc,
		pipeline: &capture.Pipeline{Blobs: st.Blobs(), Sink: svc, Logger: testLogger(t)},
		status:   capture.NewStatus(),
	}
}

// migratedDB is the file of an empty, migrated database, which newEnv
// copies: under -race migrating takes about 0.25 s, for every test.
var migratedDB = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gmailsource-db-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "db.sqlite")
	st, err := store.Open(ctx, store.Options{Path: path, BlobDir: filepath.Join(dir, "blobs"), SkipBlobFsync: true})
	if err != nil {
		return nil, err
	}
	err = st.Migrate(ctx)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

// sleeps records the waits of a Source instead of sleeping them.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// newSource builds a Source on fake against e; mutate adjusts options.
func newSource(t testing.TB, e *env, fake *gmailtest.Server, mutate func(*Options)) (*Source, *sleeps) {
	t.Helper()
	opts := Options{
		Name:       "support",
		User:       "me",
		HTTPClient: fake.Client(),
		BaseURL:    fake.URL(),
		State:      e.st,
		Known:      e.st,
		Pipeline:   e.pipeline,
		Status:     e.status,
		RetryMin:   time.Millisecond,
		RetryMax:   50 * time.Millisecond,
		Logger:     testLogger(t),
	}
	if mutate != nil {
		mutate(&opts)
	}
	src, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	src.sleep = sl.sleep
	return src, sl
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// corpus is the demo mail (demo/mail/*.eml, in name order = delivery order)
// when present, else the capture fixtures, else generated mail.
func corpus(t testing.TB) [][]byte {
	t.Helper()
	for _, pat := range []string{"../../demo/mail/*.eml", "../testdata/*.eml"} {
		files, _ := filepath.Glob(pat)
		if len(files) < 5 {
			continue
		}
		sort.Strings(files)
		var out [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	return gmailtest.Corpus(30)
}

func mustOnce(t testing.TB, src *Source) Stats {
	t.Helper()
	st, err := src.Once(context.Background())
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	return st
}

func countMessages(t testing.TB, e *env) int {
	t.Helper()
	n, err := e.st.CountMessages(context.Background(), ticket.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func historyState(t testing.TB, e *env) state {
	t.Helper()
	b, err := e.st.SyncState(context.Background(), ticket.DefaultTenant, "support")
	if err != nil {
		t.Fatal(err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// grouping maps each stored Message-ID to the Message-IDs it shares a
// ticket with (the first message of its ticket), independent of ticket
// numbering.
func grouping(t testing.TB, e *env) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	cursor := ""
	for {
		ts, next, err := e.st.ListTickets(ctx, ticket.DefaultTenant, ticket.TicketFilter{Limit: 200, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range ts {
			msgs, err := e.st.TicketMessages(ctx, ticket.DefaultTenant, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				out[m.MessageID] = msgs[0].MessageID
			}
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// startRun runs src.Run in the background; stop cancels it and checks that
// it returned nil (also done at cleanup; stopping twice is fine).
func startRun(t *testing.T, src *Source) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
