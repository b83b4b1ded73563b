// Package gmailsource captures a Gmail / Google Workspace mailbox through the
// Gmail API (google.golang.org/api/gmail/v1) into tickets, the same way
// capture/imapsource does for IMAP: every message is fetched in format=RAW
// and handed to capture.Pipeline.Deliver, so the same parser, threading, loop
// guard and raw retention apply.
//
// Sync: the first pass lists the messages matching Options.Query
// (users.messages.list) and records the mailbox historyId read from
// users.getProfile before the listing, so nothing that arrives during the
// listing is missed. Later passes read users.history.list from that
// historyId (messageAdded and labelAdded records). When Gmail answers 404
// (the historyId is too old, about a week), the source falls back to a full
// listing; source keys "gmail:<id>" make that free of duplicates.
//
// Fetching: messages.get format=raw with bounded concurrency
// (Options.Concurrency, default 6) rather than the multipart batch endpoint:
// the batch endpoint buffers whole multipart responses (large raw messages
// can't be streamed), each part still counts against the per-user quota, and
// Google caps it at 100 calls; parallel GETs over one HTTP/2 connection give
// the same round-trip savings and let each raw message be stream-decoded from
// base64url into a bounded spool. Messages are delivered in mailbox order
// (oldest first), so replies thread onto their parents as with IMAP.
//
// Push: with Options.PubSubTopic, Run registers a Gmail watch
// (users.watch) after its first successful pass and renews it daily (see
// watch.go); Gmail then publishes mailbox changes to the Pub/Sub topic, whose
// push subscription calls PushHandler, which wakes Run at once. Polling goes
// on as a safety net, relaxed to Options.WatchPollInterval once a push has
// arrived. Shutdown never calls users.stop: another process may own the
// watch, and an unrenewed watch simply expires.
//
// State ({"history_id": N}) advances only after every message up to that
// point has been committed (and labelled, with LabelAfterCapture): a crash
// or an API error re-fetches, never loses.
package gmailsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/lease"
	"github.com/sidedesk/sidedesk/ticket"
)

// StateStore keeps the opaque per-mailbox sync state (package store
// implements it). SyncState returns an error wrapping ticket.ErrNotFound when
// there is none yet.
type StateStore interface {
	SyncState(ctx context.Context, tenant, mailbox string) ([]byte, error)
	SetSyncState(ctx context.Context, tenant, mailbox string, state []byte) error
}

// ErrLeaseHeld is returned by Once when another holder has the mailbox's lease.
var ErrLeaseHeld = lease.ErrHeld

// DefaultBaseURL is the Gmail API endpoint.
const DefaultBaseURL = "https://gmail.googleapis.com/"

// KnownSources tells which source keys of a mailbox were captured
// already (*store.Store implements it, reading outside any write
// transaction).
type KnownSources interface {
	CapturedSourceKeys(ctx context.Context, tenant, mailbox string, keys []string) (map[string]bool, error)
}

