package capture

import (
	"context"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// BatchSink is a Sink that ingests several messages in one transaction
// (*ticket.Service implements it). Its contract is IngestBatch's: one
// Result per message, and an error that is nil or a *ticket.BatchError
// naming the messages not ingested.
type BatchSink interface {
	IngestBatch(ctx context.Context, ins []ticket.Inbound) ([]ticket.Result, error)
}

// Commit is the second half of Deliver: it ingests prepared messages, in
// order, through the sink's IngestBatch when it has one (one transaction),
// else through Ingest one by one. It returns one Result per message and an
// error that is nil or a *ticket.BatchError: results[i] is valid exactly
// where its Errs[i] is nil (each failure wrapped with the mailbox and
// source key). A failed message does not stop the others. Captured
// messages (not duplicates) and failures are counted in p.Metrics.
func (p *Pipeline) Commit(ctx context.Context, ps []*Prepared) ([]ticket.Result, error) {
	if len(ps) == 0 {
		return []ticket.Result{}, nil
	}
	var (
		results []ticket.Result
		errs    []error
	)
	if bs, ok := p.Sink.(BatchSink); ok {
		ins := make([]ticket.Inbound, len(ps))
		for i, pr := range ps {
			ins[i] = pr.Inbound
		}
		var err error
		results, err = bs.IngestBatch(ctx, ins)
		if n := len(results); n != len(ps) {
			results = make([]ticket.Result, len(ps))
			if err == nil {
				err = fmt.Errorf("sink returned %d results for %d messages", n, len(ps))
			}
		}
		errs = make([]error, len(ps))
		var be *ticket.BatchError
		switch {
		case errors.As(err, &be) && len(be.Errs) == len(ps):
			copy(errs, be.Errs)
		case err != nil:
			for i := range errs {
				errs[i] = err
			}
		}
	} else {
		results, errs = make([]ticket.Result, len(ps)), make([]error, len(ps))
		for i, pr := range ps {
			results[i], errs[i] = p.Sink.Ingest(ctx, pr.Inbound)
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
