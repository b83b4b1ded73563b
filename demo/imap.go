// Package demo holds what `sidedesk demo` runs with no setup: an in-process
// IMAP server (go-imap v2 imapserver + imapmemserver) seeded with a corpus
// of realistic customer mail from demo/mail, so capture, threading and the
// API can be tried against a real IMAP conversation on loopback.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

//go:embed mail/*.eml
var mailFS embed.FS

// Username is the login of the demo mailbox.
const Username = "support@acme.example"

// Mail returns the demo corpus in delivery order (sorted by file name).
func Mail() ([]Message, error) {
	names, err := fs.Glob(mailFS, "mail/*.eml")
	if err != nil {
		return nil, fmt.Errorf("demo: list corpus: %w", err)
	}
	sort.Strings(names)
	out := make([]Message, 0, len(names))
	for _, n := range names {
		b, err := mailFS.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("demo: read %s: %w", n, err)
		}
		out = append(out, Message{Name: strings.TrimPrefix(n, "mail/"), Raw: b})
	}
	return out, nil
}

// Message is one mail of the corpus.
type Message struct {
	Name string // file name, e.g. "01-outage.eml"
	Raw  []byte // RFC 5322 bytes
}

// IMAPServer is a running in-process IMAP server with one user whose INBOX
// holds the demo corpus.
type IMAPServer struct {
	Addr     string // host:port on loopback
	Username string
	Password string

	srv  *imapserver.Server
	user *imapmemserver.User
	ln   net.Listener
}

// IMAPOptions configures StartIMAP.
type IMAPOptions struct {
	Addr     string // default "127.0.0.1:0" (any free port)
	Password string // default: random, printed by the caller
	Seed     bool   // append the corpus to INBOX
	Logger   *slog.Logger
}

// StartIMAP starts the demo IMAP server. It serves plain IMAP on loopback
// only (authentication in the clear is acceptable there and nowhere else).
func StartIMAP(ctx context.Context, opts IMAPOptions) (*IMAPServer, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("demo: imap address %q: %w", opts.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("demo: imap address %q: the demo server listens on loopback only", opts.Addr)
	}
	if opts.Password == "" {
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("demo: password: %w", err)
		}
		opts.Password = hex.EncodeToString(b)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(Username, opts.Password)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("demo: create INBOX: %w", err)
	}
	mem.AddUser(user)
	s := &IMAPServer{Username: Username, Password: opts.Password, user: user}
	if opts.Seed {
		msgs, err := Mail()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if err := s.Append(m.Raw); err != nil {
				return nil, fmt.Errorf("demo: seed %s: %w", m.Name, err)
			}
		}
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {},
			imap.CapUIDPlus:   {},
			imap.CapMove:      {},
		},
		InsecureAuth: true, // loopback only, checked above
		Logger:       slogLogger{opts.Logger},
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("demo: imap listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			opts.Logger.Warn("demo imap server stopped", "err", err)
		}
	}()
	return s, nil
}

// Append delivers one raw message to INBOX, with the message's Date as the
// internal date, as a mail server would on delivery.
func (s *IMAPServer) Append(raw []byte) error {
	opts := &imap.AppendOptions{Time: time.Now()}
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if d, err := m.Header.Date(); err == nil {
			opts.Time = d
		}
	}
	_, err := s.user.Append("INBOX", bytes.NewReader(raw), opts)
	return err
}

// Close stops the server and closes its connections.
func (s *IMAPServer) Close() error { return s.srv.Close() }

// slogLogger adapts slog to imapserver.Logger.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, args ...any) {
	l.l.Debug("demo imap: " + fmt.Sprintf(format, args...))
}
