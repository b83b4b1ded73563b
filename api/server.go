// Package api is sidedesk's HTTP front: the REST API under /api/v1 with
// bearer tokens and its one JSON error shape, /healthz and /metrics, and
// the request logging, panic recovery and security headers every route
// gets. Routes of other packages (the agent panel of package sidebar, the
// calendar feed and free/busy, Gmail push, Slack) are mounted on the same
// server with Mount; those under /api/v1 answer errors with WriteError.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// Store is the read side the API needs; *store.Store implements it. Every
// method but TokenByHash is scoped by tenant and answers
// ticket.ErrNotFound for another tenant's rows.
type Store interface {
	ListTickets(ctx context.Context, tenant string, f ticket.TicketFilter) ([]ticket.Ticket, string, error)
	Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error)
	TicketMessages(ctx context.Context, tenant string, ticketID int64) ([]ticket.Message, error)
	Message(ctx context.Context, tenant string, id int64) (ticket.Message, error)
	Attachment(ctx context.Context, tenant string, id int64) (ticket.Attachment, error)
	TokenByHash(ctx context.Context, hash string) (ticket.Token, error)
	// TicketMessagesPage: a ticket's messages after an id, in order.
	TicketMessagesPage(ctx context.Context, tenant string, ticketID, afterID int64, limit int) ([]ticket.Message, error)
	// SearchTickets finds tickets by number or by the words of their
	// messages (GET /api/v1/search).
	SearchTickets(ctx context.Context, tenant, q string, status ticket.Status, limit int) ([]ticket.Ticket, error)
}

// TicketUpdater applies agents' edits; *ticket.Service implements it.
type TicketUpdater interface {
	Update(ctx context.Context, tenant string, id int64, ch ticket.Change) (ticket.Ticket, error)
	Create(ctx context.Context, tenant string, req ticket.NewTicket) (ticket.Ticket, bool, error)
	AddNote(ctx context.Context, tenant string, id int64, author, text string) (ticket.Message, error)
	Merge(ctx context.Context, tenant string, into int64, sources []int64, actor string) (ticket.Ticket, error)
}

// BlobOpener opens stored bytes by hex SHA-256; *store.Blobs implements it.
// A reader that is also an io.Seeker is served with Range support.
type BlobOpener interface {
	Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// Options configures a Server.
type Options struct {
	Store   Store         // required
	Tickets TicketUpdater // optional: without it PATCH /api/v1/tickets/{id} answers 405
	Blobs   BlobOpener    // required
	// Health reports readiness for /healthz: ok false answers 503. details
	// (per-mailbox state, ...) is encoded as JSON; tenant is the caller's
	// (a valid API token's), "" for an anonymous check, which is answered
	// with the status alone. Health must give a tenant only its own
	// mailboxes and agents. Nil: always ok.
	Health  func(ctx context.Context, tenant string) (ok bool, details any)
	Metrics http.Handler // /metrics (promhttp); nil answers 404
	Logger  *slog.Logger // nil: discard
	// PublicURL is the externally reachable base URL ("https://desk.example");
	// the API's links are absolute under it. "" keeps links relative.
	// https:// also adds Strict-Transport-Security to every answer.
	PublicURL string

	// Events serves GET /api/v1/events (pages and Server-Sent Events);
	// nil: no such route.
	Events Events
	// Admin serves GET /api/v1/users and /api/v1/tokens; nil: no such
	// routes.
	Admin Admin
	// Webhooks manages outbound webhook subscriptions
	// (/api/v1/webhooks); nil: no such routes.
	Webhooks Webhooks
	// Replies sends agents' replies (POST /api/v1/tickets/{id}/replies);
	// nil: the route answers 422, no mailbox sends mail.
	Replies Replier
	// Uploads keeps files for replies' attachments (POST
	// /api/v1/uploads); nil: no such route.
	Uploads Uploads
	// Lookup answers GET /api/v1/lookup (what the agent panel shows for
	// an email, Message-ID or ticket); nil: no such route.
	Lookup LookupFunc
	// CRM serves /api/v1/crm/{object} (the connector's records); nil: no
	// such routes.
	CRM crm.Records
	// AccessTokens verifies a bearer token that is not an API token (no
	// "sdk_" prefix): an OAuth access token of package oauth. It answers
	// ErrInvalidAccessToken for one that is not valid. nil: only API
	// tokens are accepted.
	AccessTokens func(ctx context.Context, token string) (Caller, error)
	// RateLimit is how many /api/v1 requests one token may make per
	// minute; 0: no limit.
	RateLimit int
	// Now is the clock of the rate limit (default time.Now).
	Now func() time.Time
	// SecretPaths are path prefixes whose remainder is a credential (the
	// free/busy feed's token: "/freebusy/"); the request log shows the
	// prefix and "<redacted>" instead.
	SecretPaths []string
}

// Server is the HTTP front of sidedesk.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	base    string // PublicURL without the trailing slash
	limiter *rateLimiter
	scopes  map[string]string // the API's route patterns and their scopes (the OpenAPI test)
}

