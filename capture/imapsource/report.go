package imapsource

import (
	"errors"
	"time"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/ticket"
)

// Kind is the MailboxStatus.Kind of IMAP mailboxes.
const Kind = "imap"

func (s *Source) status(fn func(m *capture.MailboxStatus)) {
	if s.opts.Status == nil {
		return
	}
	s.opts.Status.Update(s.key, func(m *capture.MailboxStatus) {
		m.Name, m.Kind = s.key, Kind
		fn(m)
	})
}

func (s *Source) setConnected(up bool) {
	s.status(func(m *capture.MailboxStatus) { m.Connected = up })
}

// reportSync records a completed pass: the mailbox is healthy again.
func (s *Source) reportSync() {
	now := s.opts.Now().UTC()
	s.status(func(m *capture.MailboxStatus) {
		m.LastSync = now
		m.LastError = ""
	})
}

func (s *Source) reportError(err error) {
	if err == nil {
		return
	}
	now := s.opts.Now().UTC()
	s.status(func(m *capture.MailboxStatus) {
		m.LastError, m.LastErrorAt = err.Error(), now
	})
	var de *deliverError
	if !errors.As(err, &de) { // the Pipeline counted those itself
		s.opts.Metrics.CaptureError(s.key)
	}
}

// deliverError is a failure of Pipeline.Deliver for one message.
type deliverError struct{ err error }

func (e *deliverError) Error() string { return e.err.Error() }
func (e *deliverError) Unwrap() error { return e.err }

// reportCaptured counts one committed message and sets the mailbox lag
// from its INTERNALDATE (when the server received it): messages are
// captured in UID order, so the next uncaptured one is about that old.
func (s *Source) reportCaptured(res ticket.Result, internal time.Time) {
	if !res.Duplicate {
		s.status(func(m *capture.MailboxStatus) { m.Captured++ })
	}
	if !internal.IsZero() {
		s.opts.Metrics.SetLag(s.key, max(0, s.opts.Now().Sub(internal).Seconds()))
	}
}

// reportCaughtUp: a pass captured everything there was, so the lag is 0.
func (s *Source) reportCaughtUp() { s.opts.Metrics.SetLag(s.key, 0) }

func (s *Source) countReconnect() { s.opts.Metrics.IdleReconnect(s.key) }
