package capture

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidedesk/sidedesk/ticket"
)

// Metrics are the capture counters shared by every source. All methods are
// safe on a nil *Metrics (they do nothing), so sources need no checks.
type Metrics struct {
	// MessagesCaptured counts messages ingested (not duplicates), by
	// mailbox and classification.
	MessagesCaptured *prometheus.CounterVec
	// ParseErrors counts messages kept with a ParseError, by mailbox.
	ParseErrors *prometheus.CounterVec
	// MailboxLag is how far a mailbox's capture is behind, in seconds: the
	// age of the oldest message not yet captured (0 when caught up).
	MailboxLag *prometheus.GaugeVec
	// IdleReconnects counts IMAP IDLE (or watch) reconnections, by mailbox.
	IdleReconnects *prometheus.CounterVec
	// CaptureErrors counts failed deliveries and source errors, by mailbox.
	CaptureErrors *prometheus.CounterVec
}

// NewMetrics creates the capture metrics and registers them on reg; with a
// nil reg they are left unregistered (tests). Registering twice on one
// registry reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		MessagesCaptured: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sidedesk", Subsystem: "capture", Name: "messages_total",
			Help: "Messages captured into tickets, by mailbox and loop-guard classification.",
		}, []string{"mailbox", "classification"}),
		ParseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sidedesk", Subsystem: "capture", Name: "parse_errors_total",
			Help: "Messages kept despite malformed MIME, by mailbox.",
		}, []string{"mailbox"}),
		MailboxLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sidedesk", Subsystem: "capture", Name: "mailbox_lag_seconds",
			Help: "Age of the oldest message in the mailbox not yet captured (0 when caught up).",
		}, []string{"mailbox"}),
		IdleReconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sidedesk", Subsystem: "capture", Name: "idle_reconnects_total",
			Help: "IMAP IDLE (push) reconnections, by mailbox.",
		}, []string{"mailbox"}),
		CaptureErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sidedesk", Subsystem: "capture", Name: "errors_total",
			Help: "Capture failures (connection, fetch, store, ingest), by mailbox.",
		}, []string{"mailbox"}),
	}
	if reg != nil {
		m.MessagesCaptured = register(reg, m.MessagesCaptured)
		m.ParseErrors = register(reg, m.ParseErrors)
		m.MailboxLag = register(reg, m.MailboxLag)
		m.IdleReconnects = register(reg, m.IdleReconnects)
		m.CaptureErrors = register(reg, m.CaptureErrors)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("capture: register metrics: " + err.Error())
	}
	return c
}

// Init makes mailbox's counters appear at 0 before anything happened to
// them: a series that is absent cannot be alerted on (rate() of a missing
// series is no data, not zero).
func (m *Metrics) Init(mailbox string) {
	if m == nil {
		return
	}
	m.MessagesCaptured.WithLabelValues(mailbox, string(ticket.ClassNormal))
	m.ParseErrors.WithLabelValues(mailbox)
	m.IdleReconnects.WithLabelValues(mailbox)
	m.CaptureErrors.WithLabelValues(mailbox)
}

// Captured counts one message ingested from mailbox.
func (m *Metrics) Captured(mailbox string, c ticket.Classification) {
	if m == nil {
		return
	}
	if c == "" {
		c = ticket.ClassNormal
	}
	m.MessagesCaptured.WithLabelValues(mailbox, string(c)).Inc()
}

// ParseError counts one message kept with a parse error.
func (m *Metrics) ParseError(mailbox string) {
	if m == nil {
		return
	}
	m.ParseErrors.WithLabelValues(mailbox).Inc()
}

// SetLag sets the mailbox's capture lag in seconds.
func (m *Metrics) SetLag(mailbox string, seconds float64) {
	if m == nil {
		return
	}
	m.MailboxLag.WithLabelValues(mailbox).Set(seconds)
}

// IdleReconnect counts one IDLE reconnection of mailbox.
func (m *Metrics) IdleReconnect(mailbox string) {
	if m == nil {
		return
	}
	m.IdleReconnects.WithLabelValues(mailbox).Inc()
}

// CaptureError counts one capture failure of mailbox.
func (m *Metrics) CaptureError(mailbox string) {
	if m == nil {
		return
	}
	m.CaptureErrors.WithLabelValues(mailbox).Inc()
}
