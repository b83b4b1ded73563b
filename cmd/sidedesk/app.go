package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sidedesk/sidedesk/calendar"
	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/capture/gmailsource"
	"github.com/sidedesk/sidedesk/capture/imapsource"
	"github.com/sidedesk/sidedesk/chat"
	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/crm/salesforce"
	"github.com/sidedesk/sidedesk/internal/mailauth"
	"github.com/sidedesk/sidedesk/mailout"
	"github.com/sidedesk/sidedesk/oauth"
	"github.com/sidedesk/sidedesk/outbox"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
	"github.com/sidedesk/sidedesk/webhook"
)

// app is everything one sidedesk process runs on, built from the config.
// Only package main knows every package; the others meet in ticket.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	store    *store.Store
	tickets  *ticket.Service
	pipeline *capture.Pipeline
	status   *capture.Status
	metrics  *capture.Metrics
	registry *prometheus.Registry
	secret   []byte            // master key; derive per-purpose keys with subkey
	cal      *calendar.Service // nil unless [calendar] enabled (serve only)
	bot      *chat.Bot         // nil unless [slack] enabled (serve only)
	mail     *mailout.Service  // nil unless a mailbox sends (serve only)
	hooks    *webhook.Service  // outbound webhooks (serve only)
	oauth    *oauth.Server     // the OAuth 2.0 authorization server (serve, oauth client ...)
	outbox   *outbox.Runner    // delivers the outbox consumers (serve)
	prio     *ticket.Prioritizer
	crm      *store.LocalCRM       // the local CRM: imports, the demo's seed
	conn     crm.Connector         // what the sidebar asks: crm or sf
	sf       *salesforce.Connector // nil unless [crm] kind = "salesforce"
	closers  []func() error        // run by Close, before the store closes
	// mailAuths are the token sources of XOAUTH2 mailboxes (mailAuth).
	mailAuths mailauth.Sources
	// schemaErr is what is wrong with the database schema (schemaReport).
	schemaErr error
}

// source is one configured mailbox capture (IMAP or Gmail).
type source interface {
	Run(ctx context.Context) error
	Check(ctx context.Context) error
}

// newLogger builds the process logger from the [log] section.
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// schemaMode says what openApp does about the database schema.
type schemaMode int

const (
	schemaMigrate schemaMode = iota // apply pending migrations
	schemaRequire                   // refuse a schema that is not this binary's
	schemaReport                    // open anyway; app.schemaErr says what is wrong (doctor)
)

