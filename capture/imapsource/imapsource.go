// Package imapsource captures one IMAP mailbox folder into tickets: it syncs
// by UID under UIDVALIDITY (RFC 9051 §2.3.1.1), streams each new message
// (BODY.PEEK[], so it never sets \Seen itself) into a capture.Pipeline,
// advances its sync state only after the pipeline committed the message,
// then waits for new mail with IDLE (RFC 2177) or by polling, reconnecting
// with backoff and jitter when the server goes away.
package imapsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/lease"
	"github.com/sidedesk/sidedesk/ticket"
)

// StateStore keeps the opaque sync state of a mailbox (package store
// implements it). SyncState returns an error wrapping ticket.ErrNotFound when
// the mailbox has none yet.
type StateStore interface {
	SyncState(ctx context.Context, tenant, mailbox string) ([]byte, error)
	SetSyncState(ctx context.Context, tenant, mailbox string, state []byte) error
}

// TLS modes.
const (
	TLSImplicit = "implicit" // IMAPS, port 993 (RFC 8314)
	TLSStartTLS = "starttls" // STARTTLS on port 143 (RFC 9051 §6.2.1)
	TLSNone     = "none"     // cleartext; loopback hosts only
)

// Authentication mechanisms.
const (
	AuthPlain   = "plain"   // AUTHENTICATE PLAIN (RFC 4616), LOGIN when not offered
	AuthLogin   = "login"   // the LOGIN command (RFC 9051 §6.2.3)
	AuthXOAuth2 = "xoauth2" // AUTHENTICATE XOAUTH2 with a bearer token
)

// Initial sync policies: what a mailbox without sync state captures first.
const (
	InitialNew   = "new"   // only mail arriving from now on
	InitialSince = "since" // mail with an INTERNALDATE on or after Options.Since
)

// After-capture actions; "move:FOLDER" moves the message into FOLDER.
const (
	AfterKeep = "keep"
	AfterSeen = "seen"
	afterMove = "move:"
)

// Defaults.
const (
	DefaultFolder       = "INBOX"
	DefaultPollInterval = 60 * time.Second
	// DefaultIdleRestart re-issues IDLE well before the 29 minutes after
	// which RFC 2177 §3 allows a server to drop an idle client.
	DefaultIdleRestart = 25 * time.Minute
	DefaultBackoffMin  = time.Second
	DefaultBackoffMax  = 5 * time.Minute
	DefaultLeaseTTL    = 60 * time.Second
	DefaultBatchSize   = 500
)

