package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rateLimiter counts each token's requests in fixed one-minute windows. It
// is per process (several processes each allow their own budget).
type rateLimiter struct {
	limit int
	now   func() time.Time
	mu    sync.Mutex
	win   map[string]*window // by Caller.limitKey
}

type window struct {
	start time.Time
	n     int
}

func newRateLimiter(perMinute int, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: perMinute, now: now, win: map[string]*window{}}
}

// take counts one request of token and reports what is left in its
// window and when the window ends; ok is false when the budget is spent.
func (l *rateLimiter) take(token string) (remaining int, reset time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.win[token]
	if w == nil || now.Sub(w.start) >= time.Minute {
		if len(l.win) > 100_000 { // forget finished windows
			for id, old := range l.win {
				if now.Sub(old.start) >= time.Minute {
					delete(l.win, id)
				}
			}
		}
		w = &window{start: now}
		l.win[token] = w
	}
	reset = w.start.Add(time.Minute).Sub(now)
	if w.n >= l.limit {
		return 0, reset, false
	}
	w.n++
	return l.limit - w.n, reset, true
}

// limited wraps an authenticated handler with the token's rate limit:
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset on every
// answer, 429 with Retry-After when the minute's budget is spent.
func (s *Server) limited(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFrom(r.Context())
		remaining, reset, ok := s.limiter.take(c.limitKey())
		secs := strconv.Itoa(int((reset + time.Second - 1) / time.Second))
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(s.limiter.limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Reset", secs)
		if !ok {
			h.Set("Retry-After", secs)
			s.writeError(w, r, http.StatusTooManyRequests, "rate_limited",
				"this token made "+strconv.Itoa(s.limiter.limit)+" requests this minute; retry after "+secs+" s", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}
