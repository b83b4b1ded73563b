package mailout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
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
	// Auth is "plain", "login" or "none".
	Auth     string
	Username string
	Password func(context.Context) (string, error)
	// LocalName is what EHLO says (default "localhost").
	LocalName string
	Timeout   time.Duration // per connection and command (default 1 min)
}

// Send implements Transport: one connection per message (a desk sends few
// mails a second; a fresh session never trips over a server's idle limit).
func (s *SMTP) Send(ctx context.Context, from string, rcpts []string, raw io.Reader) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	// The whole session is bounded; a cancelled ctx ends it at once.
	_ = conn.SetDeadline(time.Now().Add(5 * timeout))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
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
			return fmt.Errorf("TLS with %s: %w", addr, err)
		}
		c = smtp.NewClient(tc)
	case "starttls":
		if c, err = smtp.NewClientStartTLS(conn, tlsConf); err != nil {
			conn.Close()
			return classify(fmt.Sprintf("STARTTLS with %s", addr), err, false)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = timeout, 5*timeout
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return classify("EHLO", err, false)
	}
	if s.Auth != "none" && s.Auth != "" {
		pw := ""
		if s.Password != nil {
			if pw, err = s.Password(ctx); err != nil {
				return &SendError{Permanent: true, Text: "read the SMTP password: " + err.Error()}
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
			return classify("AUTH", err, false)
		}
	}
	if err := c.SendMail(from, rcpts, raw); err != nil {
		return classify("send", err, true)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted (DATA answered 250); a failed QUIT
		// changes nothing.
		return nil
	}
	return nil
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
