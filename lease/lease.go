// Package lease keeps one process at a time on a piece of work that several
// processes sharing one database could each do (capturing a mailbox,
// delivering an outbox consumer). A lease is a row with a holder and an
// expiry; the holder renews it every third of its TTL and stops working
// before it can expire, so two holders never overlap while clocks agree
// within a third of the TTL.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Store keeps leases; *store.Store implements it.
type Store interface {
	// AcquireLease takes or renews name for holder until now+ttl and
	// reports whether holder holds it afterwards.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives up holder's lease; not holding it is no error.
	ReleaseLease(ctx context.Context, name, holder string) error
	// LeaseHolder is who holds name now ("" for nobody).
	LeaseHolder(ctx context.Context, name string) (string, error)
	// TakeLease gives name to holder until now+ttl if from still holds it.
	TakeLease(ctx context.Context, name, from, holder string, ttl time.Duration) (bool, error)
}

// ErrHeld says another holder has the lease now.
var ErrHeld = errors.New("lease held by another process")

// ErrLost is the cause of a Hold context that ended because the lease was
// taken over or could not be renewed in time.
var ErrLost = errors.New("lease lost")

// Lease names one lease and its holder.
type Lease struct {
	Store  Store
	Name   string        // e.g. "capture:default:support"; put the tenant in it
	Holder string        // this process
	TTL    time.Duration // how long one renewal lasts; must be positive
	Logger *slog.Logger  // renewal trouble; nil: discard
}

// releaseTimeout bounds giving the lease up on the way out.
const releaseTimeout = 5 * time.Second

// Hold takes the lease (ErrHeld when another holder has it) and renews it
// in the background every TTL/3. The returned context ends, with a cause
// wrapping ErrLost, when the lease is taken over or no renewal succeeded
// for 2/3 of the TTL, so the work stops before another holder may start.
// release stops renewing and gives the lease up at once, so another process
// can take over without waiting for the expiry; call it exactly once.
func (l Lease) Hold(ctx context.Context) (_ context.Context, release func(), _ error) {
	if l.TTL <= 0 {
		return nil, nil, fmt.Errorf("lease %s: TTL %v must be positive", l.Name, l.TTL)
	}
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ok, err := l.Store.AcquireLease(ctx, l.Name, l.Holder, l.TTL)
	if err != nil {
		return nil, nil, fmt.Errorf("acquire lease %s: %w", l.Name, err)
	}
	if !ok {
		// A holder whose process is gone (killed, on this host) is not
		// waited out.
		if h, err := l.Store.LeaseHolder(ctx, l.Name); err == nil && gone(h) {
			if ok, err = l.Store.TakeLease(ctx, l.Name, h, l.Holder, l.TTL); err != nil {
				return nil, nil, fmt.Errorf("take over lease %s: %w", l.Name, err)
			}
			if ok {
				log.Info("lease taken over from a process that is gone", "lease", l.Name, "previous_holder", h)
			}
		}
	}
	if !ok {
		return nil, nil, fmt.Errorf("lease %s: %w", l.Name, ErrHeld)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(l.TTL / 3)
		defer tick.Stop()
		renewed := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			ok, err := l.Store.AcquireLease(lctx, l.Name, l.Holder, l.TTL)
			switch {
			case err == nil && ok:
				renewed = time.Now()
			case err == nil:
				cancel(fmt.Errorf("lease %s taken over by another process: %w", l.Name, ErrLost))
				return
			case lctx.Err() != nil:
				return
			case time.Since(renewed) > l.TTL*2/3:
				// Stop before the lease can expire under us.
				cancel(fmt.Errorf("lease %s not renewed for %v (%v): %w", l.Name,
					time.Since(renewed).Round(time.Millisecond), err, ErrLost))
				return
			default:
				// One failed renewal is survivable: the lease lasts a TTL
				// and the next tick tries again.
				log.Warn("lease renewal failed", "lease", l.Name, "error", err)
			}
		}
	}()
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		close(stop)
		<-done
		cancel(nil)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer rcancel()
		if err := l.Store.ReleaseLease(rctx, l.Name, l.Holder); err != nil {
			log.Warn("lease release failed; it expires by itself", "lease", l.Name, "error", err)
		}
	}
	return lctx, release, nil
}

// Run does work whenever it holds the lease, until ctx ends (then it
// returns nil). While another process holds the lease it tries again every
// TTL/3; when taking the lease fails it logs and tries again every TTL/6.
// work gets a context that ends when the lease is lost; when work returns
// (for any reason) the lease is released and, unless ctx ended, taken again.
func (l Lease) Run(ctx context.Context, work func(ctx context.Context)) error {
	if l.TTL <= 0 {
		return fmt.Errorf("lease %s: TTL %v must be positive", l.Name, l.TTL)
	}
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for ctx.Err() == nil {
		lctx, release, err := l.Hold(ctx)
		switch {
		case errors.Is(err, ErrHeld):
			sleep(ctx, l.TTL/3)
			continue
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("lease", "lease", l.Name, "error", err)
			}
			sleep(ctx, l.TTL/6)
			continue
		}
		work(lctx)
		if cause := context.Cause(lctx); errors.Is(cause, ErrLost) {
			log.Warn("stopped: lease lost", "lease", l.Name, "error", cause)
		}
		release()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