// New builds the server and its routes.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("api: Options.Store is required")
	}
	if opts.Blobs == nil {
		return nil, errors.New("api: Options.Blobs is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		mux:    http.NewServeMux(),
		base:   strings.TrimSuffix(opts.PublicURL, "/"),
		scopes: map[string]string{},
	}
	if opts.RateLimit > 0 {
		s.limiter = newRateLimiter(opts.RateLimit, opts.Now)
	}
	s.routes()
	s.handler = s.logRequests(s.recoverPanics(securityHeaders(strings.HasPrefix(s.base, "https://"), s.mux)))
	return s, nil
}

func (s *Server) routes() {
	api := func(scope, pattern string, h http.HandlerFunc) {
		s.mux.Handle(pattern, s.scoped(scope, h))
		s.scopes[pattern] = scope
	}
	s.mux.HandleFunc("GET /api/v1/openapi.json", s.openapi)
	api(ticket.ScopeTicketsRead, "GET /api/v1/tickets", s.listTickets)
	api(ticket.ScopeTicketsRead, "GET /api/v1/tickets/{id}", s.getTicket)
	api(ticket.ScopeTicketsRead, "GET /api/v1/search", s.search)
	api(ticket.ScopeTicketsRead, "GET /api/v1/tickets/{id}/messages", s.ticketMessages)
	if s.opts.Tickets != nil {
		api(ticket.ScopeTicketsWrite, "PATCH /api/v1/tickets/{id}", s.patchTicket)
		api(ticket.ScopeTicketsWrite, "POST /api/v1/tickets", s.postTicket)
		api(ticket.ScopeTicketsWrite, "POST /api/v1/tickets/{id}/notes", s.postNote)
		api(ticket.ScopeTicketsWrite, "POST /api/v1/tickets/{id}/merge", s.postMerge)
	}
	api(ticket.ScopeTicketsWrite, "POST /api/v1/tickets/{id}/replies", s.postReply)
	if s.opts.Uploads != nil {
		api(ticket.ScopeTicketsWrite, "POST /api/v1/uploads", s.postUpload)
	}
	api(ticket.ScopeTicketsRead, "GET /api/v1/messages/{id}", s.getMessage)
	api(ticket.ScopeTicketsRead, "GET /api/v1/messages/{id}/raw", s.getRawMessage)
	api(ticket.ScopeTicketsRead, "GET /api/v1/attachments/{id}", s.getAttachment)
	if s.opts.Lookup != nil {
		api(ticket.ScopeCRMRead, "GET /api/v1/lookup", s.lookup)
	}
	if s.opts.CRM != nil {
		api(ticket.ScopeCRMRead, "GET /api/v1/crm/{object}", s.listCRM)
		api(ticket.ScopeCRMRead, "GET /api/v1/crm/{object}/{id}", s.getCRM)
		api(ticket.ScopeCRMWrite, "POST /api/v1/crm/{object}", s.postCRM)
		api(ticket.ScopeCRMWrite, "PATCH /api/v1/crm/{object}/{id}", s.patchCRM)
		api(ticket.ScopeCRMWrite, "DELETE /api/v1/crm/{object}/{id}", s.deleteCRM)
	}
	if s.opts.Events != nil {
		api(ticket.ScopeEventsRead, "GET /api/v1/events", s.events)
	}
	if s.opts.Admin != nil {
		api(ticket.ScopeTicketsRead, "GET /api/v1/users", s.listUsers)
		api(ticket.ScopeAdmin, "GET /api/v1/tokens", s.listTokens)
		api(ticket.ScopeAdmin, "POST /api/v1/tokens", s.postToken)
		api(ticket.ScopeAdmin, "DELETE /api/v1/tokens/{id}", s.deleteToken)
	}
	if s.opts.Webhooks != nil {
		api(ticket.ScopeAdmin, "POST /api/v1/webhooks", s.postWebhook)
		api(ticket.ScopeAdmin, "GET /api/v1/webhooks", s.listWebhooks)
		api(ticket.ScopeAdmin, "DELETE /api/v1/webhooks/{id}", s.deleteWebhook)
		api(ticket.ScopeAdmin, "GET /api/v1/webhooks/{id}/deliveries", s.webhookDeliveries)
		api(ticket.ScopeAdmin, "POST /api/v1/webhooks/{id}/rotate-secret", s.rotateWebhookSecret)
		if s.opts.Events != nil {
			api(ticket.ScopeAdmin, "POST /api/v1/webhooks/{id}/redeliver", s.redeliver)
		}
	}
	s.mux.HandleFunc("/api/", s.apiNotFound)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /metrics", s.metrics)
}

