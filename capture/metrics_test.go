package capture

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsInitShowsZeroSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Init("support")
	for _, name := range []string{"sidedesk_capture_messages_total", "sidedesk_capture_parse_errors_total",
		"sidedesk_capture_idle_reconnects_total", "sidedesk_capture_errors_total"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series, %v; want the mailbox's, at 0", name, n, err)
		}
	}
	if v := testutil.ToFloat64(m.ParseErrors.WithLabelValues("support")); v != 0 {
		t.Errorf("parse errors %v, want 0", v)
	}
}
