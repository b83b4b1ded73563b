package lease_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
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

// A holder whose process is gone (same host and PID namespace) is taken
// over at once; a live one, or one on another host, is waited out.
func TestTakeOverFromAGoneProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("gone processes are detected on Linux only")
	}
	st := storetest.Open(t)
	ctx := context.Background()
	me := lease.NewHolder()
	parts := strings.Split(me, ":")
	if len(parts) != 4 || parts[1] != strconv.Itoa(os.Getpid()) {
		t.Fatalf("NewHolder() = %q, want host:pid:random:pidns", me)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	alive := exec.Command("sleep", "30")
	if err := alive.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alive.Process.Kill(); alive.Wait() })
	holder := func(host string, pid int) string {
		return host + ":" + strconv.Itoa(pid) + ":abcd:" + parts[3]
	}
	for _, c := range []struct {
		name, holder string
		takeOver     bool
	}{
		{"gone", holder(parts[0], dead.Process.Pid), true},
		{"alive", holder(parts[0], alive.Process.Pid), false},
		{"other host", holder("elsewhere", dead.Process.Pid), false},
		{"other namespace", parts[0] + ":" + strconv.Itoa(dead.Process.Pid) + ":abcd:1", false},
		{"old format", parts[0] + ":" + strconv.Itoa(dead.Process.Pid) + ":abcd", false},
	} {
		name := "capture:default:" + c.name
		if ok, err := st.AcquireLease(ctx, name, c.holder, time.Hour); err != nil || !ok {
			t.Fatalf("%s: seed the lease: %v %v", c.name, ok, err)
		}
		l := lease.Lease{Store: st, Name: name, Holder: me, TTL: time.Minute}
		_, release, err := l.Hold(ctx)
		switch {
		case c.takeOver && err != nil:
			t.Errorf("%s: %v, want the lease taken over at once", c.name, err)
		case !c.takeOver && !errors.Is(err, lease.ErrHeld):
			t.Errorf("%s: %v, want ErrHeld (the holder is not provably gone)", c.name, err)
		}
		if err == nil {
			release()
		}
	}
}
