package imapsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/sidedesk/sidedesk/internal/mailauth"
)

// commandTimeout bounds how long a command that should answer at once
// (LOGOUT, ending IDLE) may take before the connection is declared dead.
const commandTimeout = 30 * time.Second

// conn is one logged-in IMAP connection of a Source.
type conn struct {
	s *Source
	c *imapclient.Client
	// raw is the socket under c; closing it aborts whatever c is doing.
	raw net.Conn
	// newMail receives a token when the server reports EXISTS outside of a
	// SELECT (new mail, RFC 9051 §7.4.1); buffered so none is lost.
	newMail chan struct{}
	// stop undoes the context.AfterFunc that closes the socket on cancel.
	stop func() bool
	// sel is what SELECT/EXAMINE reported.
	sel *imap.SelectData
	// passes counts this connection's sync passes: sel.UIDNext is only
	// current for the first (later passes follow IDLE's EXISTS).
	passes int
	// newAbove: this pass's UIDs above it were never delivered by this
	// mailbox before (capture.Delivery.New); resync makes none new (the
	// UIDVALIDITY changed: the same mail comes again under new UIDs).
	newAbove uint32
	resync   bool
	epoch    uint32 // syncState.Epoch of this pass: part of the source keys
	// timedOut is set when guard aborted the connection.
	timedOut atomic.Bool
	// delim is the server's hierarchy delimiter (LIST "" "", RFC 9051
	// §6.3.9); 0 when unknown or the server has no hierarchy.
	delim rune
}

// learnDelim asks the server for its hierarchy delimiter. Failure is not
// fatal: folder names are then used as configured.
func (cn *conn) learnDelim() {
	var list []*imap.ListData
	err := cn.guard(func() (err error) {
		list, err = cn.c.List("", "", nil).Collect()
		return err
	})
	if err == nil && len(list) > 0 {
		cn.delim = list[0].Delim
	}
}

// serverName turns a configured folder name, whose levels are always
// separated by "/" (Archive/Done), into the server's own form: Dovecot's
// maildir and Courier use "." and refuse "/" in names.
func (cn *conn) serverName(folder string) string {
	if cn.delim == 0 || cn.delim == '/' {
		return folder
	}
	return strings.ReplaceAll(folder, "/", string(cn.delim))
}

// guard runs fn, one command exchange, and aborts the connection when the
// server has not answered within deadAfter. go-imap bounds reads inside a
// response, but not the wait for a response to begin: on a connection
// that died silently (NAT timeout, no FIN) that wait would never end.
func (cn *conn) guard(fn func() error) error {
	t := time.AfterFunc(cn.s.deadAfter, func() {
		cn.timedOut.Store(true)
		cn.abort()
	})
	err := fn()
	t.Stop()
	if err != nil && cn.timedOut.Load() {
		err = fmt.Errorf("%w (no answer from %s within %v: connection dead)", err, cn.s.addr, cn.s.deadAfter)
	}
	return err
}

// connect dials, negotiates TLS as configured, waits for the greeting and
// authenticates. Cancelling ctx closes the connection, so every later call
// on it fails fast instead of blocking.
func (s *Source) connect(ctx context.Context) (*conn, error) {
	cn := &conn{s: s, newMail: make(chan struct{}, 1)}
	tlsConf := s.tlsConfig()
	copts := &imapclient.Options{
		TLSConfig: tlsConf,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case cn.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	var raw net.Conn
	var err error
	if s.opts.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: dialer, Config: tlsConf}
		raw, err = td.DialContext(ctx, "tcp", s.addr)
	} else {
		raw, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, s.connectError(err)
	}
	cn.raw = raw
	cn.stop = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(err error) (*conn, error) {
		cn.stop()
		raw.Close()
		if ctx.Err() != nil {
			return nil, s.errorf("connect to %s: %w", s.addr, context.Cause(ctx))
		}
		return nil, err
	}
	// A server that takes the connection and never greets (restarting,
	// overloaded, a stale listener) is given up after GreetingTimeout and
	// tried again, instead of waited for without end.
	// (go-imap sets its own read deadlines, so a timer closes the
	// connection rather than a deadline of ours.)
	var mute atomic.Bool
	greet := time.AfterFunc(s.opts.GreetingTimeout, func() {
		mute.Store(true)
		raw.Close()
	})
	noGreeting := func(err error) error {
		if mute.Load() {
			return s.errorf("connect to %s: no greeting within %v (the server took the connection but did not answer; retried): %w",
				s.addr, s.opts.GreetingTimeout, err)
		}
		return s.connectError(err)
	}
	switch s.opts.TLS {
	case TLSStartTLS:
		// RFC 9051 §6.2.1; NewStartTLS refuses a PREAUTH greeting on the
		// cleartext connection (§7.1.4).
		cn.c, err = imapclient.NewStartTLS(raw, copts)
		if err != nil {
			greet.Stop()
			return fail(noGreeting(err))
		}
	default:
		cn.c = imapclient.New(raw, copts)
		if err := cn.c.WaitGreeting(); err != nil {
			greet.Stop()
			cn.c.Close()
			return fail(noGreeting(err))
		}
	}
	if !greet.Stop() && mute.Load() {
		// The timer fired just as the greeting came: the connection is closed.
		cn.c.Close()
		return fail(noGreeting(errors.New("closed")))
	}
	if cn.c.State() != imap.ConnStateAuthenticated { // else PREAUTH
		if err := cn.guard(func() error { return s.authenticate(ctx, cn.c) }); err != nil {
			cn.c.Close()
			return fail(err)
		}
	}
	cn.learnDelim()
	return cn, nil
}

