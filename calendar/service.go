package calendar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Options configures the calendar Service.
type Options struct {
	// Store keeps the busy intervals and sync status. Required.
	Store Store
	// Tenant scopes every row; default "default".
	Tenant string
	Agents []Agent
	// Window is how far ahead busy time is synced, from now; default 30 days.
	Window time.Duration
	// Interval is the time between syncs in Run; default 5 minutes.
	Interval time.Duration
	// Concurrency is how many agents sync at once; default 8.
	Concurrency int
	// Sink, when set, receives every agent's busy time after it is stored
	// (a CRM scheduler). Nil: local storage only.
	Sink Sink
	// FeedSecret is the HMAC key of the feed URL tokens. Empty disables
	// the feed.
	FeedSecret []byte
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Store keeps agents' busy time (only busy time: never an event's
// details) and the outcome of their syncs; *store.Store implements it.
type Store interface {
	// SaveBusy replaces the agent's intervals, known for window, and
	// records a successful sync at at, with the source version and the
	// count of intervals inside the sync's own window.
	SaveBusy(ctx context.Context, tenant, agentID string, window [2]time.Time, busy []ticket.Interval, version string, count int, at time.Time) error
	// SaveCalendarUnchanged records a successful sync that kept the
	// stored intervals.
	SaveCalendarUnchanged(ctx context.Context, tenant, agentID string, count int, at time.Time) error
	// SaveCalendarFailure records a failed sync; the intervals stay.
	SaveCalendarFailure(ctx context.Context, tenant, agentID string, at time.Time, msg string) error
	// CalendarSyncState: what the last success left (zero: never synced).
	CalendarSyncState(ctx context.Context, tenant, agentID string) (ticket.CalendarSync, error)
	// StoredBusy: the stored intervals overlapping [from, to).
	StoredBusy(ctx context.Context, tenant, agentID string, from, to time.Time) (ticket.StoredBusy, error)
	// CalendarStatuses: every agent's stored status.
	CalendarStatuses(ctx context.Context, tenant string) (map[string]ticket.CalendarStatus, error)
	// FeedGenerations: each agent's feed generation (absent: 0);
	// RotateFeed moves one agent to the next.
	FeedGenerations(ctx context.Context, tenant string) (map[string]int, error)
	RotateFeed(ctx context.Context, tenant, agentID string) (int, error)
}

// Service syncs agents' busy time and serves it.
type Service struct {
	st          Store
	tenant      string
	agents      []Agent
	byID        map[string]*Agent
	window      time.Duration
	interval    time.Duration
	concurrency int
	sink        Sink
	feedSecret  []byte
	now         func() time.Time
	logger      *slog.Logger

	mu     sync.Mutex
	status map[string]AgentStatus
}

// AgentStatus is the outcome of an agent's latest sync, for /healthz.
type AgentStatus = ticket.CalendarStatus

// SyncReport summarizes one SyncOnce.
type SyncReport struct {
	Agents int `json:"agents"`
	Failed int `json:"failed"`
	// Unchanged counts agents whose calendars had not changed since their
	// last sync (VersionedSource): their stored busy time was kept.
	Unchanged int           `json:"unchanged"`
	Intervals int           `json:"intervals"`
	Duration  time.Duration `json:"duration"`
}

// coverMargin is how far beyond the window a versioned source is read, so
// that the stored intervals still cover the moving window on the periodic
// syncs that follow; once they no longer do, the source is read again.
const coverMargin = 24 * time.Hour

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("calendar: Options.Store is required")
	}
	s := &Service{
		st:          opts.Store,
		tenant:      opts.Tenant,
		agents:      opts.Agents,
		byID:        map[string]*Agent{},
		window:      opts.Window,
		interval:    opts.Interval,
		concurrency: opts.Concurrency,
		sink:        opts.Sink,
		feedSecret:  opts.FeedSecret,
		now:         opts.Now,
		logger:      opts.Logger,
		status:      map[string]AgentStatus{},
	}
	if s.tenant == "" {
		s.tenant = "default"
	}
	if s.window <= 0 {
		s.window = 30 * 24 * time.Hour
	}
	if s.interval <= 0 {
		s.interval = 5 * time.Minute
	}
	if s.concurrency <= 0 {
		s.concurrency = 8
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	for i := range s.agents {
		a := &s.agents[i]
		if a.ID == "" {
			return nil, errors.New("calendar: agent without ID")
		}
		if a.Source == nil {
			return nil, fmt.Errorf("calendar: agent %q has no source", a.ID)
		}
		if _, dup := s.byID[a.ID]; dup {
			return nil, fmt.Errorf("calendar: duplicate agent %q", a.ID)
		}
		s.byID[a.ID] = a
	}
	return s, nil
}

