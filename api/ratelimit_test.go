package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestRateLimit: each token has its own budget per minute, told in the
// RateLimit-* headers; beyond it 429 with Retry-After; a new minute
// starts afresh.
func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	)
	srv, err := New(Options{Store: f.st, Blobs: f.st.Blobs(), RateLimit: 3, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	get := func(tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/v1/tickets", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range 3 {
		res := get(f.tokenA)
		if res.StatusCode != 200 || res.Header.Get("RateLimit-Limit") != "3" || res.Header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) ||
			res.Header.Get("RateLimit-Reset") != "60" {
			t.Fatalf("request %d: %d %v", i+1, res.StatusCode, res.Header)
		}
	}
	mu.Lock()
	now = now.Add(20 * time.Second)
	mu.Unlock()
	res := get(f.tokenA)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "40" || res.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("4th request: %d %v", res.StatusCode, res.Header)
	}
	if res := get(f.admin); res.StatusCode != 200 {
		t.Errorf("another token: %d, want its own budget", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(40 * time.Second)
	mu.Unlock()
	if res := get(f.tokenA); res.StatusCode != 200 || res.Header.Get("RateLimit-Remaining") != "2" {
		t.Errorf("next minute: %d %v", res.StatusCode, res.Header)
	}
}