func (s *Source) tlsConfig() *tls.Config {
	var conf *tls.Config
	if s.opts.TLSConfig != nil {
		conf = s.opts.TLSConfig.Clone()
	} else {
		conf = &tls.Config{}
	}
	if conf.ServerName == "" {
		conf.ServerName = s.opts.Host
	}
	if conf.MinVersion == 0 {
		conf.MinVersion = tls.VersionTLS12
	}
	if s.opts.TLS == TLSImplicit && conf.NextProtos == nil {
		conf.NextProtos = []string{"imap"} // RFC 9051 §7.1 ALPN id
	}
	return conf
}

// connectError says what failed while reaching the server and what to check.
func (s *Source) connectError(err error) error {
	hint := "check host, port and tls"
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		hint = "the server certificate is not trusted: check host, ca_file (for a private CA) or tls_insecure_skip_verify"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		hint = "check tls (implicit is usually port 993, starttls port 143)"
	}
	return s.errorf("connect to %s (tls %s): %w: %s", s.addr, s.opts.TLS, err, hint)
}

// authenticate logs in with the configured mechanism. The secret is
// resolved now, so a rotated secret is picked up on the next connection.
func (s *Source) authenticate(ctx context.Context, c *imapclient.Client) error {
	user := s.opts.Username
	var err error
	switch s.opts.Auth {
	case AuthXOAuth2:
		var token string
		if token, err = s.opts.OAuthToken(ctx); err != nil {
			return s.errorf("resolve OAuth token: %w", err)
		}
		xc := &mailauth.XOAuth2Client{User: user, Token: token}
		if err = c.Authenticate(xc); err != nil {
			if xc.Challenge != "" {
				err = fmt.Errorf("%w (server said %s)", err, xc.Challenge)
			}
			if s.opts.OAuthTokenRejected != nil {
				s.opts.OAuthTokenRejected() // the next login refreshes
			}
		}
	default:
		var pw string
		if pw, err = s.opts.Password(ctx); err != nil {
			return s.errorf("resolve password: %w", err)
		}
		caps := c.Caps()
		switch {
		case s.opts.Auth == AuthPlain && caps.Has(imap.AuthCap(sasl.Plain)):
			err = c.Authenticate(sasl.NewPlainClient("", user, pw))
		case caps.Has(imap.CapLoginDisabled) && caps.Has(imap.AuthCap(sasl.Login)):
			err = c.Authenticate(sasl.NewLoginClient(user, pw))
		case caps.Has(imap.CapLoginDisabled):
			return s.errorf("%s refuses LOGIN without TLS (LOGINDISABLED): use tls = \"starttls\" or \"implicit\"", s.addr)
		default:
			err = c.Login(user, pw).Wait()
		}
	}
	if err != nil {
		hint := s.opts.CredentialHint
		if hint == "" {
			hint = "the username and password"
			if s.opts.Auth == AuthXOAuth2 {
				hint = "the username and OAuth token"
			}
		}
		return s.errorf("login failed for %s at %s: %w: check %s", user, s.addr, err, hint)
	}
	return nil
}

// selectFolder opens the folder: EXAMINE (read-only) when readOnly, SELECT
// otherwise (after_capture seen or move changes the folder).
func (cn *conn) selectFolder(ctx context.Context, readOnly bool) (*imap.SelectData, error) {
	s := cn.s
	var sel *imap.SelectData
	err := cn.guard(func() (err error) {
		sel, err = cn.c.Select(cn.serverName(s.opts.Folder), &imap.SelectOptions{ReadOnly: readOnly}).Wait()
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, s.errorf("select %q: %w", s.opts.Folder, context.Cause(ctx))
		}
		return nil, s.errorf("select folder %q: %w: check folder", s.opts.Folder, err)
	}
	if sel.UIDValidity == 0 {
		return nil, s.errorf("folder %q has no UIDVALIDITY: the server cannot be synced by UID", s.opts.Folder)
	}
	cn.sel = sel
	return sel, nil
}

// ensureFolder creates folder unless it exists (for after_capture move).
func (cn *conn) ensureFolder(folder string) error {
	folder = cn.serverName(folder)
	err := cn.guard(func() error { return cn.c.Create(folder, nil).Wait() })
	var imapErr *imap.Error
	if err == nil || (errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists) {
		return nil
	}
	// Servers without the ALREADYEXISTS code: the folder may exist anyway.
	serr := cn.guard(func() error {
		_, err := cn.c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
		return err
	})
	if serr == nil {
		return nil
	}
	return cn.s.errorf("create folder %q for after_capture: %w", folder, err)
}

// logout says goodbye politely, without waiting long for a dead server.
func (cn *conn) logout() {
	done := make(chan struct{})
	go func() {
		_ = cn.c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// abort closes the socket without waiting for anything: commands in
// flight fail at once. (Client.Close would wait for the response reader,
// which may be blocked handing us a literal we are not reading.)
func (cn *conn) abort() { _ = cn.raw.Close() }

// close drops the connection. The socket is closed first; the client's
// reader normally ends at once, but close never waits on it for long.
func (cn *conn) close() {
	cn.stop()
	cn.abort()
	done := make(chan struct{})
	go func() {
		_ = cn.c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cn.s.log.Warn("imapsource: IMAP client did not shut down in 5s")
	}
}