// Options configures a Source. Zero fields take the documented defaults.
type Options struct {
	Name   string // configured mailbox name (required)
	Tenant string // default ticket.DefaultTenant
	// User is the Gmail address captured; default "me" (the authorised user).
	User string
	// Query is a Gmail search query selecting what to capture; default
	// "in:inbox". Queries made only of in:/label:/is: terms are checked
	// against the labels in history records at no cost; any other query is
	// re-evaluated by Gmail with one messages.list per sync that saw new mail.
	Query string
	// Outgoing: Query selects mail the mailbox sent (the SENT label): it was
	// written by us (ticket.Inbound.Outgoing), an agent's reply from Gmail
	// itself. Its sync state, lease and status are Name + "/sent".
	Outgoing bool
	// HTTPClient is an authorised client (see NewHTTPClient). Required.
	HTTPClient *http.Client
	// BaseURL overrides the API endpoint (tests, proxies); default DefaultBaseURL.
	BaseURL string
	// PollInterval is the time between history polls; default 5s.
	PollInterval time.Duration
	// PubSubTopic, when set ("projects/PROJECT/topics/TOPIC"), makes Run
	// register a Gmail watch (users.watch) on the topic after its first
	// successful pass and keep it renewed, so that Gmail publishes mailbox
	// changes, which a Pub/Sub push subscription delivers to PushHandler.
	// Empty: Run polls only. Once never registers a watch; Check does.
	PubSubTopic string
	// WatchLabels are the label names or ids whose changes the watch
	// reports. Default: the labels of Query's in:/label: terms (is: terms
	// when it has none), INBOX for a query with no label terms, and every
	// change for in:anywhere.
	WatchLabels []string
	// WatchPollInterval is the history poll interval, kept as a safety net,
	// while a watch is active and a push has arrived since it was
	// registered (proof that the whole push path works); default 60s, and
	// never less than PollInterval.
	WatchPollInterval time.Duration
	// LabelAfterCapture, when set, is a label name added to every captured
	// message (created when missing). Nothing is ever removed or deleted.
	LabelAfterCapture string
	// Concurrency bounds parallel messages.get calls; default 6, max 32.
	Concurrency int
	// SpoolMemory is how many bytes of one decoded raw message are kept in
	// memory before it spills to a temp file; default 1 MiB.
	SpoolMemory int64
	// State keeps the history id (required).
	State StateStore
	// Lease, when set, is held as "gmail:<tenant>:<name>" while capturing.
	Lease lease.Store
	// Holder names this process in leases; default host:pid:random.
	Holder string
	// Known, when set, is asked which Gmail ids were captured already so a
	// full sync (first run, expired history, restart mid-sync) does not
	// fetch them again. Without it they are fetched and deduplicated on
	// commit. *store.Store implements it.
	Known KnownSources
	// Pipeline delivers each raw message (required).
	Pipeline *capture.Pipeline
	Status   *capture.Status  // optional
	Metrics  *capture.Metrics // optional
	Logger   *slog.Logger     // default: discard

	// RetryMin and RetryMax bound the exponential backoff (with jitter) of
	// retried API calls: 429, 403 rate limits, 5xx and network errors.
	// Defaults 1s and 64s (Google's recommended truncated backoff).
	// Retry-After is honoured up to RetryMax.
	RetryMin, RetryMax time.Duration
	// MaxRetries per call before the pass fails; default 8.
	MaxRetries int
	// ErrorBackoffMax caps Run's wait after a failed pass; default 5m.
	ErrorBackoffMax time.Duration
}

// Stats says what one sync pass did.
type Stats struct {
	FullSync   bool         // a full listing, not a history read
	Candidates int          // message ids considered (listed, or added in history and matching)
	Skipped    int          // already captured (Options.Known), not fetched
	Fetched    int          // raw messages fetched
	New        int          // delivered and stored as new messages
	Duplicates int          // delivered but already stored
	Held       capture.Held // of the new, what the loop guard held, by why
	Gone       int          // deleted between listing and fetching (404)
	Labelled   int          // messages given LabelAfterCapture
	Bytes      int64        // raw bytes fetched
	Requests   int64        // HTTP requests to the Gmail API, retries included
}

// RequestsPerMessage is Requests divided by Fetched (0 when nothing was fetched).
func (st Stats) RequestsPerMessage() float64 {
	if st.Fetched == 0 {
		return 0
	}
	return float64(st.Requests) / float64(st.Fetched)
}

// state is what the source keeps in the StateStore.
type state struct {
	HistoryID uint64 `json:"history_id"`
	// SyncedAt (unix seconds) bounds the re-check listing of general queries.
	SyncedAt int64 `json:"synced_at,omitempty"`
}

// Source captures one Gmail mailbox. Run, Once and Check may be called from
// one goroutine at a time; Notify from any.
type Source struct {
	opts     Options
	log      *slog.Logger
	svc      *gmail.Service
	client   *http.Client
	base     string
	requests atomic.Int64
	notify   chan struct{}
	sleep    func(ctx context.Context, d time.Duration) error
	now      func() time.Time
	query    labelQuery
	pushes   atomic.Int64 // Notify calls
	watch    watchState   // used by Run's goroutine only

	mu           sync.Mutex // guards the label caches
	labelIDs     map[string]string
	labelsAt     time.Time
	missingLabel bool
	labelID      string
	// The mailbox's lease while held (Options.Lease): its context ends
	// when the lease is lost.
	leaseCtx     context.Context
	leaseRelease func()
}

const leaseTTL = 60 * time.Second

