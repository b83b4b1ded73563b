package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"sync"

	"github.com/emersion/go-smtp"
)

// SMTPServer is the demo's outgoing mail server on loopback: it accepts
// every message sidedesk sends (acknowledgements, agents' replies) without
// login, logs who it was for, and keeps the last ones, so the demo can show
// the whole loop without a real mail server. Nothing leaves the machine.
type SMTPServer struct {
	Addr string
	srv  *smtp.Server
	mu   sync.Mutex
	sent []SentMail
}

// SentMail is one message the demo server accepted.
type SentMail struct {
	From, Subject string
	To            []string
	Raw           []byte
}

// StartSMTP listens on addr (loopback; ":0" picks a port).
func StartSMTP(ctx context.Context, addr string, log *slog.Logger) (*SMTPServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("demo smtp: %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("demo smtp: %s is not a loopback address", addr)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo smtp: listen on %s: %w", addr, err)
	}
	s := &SMTPServer{Addr: ln.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &demoSession{s: s, log: log}, nil
	}))
	s.srv.Domain = "demo.localhost"
	s.srv.MaxMessageBytes = 32 << 20
	go s.srv.Serve(ln)
	return s, nil
}

// Sent returns the messages accepted so far (the last 100).
func (s *SMTPServer) Sent() []SentMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMail(nil), s.sent...)
}

// Close stops the server.
func (s *SMTPServer) Close() error { return s.srv.Close() }

type demoSession struct {
	s    *SMTPServer
	log  *slog.Logger
	from string
	to   []string
}

func (d *demoSession) Reset()        { d.from, d.to = "", nil }
func (d *demoSession) Logout() error { return nil }

func (d *demoSession) Mail(from string, _ *smtp.MailOptions) error {
	d.from = from
	return nil
}

func (d *demoSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	d.to = append(d.to, to)
	return nil
}

func (d *demoSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		subject = m.Header.Get("Subject")
	}
	d.s.mu.Lock()
	d.s.sent = append(d.s.sent, SentMail{From: d.from, To: d.to, Subject: subject, Raw: raw})
	if len(d.s.sent) > 100 {
		d.s.sent = d.s.sent[len(d.s.sent)-100:]
	}
	d.s.mu.Unlock()
	if d.log != nil {
		d.log.Info("demo smtp: mail sent (kept on this machine)", "to", d.to, "subject", subject, "bytes", len(raw))
	}
	return nil
}
