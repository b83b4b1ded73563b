// Package outbox delivers committed events (the transactional outbox that
// every state change writes) to named consumers: Slack alerts, webhooks,
// outbound mail, CRM sync. A consumer is a Deliver function; the Runner
// does the rest, the same way for all of them:
//
//   - one process at a time delivers a consumer (a lease per consumer), so
//     several processes can share one database;
//   - events are delivered in id order, at least once: the consumer's
//     cursor is stored only after the events before it were delivered, so
//     a crash redelivers a few events and loses none (consumers make
//     redelivery harmless with idempotency keys);
//   - a failed delivery is retried with exponential backoff and jitter, or
//     after the Retry-After the consumer names (RetryAfter);
//   - an event that fails permanently (Permanent) or keeps failing for
//     longer than GiveUpAfter becomes a dead letter with its last error,
//     and the consumer goes on with the next event;
//   - Prometheus metrics per consumer: pending events, age of the oldest,
//     deliveries, failures, dead letters.
//
// Runners wake when this process commits events (Notifier) and otherwise
// poll, which finds events committed by other processes.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sidedesk/sidedesk/lease"
	"github.com/sidedesk/sidedesk/ticket"
)

// Store is the persistence the runner uses; *store.Store implements it.
type Store interface {
	lease.Store
	// PendingEvents: events of every tenant with id > afterID, in id
	// order, at most limit.
	PendingEvents(ctx context.Context, afterID int64, limit int) ([]ticket.Event, error)
	// ConsumerCursor: the id of the last event consumer delivered;
	// ticket.ErrNotFound when it never stored one.
	ConsumerCursor(ctx context.Context, consumer string) (int64, error)
	SetConsumerCursor(ctx context.Context, consumer string, lastEventID int64) error
	// LastEventID: the newest event's id, 0 when there is none.
	LastEventID(ctx context.Context) (int64, error)
	// OutboxBacklog: how many events (of tenant, "" every tenant) follow
	// afterID, and when the oldest of them was created.
	OutboxBacklog(ctx context.Context, afterID int64, tenant string) (int64, time.Time, error)
	// AddDeadLetter records (or, for the same consumer and event,
	// replaces) a dead letter; it clears a redelivery request.
	AddDeadLetter(ctx context.Context, d ticket.DeadLetter) error
	// DeadLettersToRedeliver: the consumer's dead letters an admin asked
	// to deliver again, oldest first.
	DeadLettersToRedeliver(ctx context.Context, consumer string, limit int) ([]ticket.DeadLetter, error)
	// DeleteDeadLetter drops one (it was delivered after all).
	DeleteDeadLetter(ctx context.Context, consumer string, eventID int64) error
}

// Notifier tells when this process committed events; *store.Store
// implements it. The channel is closed at the next commit with events.
type Notifier interface {
	EventsCommitted() <-chan struct{}
}

// Consumer is one named delivery of the outbox.
type Consumer struct {
	// Name is unique per database; the cursor is stored under it and the
	// lease is "dispatch:<Name>". Put the tenant in it when the consumer
	// serves one ("slack:default").
	Name string
	// Tenant, when set, is the only tenant whose events are delivered.
	Tenant string
	// Deliver does what one event asks. nil: done (or nothing to do).
	// An error is retried, unless it is Permanent; RetryAfter names the
	// wait. Deliver must return when ctx ends. It may be called again for
	// an event it already delivered (after a crash), so it must be
	// idempotent.
	Deliver func(ctx context.Context, e ticket.Event) error
	// FromStart: on the very first start (no cursor stored) deliver every
	// stored event. By default the consumer starts after the newest event:
	// it acts on what happens from then on.
	FromStart bool
	// Zero fields take the Runner's Options.
	PollInterval time.Duration
	MaxBackoff   time.Duration
	GiveUpAfter  time.Duration
}

// Options configures New. Zero fields take the defaults.
type Options struct {
	Store   Store // required
	Notify  Notifier
	Logger  *slog.Logger
	Metrics *Metrics
	// Holder names this process in the leases. Default: host:pid:random.
	Holder string
	// PollInterval is how often an idle consumer looks for events that
	// Notify did not announce (other processes'). Default 1s.
	PollInterval time.Duration
	// FirstBackoff and MaxBackoff bound the wait between attempts of a
	// failing delivery: FirstBackoff doubled per attempt, capped at
	// MaxBackoff, with jitter. Defaults 500ms and 1 minute.
	FirstBackoff, MaxBackoff time.Duration
	// GiveUpAfter is how long an event is retried, from its first failed
	// attempt, before it becomes a dead letter. Default 24h: an outage of
	// the receiver or credentials an admin must fix delay deliveries, they
	// do not drop them.
	GiveUpAfter time.Duration
	// LeaseTTL of the consumers' leases. Default 30s.
	LeaseTTL time.Duration
	// BatchSize is how many events are read at once. Default 100.
	BatchSize int
	// Sleep waits between attempts and polls (tests shorten it).
	// Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	DefaultFirstBackoff = 500 * time.Millisecond
	DefaultMaxBackoff   = time.Minute
	DefaultGiveUpAfter  = 24 * time.Hour
	DefaultLeaseTTL     = 30 * time.Second
	DefaultBatchSize    = 100
)

