package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// IngestBatch ingests several captured messages, in order, in one
// transaction: the same rules as Ingest applied to each, message k seeing
// messages 0..k-1 as stored (a reply threads onto the ticket its original
// created earlier in the batch; a mail delivered twice in the batch is a
// duplicate the second time). One transaction per batch instead of one per
// message is what makes bulk capture fast: one commit, and one round of blob
// fsyncs before it (package store).
//
// The returned slice has one Result per message. The error is nil or a
// *BatchError. When the batch transaction fails, the messages are ingested
// again one by one (each as Ingest would), so a message that cannot be
// stored does not keep the others out; the BatchError then names the ones
// that failed, and results[i] is valid exactly where its Errs[i] is nil.
// When ctx is done, nothing is retried and every message is reported failed.
func (s *Service) IngestBatch(ctx context.Context, ins []Inbound) ([]Result, error) {
	results := make([]Result, len(ins))
	if len(ins) == 0 {
		return results, nil
	}
	ps := make([]*pendingIngest, len(ins))
	for i, in := range ins {
		ps[i] = s.prepareIngest(ctx, in)
	}
	var gs []*ingestion
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		// Retried attempts start from scratch, as in Ingest.
		gs = make([]*ingestion, 0, len(ps))
		if pf, ok := tx.(Prefetcher); ok {
			norm := make([]Inbound, len(ps))
			for i, p := range ps {
				norm[i] = p.in
			}
			if err := pf.Prefetch(ctx, norm); err != nil {
				return err
			}
		}
		for i, p := range ps {
			g := p.start(tx, s.now())
			if err := g.run(ctx); err != nil {
				return &batchStep{index: i, err: err}
			}
			gs = append(gs, g)
		}
		return nil
	})
	if err == nil && len(gs) != len(ps) {
		err = errors.New("store committed without running the transaction")
	}
	if err == nil {
		for i, g := range gs {
			results[i] = s.finishIngest(ctx, g)
		}
		return results, nil
	}

	be := &BatchError{Errs: make([]error, len(ins))}
	var step *batchStep
	if len(ins) == 1 || ctx.Err() != nil {
		for i, p := range ps {
			be.Errs[i] = fmt.Errorf("ticket: ingest %s/%s: %w", p.in.Mailbox, p.in.SourceKey, unwrapStep(err))
		}
		return results, be
	}
	if errors.As(err, &step) {
		s.log.WarnContext(ctx, "ticket: batch ingest failed, ingesting one by one", "size", len(ins),
			"failed_index", step.index, "source", ps[step.index].in.SourceKey, "error", step.err)
	} else {
		s.log.WarnContext(ctx, "ticket: batch ingest failed, ingesting one by one", "size", len(ins), "error", err)
	}
	for i, in := range ins {
		results[i], be.Errs[i] = s.Ingest(ctx, in)
	}
	if be.failed() == 0 {
		// A transient failure of the batch (the store busy past its
		// retries): each one alone went through.
		return results, nil
	}
	return results, be
}

// batchStep is the error of message index inside the batch transaction.
type batchStep struct {
	index int
	err   error
}

func (e *batchStep) Error() string { return fmt.Sprintf("message %d of the batch: %v", e.index, e.err) }
func (e *batchStep) Unwrap() error { return e.err }

func unwrapStep(err error) error {
	var step *batchStep
	if errors.As(err, &step) {
		return step
	}
	return err
}

// BatchError reports the messages of a batch (IngestBatch, and capture's
// Pipeline.Commit) that were not ingested: Errs has one entry per message
// of the batch, nil for those ingested.
type BatchError struct {
	Errs []error
}

// Error names the failed positions and the first failure.
func (e *BatchError) Error() string {
	var idx []string
	var first error
	for i, err := range e.Errs {
		if err != nil {
			idx = append(idx, fmt.Sprint(i))
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		return "ticket: batch: no message failed"
	}
	return fmt.Sprintf("ticket: batch: %d of %d messages failed (index %s): %v",
		len(idx), len(e.Errs), strings.Join(idx, ", "), first)
}

// Unwrap gives the individual failures to errors.Is and errors.As.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Failed returns the error of message i, nil when it was ingested.
func (e *BatchError) Failed(i int) error {
	if i < 0 || i >= len(e.Errs) {
		return nil
	}
	return e.Errs[i]
}

func (e *BatchError) failed() int {
	n := 0
	for _, err := range e.Errs {
		if err != nil {
			n++
		}
	}
	return n
}
