package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/lease"
	"github.com/sidedesk/sidedesk/store/storetest"
)

// flaky passes calls to the store until told to fail or to answer that
// another process has the lease.
type flaky struct {
	lease.Store
	mode atomic.Int32 // 0 pass, 1 error, 2 taken over
}

func (f *flaky) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	switch f.mode.Load() {
	case 1:
		return false, errors.New("database is down")
	case 2:
		return false, nil
	}
	return f.Store.AcquireLease(ctx, name, holder, ttl)
}

func TestHoldExcludesOthersUntilReleased(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	a := lease.Lease{Store: st, Name: "capture:default:support", Holder: "a", TTL: time.Minute}
	b := a
	b.Holder = "b"
	actx, release, err := a.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Hold(ctx); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("second holder: %v, want ErrHeld", err)
	}
	release()
	release() // a second call is harmless
	if actx.Err() == nil {
		t.Error("released context still live")
	}
	_, releaseB, err := b.Hold(ctx)
	if err != nil {
		t.Fatalf("after release: %v (release must give the lease up at once)", err)
	}
	releaseB()
}

func TestHoldEndsWhenLost(t *testing.T) {
	for _, c := range []struct {
		name string
		mode int32
	}{{"renewals fail", 1}, {"taken over", 2}} {
		t.Run(c.name, func(t *testing.T) {
			f := &flaky{Store: storetest.Open(t)}
			l := lease.Lease{Store: f, Name: "dispatch:slack:default", Holder: "a", TTL: 150 * time.Millisecond}
			lctx, release, err := l.Hold(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			f.mode.Store(c.mode)
			select {
			case <-lctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("context not ended after the lease was lost")
			}
			if cause := context.Cause(lctx); !errors.Is(cause, lease.ErrLost) {
				t.Errorf("cause %v, want ErrLost", cause)
			}
		})
	}
}

func TestHoldSurvivesOneFailedRenewal(t *testing.T) {
	f := &flaky{Store: storetest.Open(t)}
	l := lease.Lease{Store: f, Name: "n", Holder: "a", TTL: 300 * time.Millisecond}
	lctx, release, err := l.Hold(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	f.mode.Store(1)
	time.Sleep(130 * time.Millisecond) // one renewal (at 100 ms) fails
	f.mode.Store(0)
	time.Sleep(400 * time.Millisecond)
	if lctx.Err() != nil {
		t.Fatalf("one failed renewal ended the lease: %v", context.Cause(lctx))
	}
}

func TestRunOneHolderAtATime(t *testing.T) {
	st := storetest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		running int
		most    int
		turns   atomic.Int32
	)
	work := func(ctx context.Context) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		turns.Add(1)
		t := time.NewTimer(30 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		mu.Lock()
		running--
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, h := range []string{"p1", "p2", "p3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := lease.Lease{Store: st, Name: "dispatch:x", Holder: h, TTL: 90 * time.Millisecond}
			if err := l.Run(ctx, work); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for turns.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if turns.Load() < 6 {
		t.Fatalf("only %d turns of work", turns.Load())
	}
	if most != 1 {
		t.Fatalf("%d holders worked at once", most)
	}
}
