package calendar

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers every request after delay and records the most
// requests it had in flight at once.
func countingServer(t *testing.T, delay time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var now, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(delay)
		io.WriteString(w, "answer")
	}))
	t.Cleanup(srv.Close)
	return srv, &peak
}

// hammer sends n requests from 8 goroutines through gates and reads each
// answer whole.
func hammer(t *testing.T, gates *ServerGates, base http.RoundTripper, u string, n int) {
	t.Helper()
	hc := &http.Client{Transport: gates.transport(base)}
	var wg sync.WaitGroup
	var next atomic.Int32
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int32(n) {
				resp, err := hc.Get(u)
				if err != nil {
					t.Error(err)
					return
				}
				if b, _ := io.ReadAll(resp.Body); string(b) != "answer" {
					t.Errorf("answer %q", b)
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

// TestServerGates: a server whose connections open within nearRTT (any on
// loopback) never has two requests in flight; a far one gets up to the
// maximum (loopback cannot be made far: the connection time is given).
func TestServerGates(t *testing.T) {
	t.Run("near", func(t *testing.T) {
		srv, peak := countingServer(t, time.Millisecond)
		gates := NewServerGates(0)
		hammer(t, gates, nil, srv.URL, 200)
		if p := peak.Load(); p != 1 {
			t.Errorf("near server had %d requests in flight at once, want 1", p)
		}
		u, _ := url.Parse(srv.URL)
		if st := gates.Stats(u.Scheme, u.Host); st.Requests != 200 || st.Limit != 1 {
			t.Errorf("stats %+v, want 200 requests at limit 1", st)
		}
	})
	t.Run("far", func(t *testing.T) {
		srv, peak := countingServer(t, 20*time.Millisecond)
		gates := NewServerGates(4)
		// Loopback cannot be made far: this transport reports every
		// connection as taking 2*nearRTT, through the same trace hooks
		// the real dial reports to, and dials without them.
		slowConnect := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if tr := httptrace.ContextClientTrace(r.Context()); tr != nil {
				tr.ConnectStart("tcp", r.URL.Host)
				time.Sleep(2 * nearRTT)
				tr.ConnectDone("tcp", r.URL.Host, nil)
			}
			return http.DefaultTransport.RoundTrip(r.WithContext(context.Background()))
		})
		hammer(t, gates, slowConnect, srv.URL, 40)
		if p := peak.Load(); p < 2 || p > 4 {
			t.Errorf("far server had at most %d requests in flight at once, want 2 to 4", p)
		}
		// A faster connection (the same server, nearer than thought)
		// makes it near.
		u, _ := url.Parse(srv.URL)
		gates.gate(u.Scheme, u.Host).connected(nearRTT / 10)
		if st := gates.Stats(u.Scheme, u.Host); st.Limit != 1 {
			t.Errorf("limit %d after a near connection, want 1", st.Limit)
		}
	})
}

// TestServerGatesRelease: a slot comes back when an answer is closed unread,
// when a request fails, and when a waiting request's context ends.
func TestServerGatesRelease(t *testing.T) {
	srv, _ := countingServer(t, 0)
	gates := NewServerGates(0)
	hc := &http.Client{Transport: gates.transport(nil)}
	// Closed unread.
	for range 3 {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// A failed request frees its slot as well.
	failing := &http.Client{Transport: gates.transport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	}))}
	if _, err := failing.Get(srv.URL); err == nil {
		t.Fatal("failing request succeeded")
	}
	// Hold the only slot, then let a second request wait and give up.
	held, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := hc.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting request: %v, want the deadline", err)
	}
	held.Body.Close()
	// Every slot is free again: a request goes through (a leaked slot would
	// make it wait for the deadline).
	ctx2, cancel2 := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel2()
	req2, _ := http.NewRequestWithContext(ctx2, http.MethodGet, srv.URL, nil)
	resp, err := hc.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(srv.URL)
	if st := gates.Stats(u.Scheme, u.Host); st.Requests != 5 {
		t.Errorf("%d answered requests counted, want 5", st.Requests)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