// Handler returns the root handler: every route, with request logging,
// panic recovery and security headers.
func (s *Server) Handler() http.Handler { return s.handler }

// Mount adds a route of another package (calendar feed, Gmail push) under
// pattern (a Go 1.22 ServeMux pattern such as "GET /calendar/{id}.ics").
// It gets logging, recovery and security headers but no authentication:
// wrap h with RequireToken for that. Mount has the signature of
// sidebar.Mounter. Call it before serving; a pattern that
// conflicts with an existing route is an error.
func (s *Server) Mount(pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("api: mount %q: %v", pattern, p)
		}
	}()
	s.mux.Handle(pattern, h)
	return nil
}

// HTTPServer returns an http.Server serving Handler, with timeouts that
// bound slow clients: headers in 10 s, the whole request in a minute (a
// slow body cannot hold a connection), an answer in WriteTimeout, idle
// keep-alives 2 minutes.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// WriteTimeout bounds the writing of one answer. No route streams today;
// the largest answer, an attachment, is sent at 100 KB/s in under 5
// minutes up to 30 MB.
const WriteTimeout = 5 * time.Minute

// link makes an API path absolute under PublicURL.
func (s *Server) link(format string, args ...any) string {
	return s.base + fmt.Sprintf(format, args...)
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	tokenKey
)

// RequestID returns the id the server gave the request, or "". It is
// sent as the X-Request-Id answer header and set as the request's own
// X-Request-Id header (replacing any the client sent), so that handlers of
// other packages can log it without importing this one.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// statusWriter records what a handler wrote, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request: method, path (never the query,
// which may carry a push token, nor the Authorization header), status,
// size, duration and request id.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		r.Header.Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("path", s.loggedPath(r.URL.Path)),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", id),
			slog.String("remote", r.RemoteAddr))
	})
}

// loggedPath is path with the credential part of a SecretPaths route
// redacted.
func (s *Server) loggedPath(path string) string {
	for _, p := range s.opts.SecretPaths {
		if strings.HasPrefix(path, p) && len(path) > len(p) {
			return p + "<redacted>"
		}
	}
	return path
}

// recoverPanics turns a handler panic into a logged 500 JSON answer
// (when nothing was written yet) instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "api: panic serving request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("request_id", RequestID(r.Context())),
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				panic(http.ErrAbortHandler) // headers are out: only aborting tells the client
			}
			s.writeError(w, r, http.StatusInternalServerError, "internal", "internal server error", nil)
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every answer carries; hsts (the public
// URL is https) adds Strict-Transport-Security, so browsers never send the
// session cookie or a token over plain HTTP again (RFC 6797).
func securityHeaders(hsts bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// apiNotFound answers unknown /api/ paths, and known paths with a method
// they do not serve (405 with Allow), in JSON.
func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != "" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, strings.Join(allow, ", ")), nil)
		return
	}
	s.writeError(w, r, http.StatusNotFound, "not_found", "no such API endpoint: "+r.URL.Path, nil)
}
