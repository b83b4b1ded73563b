package imapsource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// env is a real store and ticket.Service in a temp dir, as capture uses them
// in production.
type env struct {
	store   *store.Store
	svc     *ticket.Service
	status  *capture.Status
	metrics *capture.Metrics
	log     *slog.Logger
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir(), 0)
}

// newEnvAt is newEnv with the database and blobs in dir, keeping reserve
// bytes free for the database (store.Options.DiskReserve).
func newEnvAt(t testing.TB, dir string, reserve int64) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := store.Open(ctx, store.Options{Path: dir + "/sidedesk.db", BlobDir: dir + "/blobs", Logger: log, DiskReserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := ticket.NewService(ticket.Options{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: st, svc: svc, status: capture.NewStatus(), metrics: capture.NewMetrics(nil), log: log}
}

func (e *env) pipeline(sink capture.Sink) *capture.Pipeline {
	if sink == nil {
		sink = e.svc
	}
	return &capture.Pipeline{Blobs: e.store.Blobs(), Sink: sink, Metrics: e.metrics, Logger: e.log}
}

// options for a source on Dovecot user's INBOX over the plain listener.
func (e *env) options(d *testenv.Dovecot, name, user, password string) Options {
	return Options{
		Name:         name,
		Host:         "127.0.0.1",
		Port:         d.Port(),
		TLS:          TLSNone,
		Username:     user,
		Password:     func(context.Context) (string, error) { return password, nil },
		InitialSync:  InitialSince,
		Since:        time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		IDLE:         true,
		PollInterval: 200 * time.Millisecond,
		BackoffMin:   20 * time.Millisecond,
		BackoffMax:   200 * time.Millisecond,
		// A restarting Dovecot can take a connection and never greet it.
		GreetingTimeout: 2 * time.Second,
		State:           e.store,
		Lease:           e.store,
		Pipeline:        e.pipeline(nil),
		Status:          e.status,
		Metrics:         e.metrics,
		Logger:          e.log,
	}
}

func newSource(t testing.TB, opts Options) *Source {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runSource runs s in the background until the test ends.
func runSource(t testing.TB, s *Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
}

func (e *env) count(t testing.TB) int {
	t.Helper()
	n, err := e.store.CountMessages(context.Background(), ticket.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes: a wait for an
// asynchronous effect, not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) waitCount(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.count(t) < n {
		if time.Now().After(deadline) {
			// What the source was doing tells a slow reconnect from a
			// lost message.
			t.Fatalf("timed out waiting for %d messages captured (have %d); mailboxes: %+v",
				n, e.count(t), e.status.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.count(t); got != n {
		t.Fatalf("captured %d messages, want %d", got, n)
	}
}

// assertOnce fails unless every Message-ID in ids is stored exactly once
// and nothing else is.
func (e *env) assertOnce(t testing.TB, ids []string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		ms, err := e.store.MessagesWithMessageID(ctx, ticket.DefaultTenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 {
			t.Errorf("message %s stored %d times, want once", id, len(ms))
		}
	}
	if n, err := e.store.CountMessages(ctx, ticket.DefaultTenant); err != nil || n != len(ids) {
		t.Errorf("%d messages stored (%v), want exactly the %d expected", n, err, len(ids))
	}
}

func (e *env) state(t testing.TB, mailbox string) syncState {
	t.Helper()
	b, err := e.store.SyncState(context.Background(), ticket.DefaultTenant, mailbox)
	if err != nil {
		t.Fatalf("sync state of %s: %v", mailbox, err)
	}
	var st syncState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) mailboxStatus(name string) capture.MailboxStatus {
	for _, m := range e.status.Snapshot() {
		if m.Name == name {
			return m
		}
	}
	return capture.MailboxStatus{}
}

var msgSeq atomic.Int64

// mail is a small customer mail with a unique Message-ID.
func mail(subject string) (raw []byte, messageID string) {
	n := msgSeq.Add(1)
	messageID = fmt.Sprintf("m%d.%d@customer.example", n, time.Now().UnixNano())
	raw = fmt.Appendf(nil, "From: Customer %d <customer%d@customer.example>\r\n"+
		"To: support@acme.example\r\n"+
		"Subject: %s\r\n"+
		"Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n"+
		"Message-ID: <%s>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n"+
		"Hello, this is message %d about %s.\r\n", n, n, subject, messageID, n, subject)
	return raw, messageID
}

// failingSink fails every message after the first after it was given to
// commit; with commitFirst it lets those messages commit and then reports
// them failed (a crash between commit and the state update).
type failingSink struct {
	inner       capture.Sink
	after       int
	commitFirst bool
	mu          sync.Mutex
	calls       int
}

var errInjected = errors.New("injected failure")

func (f *failingSink) Prepare(ctx context.Context, in ticket.Inbound) *ticket.Pending {
	return f.inner.Prepare(ctx, in)
}

func (f *failingSink) Commit(ctx context.Context, ps []*ticket.Pending) ([]ticket.Result, error) {
	f.mu.Lock()
	start := f.calls
	f.calls += len(ps)
	f.mu.Unlock()
	good := min(max(f.after-start, 0), len(ps))
	commit := good
	if f.commitFirst {
		commit = len(ps)
	}
	res := make([]ticket.Result, len(ps))
	if commit > 0 {
		r, err := f.inner.Commit(ctx, ps[:commit])
		if err != nil {
			return res, err
		}
		copy(res, r)
	}
	if good == len(ps) {
		return res, nil
	}
	be := &ticket.BatchError{Errs: make([]error, len(ps))}
	for i := good; i < len(ps); i++ {
		be.Errs[i] = errInjected
	}
	return res, be
}

type inbound = ticket.Inbound

// hookSink is a sink that runs hook on every message it prepares.
type hookSink struct {
	capture.Sink
	hook func(context.Context, inbound)
}

func (h hookSink) Prepare(ctx context.Context, in inbound) *ticket.Pending {
	h.hook(ctx, in)
	return h.Sink.Prepare(ctx, in)
}

func counterValue(t testing.TB, v *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// largeMail is a message of about size bytes: a short text part and a
// base64 attachment of deterministic pseudo-random bytes.
func largeMail(size int) (raw []byte, messageID string) {
	head, id := mail("large attachment")
	i := bytes.Index(head, []byte("Content-Type:"))
	var b bytes.Buffer
	b.Grow(size + 4096)
	b.Write(head[:i])
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nThe logs are attached.\r\n--b1\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"logs.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	rnd := rand.New(rand.NewPCG(1, 2))
	chunk := make([]byte, 57) // 76 base64 characters per line
	line := make([]byte, 76)
	for b.Len() < size {
		for j := range chunk {
			chunk[j] = byte(rnd.Uint32())
		}
		base64.StdEncoding.Encode(line, chunk)
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes(), id
}

// measureHeap runs fn and returns the peak growth of live heap objects
// above the level before it, sampled without stopping the world.
func measureHeap(t testing.TB, fn func()) uint64 {
	t.Helper()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}