// New checks opts, fills defaults and builds the Gmail API client. It makes
// no request.
func New(ctx context.Context, opts Options) (*Source, error) {
	switch {
	case opts.Name == "":
		return nil, errors.New("gmailsource: Options.Name is required")
	case opts.HTTPClient == nil:
		return nil, fmt.Errorf("gmailsource: mailbox %s: Options.HTTPClient is required (build it with NewHTTPClient)", opts.Name)
	case opts.State == nil:
		return nil, fmt.Errorf("gmailsource: mailbox %s: Options.State is required", opts.Name)
	case opts.Pipeline == nil:
		return nil, fmt.Errorf("gmailsource: mailbox %s: Options.Pipeline is required", opts.Name)
	case opts.Concurrency < 0 || opts.Concurrency > 32:
		return nil, fmt.Errorf("gmailsource: mailbox %s: Concurrency %d out of range 1..32", opts.Name, opts.Concurrency)
	}
	if opts.Tenant == "" {
		opts.Tenant = ticket.DefaultTenant
	}
	if opts.User == "" {
		opts.User = "me"
	}
	if strings.TrimSpace(opts.Query) == "" {
		opts.Query = "in:inbox"
	}
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	if !strings.HasSuffix(opts.BaseURL, "/") {
		opts.BaseURL += "/"
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.WatchPollInterval <= 0 {
		opts.WatchPollInterval = 60 * time.Second
	}
	opts.WatchPollInterval = max(opts.WatchPollInterval, opts.PollInterval)
	if opts.Concurrency == 0 {
		opts.Concurrency = 6
	}
	if opts.SpoolMemory <= 0 {
		opts.SpoolMemory = 1 << 20
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 64 * time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = opts.RetryMin
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 8
	}
	if opts.ErrorBackoffMax <= 0 {
		opts.ErrorBackoffMax = 5 * time.Minute
	}
	if opts.Holder == "" {
		opts.Holder = lease.NewHolder()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		opts:   opts,
		log:    opts.Logger.With("mailbox", opts.Name, "kind", "gmail"),
		base:   opts.BaseURL,
		notify: make(chan struct{}, 1),
		sleep:  sleepCtx,
		now:    time.Now,
		query:  parseLabelQuery(opts.Query),
		watch:  watchState{stale: true},
	}
	// Count every API request (token requests go through the oauth2
	// transport's own client and are not counted).
	client := *opts.HTTPClient
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = &countingTransport{base: base, n: &s.requests}
	s.client = &client
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(s.client), option.WithEndpoint(opts.BaseURL))
	if err != nil {
		return nil, fmt.Errorf("gmailsource: mailbox %s: %w", opts.Name, err)
	}
	s.svc = svc
	return s, nil
}

type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
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

