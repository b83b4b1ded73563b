package testenv

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// SMTPServer is an SMTP receiver on a loopback port (go-smtp's server,
// without TLS or AUTH): it answers each message's RCPT TO and DATA with
// the next scripted reply (nil: accepted) and keeps what it accepted. For
// precise server answers (421, 451, 550) that a real MTA gives only under
// conditions hard to stage; the real path is tested against StartPostfix.
type SMTPServer struct {
	addr string
	mu   sync.Mutex
	rcpt []*smtp.SMTPError
	data []*smtp.SMTPError
	got  []SMTPMessage
	// hold, when set, runs after a message's DATA is read and before it
	// is answered (a crash test kills the sender in between).
	hold func(SMTPMessage)
}

// Hold sets f to run after each message's DATA was read and before the
// server answers it, without the server's lock; nil stops it. A message
// is in Received only once it is answered.
func (s *SMTPServer) Hold(f func(SMTPMessage)) {
	s.mu.Lock()
	s.hold = f
	s.mu.Unlock()
}

// SMTPMessage is one accepted message.
type SMTPMessage struct {
	From string
	To   []string
	Raw  []byte
}

// StartSMTPServer starts an SMTPServer stopped when t ends.
func StartSMTPServer(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain = "mx.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Addr is the server's host:port; Port its port.
func (s *SMTPServer) Addr() string { return s.addr }

// Port: see Addr.
func (s *SMTPServer) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Script sets the replies of the next messages' RCPT TO (per recipient)
// and DATA; once used up, everything is accepted.
func (s *SMTPServer) Script(rcpt, data []*smtp.SMTPError) {
	s.mu.Lock()
	s.rcpt, s.data = rcpt, data
	s.mu.Unlock()
}

// Received returns the accepted messages so far.
func (s *SMTPServer) Received() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.got...)
}

func pop(q *[]*smtp.SMTPError) error {
	if len(*q) == 0 {
		return nil
	}
	e := (*q)[0]
	*q = (*q)[1:]
	if e == nil {
		return nil
	}
	return e
}

type smtpSession struct {
	s    *SMTPServer
	from string
	to   []string
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if err := pop(&x.s.rcpt); err != nil {
		return err
	}
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	hold := x.s.hold
	x.s.mu.Unlock()
	if hold != nil {
		hold(SMTPMessage{From: x.from, To: x.to, Raw: b})
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if err := pop(&x.s.data); err != nil {
		return err
	}
	x.s.got = append(x.s.got, SMTPMessage{From: x.from, To: x.to, Raw: b})
	return nil
}