// cursorEvery bounds how long delivered events go without storing the
// cursor inside a long batch (a crash redelivers at most that much).
const cursorEvery = time.Second

// backlogEvery bounds how often the pending-events metrics are refreshed.
const backlogEvery = time.Second

// Runner runs consumers over the outbox.
type Runner struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	status map[string]*ConsumerStatus
}

// ConsumerStatus is what this process knows of one consumer it runs, for
// /healthz.
type ConsumerStatus struct {
	Consumer string `json:"consumer"`
	Tenant   string `json:"tenant,omitempty"`
	// Delivering: this process holds the consumer's lease (another
	// process delivers otherwise).
	Delivering bool `json:"delivering"`
	// Pending events, as of the last look (while Delivering).
	Pending      int64     `json:"pending"`
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	// LastError is the latest failed attempt's error; Failing says it is
	// more recent than the last delivery.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	DeadLetters int64     `json:"dead_letters_since_start"`
}

// Failing reports a consumer whose latest attempt failed.
func (c ConsumerStatus) Failing() bool { return c.LastErrorAt.After(c.LastDelivery) }

// Status is the state of every consumer this runner runs, by name.
func (r *Runner) Status() []ConsumerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ConsumerStatus, 0, len(r.status))
	for _, st := range r.status {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b ConsumerStatus) int { return strings.Compare(a.Consumer, b.Consumer) })
	return out
}

