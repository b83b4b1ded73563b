package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sidedesk/sidedesk/outbox"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
	"github.com/sidedesk/sidedesk/ticket"
)

type env struct {
	t  *testing.T
	st *store.Store

	mu    sync.Mutex
	waits []time.Duration
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.Open(t)
	return &env{t: t, st: st}
}

// options builds runner options whose waits are recorded and cut short;
// the poll is an hour, so only the commit notification wakes a runner.
func (e *env) options() outbox.Options {
	return outbox.Options{
		Store: e.st, Notify: e.st, PollInterval: time.Hour, LeaseTTL: 3 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			e.mu.Lock()
			e.waits = append(e.waits, d)
			e.mu.Unlock()
			t := time.NewTimer(time.Millisecond)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		},
	}
}

// appendEvents commits one event per ticket id, of tenant.
func (e *env) appendEvents(tenant string, ticketIDs ...int64) {
	e.t.Helper()
	err := e.st.WithTx(context.Background(), func(tx ticket.Tx) error {
		for _, id := range ticketIDs {
			if err := tx.AppendEvent(context.Background(), &ticket.Event{Tenant: tenant,
				Type: ticket.EventTicketUpdated, TicketID: id}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// run starts c on a runner with opts; stop cancels and waits.
func (e *env) run(opts outbox.Options, c outbox.Consumer) (stop func()) {
	r, err := outbox.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// recorder is a consumer that records the ticket ids it was given.
type recorder struct {
	mu   sync.Mutex
	got  []int64
	fail func(e ticket.Event, attempt int) error // nil: succeed
	n    map[int64]int
}

func (r *recorder) deliver(_ context.Context, e ticket.Event) error {
	r.mu.Lock()
	if r.n == nil {
		r.n = map[int64]int{}
	}
	r.n[e.TicketID]++
	attempt := r.n[e.TicketID]
	r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(e, attempt); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.got = append(r.got, e.TicketID)
	r.mu.Unlock()
	return nil
}

func (r *recorder) attempts(ticketID int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[ticketID]
}

func (r *recorder) snapshot() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) cursor(name string) int64 {
	c, err := e.st.ConsumerCursor(context.Background(), name)
	if err != nil {
		return -1
	}
	return c
}

func TestDeliversInOrderAndResumes(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	c := outbox.Consumer{Name: "test:default", Deliver: rec.deliver, FromStart: true}
	e.appendEvents("default", 1, 2, 3)
	stop := e.run(e.options(), c)
	waitFor(t, "three deliveries", func() bool { return len(rec.snapshot()) == 3 })
	// Woken by the commit: the poll is an hour.
	e.appendEvents("default", 4)
	waitFor(t, "the fourth, woken by its commit", func() bool { return len(rec.snapshot()) == 4 })
	last, _ := e.st.LastEventID(context.Background())
	waitFor(t, "the stored cursor", func() bool { return e.cursor(c.Name) == last })
	stop()

	e.appendEvents("default", 5)
	e.run(e.options(), c)
	waitFor(t, "the fifth after a restart", func() bool { return len(rec.snapshot()) == 5 })
	if got := rec.snapshot(); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("delivered %v, want 1..5 once each in order", got)
	}
}

func TestFirstStartAfterNewestUnlessFromStart(t *testing.T) {
	e := newEnv(t)
	e.appendEvents("default", 1, 2)
	late, early := &recorder{}, &recorder{}
	e.run(e.options(), outbox.Consumer{Name: "late", Deliver: late.deliver})
	e.run(e.options(), outbox.Consumer{Name: "early", Deliver: early.deliver, FromStart: true})
	waitFor(t, "late's starting cursor", func() bool { return e.cursor("late") >= 0 })
	e.appendEvents("default", 3)
	waitFor(t, "both see event 3", func() bool {
		return slices.Contains(late.snapshot(), 3) && slices.Contains(early.snapshot(), 3)
	})
	if got := late.snapshot(); !slices.Equal(got, []int64{3}) {
		t.Errorf("new consumer got %v, want only what came after it started", got)
	}
	if got := early.snapshot(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("FromStart consumer got %v, want 1 2 3", got)
	}
}

func TestTenantFilter(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.appendEvents("other", 1)
	e.appendEvents("default", 2)
	e.appendEvents("other", 3)
	e.run(e.options(), outbox.Consumer{Name: "slack:default", Tenant: "default", Deliver: rec.deliver, FromStart: true})
	last, _ := e.st.LastEventID(context.Background())
	waitFor(t, "the cursor past every event", func() bool { return e.cursor("slack:default") == last })
	if got := rec.snapshot(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("delivered %v, want only the default tenant's", got)
	}
}

func TestRetriesWithBackoffAndRetryAfter(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{fail: func(ev ticket.Event, attempt int) error {
		switch attempt {
		case 1:
			return errors.New("connection reset")
		case 2:
			return outbox.RetryAfter(errors.New("429 too many requests"), 7*time.Second)
		}
		return nil
	}}
	e.appendEvents("default", 1, 2)
	e.run(e.options(), outbox.Consumer{Name: "c", Deliver: rec.deliver, FromStart: true})
	waitFor(t, "both delivered", func() bool { return len(rec.snapshot()) == 2 })
	if got := rec.snapshot(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("delivered %v, want 1 then 2: a failing event holds the ones after it", got)
	}
	e.mu.Lock()
	waits := slices.Clone(e.waits)
	e.mu.Unlock()
	if !slices.Contains(waits, 7*time.Second) {
		t.Errorf("waits %v lack the Retry-After of 7s", waits)
	}
	if len(waits) < 4 || waits[0] < outbox.DefaultFirstBackoff || waits[0] > outbox.DefaultFirstBackoff*3/2 {
		t.Errorf("waits %v: want a first backoff of 500-750ms for each event's first failure", waits)
	}
}

func TestPermanentFailureBecomesDeadLetter(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{fail: func(ev ticket.Event, _ int) error {
		if ev.TicketID == 1 {
			return outbox.Permanent(errors.New("channel_not_found"))
		}
		return nil
	}}
	e.appendEvents("default", 1, 2)
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Metrics = outbox.NewMetrics(reg)
	e.run(opts, outbox.Consumer{Name: "slack:default", Deliver: rec.deliver, FromStart: true})
	waitFor(t, "the second event", func() bool { return len(rec.snapshot()) == 1 })
	dls, err := e.st.DeadLetters(context.Background(), "slack:default", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Event.TicketID != 1 || dls[0].Attempts != 1 ||
		!strings.Contains(dls[0].LastError, "channel_not_found") || dls[0].DeadAt.IsZero() {
		t.Fatalf("dead letters %+v, want event of ticket 1 after 1 attempt with its error", dls)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sidedesk_outbox_dead_letters_total Outbox events a consumer gave up on (kept as dead letters).
# TYPE sidedesk_outbox_dead_letters_total counter
sidedesk_outbox_dead_letters_total{consumer="slack:default"} 1
`), "sidedesk_outbox_dead_letters_total"); err != nil {
		t.Error(err)
	}
}

// consumerError is how a consumer package declares its failures without
// importing outbox: by the Permanent and RetryAfter methods.
type consumerError struct {
	permanent bool
	after     time.Duration
}

func (e consumerError) Error() string             { return "refused by the receiver" }
func (e consumerError) Permanent() bool           { return e.permanent }
func (e consumerError) RetryAfter() time.Duration { return e.after }

func TestErrorsClassifiedByBehaviour(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{fail: func(ev ticket.Event, attempt int) error {
		switch {
		case ev.TicketID == 1:
			return fmt.Errorf("post: %w", consumerError{permanent: true})
		case ev.TicketID == 2 && attempt == 1:
			return fmt.Errorf("post: %w", consumerError{after: 9 * time.Second})
		}
		return nil
	}}
	e.appendEvents("default", 1, 2)
	e.run(e.options(), outbox.Consumer{Name: "c", Deliver: rec.deliver, FromStart: true})
	waitFor(t, "the second event", func() bool { return len(rec.snapshot()) == 1 })
	dls, err := e.st.DeadLetters(context.Background(), "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Event.TicketID != 1 || dls[0].Attempts != 1 {
		t.Errorf("dead letters %+v, want ticket 1's event after one attempt", dls)
	}
	e.mu.Lock()
	waits := slices.Clone(e.waits)
	e.mu.Unlock()
	if !slices.Contains(waits, 9*time.Second) {
		t.Errorf("waits %v lack the consumer's RetryAfter of 9s", waits)
	}
}

func TestGivesUpAfterGiveUpAfter(t *testing.T) {
	e := newEnv(t)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	)
	opts := e.options()
	sleep := opts.Sleep
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	opts.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		now = now.Add(d) // a waiting clock
		mu.Unlock()
		return sleep(ctx, d)
	}
	rec := &recorder{fail: func(ev ticket.Event, _ int) error {
		if ev.TicketID == 1 {
			return errors.New("503 service unavailable")
		}
		return nil
	}}
	e.appendEvents("default", 1, 2)
	e.run(opts, outbox.Consumer{Name: "c", Deliver: rec.deliver, FromStart: true, GiveUpAfter: time.Hour,
		MaxBackoff: 10 * time.Minute})
	waitFor(t, "the second event", func() bool { return len(rec.snapshot()) == 1 })
	dls, err := e.st.DeadLetters(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Attempts < 5 || !strings.Contains(dls[0].LastError, "503") ||
		dls[0].DeadAt.Sub(dls[0].FirstFailedAt) < time.Hour {
		t.Fatalf("dead letters %+v: want event 1, retried for an hour, then given up", dls)
	}
	if rec.attempts(1) != dls[0].Attempts {
		t.Errorf("attempts %d recorded, %d made", dls[0].Attempts, rec.attempts(1))
	}
}

func TestOneProcessDeliversAtATime(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	c := outbox.Consumer{Name: "c", Deliver: rec.deliver, FromStart: true}
	for _, h := range []string{"p1", "p2", "p3"} {
		opts := e.options()
		opts.Holder = h
		opts.PollInterval = 5 * time.Millisecond
		e.run(opts, c)
	}
	var want []int64
	for i := range int64(30) {
		e.appendEvents("default", i+1)
		want = append(want, i+1)
	}
	waitFor(t, "30 deliveries", func() bool { return len(rec.snapshot()) >= 30 })
	time.Sleep(50 * time.Millisecond)
	if got := rec.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want each event once, in order", got)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	block := make(chan struct{})
	var once sync.Once
	rec := &recorder{fail: func(ev ticket.Event, attempt int) error {
		if attempt == 1 {
			return fmt.Errorf("first try of %d fails", ev.TicketID)
		}
		if ev.TicketID == 3 {
			once.Do(func() { <-block })
		}
		return nil
	}}
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Metrics = outbox.NewMetrics(reg)
	// A consumer that did nothing yet still has its series, at 0.
	e.run(opts, outbox.Consumer{Name: "idle", Tenant: "nobody", Deliver: func(context.Context, ticket.Event) error { return nil }})
	waitFor(t, "the idle consumer's zero series", func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sidedesk_outbox_dead_letters_total Outbox events a consumer gave up on (kept as dead letters).
# TYPE sidedesk_outbox_dead_letters_total counter
sidedesk_outbox_dead_letters_total{consumer="idle"} 0
`), "sidedesk_outbox_dead_letters_total") == nil
	})
	e.appendEvents("default", 1, 2, 3, 4)
	e.run(opts, outbox.Consumer{Name: "m", Deliver: rec.deliver, FromStart: true})
	waitFor(t, "two delivered", func() bool { return len(rec.snapshot()) == 2 })
	close(block)
	waitFor(t, "four delivered", func() bool { return len(rec.snapshot()) == 4 })
	waitFor(t, "counters", func() bool {
		n, _ := testutil.GatherAndCount(reg, "sidedesk_outbox_delivered_total")
		return n == 2
	})
	const want = `
# HELP sidedesk_outbox_delivered_total Outbox events a consumer delivered.
# TYPE sidedesk_outbox_delivered_total counter
sidedesk_outbox_delivered_total{consumer="idle"} 0
sidedesk_outbox_delivered_total{consumer="m"} 4
# HELP sidedesk_outbox_delivery_failures_total Failed delivery attempts of outbox events (each retry counts).
# TYPE sidedesk_outbox_delivery_failures_total counter
sidedesk_outbox_delivery_failures_total{consumer="idle"} 0
sidedesk_outbox_delivery_failures_total{consumer="m"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sidedesk_outbox_delivered_total", "sidedesk_outbox_delivery_failures_total"); err != nil {
		t.Error(err)
	}
	waitFor(t, "pending 0", func() bool {
		err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sidedesk_outbox_pending_events Outbox events a consumer has yet to deliver.
# TYPE sidedesk_outbox_pending_events gauge
sidedesk_outbox_pending_events{consumer="idle"} 0
sidedesk_outbox_pending_events{consumer="m"} 0
`), "sidedesk_outbox_pending_events")
		return err == nil
	})
}

