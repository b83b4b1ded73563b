package imapsource

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/sidedesk/sidedesk/lease"
)

// errLeaseHeld: another process captures this mailbox now.
var errLeaseHeld = lease.ErrHeld

// Run captures the mailbox until ctx is done: connect, sync, wait for new
// mail with IDLE or polling, sync again; on any failure (server down, wrong
// password, store error) it reports the error in Status and the log and
// retries after an exponential backoff with jitter. It returns nil when ctx
// is cancelled.
func (s *Source) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		healthy, err := s.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if healthy {
			failures = 0
		}
		delay := s.backoff(failures)
		failures++
		if errors.Is(err, errLeaseHeld) {
			s.log.Info("imapsource: standing by", "err", err)
			delay = jitter(s.opts.LeaseTTL / 3)
		} else {
			s.log.Warn("imapsource: capture failed, will retry", "err", err, "retry_in", delay.Round(time.Millisecond))
		}
		s.reportError(err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			if !errors.Is(err, errLeaseHeld) {
				s.countReconnect()
			}
		}
	}
	return nil
}

// backoff is the delay before retry number failures+1: BackoffMin doubled
// per consecutive failure, capped at BackoffMax, with jitter.
func (s *Source) backoff(failures int) time.Duration {
	d := s.opts.BackoffMin
	for i := 0; i < failures && d < s.opts.BackoffMax; i++ {
		d *= 2
	}
	return jitter(min(d, s.opts.BackoffMax))
}

// jitter spreads d over [d/2, d] so that many mailboxes failing together
// (one server down) don't reconnect in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + mrand.N(d/2+1)
}

// session is one connection's life: it returns when the connection or a
// pass fails (or ctx ends). healthy reports whether it got as far as a
// completed sync pass, which resets the backoff.
func (s *Source) session(ctx context.Context) (healthy bool, err error) {
	ctx, release, err := s.holdLease(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	cn, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	defer cn.close()
	s.setConnected(true)
	defer s.setConnected(false)
	if _, err := cn.selectFolder(ctx, s.readOnly); err != nil {
		return false, err
	}
	var afterErr error
	if s.moveTo != "" {
		// A move target that cannot be created must not stop capture:
		// the moves are retried every pass and the error is reported.
		afterErr = cn.ensureFolder(s.moveTo)
	}
	idle := s.opts.IDLE && cn.c.Caps().Has(imap.CapIdle)
	s.log.Info("imapsource: connected", "addr", s.addr, "folder", s.opts.Folder, "idle", idle)
	for {
		stats, err := cn.sync(ctx)
		var ae *afterCaptureError
		if errors.As(err, &ae) {
			afterErr, err = ae.err, nil
		}
		if err != nil {
			return healthy, err
		}
		healthy = true
		s.reportSync()
		if afterErr != nil {
			s.reportError(afterErr)
			s.log.Warn("imapsource: after_capture failed; retried next pass", "err", afterErr)
			afterErr = nil
		}
		if stats.Fetched > 0 {
			s.log.Info("imapsource: synced", "fetched", stats.Fetched, "new", stats.New,
				"held", stats.Held.String(), "duplicates", stats.Duplicates, "bytes", stats.Bytes)
		}
		if err := cn.wait(ctx, idle); err != nil {
			return healthy, err
		}
	}
}

// wait returns when the folder may have new mail: the server reported
// EXISTS, or IdleRestart (IDLE) or PollInterval (polling) passed. An error
// means the connection is gone.
func (cn *conn) wait(ctx context.Context, idle bool) error {
	s := cn.s
	select {
	case <-cn.newMail:
		return nil // arrived during the last pass
	default:
	}
	if !idle {
		t := time.NewTimer(s.opts.PollInterval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-cn.c.Closed():
			return s.errorf("connection to %s closed", s.addr)
		case <-cn.newMail:
		case <-t.C:
		}
		return nil
	}

	// RFC 2177: IDLE until the server reports new mail; end it with DONE
	// before IdleRestart (< 29 min, §3) so neither side's inactivity timer
	// fires. Ending IDLE also proves the connection is alive: a server
	// that does not answer DONE within commandTimeout is dead.
	var ic *imapclient.IdleCommand
	err := cn.guard(func() (err error) {
		ic, err = cn.c.Idle() // waits for the server's "+ idling"
		return err
	})
	if err != nil {
		return s.commandError(ctx, "IDLE", err)
	}
	t := time.NewTimer(s.opts.IdleRestart)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-cn.c.Closed():
		return s.errorf("connection to %s closed during IDLE", s.addr)
	case <-cn.newMail:
	case <-t.C:
	}
	done := make(chan error, 1)
	go func() {
		err := ic.Close()
		if err == nil {
			err = ic.Wait()
		}
		done <- err
	}()
	dead := time.NewTimer(s.deadAfter)
	defer dead.Stop()
	select {
	case err := <-done:
		if err != nil {
			return s.commandError(ctx, "end IDLE", err)
		}
		return nil
	case <-dead.C:
		cn.abort()
		return s.errorf("%s did not answer DONE within %v: connection dead", s.addr, s.deadAfter)
	}
}

// holdLease acquires the mailbox's lease (when a lease store is configured)
// and keeps renewing it; the returned context is cancelled when the lease is
// lost, which stops capture. release gives the lease up.
func (s *Source) holdLease(ctx context.Context) (context.Context, func(), error) {
	if s.opts.Lease == nil {
		return ctx, func() {}, nil
	}
	l := lease.Lease{Store: s.opts.Lease, Name: s.lease, Holder: s.holder, TTL: s.opts.LeaseTTL, Logger: s.log}
	lctx, release, err := l.Hold(ctx)
	if err != nil {
		return ctx, nil, s.errorf("%w", err)
	}
	return lctx, release, nil
}