// openApp opens the store, handles its schema as mode says, and builds the
// ticket service and capture pipeline.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger, mode schemaMode) (*app, error) {
	st, err := store.Open(ctx, store.Options{Path: cfg.Database.Path, BlobDir: cfg.Storage.BlobDir, Logger: log,
		NormalSync: cfg.Database.Synchronous == "normal", DiskReserve: int64(cfg.Storage.ReserveMB) << 20})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, store: st}
	if err := a.init(ctx, mode); err != nil {
		st.Close()
		return nil, err
	}
	if a.schemaErr == nil {
		if err := a.openCRM(false); err != nil {
			st.Close()
			return nil, err
		}
	} else if err := a.openSalesforce(); err != nil {
		// doctor on a database not migrated yet still checks Salesforce.
		st.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) init(ctx context.Context, mode schemaMode) error {
	if mode == schemaMigrate {
		if err := a.store.Migrate(ctx); err != nil {
			return err
		}
	} else {
		cur, known, err := a.store.SchemaVersion(ctx)
		switch {
		case err != nil:
			a.schemaErr = err
		case cur < known:
			a.schemaErr = fmt.Errorf("database %s is at schema version %d, this binary needs %d: run `sidedesk migrate`", a.cfg.Database.Path, cur, known)
		case cur > known:
			a.schemaErr = fmt.Errorf("database %s is at schema version %d, newer than this binary knows (%d): run the newer sidedesk", a.cfg.Database.Path, cur, known)
		}
		if a.schemaErr != nil && mode == schemaRequire {
			return a.schemaErr
		}
	}
	secret, err := loadSecretKey(a.cfg)
	if err != nil {
		return err
	}
	a.secret = secret
	t := a.cfg.Ticket
	prio, err := prioritizer(t.Priority)
	if err != nil {
		return err
	}
	a.prio = prio
	a.tickets, err = ticket.NewService(ticket.Options{
		Priority:        prio,
		Store:           a.store,
		Logger:          a.log,
		TagPrefix:       t.TagPrefix,
		ReplySecret:     subkey(secret, "reply-address"),
		ReopenWindow:    t.ReopenWindow,
		FloodLimit:      t.FloodLimit,
		FloodWindow:     t.FloodWindow,
		SubjectMatching: t.SubjectMatching,
		Tier:            a.crmTier,
		IsAgent:         a.isAgent,
		Agents:          a.agentEmails,
	})
	if err != nil {
		return err
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = capture.NewMetrics(a.registry)
	if a.outbox, err = outbox.New(outbox.Options{Store: a.store, Notify: a.store,
		Logger: a.log.With("component", "outbox"), Metrics: outbox.NewMetrics(a.registry)}); err != nil {
		return err
	}
	a.status = capture.NewStatus()
	a.pipeline = &capture.Pipeline{Blobs: a.store.Blobs(), Sink: a.tickets, Metrics: a.metrics, Logger: a.log}
	return nil
}

func (a *app) Close() error {
	for _, c := range a.closers {
		c()
	}
	if a.crm != nil {
		a.crm.Close()
	}
	return a.store.Close()
}

// prioritizer compiles [ticket.priority].
func prioritizer(c config.Priority) (*ticket.Prioritizer, error) {
	r := ticket.PriorityRules{
		IgnoreHeaders: !c.UseHeaders,
		Keywords:      map[string]ticket.Priority{},
		VIPSenders:    c.VIPSenders,
		VIPDomains:    c.VIPDomains,
		VIPPriority:   ticket.Priority(c.VIPPriority),
		Tiers:         map[string]ticket.Priority{},
	}
	for _, w := range c.HighKeywords {
		r.Keywords[w] = ticket.PriorityHigh
	}
	for _, w := range c.UrgentKeywords {
		r.Keywords[w] = ticket.PriorityUrgent
	}
	for tier, p := range c.Tiers {
		r.Tiers[tier] = ticket.Priority(p)
	}
	p, err := ticket.NewPrioritizer(r)
	if err != nil {
		return nil, fmt.Errorf("config: ticket.priority: %w", err)
	}
	return p, nil
}

// subkey derives an independent key for one purpose from the master key.
// oauthServer builds (once) the authorization server over the store.
func (a *app) oauthServer() (*oauth.Server, error) {
	if a.oauth != nil {
		return a.oauth, nil
	}
	srv, err := oauth.New(oauth.Options{Store: a.store, Issuer: a.cfg.Server.PublicURL, Key: subkey(a.secret, "oauth"),
		Logger: a.log.With("component", "oauth")})
	if err != nil {
		return nil, err
	}
	a.oauth = srv
	return srv, nil
}

func subkey(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("sidedesk/" + purpose))
	return m.Sum(nil)
}

