package mailout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/sidedesk/sidedesk/internal/mailauth"
)

// Transport hands a built message to a mail server.
type Transport interface {
	// Send delivers raw from the envelope sender from to rcpts. An error
	// that retrying cannot change is a *SendError with Permanent set.
	Send(ctx context.Context, from string, rcpts []string, raw io.Reader) error
}

// SendError is a mail server's refusal.
type SendError struct {
	Permanent bool   // 5xx: retrying cannot change it
	Code      int    // the SMTP reply code; 0 when there was none
	Text      string // the server's text, for the ticket and the log
}

func (e *SendError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%d %s", e.Code, e.Text)
	}
	return e.Text
}

// SMTP is a Transport to a submission server (RFC 6409).
type SMTP struct {
	Host string
	Port int
	// TLS is "implicit" (SMTPS, usually port 465), "starttls" (usually
	// 587) or "none" (loopback relays only).
	TLS       string
	TLSConfig *tls.Config // nil: verify Host against the system roots
	// Auth is "plain", "login", "xoauth2" or "none".
	Auth     string
	Username string
	Password func(context.Context) (string, error)
	// Token is the access token of xoauth2 (a mailauth.Source refreshes
	// it); TokenRejected, when set, hears that the server refused it.
	Token         func(context.Context) (string, error)
	TokenRejected func()
	// LocalName is what EHLO says (default "localhost").
	LocalName string
	Timeout   time.Duration // per connection and command (default 1 min)

	// One session is kept open between messages sent within keepIdle of
	// each other (RSET between them), so a queue drains at the server's
	// pace instead of a login per message.
	mu       sync.Mutex
	cached   *smtp.Client
	lastUsed time.Time
}

// keepIdle is how long a session is kept open without a message: below the
// 5 minutes RFC 5321 §4.5.3.2.7 lets a server wait, well below what
// submission servers allow.
const keepIdle = 30 * time.Second

// Send implements Transport. It reuses the open session when there is one
// (RSET first); a session that fails before the message was handed over
// is replaced by a fresh one, once.
func (s *SMTP) Send(ctx context.Context, from string, rcpts []string, raw io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cached; c != nil {
		s.cached = nil
		if time.Since(s.lastUsed) < keepIdle && c.Reset() == nil {
			err := c.SendMail(from, rcpts, raw)
			if err == nil {
				s.cached, s.lastUsed = c, time.Now()
				return nil
			}
			c.Close()
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return classify("send", err, true) // the server answered: about this message
			}
			// The kept session died (server timeout, restart): a fresh one,
			// from the start of the message.
			if sk, ok := raw.(io.Seeker); !ok {
				return fmt.Errorf("send: %w", err)
			} else if _, serr := sk.Seek(0, io.SeekStart); serr != nil {
				return fmt.Errorf("send: %w", err)
			}
		} else {
			c.Close()
		}
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	if err := c.SendMail(from, rcpts, raw); err != nil {
		c.Close()
		return classify("send", err, true)
	}
	s.cached, s.lastUsed = c, time.Now()
	return nil
}

// Close ends the kept session, if any.
func (s *SMTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached == nil {
		return nil
	}
	err := s.cached.Quit()
	s.cached = nil
	return err
}

// dial opens and authenticates a session.
func (s *SMTP) dial(ctx context.Context) (*smtp.Client, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	// Commands are bounded by the client's timeouts; a cancelled ctx ends
	// the login at once.
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	tlsConf := s.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	var c *smtp.Client
	switch s.TLS {
	case "implicit":
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", addr, err)
		}
		c = smtp.NewClient(tc)
	case "starttls":
		if c, err = smtp.NewClientStartTLS(conn, tlsConf); err != nil {
			conn.Close()
			return nil, classify(fmt.Sprintf("STARTTLS with %s", addr), err, false)
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = timeout, 5*timeout
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	fail := func(err error) (*smtp.Client, error) {
		c.Close()
		return nil, err
	}
	if err := c.Hello(local); err != nil {
		return fail(classify("EHLO", err, false))
	}
	if s.Auth == "xoauth2" {
		if s.Token == nil {
			return fail(errors.New("smtp_auth = \"xoauth2\" has no token source"))
		}
		tok, err := s.Token(ctx)
		if err != nil {
			return fail(fmt.Errorf("get the SMTP OAuth token: %w", err))
		}
		xa := &mailauth.XOAuth2Client{User: s.Username, Token: tok}
		if err := c.Auth(xa); err != nil {
			if s.TokenRejected != nil {
				s.TokenRejected()
			}
			return fail(classify("AUTH XOAUTH2", err, false))
		}
	} else if s.Auth != "none" && s.Auth != "" {
		pw := ""
		if s.Password != nil {
			if pw, err = s.Password(ctx); err != nil {
				return fail(fmt.Errorf("read the SMTP password: %w", err))
			}
		}
		var a sasl.Client
		if s.Auth == "login" {
			a = sasl.NewLoginClient(s.Username, pw)
		} else {
			a = sasl.NewPlainClient("", s.Username, pw)
		}
		if err := c.Auth(a); err != nil {
			// A refused login is the configuration's fault, not the
			// message's: retried (and shown in /healthz) until it is fixed.
			return fail(classify("AUTH", err, false))
		}
	}
	_ = conn.SetDeadline(time.Time{}) // from here on the client's own timeouts
	return c, nil
}

// classify turns an SMTP reply into a SendError: 5xx permanent (where
// the message itself was refused: perMessage), 4xx temporary; other errors
// (the connection) are returned as they are, to be retried.
func classify(what string, err error, perMessage bool) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &SendError{Permanent: perMessage && se.Code >= 500, Code: se.Code, Text: what + ": " + se.Message}
	}
	return fmt.Errorf("%s: %w", what, err)
}