// note changes the status of consumer name.
func (r *Runner) note(name string, fn func(*ConsumerStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.status[name]; st != nil {
		fn(st)
	}
}

// New checks opts and fills the defaults.
func New(opts Options) (*Runner, error) {
	if opts.Store == nil {
		return nil, errors.New("outbox: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Holder == "" {
		opts.Holder = lease.NewHolder()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.FirstBackoff <= 0 {
		opts.FirstBackoff = DefaultFirstBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = DefaultGiveUpAfter
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{opts: opts, log: opts.Logger, status: map[string]*ConsumerStatus{}}, nil
}

// Run delivers c's events until ctx ends (then it returns nil); only while
// this process holds c's lease. It returns an error only for a consumer
// that cannot run (no name, no Deliver).
func (r *Runner) Run(ctx context.Context, c Consumer) error {
	if c.Name == "" || c.Deliver == nil {
		return errors.New("outbox: a consumer needs a Name and a Deliver function")
	}
	if c.PollInterval <= 0 {
		c.PollInterval = r.opts.PollInterval
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = r.opts.MaxBackoff
	}
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = r.opts.GiveUpAfter
	}
	r.opts.Metrics.start(c.Name)
	r.mu.Lock()
	if r.status[c.Name] == nil {
		r.status[c.Name] = &ConsumerStatus{Consumer: c.Name, Tenant: c.Tenant}
	}
	r.mu.Unlock()
	l := lease.Lease{Store: r.opts.Store, Name: "dispatch:" + c.Name, Holder: r.opts.Holder,
		TTL: r.opts.LeaseTTL, Logger: r.log}
	return l.Run(ctx, func(ctx context.Context) {
		r.note(c.Name, func(st *ConsumerStatus) { st.Delivering = true })
		defer r.note(c.Name, func(st *ConsumerStatus) { st.Delivering, st.Pending = false, 0 })
		(&run{r: r, c: c, log: r.log.With("consumer", c.Name)}).loop(ctx)
	})
}

// run is one lease term of one consumer.
type run struct {
	r         *Runner
	c         Consumer
	log       *slog.Logger
	cursor    int64 // the last event delivered (or skipped)
	saved     int64 // the cursor as stored
	savedAt   time.Time
	backlogAt time.Time
	// backlogCursor is the cursor the figures were worked out at.
	backlogCursor int64
}

func (u *run) loop(ctx context.Context) {
	err := u.retry(ctx, "load cursor", func(ctx context.Context) error {
		var err error
		u.cursor, err = u.startCursor(ctx)
		return err
	})
	if err != nil {
		return
	}
	u.saved, u.savedAt = u.cursor, u.r.opts.Now()
	defer u.r.opts.Metrics.forget(u.c.Name)
	for ctx.Err() == nil {
		var wake <-chan struct{}
		if u.r.opts.Notify != nil {
			wake = u.r.opts.Notify.EventsCommitted() // before reading: no commit goes unseen
		}
		var events []ticket.Event
		err := u.retry(ctx, "read events", func(ctx context.Context) error {
			var err error
			events, err = u.r.opts.Store.PendingEvents(ctx, u.cursor, u.r.opts.BatchSize)
			return err
		})
		if err != nil {
			return
		}
		for _, e := range events {
			if u.c.Tenant == "" || e.Tenant == u.c.Tenant {
				if !u.deliver(ctx, e) {
					return // stopped: the cursor stays before e
				}
			}
			u.cursor = e.ID
			if u.r.opts.Now().Sub(u.savedAt) >= cursorEvery && !u.saveCursor(ctx) {
				return
			}
		}
		if !u.saveCursor(ctx) {
			return
		}
		if len(events) == u.r.opts.BatchSize {
			u.refreshBacklog(ctx, false)
			continue // more to read at once
		}
		// Caught up: the dead letters an admin asked for, figures as of
		// now, then wait.
		if !u.redeliver(ctx) {
			return
		}
		u.refreshBacklog(ctx, u.backlogAt.IsZero() || u.cursor != u.backlogCursor)
		u.idle(ctx, wake)
	}
}

// startCursor is the stored cursor or, on the very first start, where the
// consumer begins (stored at once, so that a restart begins there too).
func (u *run) startCursor(ctx context.Context) (int64, error) {
	c, err := u.r.opts.Store.ConsumerCursor(ctx, u.c.Name)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, ticket.ErrNotFound) {
		return 0, err
	}
	var start int64
	if !u.c.FromStart {
		if start, err = u.r.opts.Store.LastEventID(ctx); err != nil {
			return 0, err
		}
	}
	if err := u.r.opts.Store.SetConsumerCursor(ctx, u.c.Name, start); err != nil {
		return 0, err
	}
	u.log.InfoContext(ctx, "outbox: first start of consumer", "after_event", start)
	return start, nil
}

// saveCursor stores the cursor if it moved; false when ctx ended first.
func (u *run) saveCursor(ctx context.Context) bool {
	if u.cursor == u.saved {
		return true
	}
	c := u.cursor
	err := u.retry(ctx, "store cursor", func(ctx context.Context) error {
		return u.r.opts.Store.SetConsumerCursor(ctx, u.c.Name, c)
	})
	if err != nil {
		return false
	}
	u.saved, u.savedAt = c, u.r.opts.Now()
	return true
}

// deliver delivers e, retrying as the error says, or makes it a dead
// letter. false when ctx ended before e was done with.
func (u *run) deliver(ctx context.Context, e ticket.Event) bool {
	m := u.r.opts.Metrics
	backoff := u.r.opts.FirstBackoff
	var first time.Time
	for attempt := 1; ; attempt++ {
		err := u.c.Deliver(ctx, e)
		if err == nil {
			m.delivered(u.c.Name)
			u.r.note(u.c.Name, func(st *ConsumerStatus) { st.LastDelivery = u.r.opts.Now() })
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		now := u.r.opts.Now()
		u.r.note(u.c.Name, func(st *ConsumerStatus) { st.LastError, st.LastErrorAt = err.Error(), now })
		if first.IsZero() {
			first = now
		}
		m.failed(u.c.Name)
		var perm interface{ Permanent() bool }
		if errors.As(err, &perm) && perm.Permanent() || now.Sub(first) >= u.c.GiveUpAfter {
			return u.bury(ctx, e, attempt, first, err)
		}
		wait := backoff + mrand.N(backoff/2+1)
		backoff = min(backoff*2, u.c.MaxBackoff)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			wait = ra.RetryAfter()
		}
		level := slog.LevelWarn
		if attempt == 1 {
			level = slog.LevelInfo
		}
		u.log.Log(ctx, level, "outbox: delivery failed, retrying", "event", e.ID, "type", e.Type,
			"ticket", e.TicketID, "attempt", attempt, "wait", wait, "error", err)
		if u.r.opts.Sleep(ctx, wait) != nil {
			return false
		}
		u.refreshBacklog(ctx, false)
	}
}

// redeliver makes one more attempt at each dead letter an admin asked to
// redeliver: delivered, it is dropped; failed again, it stays with the new
// error and one more attempt, and waits for the next request. false when
// ctx ended.
func (u *run) redeliver(ctx context.Context) bool {
	var dls []ticket.DeadLetter
	if err := u.retry(ctx, "read dead letters to redeliver", func(ctx context.Context) error {
		var err error
		dls, err = u.r.opts.Store.DeadLettersToRedeliver(ctx, u.c.Name, u.r.opts.BatchSize)
		return err
	}); err != nil {
		return false
	}
	for _, d := range dls {
		err := u.c.Deliver(ctx, d.Event)
		if ctx.Err() != nil {
			return false
		}
		var store func(context.Context) error
		if err == nil {
			u.r.opts.Metrics.delivered(u.c.Name)
			u.log.InfoContext(ctx, "outbox: dead letter redelivered", "event", d.Event.ID, "type", d.Event.Type)
			store = func(ctx context.Context) error {
				err := u.r.opts.Store.DeleteDeadLetter(ctx, u.c.Name, d.Event.ID)
				if errors.Is(err, ticket.ErrNotFound) {
					return nil // dropped meanwhile
				}
				return err
			}
		} else {
			u.r.opts.Metrics.failed(u.c.Name)
			u.log.WarnContext(ctx, "outbox: dead letter failed again", "event", d.Event.ID, "type", d.Event.Type,
				"attempts", d.Attempts+1, "error", err)
			d.Attempts++
			d.LastError, d.DeadAt, d.Redeliver = err.Error(), u.r.opts.Now(), false
			store = func(ctx context.Context) error { return u.r.opts.Store.AddDeadLetter(ctx, d) }
		}
		if u.retry(ctx, "record redelivery", store) != nil {
			return false
		}
	}
	return true
}

// bury records e as a dead letter of the consumer; it keeps trying while
// the store fails, since going on without the record would lose e.
func (u *run) bury(ctx context.Context, e ticket.Event, attempts int, first time.Time, cause error) bool {
	d := ticket.DeadLetter{Consumer: u.c.Name, Event: e, Attempts: attempts, LastError: cause.Error(),
		FirstFailedAt: first, DeadAt: u.r.opts.Now()}
	if err := u.retry(ctx, "record dead letter", func(ctx context.Context) error {
		return u.r.opts.Store.AddDeadLetter(ctx, d)
	}); err != nil {
		return false
	}
	u.r.opts.Metrics.buried(u.c.Name)
	u.r.note(u.c.Name, func(st *ConsumerStatus) { st.DeadLetters++ })
	u.log.ErrorContext(ctx, "outbox: event not delivered; kept as a dead letter", "event", e.ID,
		"type", e.Type, "ticket", e.TicketID, "attempts", attempts, "error", cause)
	return true
}

// retry runs a store call until it succeeds or ctx ends, with backoff.
func (u *run) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	backoff := u.r.opts.FirstBackoff
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff + mrand.N(backoff/2+1)
		backoff = min(backoff*2, u.c.MaxBackoff)
		u.log.WarnContext(ctx, "outbox: "+what+" failed, retrying", "attempt", attempt, "wait", wait, "error", err)
		if err := u.r.opts.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// idle waits for a commit, the poll interval or ctx.
func (u *run) idle(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTimer(u.c.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// refreshBacklog updates the pending metrics, at most once per
// backlogEvery unless force.
func (u *run) refreshBacklog(ctx context.Context, force bool) {
	m := u.r.opts.Metrics
	if !force && u.r.opts.Now().Sub(u.backlogAt) < backlogEvery {
		return
	}
	u.backlogAt, u.backlogCursor = u.r.opts.Now(), u.cursor
	n, oldest, err := u.r.opts.Store.OutboxBacklog(ctx, u.cursor, u.c.Tenant)
	if err != nil {
		if ctx.Err() == nil {
			u.log.DebugContext(ctx, "outbox: backlog", "error", err)
		}
		return
	}
	m.backlog(u.c.Name, n, oldest)
	u.r.note(u.c.Name, func(st *ConsumerStatus) { st.Pending = n })
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// The runner reads a delivery error's behaviour, not its type: an error
// in the chain with a method Permanent() bool that says true makes the
// event a dead letter at once; one with RetryAfter() time.Duration above
// zero sets the wait before the next attempt. A consumer package can
// declare such errors without importing this one; Permanent and
// RetryAfter make them here.

// permanentError marks a failure that retrying cannot change.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// Permanent marks err as a failure that retrying cannot change (the
// receiver refused the request for good): the event becomes a dead letter
// at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// retryAfterError carries the wait the receiver asked for.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.err, e.after)
}
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// RetryAfter marks err as a failure to retry after d (a 429's or 503's
// Retry-After) instead of after the backoff. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}