// SyncOnce syncs every agent, a few at a time. One agent's failure does not
// stop the others; the joined errors of all failed agents are returned with
// the report.
func (s *Service) SyncOnce(ctx context.Context) (SyncReport, error) {
	start := time.Now()
	rep := SyncReport{Agents: len(s.agents)}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, s.concurrency)
	for i := range s.agents {
		a := &s.agents[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := s.syncAgent(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			rep.Intervals += res.intervals
			if res.unchanged {
				rep.Unchanged++
			}
			if err != nil {
				rep.Failed++
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	rep.Duration = time.Since(start)
	s.logger.Info("calendar: sync done", "agents", rep.Agents, "failed", rep.Failed, "unchanged", rep.Unchanged, "intervals", rep.Intervals, "duration", rep.Duration)
	return rep, errors.Join(errs...)
}

// SyncAgent syncs one agent now (on demand).
func (s *Service) SyncAgent(ctx context.Context, agentID string) (AgentStatus, error) {
	a, ok := s.byID[agentID]
	if !ok {
		return AgentStatus{}, fmt.Errorf("calendar: agent %q: %w", agentID, ticket.ErrNotFound)
	}
	_, err := s.syncAgent(ctx, a)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status[agentID], err
}

// syncResult is the outcome of one agent's sync.
type syncResult struct {
	intervals int  // busy intervals inside the window
	unchanged bool // the stored intervals were kept
}

func (s *Service) syncAgent(ctx context.Context, a *Agent) (syncResult, error) {
	now := s.now().UTC().Truncate(time.Second)
	window := [2]time.Time{now, now.Add(s.window)}
	var res syncResult
	var busy []Interval
	err := func() error {
		var version string
		if vs, ok := a.Source.(VersionedSource); ok {
			// The version is read before the events: a change between the
			// two makes the next sync read them again.
			var err error
			if version, err = vs.Version(ctx); err != nil {
				return err
			}
		}
		if version != "" {
			prev, err := s.st.CalendarSyncState(ctx, s.tenant, a.ID)
			if err != nil {
				return err
			}
			if prev.Version == version && !prev.Window[0].After(window[0]) && !prev.Window[1].Before(window[1]) {
				sb, err := s.st.StoredBusy(ctx, s.tenant, a.ID, window[0], window[1])
				if err != nil {
					return err
				}
				busy = normalize(sb.Busy, window[0], window[1])
				res.unchanged = true
				return s.st.SaveCalendarUnchanged(ctx, s.tenant, a.ID, len(busy), now)
			}
		}
		// Read, and store, beyond the window when the next syncs may keep
		// what is stored.
		cover := window
		if version != "" {
			cover[1] = cover[1].Add(coverMargin)
		}
		raw, err := a.Source.Busy(ctx, cover[0], cover[1])
		if err != nil {
			return err
		}
		stored := normalize(raw, cover[0], cover[1])
		busy = normalize(stored, window[0], window[1])
		return s.st.SaveBusy(ctx, s.tenant, a.ID, cover, stored, version, len(busy), now)
	}()
	if err == nil && s.sink != nil {
		if serr := s.sink.PublishBusy(ctx, *a, window, busy); serr != nil {
			err = fmt.Errorf("calendar: sink: %w", serr)
		}
	}
	s.mu.Lock()
	st := s.status[a.ID]
	st.AgentID, st.LastAttempt = a.ID, now
	if err != nil {
		st.LastError = err.Error()
	} else {
		st.LastSync, st.LastError, st.Intervals = now, "", len(busy)
	}
	s.status[a.ID] = st
	s.mu.Unlock()
	if err != nil {
		s.logger.Warn("calendar: agent sync failed", "agent", a.ID, "err", err)
		if ferr := s.st.SaveCalendarFailure(context.WithoutCancel(ctx), s.tenant, a.ID, now, err.Error()); ferr != nil {
			s.logger.Error("calendar: recording sync failure", "agent", a.ID, "err", ferr)
		}
		return syncResult{}, fmt.Errorf("calendar: agent %q: %w", a.ID, err)
	}
	s.logger.Debug("calendar: agent synced", "agent", a.ID, "intervals", len(busy), "unchanged", res.unchanged)
	res.intervals = len(busy)
	return res, nil
}

// Run syncs all agents now and then every Interval until ctx ends; it
// returns nil then. Failures are logged and recorded in Status.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if _, err := s.SyncOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("calendar: sync had failures", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Status returns the latest sync outcome of every configured agent, in
// configuration order. Agents this process has not synced yet show what
// the database recorded (another process may sync them).
func (s *Service) Status() []AgentStatus {
	s.mu.Lock()
	missing := false
	for _, a := range s.agents {
		if _, ok := s.status[a.ID]; !ok {
			missing = true
		}
	}
	s.mu.Unlock()
	var stored map[string]AgentStatus
	if missing {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		if stored, err = s.st.CalendarStatuses(ctx, s.tenant); err != nil {
			s.logger.Warn("calendar: reading sync status", "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AgentStatus, 0, len(s.agents))
	for _, a := range s.agents {
		st, ok := s.status[a.ID]
		if !ok {
			st = stored[a.ID]
			st.AgentID = a.ID
		}
		out = append(out, st)
	}
	return out
}
