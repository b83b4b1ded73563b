package outbox

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runners' Prometheus metrics, labelled by consumer. A nil
// *Metrics records nothing. The pending figures come from the process that
// holds the consumer's lease; the others report none for it.
type Metrics struct {
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
	dead       *prometheus.CounterVec

	mu                      sync.Mutex
	pending                 map[string]pendingFigures
	now                     func() time.Time
	pendingDesc, oldestDesc *prometheus.Desc
}

type pendingFigures struct {
	n      int64
	oldest time.Time
}

// NewMetrics registers the outbox metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sidedesk_outbox_delivered_total",
			Help: "Outbox events a consumer delivered.",
		}, []string{"consumer"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sidedesk_outbox_delivery_failures_total",
			Help: "Failed delivery attempts of outbox events (each retry counts).",
		}, []string{"consumer"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sidedesk_outbox_dead_letters_total",
			Help: "Outbox events a consumer gave up on (kept as dead letters).",
		}, []string{"consumer"}),
		pending: map[string]pendingFigures{},
		now:     time.Now,
		pendingDesc: prometheus.NewDesc("sidedesk_outbox_pending_events",
			"Outbox events a consumer has yet to deliver.", []string{"consumer"}, nil),
		oldestDesc: prometheus.NewDesc("sidedesk_outbox_oldest_pending_age_seconds",
			"Age of the oldest outbox event a consumer has yet to deliver (0 when none).", []string{"consumer"}, nil),
	}
	reg.MustRegister(m.deliveries, m.failures, m.dead, pendingCollector{m})
	return m
}

// start makes consumer's counters appear in /metrics at 0 before anything
// happened to them (an absent series cannot be alerted on).
func (m *Metrics) start(consumer string) {
	if m != nil {
		m.deliveries.WithLabelValues(consumer)
		m.failures.WithLabelValues(consumer)
		m.dead.WithLabelValues(consumer)
	}
}

func (m *Metrics) delivered(consumer string) {
	if m != nil {
		m.deliveries.WithLabelValues(consumer).Inc()
	}
}

func (m *Metrics) failed(consumer string) {
	if m != nil {
		m.failures.WithLabelValues(consumer).Inc()
	}
}

func (m *Metrics) buried(consumer string) {
	if m != nil {
		m.dead.WithLabelValues(consumer).Inc()
	}
}

func (m *Metrics) backlog(consumer string, n int64, oldest time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.pending[consumer] = pendingFigures{n: n, oldest: oldest}
	m.mu.Unlock()
}

// forget drops a consumer's pending figures when this process stops
// delivering it (lease lost, shut down).
func (m *Metrics) forget(consumer string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.pending, consumer)
	m.mu.Unlock()
}

// pendingCollector reports the pending figures, the oldest's age worked
// out at scrape time.
type pendingCollector struct{ m *Metrics }

func (c pendingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.pendingDesc
	ch <- c.m.oldestDesc
}

func (c pendingCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	now := c.m.now()
	for name, p := range c.m.pending {
		age := 0.0
		if p.n > 0 && !p.oldest.IsZero() {
			age = max(now.Sub(p.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.m.pendingDesc, prometheus.GaugeValue, float64(p.n), name)
		ch <- prometheus.MustNewConstMetric(c.m.oldestDesc, prometheus.GaugeValue, age, name)
	}
}
