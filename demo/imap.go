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
	"sync/atomic"
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
	// UIDValidity is what SELECT and STATUS report for the mailboxes.
	UIDValidity uint32

	srv  *imapserver.Server
	user *imapmemserver.User
	ln   net.Listener
}

// IMAPOptions configures StartIMAP.
type IMAPOptions struct {
	Addr     string // default "127.0.0.1:0" (any free port)
	Password string // default: random, printed by the caller
	Seed     bool   // append the corpus to INBOX
	// UIDValidity is the UIDVALIDITY every mailbox reports; 0 picks one
	// from the clock, different for each start.
	UIDValidity uint32
	Logger      *slog.Logger
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
	user := imapmemserver.NewUser(Username, opts.Password)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("demo: create INBOX: %w", err)
	}
	if opts.UIDValidity == 0 {
		// A new epoch for each start: the server keeps its mail in memory,
		// so a restarted one numbers UIDs from 1 again, and RFC 3501 §2.3.1.1
		// asks it to say so by a new UIDVALIDITY. Seconds since 2020 grow
		// with every start and fit 32 bits for a century.
		opts.UIDValidity = nextValidity(uint32(time.Now().Unix() - 1577836800))
	}
	s := &IMAPServer{Username: Username, Password: opts.Password, UIDValidity: opts.UIDValidity, user: user}
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
			return &session{user: user, validity: s.UIDValidity}, nil, nil
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

var lastValidity atomic.Uint32

// nextValidity returns now, or one more than the last value this process
// handed out if that is not less: two starts within a second still differ.
func nextValidity(now uint32) uint32 {
	for {
		last := lastValidity.Load()
		v := max(now, last+1)
		if lastValidity.CompareAndSwap(last, v) {
			return v
		}
	}
}

// session is one connection's IMAP session: imapmemserver's, reporting
// the server's own UIDVALIDITY. imapmemserver numbers UIDVALIDITY 1, 2, …
// from each start, so a restarted demo server would claim the same
// epoch for a mailbox whose UIDs begin again at 1, and a client that
// trusts UIDVALIDITY (as RFC 3501 lets it) would skip new mail.
type session struct {
	*imapmemserver.UserSession // nil until Login
	user                       *imapmemserver.User
	validity                   uint32
}

var _ imapserver.Session = (*session)(nil)

func (s *session) Login(username, password string) error {
	if err := s.user.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.user)
	return nil
}

func (s *session) Close() error {
	if s.UserSession == nil {
		return nil
	}
	return s.UserSession.Close()
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	d, err := s.UserSession.Select(name, options)
	if d != nil {
		d.UIDValidity = s.validity
	}
	return d, err
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	d, err := s.UserSession.Status(name, options)
	if d != nil && options != nil && options.UIDValidity {
		d.UIDValidity = s.validity
	}
	return d, err
}

func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	d, err := s.UserSession.Append(mailbox, r, options)
	if d != nil {
		d.UIDValidity = s.validity
	}
	return d, err
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	d, err := s.UserSession.Copy(numSet, dest)
	if d != nil {
		d.UIDValidity = s.validity
	}
	return d, err
}

// slogLogger adapts slog to imapserver.Logger.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, args ...any) {
	l.l.Debug("demo imap: " + fmt.Sprintf(format, args...))
}