// loadSecretKey reads [security] secret_key_env/_file, or, when neither is
// set, the key file beside the database, generating it (0600) on first use.
func loadSecretKey(cfg *config.Config) ([]byte, error) {
	ref := cfg.Security.SecretKey()
	if ref.IsSet() {
		v, err := ref.Resolve(cfg.Getenv)
		if err != nil {
			return nil, err
		}
		if len(v) < 32 {
			return nil, fmt.Errorf("config: security.secret_key: the key must be at least 32 bytes (it has %d); generate one with `head -c 32 /dev/urandom | base64`", len(v))
		}
		return []byte(v), nil
	}
	path := filepath.Join(filepath.Dir(cfg.Database.Path), "secret.key")
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("secret key file %s is shorter than 32 bytes: remove it to have a new one generated (reply addresses signed with the old key then stop matching)", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process won the race
		return loadSecretKey(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return key, nil
}

// sources builds one capture source per enabled mailbox.
func (a *app) sources(ctx context.Context) (map[string]source, error) {
	out := make(map[string]source)
	for _, mb := range a.cfg.Mailboxes {
		if !mb.Enabled {
			continue
		}
		a.metrics.Init(mb.Name)
		var (
			s   source
			err error
		)
		switch mb.Kind {
		case config.KindIMAP:
			s, err = a.imapSource(mb)
			if err == nil && mb.SentFolder != "" {
				// The Sent folder too: replies agents write in their own
				// mail client join their tickets.
				sent := mb
				sent.Folder, sent.AfterCapture = mb.SentFolder, "keep"
				var ss *imapsource.Source
				if ss, err = a.imapSourceOpts(sent, true); err == nil {
					a.metrics.Init(ss.Name())
					out[ss.Name()] = ss
				}
			}
		case config.KindGmail:
			s, err = a.gmailSource(ctx, mb, false)
			if err == nil && mb.SentFolder != "" {
				// The SENT label too: replies agents write in Gmail itself.
				var ss *gmailsource.Source
				if ss, err = a.gmailSource(ctx, mb, true); err == nil {
					a.metrics.Init(ss.Name())
					out[ss.Name()] = ss
				}
			}
		default:
			err = fmt.Errorf("mailbox %q: unknown kind %q", mb.Name, mb.Kind)
		}
		if err != nil {
			return nil, err
		}
		out[mb.Name] = s
	}
	return out, nil
}

func (a *app) secretFunc(s config.Secret) func(context.Context) (string, error) {
	if !s.IsSet() {
		return nil
	}
	return func(context.Context) (string, error) { return s.Resolve(a.cfg.Getenv) }
}

// secretName is the secret's own key without its table ("password").
func secretName(s config.Secret) string {
	if i := strings.LastIndexByte(s.Key, '.'); i >= 0 {
		return s.Key[i+1:]
	}
	return s.Key
}

// secretHint names where secret s comes from ("password_env SUPPORT_PW"),
// for the admin (doctor, the log).
func secretHint(s config.Secret) string {
	base := secretName(s)
	switch {
	case s.Env != "":
		return base + "_env " + s.Env
	case s.File != "":
		return base + "_file " + s.File
	}
	return base
}

func (a *app) imapSource(mb config.Mailbox) (*imapsource.Source, error) {
	return a.imapSourceOpts(mb, false)
}

// imapSourceOpts is imapSource; outgoing makes it the Sent folder's.
func (a *app) imapSourceOpts(mb config.Mailbox, outgoing bool) (*imapsource.Source, error) {
	var tlsCfg *tls.Config
	if mb.CAFile != "" || mb.TLSInsecureSkipVerify {
		tlsCfg = &tls.Config{ServerName: mb.Host, InsecureSkipVerify: mb.TLSInsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if mb.CAFile != "" {
			pem, err := os.ReadFile(mb.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mailbox %q: ca_file: %w", mb.Name, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("mailbox %q: ca_file %s holds no PEM certificate", mb.Name, mb.CAFile)
			}
			tlsCfg.RootCAs = pool
		}
	}
	hint := secretHint(mb.Password())
	token, rejected := a.secretFunc(mb.OAuthToken()), func() {}
	if mb.Auth == imapsource.AuthXOAuth2 {
		hint = secretHint(mb.OAuthToken())
		ts, err := a.mailAuth(mb)
		if err != nil {
			return nil, err
		}
		if ts != nil {
			token, rejected = ts.Token, ts.Forget
			hint = "the mailbox's OAuth connection (oauth_client_id " + mb.OAuthClientID + "; the account must be the username)"
		}
	}
	return imapsource.New(imapsource.Options{
		Name:               mb.Name,
		Tenant:             mb.Tenant,
		Host:               mb.Host,
		Port:               mb.Port,
		TLS:                mb.TLS,
		TLSConfig:          tlsCfg,
		Auth:               mb.Auth,
		Username:           mb.Username,
		Password:           a.secretFunc(mb.Password()),
		OAuthToken:         token,
		OAuthTokenRejected: rejected,
		CredentialHint:     hint,
		Folder:             mb.Folder,
		Outgoing:           outgoing,
		InitialSync:        mb.InitialSync,
		Since:              mb.Since.Time,
		AfterCapture:       mb.AfterCapture,
		IDLE:               mb.IDLE,
		PollInterval:       mb.PollInterval,
		State:              a.store,
		Lease:              a.store,
		Pipeline:           a.pipeline,
		Status:             a.status,
		Metrics:            a.metrics,
		Logger:             a.log.With("mailbox", mb.Name),
	})
}

// agentEmails lists tenant's active agents' addresses (the ticket
// service's Options.Agents).
func (a *app) agentEmails(ctx context.Context, tenant string) ([]string, error) {
	users, err := a.store.Users(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		if u.DisabledAt.IsZero() {
			out = append(out, u.Email)
		}
	}
	return out, nil
}

// isAgent tells the ticket service whether email is an active agent of
// tenant (only agents can be assigned tickets).
func (a *app) isAgent(ctx context.Context, tenant, email string) (bool, error) {
	u, err := a.store.UserByEmail(ctx, tenant, email)
	if errors.Is(err, ticket.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.DisabledAt.IsZero(), nil
}
