package gmailsource

import (
	"time"

	"github.com/sidedesk/sidedesk/capture"
)

// report records a pass's outcome in Status (and Metrics).
func (s *Source) report(st Stats, err error) {
	if err != nil {
		s.countError()
	} else {
		s.observeLag(time.Time{})
	}
	if s.opts.Status == nil {
		return
	}
	now := time.Now().UTC()
	s.opts.Status.Update(s.key(), func(m *capture.MailboxStatus) {
		m.Name, m.Kind = s.key(), "gmail"
		m.Captured += int64(st.New)
		if err != nil {
			m.Connected = errCode(err) != 401 && errCode(err) != 403 && m.Connected
			m.LastError, m.LastErrorAt = err.Error(), now
			return
		}
		m.Connected = true
		m.LastSync = now
		// A failing watch stays visible while polling goes on.
		m.LastError = s.watch.errText
		if m.LastError != "" {
			m.LastErrorAt = s.watch.errAt
		}
	})
}

// observeLag sets the mailbox lag gauge: the age of the message being
// captured (the oldest not yet captured), or 0 when a pass caught up.
func (s *Source) observeLag(oldestPending time.Time) {
	if s.opts.Metrics == nil {
		return
	}
	lag := 0.0
	if !oldestPending.IsZero() {
		lag = max(0, time.Since(oldestPending).Seconds())
	}
	s.opts.Metrics.SetLag(s.key(), lag)
}

// countError counts a failed pass. (Pipeline.Deliver counts its own
// failures; retried API calls are logged, not counted.)
func (s *Source) countError() {
	s.opts.Metrics.CaptureError(s.key())
}
