package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/api"
	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/demo"
	"github.com/sidedesk/sidedesk/sidebar"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// demoPasswordEnv carries the demo IMAP password from the in-process server
// to the mailbox config, the same way a real deployment passes secrets.
const demoPasswordEnv = "DEMO_IMAP_PASSWORD"

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", stderr)
	dataDir := fs.String("data", "data", "directory for the SQLite database and blobs")
	listenAddr := fs.String("listen", "127.0.0.1:8080", "HTTP listen address")
	imapAddr := fs.String("imap", "127.0.0.1:1143", "listen address of the demo IMAP server (loopback only; :0 picks a free port)")
	password := fs.String("imap-password", "demo", "password of the demo IMAP mailbox")
	smtpAddr := fs.String("smtp", "127.0.0.1:1025", "listen address of the demo SMTP server that takes the mail sidedesk sends (loopback only; :0 picks a free port)")
	if err := parse(fs, args); err != nil {
		return err
	}

	cfg := config.Default()
	cfg.Server.Listen = *listenAddr
	cfg.Server.PublicURL = "http://" + *listenAddr
	cfg.Database.Path = filepath.Join(*dataDir, "sidedesk.db")
	cfg.Storage.BlobDir = filepath.Join(*dataDir, "blobs")
	log := newLogger(cfg.Log, stderr)

	imapSrv, err := demo.StartIMAP(ctx, demo.IMAPOptions{Addr: *imapAddr, Password: *password, Seed: true, Logger: log})
	if err != nil {
		return fmt.Errorf("%w (choose another with --imap 127.0.0.1:PORT)", err)
	}
	defer imapSrv.Close()
	host, portStr, _ := net.SplitHostPort(imapSrv.Addr)
	port, _ := strconv.Atoi(portStr)
	smtpSrv, err := demo.StartSMTP(ctx, *smtpAddr, log)
	if err != nil {
		return fmt.Errorf("%w (choose another with --smtp 127.0.0.1:PORT)", err)
	}
	defer smtpSrv.Close()
	smtpHost, smtpPortStr, _ := net.SplitHostPort(smtpSrv.Addr)
	smtpPort, _ := strconv.Atoi(smtpPortStr)

	if err := os.Setenv(demoPasswordEnv, imapSrv.Password); err != nil {
		return err
	}
	mb := config.DefaultMailbox()
	mb.Name = "demo"
	mb.Address = demo.Username
	mb.Username = demo.Username
	mb.Host = host
	mb.Port = port
	mb.TLS = "none"
	mb.PasswordEnv = demoPasswordEnv
	mb.InitialSync = "since"
	mb.Since = config.Date{Time: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	mb.PollInterval = 5 * time.Second
	// Replies and acknowledgements go to the demo SMTP server.
	mb.SMTPHost, mb.SMTPPort, mb.SMTPTLS, mb.SMTPAuth = smtpHost, smtpPort, "none", "none"
	mb.FromName = "Acme Support (demo)"
	cfg.Ticket.AckEnabled = true
	cfg.Mailboxes = []config.Mailbox{mb}
	if err := cfg.Validate(); err != nil {
		return err
	}

	a, err := openApp(ctx, cfg, log, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.openCRM(true); err != nil {
		return err
	}
	if err := store.SeedDemoCRM(ctx, a.crm, ticket.DefaultTenant); err != nil {
		return fmt.Errorf("demo: seed CRM: %w", err)
	}
	agentPW, err := demoAgent(ctx, a)
	if err != nil {
		return err
	}
	ln, err := listen(ctx, cfg.Server.Listen, "--listen")
	if err != nil {
		return err
	}
	// With --listen :0 the port is known only now; links (and the OAuth
	// issuer) must carry the real one.
	a.cfg.Server.PublicURL = "http://" + ln.Addr().String()
	srcs, err := a.sources(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	// The first pass runs before the banner so that it can say what the
	// demo holds; afterwards capture continues by IDLE push.
	summary, err := onceStats(ctx, srcs["demo"])
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: first capture pass: %w", err)
	}
	tok, err := demoToken(ctx, a, filepath.Join(*dataDir, "demo-token"))
	if err != nil {
		ln.Close()
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `
sidedesk demo is running (version %s).

  Captured   %s
  API        %s/api/v1/tickets
  Health     %s/healthz      Metrics %s/metrics
  Token      %s
  Try        curl -s -H "Authorization: Bearer %s" %s/api/v1/tickets

  Sidebar    %s
             sign in as %s with password %s (new each run)

  IMAP       %s (plain IMAP on loopback)  user %s  password %s
             Append a mail there with any mail client: it becomes a ticket within a second.
  SMTP       %s takes what sidedesk sends (acknowledgements, replies) and logs it;
             nothing leaves this machine. Reply: curl -s -H "Authorization: Bearer %s" \
               -H 'Content-Type: application/json' -d '{"body_text":"On it!"}' %s/api/v1/tickets/1/replies
  Data       %s (SQLite %s); delete it to start over.

Press Ctrl-C to stop.
`, version, summary, base, base, base, tok, tok, base,
		base+demoPanelPath(), demoAgentEmail, agentPW,
		imapSrv.Addr, imapSrv.Username, imapSrv.Password,
		smtpSrv.Addr, tok, base,
		*dataDir, cfg.Database.Path)
	return a.serve(ctx, ln, srcs)
}

// demoAgentEmail is the agent the demo signs in as.
const demoAgentEmail = "agent@acme.example"

// demoAgent creates the demo agent, or gives it a new password on a rerun,
// and returns the password.
func demoAgent(ctx context.Context, a *app) (string, error) {
	pw := sidebar.GeneratePassword()
	hash, err := sidebar.HashPassword(pw)
	if err != nil {
		return "", err
	}
	_, err = a.store.CreateUser(ctx, ticket.DefaultTenant, demoAgentEmail, "Demo Agent", ticket.RoleAdmin, hash)
	if errors.Is(err, ticket.ErrUserExists) {
		err = a.store.SetPassword(ctx, ticket.DefaultTenant, demoAgentEmail, hash)
	}
	if err != nil {
		return "", fmt.Errorf("demo: agent: %w", err)
	}
	return pw, nil
}

// demoPanelPath opens the panel beside the corpus's first mail, as the
// Outlook add-in would.
func demoPanelPath() string {
	msgs, err := demo.Mail()
	if err != nil || len(msgs) == 0 {
		return "/sidebar"
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Raw))
	if err != nil {
		return "/sidebar"
	}
	q := url.Values{}
	q.Set("message_id", m.Header.Get("Message-Id"))
	if from, err := mail.ParseAddress(m.Header.Get("From")); err == nil {
		q.Set("from", from.Address)
	}
	return "/sidebar?" + q.Encode()
}

// demoToken is the demo's API token: the one kept in file (0600) from an
// earlier run when it still authenticates, else a new token "demo" (the
// old one revoked), kept there for the next run. Re-running the demo does
// not pile up tokens.
func demoToken(ctx context.Context, a *app, file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		tok := strings.TrimSpace(string(b))
		if t, err := a.store.TokenByHash(ctx, api.HashToken(tok)); err == nil && t.Allows(ticket.ScopeAdmin) {
			return tok, nil
		}
	}
	toks, err := a.store.Tokens(ctx, ticket.DefaultTenant)
	if err != nil {
		return "", err
	}
	for _, t := range toks {
		if t.Name == "demo" && t.RevokedAt.IsZero() {
			if _, err := a.store.RevokeToken(ctx, t.ID); err != nil {
				return "", err
			}
		}
	}
	tok, err := createToken(ctx, a, ticket.DefaultTenant, "demo", ticket.ScopeAdmin)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo: keep the token in %s: %w", file, err)
	}
	return tok, nil
}