func TestBacklog(t *testing.T) {
	e := newEnv(t)
	e.appendEvents("default", 1)
	e.appendEvents("other", 2, 3)
	n, oldest, err := e.st.OutboxBacklog(context.Background(), 0, "other")
	if err != nil || n != 2 || oldest.IsZero() {
		t.Fatalf("backlog of other: %d, %v, %v; want 2 with a time", n, oldest, err)
	}
	n, _, err = e.st.OutboxBacklog(context.Background(), 0, "")
	if err != nil || n != 3 {
		t.Fatalf("backlog of all: %d, %v; want 3", n, err)
	}
	n, oldest, err = e.st.OutboxBacklog(context.Background(), 3, "")
	if err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("backlog after the last: %d, %v, %v; want 0, zero time", n, oldest, err)
	}
}

func TestConsumerNeedsNameAndDeliver(t *testing.T) {
	e := newEnv(t)
	r, err := outbox.New(e.options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), outbox.Consumer{Name: "x"}); err == nil {
		t.Error("a consumer without Deliver ran")
	}
	if _, err := outbox.New(outbox.Options{}); err == nil {
		t.Error("New without a Store succeeded")
	}
}

func TestRedeliverDeadLetters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		fixed bool // the receiver's problem was fixed
	)
	rec := &recorder{fail: func(ev ticket.Event, _ int) error {
		mu.Lock()
		defer mu.Unlock()
		if !fixed && ev.TicketID <= 2 {
			return outbox.Permanent(errors.New("channel_not_found"))
		}
		return nil
	}}
	e.appendEvents("default", 1, 2, 3)
	opts := e.options()
	opts.PollInterval = 5 * time.Millisecond // the runner finds requests by polling
	e.run(opts, outbox.Consumer{Name: "c", Deliver: rec.deliver, FromStart: true})
	waitFor(t, "event 3", func() bool { return len(rec.snapshot()) == 1 })
	dls, err := e.st.DeadLetters(ctx, "c", 0)
	if err != nil || len(dls) != 2 {
		t.Fatalf("dead letters %+v, %v; want 2", dls, err)
	}
	if _, err := e.st.RedeliverDeadLetters(ctx, "c", 99999); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("redeliver of an unknown event: %v, want ErrNotFound", err)
	}
	if _, err := e.st.RedeliverDeadLetters(ctx, "other", 0); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("redeliver for a consumer without dead letters: %v, want ErrNotFound", err)
	}

	// Still broken: asked again, it fails again and stays, one attempt more.
	if n, err := e.st.RedeliverDeadLetters(ctx, "c", dls[0].Event.ID); err != nil || n != 1 {
		t.Fatalf("redeliver: %d, %v", n, err)
	}
	waitFor(t, "the failed redelivery recorded", func() bool {
		dls, _ := e.st.DeadLetters(ctx, "c", 0)
		return len(dls) == 2 && dls[0].Attempts == 2 && !dls[0].Redeliver
	})

	// Fixed: every one asked for is delivered and dropped.
	mu.Lock()
	fixed = true
	mu.Unlock()
	if n, err := e.st.RedeliverDeadLetters(ctx, "c", 0); err != nil || n != 2 {
		t.Fatalf("redeliver all: %d, %v", n, err)
	}
	waitFor(t, "both redelivered", func() bool {
		dls, _ := e.st.DeadLetters(ctx, "c", 0)
		return len(dls) == 0
	})
	if got := rec.snapshot(); !slices.Equal(got, []int64{3, 1, 2}) {
		t.Errorf("delivered %v, want 3, then the dead letters 1 and 2", got)
	}
}

func TestRunnerStatus(t *testing.T) {
	e := newEnv(t)
	var (
		mu   sync.Mutex
		down = true
	)
	rec := &recorder{fail: func(ev ticket.Event, _ int) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return errors.New("503 from the receiver")
		}
		return nil
	}}
	r, err := outbox.New(e.options())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, outbox.Consumer{Name: "c", Tenant: "default", Deliver: rec.deliver, FromStart: true})
	}()
	e.appendEvents("default", 1, 2)
	status := func() outbox.ConsumerStatus {
		for _, s := range r.Status() {
			if s.Consumer == "c" {
				return s
			}
		}
		return outbox.ConsumerStatus{}
	}
	waitFor(t, "a failing, delivering consumer", func() bool {
		s := status()
		return s.Delivering && s.Failing() && strings.Contains(s.LastError, "503")
	})
	mu.Lock()
	down = false
	mu.Unlock()
	waitFor(t, "recovery", func() bool { s := status(); return !s.Failing() && s.Pending == 0 && len(rec.snapshot()) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := status(); s.Delivering || s.Tenant != "default" {
		t.Errorf("after stop: %+v; want not delivering", s)
	}
}
