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

var errRefused = errors.New("refused")

// keyedSink answers each message by its source key: "bad" ones fail, "dup"
// ones are duplicates, the others get MessageID = their position + 1.
type keyedSink struct {
	calls int // Ingest calls
}

func (s *keyedSink) Ingest(_ context.Context, in ticket.Inbound) (ticket.Result, error) {
	s.calls++
	return answer(in)
}

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

// keyedBatchSink is keyedSink with IngestBatch (the ticket.Service
// contract); broken answers without a BatchError or with too few results.
type keyedBatchSink struct {
	keyedSink
	batches int
	broken  string // "", "plain error", "short"
}

func (s *keyedBatchSink) IngestBatch(_ context.Context, ins []ticket.Inbound) ([]ticket.Result, error) {
	s.batches++
	switch s.broken {
	case "plain error":
		return make([]ticket.Result, len(ins)), errRefused
	case "short":
		return nil, nil
	}
	res := make([]ticket.Result, len(ins))
	be := &ticket.BatchError{Errs: make([]error, len(ins))}
	failed := false
	for i, in := range ins {
		res[i], be.Errs[i] = answer(in)
		failed = failed || be.Errs[i] != nil
	}
	if failed {
		return res, be
	}
	return res, nil
}

func TestCommit(t *testing.T) {
	tests := []struct {
		name       string
		sink       Sink
		keys       []string
		wantFailed []int // positions reported failed
		captured   float64
		wantCalls  int  // Ingest calls (one by one)
		wantBatch  int  // IngestBatch calls
		notSinks   bool // the failures are not the sink's errRefused
	}{
		{name: "plain sink", sink: &keyedSink{}, keys: []string{"k1", "bad2", "k3", "dup4"},
			wantFailed: []int{1}, captured: 2, wantCalls: 4},
		{name: "batch sink, all good", sink: &keyedBatchSink{}, keys: []string{"k1", "k2", "dup3"},
			captured: 2, wantBatch: 1},
		{name: "batch sink, one refused", sink: &keyedBatchSink{}, keys: []string{"k1", "bad2", "k3"},
			wantFailed: []int{1}, captured: 2, wantBatch: 1},
		{name: "batch sink, plain error fails all", sink: &keyedBatchSink{broken: "plain error"}, keys: []string{"k1", "k2"},
			wantFailed: []int{0, 1}, wantBatch: 1},
		{name: "batch sink, too few results fails all", sink: &keyedBatchSink{broken: "short"}, keys: []string{"k1", "k2"},
			wantFailed: []int{0, 1}, wantBatch: 1, notSinks: true},
		{name: "nothing to commit", sink: &keyedBatchSink{}},
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
			calls, batches := 0, 0
			switch s := tt.sink.(type) {
			case *keyedSink:
				calls = s.calls
			case *keyedBatchSink:
				calls, batches = s.calls, s.batches
			}
			if calls != tt.wantCalls || batches != tt.wantBatch {
				t.Errorf("Ingest calls %d, IngestBatch calls %d; want %d, %d", calls, batches, tt.wantCalls, tt.wantBatch)
			}
		})
	}
}

// TestDeliverOneError: Deliver (Prepare + Commit of one) returns the
// message's own error, not a BatchError of one.
func TestDeliverOneError(t *testing.T) {
	p := &Pipeline{Blobs: newMemBlobs(), Sink: &keyedBatchSink{}}
	_, err := p.Deliver(context.Background(), Delivery{Mailbox: "support", SourceKey: "bad1"}, strings.NewReader("Subject: x\r\n\r\n"))
	var be *ticket.BatchError
	if !errors.Is(err, errRefused) || errors.As(err, &be) {
		t.Errorf("Deliver = %v, want the sink's error alone", err)
	}
}