// Notify wakes Run at once (a Pub/Sub push said the mailbox changed). It
// never blocks; notifications arriving during a pass coalesce into one more pass.
func (s *Source) Notify() {
	s.pushes.Add(1)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Name is the configured mailbox name.
func (s *Source) Name() string { return s.key() }

// key names the source's sync state, lease and status: Name, or Name +
// "/sent" for an Outgoing source.
func (s *Source) key() string {
	if s.opts.Outgoing {
		return s.opts.Name + "/sent"
	}
	return s.opts.Name
}

// Check verifies credentials and access with users.getProfile (and
// users.labels.list when LabelAfterCapture is set), for `sidedesk doctor`.
// With PubSubTopic it also registers the watch (users.watch), which is how
// a missing Publish permission on the topic shows; a watch is idempotent,
// so this does not disturb a running capture.
func (s *Source) Check(ctx context.Context) error {
	var prof *gmail.Profile
	err := s.retry(ctx, func() (err error) {
		prof, err = s.svc.Users.GetProfile(s.opts.User).Context(ctx).Do()
		return err
	})
	if err != nil {
		return s.explain("read profile", err)
	}
	if s.opts.User != "me" && !strings.EqualFold(prof.EmailAddress, s.opts.User) {
		return fmt.Errorf("gmailsource: mailbox %s: the credentials open %s, not %s: check user / the service account subject",
			s.opts.Name, prof.EmailAddress, s.opts.User)
	}
	if s.opts.LabelAfterCapture != "" {
		if _, err := s.labelsByName(ctx, true); err != nil {
			return s.explain("list labels", err)
		}
	}
	if s.opts.PubSubTopic != "" {
		if _, _, err := s.registerWatch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// explain wraps an API error with the mailbox and a hint at the fix.
func (s *Source) explain(what string, err error) error {
	hint := ""
	var rerr *oauth2.RetrieveError
	switch code := errCode(err); {
	case errors.As(err, &rerr) && (rerr.ErrorCode == "invalid_grant" || rerr.ErrorCode == "invalid_client"):
		hint = ": the token endpoint refused the credentials (" + rerr.ErrorCode + "): check client_id / client secret / refresh token, " +
			"or that the service account may impersonate this user (domain-wide delegation)"
	case code == http.StatusUnauthorized:
		hint = ": the access token was refused: check the OAuth client, refresh token or service account key"
	case code == http.StatusForbidden && !isRateLimit(err):
		hint = ": access denied: check the OAuth scopes (gmail.readonly; gmail.modify with label_after_capture) and, for a service account, domain-wide delegation"
	}
	return fmt.Errorf("gmailsource: mailbox %s (%s): %s: %w%s", s.opts.Name, s.opts.User, what, err, hint)
}

// Run captures until ctx is done: a pass, then wait PollInterval (or
// WatchPollInterval, see there) or a Notify. With PubSubTopic, each
// successful pass also keeps the Gmail watch registered (see keepWatch). A
// failed pass is reported (Status, log) and retried with exponential
// backoff and jitter; Run returns nil when ctx is cancelled.
func (s *Source) Run(ctx context.Context) error {
	defer s.releaseLease()
	if s.opts.PubSubTopic == "" {
		s.log.Info("no Pub/Sub topic (gmail_pubsub_topic): Gmail history is polled, not pushed", "every", s.opts.PollInterval)
	}
	failures := 0
	for {
		_, err := s.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.afterPass(ctx, err)
		wait := s.pollInterval()
		switch {
		case errors.Is(err, ErrLeaseHeld):
			s.log.Debug("lease held elsewhere; waiting")
			failures = 0
		case err != nil:
			failures++
			wait = backoff(failures-1, max(time.Second, s.opts.RetryMin), s.opts.ErrorBackoffMax)
			s.log.Warn("gmail sync failed; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
		default:
			failures = 0
		}
		t := time.NewTimer(wait)
		var notify <-chan struct{}
		if err == nil {
			notify = s.notify // a push does not cut an error backoff short
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-notify:
		case <-t.C:
		}
		t.Stop()
	}
}

// Once runs one sync pass (taking and then releasing the lease when
// Options.Lease is set) and reports what it did.
func (s *Source) Once(ctx context.Context) (Stats, error) {
	defer s.releaseLease()
	return s.pass(ctx)
}

func (s *Source) pass(ctx context.Context) (Stats, error) {
	var st Stats
	start := s.requests.Load()
	lctx, err := s.holdLease(ctx)
	if err != nil {
		return st, err
	}
	err = s.sync(lctx, &st)
	if lctx.Err() != nil && ctx.Err() == nil {
		err = context.Cause(lctx) // the lease was lost mid-pass
		s.releaseLease()
	}
	st.Requests = s.requests.Load() - start
	if err == nil || ctx.Err() == nil { // shutting down is no mailbox error
		s.report(st, err)
	}
	if err != nil {
		return st, err
	}
	s.log.Debug("gmail sync pass", "full", st.FullSync, "new", st.New, "fetched", st.Fetched,
		"duplicates", st.Duplicates, "skipped", st.Skipped, "requests", st.Requests)
	return st, nil
}

// holdLease takes the mailbox's lease unless this source holds it already;
// the lease is renewed in the background, and the returned context ends
// when it is lost (the pass stops; the next one tries to take it again).
func (s *Source) holdLease(ctx context.Context) (context.Context, error) {
	if s.opts.Lease == nil {
		return ctx, nil
	}
	if s.leaseCtx != nil && s.leaseCtx.Err() == nil {
		return s.leaseCtx, nil
	}
	s.releaseLease()
	l := lease.Lease{Store: s.opts.Lease, Name: s.leaseName(), Holder: s.opts.Holder, TTL: leaseTTL, Logger: s.log}
	lctx, release, err := l.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("gmailsource: mailbox %s: %w", s.opts.Name, err)
	}
	s.leaseCtx, s.leaseRelease = lctx, release
	return lctx, nil
}

func (s *Source) releaseLease() {
	if s.leaseRelease != nil {
		s.leaseRelease()
	}
	s.leaseCtx, s.leaseRelease = nil, nil
}

func (s *Source) leaseName() string { return "gmail:" + s.opts.Tenant + ":" + s.key() }

func (s *Source) loadState(ctx context.Context) (state, error) {
	var st state
	b, err := s.opts.State.SyncState(ctx, s.opts.Tenant, s.key())
	if errors.Is(err, ticket.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("gmailsource: mailbox %s: load sync state: %w", s.opts.Name, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// A state this package cannot read is treated as none: a full
		// sync is safe (deduplicated), a stuck mailbox is not.
		s.log.Warn("unreadable sync state; running a full sync", "err", err)
		return state{}, nil
	}
	return st, nil
}

func (s *Source) saveState(ctx context.Context, st state) error {
	b, _ := json.Marshal(st)
	if err := s.opts.State.SetSyncState(ctx, s.opts.Tenant, s.key(), b); err != nil {
		return fmt.Errorf("gmailsource: mailbox %s: save sync state: %w", s.opts.Name, err)
	}
	return nil
}

// backoff is attempt's exponential delay between lo and hi with jitter
// ("equal jitter": half fixed, half random).
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + rand.N(half+1)
}
