// Package sidebar serves the agent panel that opens beside an email: sign-in,
// /sidebar with its actions, and the Outlook add-in (views in
// sidebar/views). Its routes are mounted on sidedesk's HTTP front (package
// api), which gives them logging, panic recovery and security headers;
// the panel's data is also what GET /api/v1/lookup answers (Lookup).
package sidebar

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// Options configures the panel.
type Options struct {
	// Panel is the panel's store: users, sessions, ticket reads (required).
	Panel PanelStore
	// CRM is the connector the panel asks; nil shows no CRM facts.
	CRM crm.Connector
	// Actions are the panel's ticket actions (*ticket.Service); nil
	// makes the panel read-only.
	Actions PanelActions
	// Replies sends agents' replies (the reply box); nil: no reply box
	// (no mailbox sends mail).
	Replies Replier
	// Macros are canned replies ([[ticket.macro]]) for the reply box.
	Macros []Macro
	// Mailboxes connects mailboxes that sign in by OAuth (admins,
	// /sidebar/mailboxes); nil: no such pages.
	Mailboxes MailboxConnector
	// Consent answers the OAuth consent page (/oauth/consent); nil: no
	// such page.
	Consent Consenter
	// PublicURL is the externally reachable base URL
	// ("https://desk.example"): the Outlook manifest's links, the origin
	// the CSRF check expects. https:// also makes the cookies Secure;
	// SameSite=None (session.go). "" takes each request's own host.
	PublicURL string
	Logger    *slog.Logger // nil: discard
	// SessionTTL is how long a sign-in lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// LoginTenant is the tenant a sign-in form without one signs in to
	// (default ticket.DefaultTenant).
	LoginTenant string
	// LoginFailures failed sign-ins per client IP and per account within
	// LoginWindow lock further tries out until the oldest leaves the
	// window (429 with Retry-After). Defaults DefaultLoginFailures,
	// DefaultLoginWindow.
	LoginFailures int
	LoginWindow   time.Duration
	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// client (rate limits, logs); empty: the peer is the client.
	TrustedProxies []netip.Prefix
	// Now is the clock of sessions and rate limits (default time.Now).
	Now func() time.Time
}

// Server is the agent panel.
type Server struct {
	opts        Options
	log         *slog.Logger
	mux         *http.ServeMux
	base        string // PublicURL without the trailing slash
	now         func() time.Time
	sessionTTL  time.Duration
	loginTenant string
	limiter     *limiter
	dummyOnce   sync.Once
	dummy       string
	patterns    []string // the routes of mux
	macros      []macro
}

// New builds the panel and its routes.
func New(opts Options) (*Server, error) {
	if opts.Panel == nil {
		return nil, errors.New("sidebar: Options.Panel is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.LoginTenant == "" {
		opts.LoginTenant = ticket.DefaultTenant
	}
	if opts.LoginFailures <= 0 {
		opts.LoginFailures = DefaultLoginFailures
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = DefaultLoginWindow
	}
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		mux:         http.NewServeMux(),
		base:        strings.TrimSuffix(opts.PublicURL, "/"),
		now:         opts.Now,
		sessionTTL:  opts.SessionTTL,
		loginTenant: opts.LoginTenant,
		limiter:     newLimiter(opts.LoginFailures, opts.LoginWindow, opts.Now),
	}
	var err error
	if s.macros, err = parseMacros(opts.Macros); err != nil {
		return nil, err
	}
	s.panelRoutes()
	return s, nil
}

// Mounter adds one route to an HTTP front (api.Server.Mount).
type Mounter func(pattern string, h http.Handler) error

// Register mounts every panel route with mount.
func (s *Server) Register(mount Mounter) error {
	for _, pattern := range s.patterns {
		if err := mount(pattern, s.mux); err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the panel's routes alone, without the front's logging
// and headers (tests, and an embedding that brings its own).
func (s *Server) Handler() http.Handler { return s.mux }

// requestID is the id the HTTP front gave the request, for the logs.
func requestID(r *http.Request) string { return r.Header.Get("X-Request-Id") }
