package capture

import (
	"context"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// Commit is the second half of Deliver: it ingests the prepared messages,
// in order, in one transaction of the sink. The sink's transaction makes
// the blobs they reference durable first (package store does, before it
// takes the write lock); a Committer syncs them ahead of a group's turn,
// so that finds little left to do. It returns one Result per message and an
// error that is nil or a *ticket.BatchError: results[i] is valid exactly
// where its Errs[i] is nil (each failure wrapped with the mailbox and
// source key). A failed message does not stop the others. Captured
// messages (not duplicates) and failures are counted in p.Metrics.
func (p *Pipeline) Commit(ctx context.Context, ps []*Prepared) ([]ticket.Result, error) {
	if len(ps) == 0 {
		return []ticket.Result{}, nil
	}
	results, err := p.commit(ctx, ps)
	errs := make([]error, len(ps))
	var be *ticket.BatchError
	switch {
	case errors.As(err, &be) && len(be.Errs) == len(ps):
		copy(errs, be.Errs)
	case err != nil:
		for i := range errs {
			errs[i] = err
		}
	}
	failed := false
	for i, pr := range ps {
		d := pr.Delivery
		if errs[i] != nil {
			failed = true
			errs[i] = fmt.Errorf("capture: ingest %s %s: %w", d.Mailbox, d.SourceKey, errs[i])
			p.Metrics.CaptureError(d.Mailbox)
			continue
		}
		if !results[i].Duplicate {
			p.Metrics.Captured(d.Mailbox, results[i].Classification)
		}
	}
	if failed {
		return results, &ticket.BatchError{Errs: errs}
	}
	return results, nil
}

// commit runs the sink's Commit, holding it to its contract of one result
// per message.
func (p *Pipeline) commit(ctx context.Context, ps []*Prepared) ([]ticket.Result, error) {
	pending := make([]*ticket.Pending, len(ps))
	for i, pr := range ps {
		pending[i] = pr.pending
	}
	results, err := p.Sink.Commit(ctx, pending)
	if n := len(results); n != len(ps) {
		results = make([]ticket.Result, len(ps))
		if err == nil {
			err = fmt.Errorf("sink returned %d results for %d messages", n, len(ps))
		}
	}
	return results, err
}
