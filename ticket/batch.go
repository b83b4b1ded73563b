package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Pending is a captured message prepared for Commit (Service.Prepare):
// normalised and classified, and, when it would open a ticket, given its
// priority (the CRM tier look-up and the keyword scan). Opaque; one
// Pending belongs to the Service that prepared it.
type Pending struct {
	s *Service
	p *pendingIngest
}

// Prepare works out everything of in's ingestion that needs no
// transaction. It is the first step of the two a capture takes (package
// capture's Sink): it runs on the goroutines that read and parse mail, so
// the one committing them runs little more than the transactions. It
// never fails; what cannot be worked out is decided in Commit.
func (s *Service) Prepare(ctx context.Context, in Inbound) *Pending {
	return &Pending{s: s, p: s.prepareIngest(ctx, in)}
}

// IngestBatch is Commit of the messages ins, each prepared here.
func (s *Service) IngestBatch(ctx context.Context, ins []Inbound) ([]Result, error) {
	ps := make([]*Pending, len(ins))
	for i, in := range ins {
		ps[i] = s.Prepare(ctx, in)
	}
	return s.Commit(ctx, ps)
}

// Commit ingests prepared messages, in order, in one transaction: the
// same rules as Ingest applied to each, message k seeing messages 0..k-1
// as stored (a reply threads onto the ticket its original created earlier
// in the batch; a mail delivered twice in the batch is a duplicate the
// second time). One transaction per batch instead of one per message is
// what makes bulk capture fast: one commit, and one round of blob fsyncs
// before it (package store).
//
// The returned slice has one Result per message. The error is nil or a
// *BatchError. When the batch transaction fails, the messages are ingested
// again one by one (each as Ingest would), so a message that cannot be
// stored does not keep the others out; the BatchError then names the ones
// that failed, and results[i] is valid exactly where its Errs[i] is nil.
// When ctx is done, nothing is retried and every message is reported failed.
// A Pending of another Service is prepared again by this one.
func (s *Service) Commit(ctx context.Context, pending []*Pending) ([]Result, error) {
	results := make([]Result, len(pending))
	if len(pending) == 0 {
		return results, nil
	}
	ps := make([]*pendingIngest, len(pending))
	for i, pd := range pending {
		if pd.s != s {
			ps[i] = s.prepareIngest(ctx, pd.p.in)
		} else {
			ps[i] = pd.p
		}
	}
	var gs []*ingestion
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		// Retried attempts start from scratch, as in Ingest.
		gs = make([]*ingestion, 0, len(ps))
		norm := make([]Inbound, len(ps))
		for i, p := range ps {
			norm[i] = p.in
		}
		if err := tx.Prefetch(ctx, norm); err != nil {
			return err
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

	be := &BatchError{Errs: make([]error, len(ps))}
	var step *batchStep
	if len(ps) == 1 || ctx.Err() != nil {
		for i, p := range ps {
			be.Errs[i] = fmt.Errorf("ticket: ingest %s/%s: %w", p.in.Mailbox, p.in.SourceKey, unwrapStep(err))
		}
		return results, be
	}
	if errors.As(err, &step) {
		s.log.WarnContext(ctx, "ticket: batch ingest failed, ingesting one by one", "size", len(ps),
			"failed_index", step.index, "source", ps[step.index].in.SourceKey, "error", step.err)
	} else {
		s.log.WarnContext(ctx, "ticket: batch ingest failed, ingesting one by one", "size", len(ps), "error", err)
	}
	for i, p := range ps {
		results[i], be.Errs[i] = s.commitOne(ctx, p)
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

// BatchError reports the messages of a batch (Commit, and capture's
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