// Options configures one mailbox source.
type Options struct {
	Name   string // configured mailbox name; required
	Tenant string // default ticket.DefaultTenant

	Host string // required
	Port int    // default 993 for implicit TLS, 143 otherwise
	// TLS is "implicit" (default), "starttls" or "none" (loopback only).
	TLS string
	// TLSConfig overrides the TLS client configuration; nil means the
	// system roots and Host as server name.
	TLSConfig *tls.Config

	Auth     string // "plain" (default), "login" or "xoauth2"
	Username string // required
	// Password resolves the secret when a connection is made; it is never
	// logged. Required for plain and login.
	Password func(ctx context.Context) (string, error)
	// OAuthToken resolves the bearer token for xoauth2 (a mailauth.Source
	// refreshes it); OAuthTokenRejected, when set, is told that the server
	// refused the token, so the next login asks for a fresh one.
	OAuthToken         func(ctx context.Context) (string, error)
	OAuthTokenRejected func()
	// CredentialHint names where the secret comes from, e.g.
	// "password_env SUPPORT_IMAP_PASSWORD"; login errors say to check it.
	CredentialHint string

	Folder string // default INBOX
	// Outgoing: Folder is the mailbox's Sent folder; its messages were
	// written by us (ticket.Inbound.Outgoing). Its state, lease, status
	// and metrics go by Name + "/sent"; its messages keep Name as mailbox.
	Outgoing     bool
	InitialSync  string    // "new" (default) or "since"
	Since        time.Time // with InitialSync "since"
	AfterCapture string    // "keep" (default), "seen" or "move:FOLDER"

	// IDLE waits for new mail with IDLE when the server offers it;
	// otherwise, or when false, the folder is polled every PollInterval.
	IDLE         bool
	PollInterval time.Duration // default 60s
	IdleRestart  time.Duration // default 25m; must be below 29m

	// GreetingTimeout bounds the wait for the server's greeting after the
	// connection is made (default 15 s).
	GreetingTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay, which doubles
	// per failure and is jittered. Defaults 1s and 5m.
	BackoffMin, BackoffMax time.Duration
	// BatchSize is how many UIDs one UID FETCH asks for. Default 500.
	BatchSize int

	State StateStore // required
	// Lease, when set, is held as "imap:<tenant>:<name>" while capturing,
	// so that several processes sharing one database never capture the
	// same mailbox at once (package store implements it).
	Lease    lease.Store
	LeaseTTL time.Duration // default 60s; renewed every third of it
	Holder   string        // lease holder id; default host:pid:random

	Pipeline *capture.Pipeline // required
	Status   *capture.Status   // optional
	Metrics  *capture.Metrics  // optional
	Logger   *slog.Logger      // default: discard

	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Stats counts what one sync pass did.
type Stats struct {
	Fetched    int   // messages fetched from the server
	New        int   // of those, stored as new messages
	Duplicates int   // of those, already captured (same source or same mail)
	Bytes      int64 // raw bytes fetched
	// Held are the new messages the loop guard held, by why.
	Held capture.Held
}

// Source captures one mailbox folder. It holds no mutable state of its own,
// so Check may run while Run does; run one Run per mailbox (with a Lease,
// extra runners only stand by).
type Source struct {
	key      string // Name, or Name + "/sent" for an Outgoing source: state, lease, status
	opts     Options
	log      *slog.Logger
	addr     string
	lease    string
	holder   string
	moveTo   string
	readOnly bool
	// deadAfter: a server that does not answer the end of IDLE within it
	// is dead (tests shorten it).
	deadAfter time.Duration
}

// New checks opts, fills in defaults and returns a Source. An error names
// the mailbox and the option that is wrong.
func New(opts Options) (*Source, error) {
	bad := func(format string, args ...any) (*Source, error) {
		return nil, fmt.Errorf("imapsource: mailbox %q: %s", opts.Name, fmt.Sprintf(format, args...))
	}
	if opts.Name == "" {
		return nil, errors.New("imapsource: Options.Name is required")
	}
	if opts.Tenant == "" {
		opts.Tenant = ticket.DefaultTenant
	}
	if opts.Host == "" {
		return bad("host is required")
	}
	switch opts.TLS {
	case "":
		opts.TLS = TLSImplicit
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !isLoopback(opts.Host) {
			return bad("tls = \"none\" is only allowed for loopback hosts, not %q: use implicit or starttls", opts.Host)
		}
	default:
		return bad("tls = %q: want implicit, starttls or none", opts.TLS)
	}
	if opts.Port == 0 {
		opts.Port = 143
		if opts.TLS == TLSImplicit {
			opts.Port = 993
		}
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return bad("port %d out of range", opts.Port)
	}
	if opts.Username == "" {
		return bad("username is required")
	}
	switch opts.Auth {
	case "":
		opts.Auth = AuthPlain
		fallthrough
	case AuthPlain, AuthLogin:
		if opts.Password == nil {
			return bad("auth = %q needs a password (password_env or password_file)", opts.Auth)
		}
	case AuthXOAuth2:
		if opts.OAuthToken == nil {
			return bad("auth = \"xoauth2\" needs an OAuth token (oauth_client_id, so it is refreshed, or oauth_token_env / oauth_token_file)")
		}
	default:
		return bad("auth = %q: want plain, login or xoauth2", opts.Auth)
	}
	if opts.Folder == "" {
		opts.Folder = DefaultFolder
	}
	switch opts.InitialSync {
	case "":
		opts.InitialSync = InitialNew
	case InitialNew:
	case InitialSince:
		if opts.Since.IsZero() {
			return bad("initial_sync = \"since\" needs a since date")
		}
	default:
		return bad("initial_sync = %q: want new or since", opts.InitialSync)
	}
	s := &Source{}
	switch a := opts.AfterCapture; {
	case a == "":
		opts.AfterCapture = AfterKeep
		s.readOnly = true
	case a == AfterKeep:
		s.readOnly = true
	case a == AfterSeen:
	case strings.HasPrefix(a, afterMove) && strings.TrimSpace(a[len(afterMove):]) != "":
		s.moveTo = strings.TrimSpace(a[len(afterMove):])
		if strings.EqualFold(s.moveTo, opts.Folder) {
			return bad("after_capture = %q moves into the captured folder itself", a)
		}
	default:
		return bad("after_capture = %q: want keep, seen or move:FOLDER", a)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.IdleRestart <= 0 {
		opts.IdleRestart = DefaultIdleRestart
	}
	if opts.IdleRestart >= 29*time.Minute {
		return bad("IDLE restart %v must be below 29 minutes (RFC 2177 §3)", opts.IdleRestart)
	}
	if opts.GreetingTimeout <= 0 {
		opts.GreetingTimeout = 15 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = DefaultBackoffMin
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = opts.BackoffMin
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.State == nil {
		return bad("Options.State is required")
	}
	if opts.Pipeline == nil {
		return bad("Options.Pipeline is required")
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Holder == "" {
		opts.Holder = lease.NewHolder()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s.opts = opts
	s.deadAfter = commandTimeout
	s.log = opts.Logger.With("mailbox", opts.Name)
	s.addr = net.JoinHostPort(opts.Host, fmt.Sprint(opts.Port))
	s.key = opts.Name
	if opts.Outgoing {
		s.key += "/sent"
	}
	s.lease = "imap:" + opts.Tenant + ":" + s.key
	s.holder = opts.Holder
	return s, nil
}

// Name is the configured mailbox name.
func (s *Source) Name() string { return s.key }

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mailboxError prefixes err with the package and the mailbox name.
func (s *Source) errorf(format string, args ...any) error {
	return fmt.Errorf("imapsource: mailbox %s: "+format, append([]any{s.key}, args...)...)
}

// Check logs in, opens the folder read-only and logs out: what `sidedesk
// doctor` reports for a mailbox. It changes nothing (a missing move:FOLDER
// is created by the first capture). The error says what to fix.
func (s *Source) Check(ctx context.Context) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := c.selectFolder(ctx, true); err != nil {
		return err
	}
	c.logout()
	return nil
}

// Once runs one sync pass: connect, capture what is new, apply the
// after-capture action, log out. With a Lease it captures only while it
// holds the mailbox's lease.
func (s *Source) Once(ctx context.Context) (Stats, error) {
	ctx, release, err := s.holdLease(ctx)
	if err != nil {
		s.reportError(err)
		return Stats{}, err
	}
	defer release()
	c, err := s.connect(ctx)
	if err != nil {
		s.reportError(err)
		return Stats{}, err
	}
	defer c.close()
	s.setConnected(true)
	defer s.setConnected(false)
	if _, err := c.selectFolder(ctx, s.readOnly); err != nil {
		s.reportError(err)
		return Stats{}, err
	}
	stats, err := c.sync(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, context.Cause(ctx))
		}
		s.reportError(err)
		return stats, err
	}
	s.reportSync()
	c.logout()
	return stats, nil
}
