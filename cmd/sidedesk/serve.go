package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sidedesk/sidedesk/api"
	"github.com/sidedesk/sidedesk/calendar"
	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/mailout"
	"github.com/sidedesk/sidedesk/oauth"
	"github.com/sidedesk/sidedesk/outbox"
	"github.com/sidedesk/sidedesk/sidebar"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
	"github.com/sidedesk/sidedesk/webhook"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("serve", stderr)
	cfgPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := listen(ctx, a.cfg.Server.Listen, "server.listen")
	if err != nil {
		return err
	}
	if a.cfg.Server.PublicURL == "http://"+a.cfg.Server.Listen && strings.HasSuffix(a.cfg.Server.Listen, ":0") {
		// The default (public_url unset): links carry the real port, also
		// with listen = ":0".
		a.cfg.Server.PublicURL = "http://" + ln.Addr().String()
	}
	srcs, err := a.sources(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	a.log.Info("sidedesk serving", "version", version, "listen", ln.Addr().String(), "mailboxes", len(srcs))
	return a.serve(ctx, ln, srcs)
}

// listen opens the HTTP listener with an error that says what to change.
func listen(ctx context.Context, addr, key string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w (is another sidedesk running? choose another address)", key, addr, err)
	}
	return ln, nil
}

// serve runs every capture source and the HTTP server until ctx is done,
// then shuts down gracefully: HTTP stops accepting, in-flight requests get
// a few seconds, sources finish the message they are committing.
func (a *app) serve(ctx context.Context, ln net.Listener, srcs map[string]source) error {
	cal, err := a.calendarService()
	if err != nil {
		ln.Close()
		return err
	}
	a.cal = cal
	if a.bot, err = a.slackBot(); err != nil {
		ln.Close()
		return err
	}
	var consumers []outbox.Consumer
	if a.bot != nil {
		name, tenant, poll, maxBackoff := a.bot.Delivery()
		consumers = append(consumers, outbox.Consumer{Name: name, Tenant: tenant, Deliver: a.bot.Deliver,
			PollInterval: poll, MaxBackoff: maxBackoff})
	}
	if a.mail, err = a.mailService(); err != nil {
		ln.Close()
		return err
	}
	consumers = append(consumers, a.mailConsumers(a.mail)...)
	if a.hooks, err = webhook.New(webhook.Options{Store: a.store, Key: subkey(a.secret, "webhook-secrets"),
		AllowPrivate: a.cfg.Webhooks.AllowPrivate, Logger: a.log.With("component", "webhook")}); err != nil {
		ln.Close()
		return err
	}
	srv, err := a.httpServer(srcs)
	if err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if a.bot != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.bot.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("slack integration stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// One outbox consumer per active subscription; a failing endpoint
		// holds up no other. Retried for 4 days at most 10 minutes apart;
		// the webhook service disables an endpoint failing for 3.
		_ = a.hooks.Run(ctx, 5*time.Second, func(ctx context.Context, c webhook.Consumer) error {
			return a.outbox.Run(ctx, outbox.Consumer{Name: c.Name, Tenant: c.Tenant, Deliver: c.Deliver,
				MaxBackoff: 10 * time.Minute, GiveUpAfter: 96 * time.Hour})
		})
	}()
	for _, c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.outbox.Run(ctx, c); err != nil {
				a.log.Error("outbox consumer stopped", "consumer", c.Name, "err", err)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.expireSessions(ctx)
	}()
	go func() {
		defer wg.Done()
		a.reclaimableGauge(ctx)
	}()
	if cal != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cal.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("calendar sync stopped", "err", err)
			}
		}()
	}
	for name, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("mailbox capture stopped", "mailbox", name, "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
		a.log.Error("http server stopped", "err", err)
	}
	a.log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	if a.bot != nil {
		// Slack interactions answered over HTTP are acted on after their
		// answer: finish them before the store closes.
		a.bot.Wait()
	}
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// httpServer builds the HTTP server: the API with health, metrics, the
// panel and the optional Gmail push, Slack and calendar endpoints.
func (a *app) httpServer(srcs map[string]source) (*http.Server, error) {
	reads := a.store.NewPanelReads()
	a.closers = append(a.closers, reads.Close)
	oa, err := a.oauthServer()
	if err != nil {
		return nil, err
	}
	var replies sidebar.Replier
	if a.mail != nil {
		replies = a.mail
	}
	auths, err := a.mailAuthSources()
	if err != nil {
		return nil, err
	}
	var boxes sidebar.MailboxConnector
	if len(auths) > 0 {
		boxes = mailboxPanel{auths}
	}
	panel, err := sidebar.New(sidebar.Options{
		Panel:          reads,
		CRM:            a.conn,
		Actions:        a.tickets,
		Replies:        replies,
		Mailboxes:      boxes,
		Macros:         macros(a.cfg.Ticket.Macros),
		Consent:        oa,
		Logger:         a.log,
		PublicURL:      a.cfg.Server.PublicURL,
		TrustedProxies: a.cfg.Server.TrustedProxyPrefixes(),
	})
	if err != nil {
		return nil, err
	}
	records, _ := a.conn.(crm.Records)
	srv, err := api.New(api.Options{
		CRM:         records,
		Store:       a.store,
		Tickets:     a.tickets,
		Blobs:       a.store.Blobs(),
		Lookup:      lookupOf(panel),
		Events:      a.store,
		Admin:       a.store,
		Webhooks:    a.hooks,
		Replies:     replierOf(a.mail),
		Uploads:     uploads{a.store},
		Health:      a.health,
		Metrics:     promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
		Logger:      a.log,
		PublicURL:   a.cfg.Server.PublicURL,
		SecretPaths: []string{"/freebusy/"}, // the feed token is the credential
		RateLimit:   a.cfg.Server.APIRateLimit,
		AccessTokens: func(ctx context.Context, token string) (api.Caller, error) {
			g, err := oa.Verify(ctx, token)
			if errors.Is(err, oauth.ErrInvalidToken) {
				return api.Caller{}, api.ErrInvalidAccessToken
			}
			if err != nil {
				return api.Caller{}, err
			}
			name := "oauth:" + g.ClientName
			if g.AgentEmail != "" {
				name = g.AgentEmail + " via " + g.ClientName
			}
			return api.Caller{Tenant: g.Tenant, TokenName: name, Scopes: g.Scopes, ClientID: g.ClientID, AgentID: g.UserID,
				AgentEmail: g.AgentEmail}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if err := panel.Register(srv.Mount); err != nil {
		return nil, err
	}
	for _, p := range oauth.Patterns() {
		if err := srv.Mount(p, oa.Handler()); err != nil {
			return nil, err
		}
	}
	if err := srv.Mount("POST /api/v1/users/unlock", srv.RequireScope(ticket.ScopeAdmin, unlockHandler(panel, srv.WriteError))); err != nil {
		return nil, err
	}
	push, err := a.gmailPush(srcs)
	if err != nil {
		return nil, err
	}
	if push != nil {
		if err := srv.Mount("POST /gmail/push", push); err != nil {
			return nil, err
		}
	}
	if h := a.slackRoutes(a.bot); h != nil {
		if err := srv.Mount("POST /slack/", h); err != nil {
			return nil, err
		}
	}
	if a.cal != nil {
		agents := sameTenant(ticket.DefaultTenant, srv.WriteError, a.cal.Handler(srv.WriteError))
		if err := srv.Mount("/api/v1/agents/", srv.RequireToken(agents)); err != nil {
			return nil, err
		}
		if err := srv.Mount("GET /freebusy/", a.cal.FeedHandler()); err != nil {
			return nil, err
		}
		for _, rotate := range []bool{false, true} {
			pattern := "GET /api/v1/agents/{id}/feed"
			if rotate {
				pattern = "POST /api/v1/agents/{id}/feed/rotate"
			}
			h := sameTenant(ticket.DefaultTenant, srv.WriteError, feedHandler(a.cal, a.cfg.Server.PublicURL, rotate, srv.WriteError))
			if err := srv.Mount(pattern, srv.RequireScope(ticket.ScopeAdmin, h)); err != nil {
				return nil, err
			}
		}
	}
	return srv.HTTPServer(), nil
}

// replierOf is the API's way to send replies; nil (the route answers
// that no mailbox sends) without a mail service.
func replierOf(mail *mailout.Service) api.Replier {
	if mail == nil {
		return nil
	}
	return mail
}

// lookupOf serves GET /api/v1/lookup from the panel's facts: the panel
// knows what an email's context is, the API renders it.
func lookupOf(panel *sidebar.Server) api.LookupFunc {
	return func(ctx context.Context, tenant string, q url.Values) (api.LookupFacts, error) {
		f, err := panel.Lookup(ctx, tenant, q)
		return api.LookupFacts(f), err
	}
}

// healthReport is the body of GET /healthz.
type healthReport struct {
	Status    string                  `json:"-"` // ok | degraded | down: the top-level status
	Version   string                  `json:"version"`
	Database  componentHealth         `json:"database"`
	Mailboxes []capture.MailboxStatus `json:"mailboxes"`
	Calendar  []calendar.AgentStatus  `json:"calendar,omitempty"`
	// Outbox: the consumers this process runs (Slack, ...): pending
	// events, last delivery, last error.
	Outbox []outbox.ConsumerStatus `json:"outbox,omitempty"`
	// CRM is the Salesforce connector's state: which agents are
	// connected, who must reconnect, the org's API budget.
	CRM *crmHealth `json:"crm,omitempty"`
	// MailboxOAuth: the XOAUTH2 mailboxes' token refreshes (a refused
	// refresh token says who must reconnect the mailbox, and where).
	MailboxOAuth []mailOAuthHealth `json:"mailbox_oauth,omitempty"`
}

type crmHealth struct {
	Kind         string   `json:"kind"`
	Connected    []string `json:"connected"`
	Disconnected []string `json:"disconnected"` // must reconnect from the panel
	// APIUsed and APIMax are the org's daily API requests, as the last
	// answer's Sforce-Limit-Info said (0 before the first call).
	APIUsed int `json:"api_used"`
	APIMax  int `json:"api_max"`
	// ServiceAgent is crm.service_agent and whether it is connected.
	ServiceAgent          string `json:"service_agent,omitempty"`
	ServiceAgentConnected bool   `json:"service_agent_connected,omitempty"`
}

type componentHealth struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// health answers 503 only when the database is unreachable; a mailbox that
// cannot log in makes the report "degraded" (the process is fine and keeps
// retrying it, so restarting it would not help).
func (a *app) health(ctx context.Context, tenant string) (bool, any) {
	r := healthReport{Status: "ok", Version: version, Database: componentHealth{OK: true}}
	if err := a.store.Ping(ctx); err != nil {
		r.Database = componentHealth{Error: err.Error()}
		r.Status = "down"
	}
	// The status counts every tenant's mailboxes and agents; the details
	// show the caller's only, and never a secret's env name or file path.
	r.Mailboxes = []capture.MailboxStatus{}
	for _, m := range a.status.Snapshot() {
		if !m.Connected && m.LastError != "" && r.Status == "ok" {
			r.Status = "degraded"
		}
		mb, known := a.cfg.Mailbox(strings.TrimSuffix(m.Name, "/sent")) // a Sent folder's source is its mailbox's
		if !known || mb.Tenant != tenant {
			continue
		}
		m.LastError = a.redactSecretRefs(mb, m.LastError)
		r.Mailboxes = append(r.Mailboxes, m)
	}
	if a.cal != nil {
		for _, c := range a.cal.Status() {
			if c.LastError != "" && r.Status == "ok" {
				r.Status = "degraded"
			}
			if tenant == ticket.DefaultTenant { // the calendar serves the default tenant
				r.Calendar = append(r.Calendar, c)
			}
		}
	}
	for _, c := range a.outbox.Status() {
		if c.Failing() && r.Status == "ok" {
			r.Status = "degraded"
		}
		if c.Tenant == tenant {
			r.Outbox = append(r.Outbox, c)
		}
	}
	for _, s := range a.mailAuths {
		h := s.Health()
		if !h.OK && r.Status == "ok" {
			r.Status = "degraded"
		}
		if mb, known := a.cfg.Mailbox(s.Mailbox()); known && s.Tenant() == tenant {
			h.Error = a.redactSecretRefs(mb, h.Error)
			r.MailboxOAuth = append(r.MailboxOAuth, mailOAuthHealth{Mailbox: s.Mailbox(), Health: h})
		}
	}
	if a.sf != nil {
		h := &crmHealth{Kind: "salesforce", Connected: []string{}, Disconnected: []string{}, ServiceAgent: a.cfg.CRM.ServiceAgent}
		sts, err := a.sf.Statuses(ctx)
		if err != nil {
			a.log.Warn("health: CRM connections", "err", err)
		}
		for _, st := range sts {
			if st.Tenant != tenant {
				continue
			}
			if st.State == "connected" {
				h.Connected = append(h.Connected, st.Agent)
				h.ServiceAgentConnected = h.ServiceAgentConnected || st.Agent == h.ServiceAgent
			} else {
				h.Disconnected = append(h.Disconnected, st.Agent)
			}
		}
		u := a.sf.Usage()
		h.APIUsed, h.APIMax = u.Used, u.Max
		r.CRM = h
	}
	return r.Database.OK, r
}

// redactSecretRefs takes the names of mb's secret references (the
// "password_env SUPPORT_PW" a login error points the admin to) out of msg:
// /healthz shows errors to API tokens, doctor and the log keep the hint.
func (a *app) redactSecretRefs(mb config.Mailbox, msg string) string {
	for _, s := range []config.Secret{mb.Password(), mb.OAuthToken(), mb.ClientSecret(), mb.RefreshToken(),
		mb.SMTPPassword(), mb.OAuthClientSecret(), mb.OAuthRefreshToken()} {
		if s.Env == "" && s.File == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, secretHint(s), "the mailbox's "+secretName(s)+" setting")
	}
	return msg
}

// expireSessions deletes expired panel sessions every hour until ctx ends.
func (a *app) expireSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.store.DeleteExpiredSessions(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("deleting expired sessions failed", "err", err)
		} else if n > 0 {
			a.log.Debug("expired sessions deleted", "count", n)
		}
		if a.oauth != nil {
			if n, err := a.oauth.Prune(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("deleting ended OAuth requests and tokens failed", "err", err)
			} else if n > 0 {
				a.log.Debug("ended OAuth requests and tokens deleted", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// HealthStatus grades the report for /healthz: ok, degraded or down.
func (r healthReport) HealthStatus() string { return r.Status }

// sameTenant lets through only API callers of tenant: the calendar agents of
// the config belong to one tenant, and another tenant's token must see them
// as not there at all.
func sameTenant(tenant string, writeError calendar.ErrorWriter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := api.CallerFrom(r.Context()); !ok || c.Tenant != tenant {
			writeError(w, r, http.StatusNotFound, "not_found", "no such agent", nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// unlockHandler serves POST /api/v1/users/unlock ({"email": ...}, admin):
// the agent's failed sign-ins are forgotten, in this process, so they can
// sign in again at once. 204.
func unlockHandler(panel *sidebar.Server, writeError calendar.ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Email string `json:"email"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil || !strings.Contains(b.Email, "@") {
			writeError(w, r, http.StatusBadRequest, "invalid_body", `body: want {"email": "agent@example.com"}`, err)
			return
		}
		c, _ := api.CallerFrom(r.Context())
		panel.Unlock(c.Tenant, b.Email)
		w.WriteHeader(http.StatusNoContent)
	})
}

// feedHandler serves GET /api/v1/agents/{id}/feed (the agent's free/busy
// feed URL, a credential: admin only) and, with rotate, POST
// .../feed/rotate (a new URL; the old one stops working).
func feedHandler(cal *calendar.Service, publicURL string, rotate bool, writeError calendar.ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var (
			u   string
			err error
		)
		if rotate {
			u, err = cal.RotateFeed(r.Context(), publicURL, id)
		} else {
			u, err = cal.FeedURL(r.Context(), publicURL, id)
		}
		switch {
		case errors.Is(err, ticket.ErrNotFound):
			writeError(w, r, http.StatusNotFound, "not_found", "no such agent", err)
			return
		case err != nil:
			writeError(w, r, http.StatusInternalServerError, "internal", "internal server error", err)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"agent_id": id, "feed_url": u})
	})
}

// uploads keeps reply attachments: the bytes in the blob store, the row in
// the database (api.Uploads).
type uploads struct{ *store.Store }

func (u uploads) PutBlob(ctx context.Context, r io.Reader) (ticket.BlobRef, error) {
	return u.Blobs().Put(ctx, r)
}

// macros are the canned replies of the config for the panel.
func macros(ms []config.Macro) []sidebar.Macro {
	out := make([]sidebar.Macro, len(ms))
	for i, m := range ms {
		out[i] = sidebar.Macro{Name: m.Name, Body: m.Body}
	}
	return out
}
