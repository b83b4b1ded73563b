package capture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sidedesk/sidedesk/ticket"
)

// keyedSink answers each message by its source key: "bad" ones fail, "dup"
// ones are duplicates, the others get MessageID = the number in the key.
func keyedSink(broken string) *fakeSink { return &fakeSink{answer: answer, broken: broken} }

func answer(in ticket.Inbound) (ticket.Result, error) {
	switch {
	case strings.HasPrefix(in.SourceKey, "bad"):
		return ticket.Result{}, errRefused
	case strings.HasPrefix(in.SourceKey, "dup"):
		return ticket.Result{MessageID: 99, Duplicate: true}, nil
	}
	var n int64
	fmt.Sscanf(in.SourceKey, "k%d", &n)
	return ticket.Result{MessageID: n, Classification: ticket.ClassNormal}, nil
}

func TestCommit(t *testing.T) {
	tests := []struct {
		name       string
		sink       *fakeSink
		keys       []string
		wantFailed []int // positions reported failed
		captured   float64
		wantBatch  int  // Commit calls
		notSinks   bool // the failures are not the sink's errRefused
	}{
		{name: "all good", sink: keyedSink(""), keys: []string{"k1", "k2", "dup3"},
			captured: 2, wantBatch: 1},
		{name: "one refused", sink: keyedSink(""), keys: []string{"k1", "bad2", "k3", "dup4"},
			wantFailed: []int{1}, captured: 2, wantBatch: 1},
		{name: "plain error fails all", sink: keyedSink("plain error"), keys: []string{"k1", "k2"},
			wantFailed: []int{0, 1}, wantBatch: 1},
		{name: "too few results fails all", sink: keyedSink("short"), keys: []string{"k1", "k2"},
			wantFailed: []int{0, 1}, wantBatch: 1, notSinks: true},
		{name: "nothing to commit", sink: keyedSink("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			p := &Pipeline{Blobs: newMemBlobs(), Sink: tt.sink, Metrics: m}
			var ps []*Prepared
			for _, k := range tt.keys {
				pr, err := p.Prepare(context.Background(), Delivery{Mailbox: "support", SourceKey: k},
					strings.NewReader("Subject: "+k+"\r\n\r\nbody "+k+"\r\n"))
				if err != nil {
					t.Fatal(err)
				}
				if pr.Inbound.SourceKey != k || pr.Inbound.Subject != k || pr.Inbound.Raw.SHA256 == "" || pr.Inbound.Raw.Size <= 0 {
					t.Fatalf("Prepared %+v", pr)
				}
				ps = append(ps, pr)
			}
			res, err := p.Commit(context.Background(), ps)
			if len(res) != len(tt.keys) {
				t.Fatalf("%d results for %d messages", len(res), len(tt.keys))
			}
			var be *ticket.BatchError
			if len(tt.wantFailed) == 0 {
				if err != nil {
					t.Fatalf("Commit: %v", err)
				}
			} else if !errors.As(err, &be) || errors.Is(err, errRefused) == tt.notSinks {
				t.Fatalf("Commit error %v, want a BatchError wrapping the sink's", err)
			}
			failed := map[int]bool{}
			for _, i := range tt.wantFailed {
				failed[i] = true
			}
			for i, k := range tt.keys {
				if got := be != nil && be.Failed(i) != nil; got != failed[i] {
					t.Errorf("message %d (%s) failed %v, want %v", i, k, got, failed[i])
				}
				if failed[i] {
					if msg := be.Failed(i).Error(); !strings.Contains(msg, k) {
						t.Errorf("error %q does not name source key %s", msg, k)
					}
					continue
				}
				if want, _ := answer(ps[i].Inbound); res[i] != want {
					t.Errorf("result %d = %+v, want %+v", i, res[i], want)
				}
			}
			if got := testutil.ToFloat64(m.MessagesCaptured.WithLabelValues("support", "normal")); got != tt.captured {
				t.Errorf("captured %v, want %v", got, tt.captured)
			}
			if got := testutil.ToFloat64(m.CaptureErrors.WithLabelValues("support")); got != float64(len(tt.wantFailed)) {
				t.Errorf("capture errors %v, want %d", got, len(tt.wantFailed))
			}
			if tt.sink.commits != tt.wantBatch {
				t.Errorf("Commit calls %d, want %d", tt.sink.commits, tt.wantBatch)
			}
		})
	}
}

// TestDeliverOneError: Deliver (Prepare + Commit of one) returns the
// message's own error, not a BatchError of one.
func TestDeliverOneError(t *testing.T) {
	p := &Pipeline{Blobs: newMemBlobs(), Sink: keyedSink("")}
	_, err := p.Deliver(context.Background(), Delivery{Mailbox: "support", SourceKey: "bad1"}, strings.NewReader("Subject: x\r\n\r\n"))
	var be *ticket.BatchError
	if !errors.Is(err, errRefused) || errors.As(err, &be) {
		t.Errorf("Deliver = %v, want the sink's error alone", err)
	}
}
