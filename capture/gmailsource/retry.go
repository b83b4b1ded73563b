package gmailsource

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
)

// retry runs fn until it succeeds, fails for good, or MaxRetries retries
// were spent. Retried: 429; 403 with reason rateLimitExceeded or
// userRateLimitExceeded (Gmail's per-user quota); 408; 5xx; network errors.
// The wait is exponential with jitter between RetryMin and RetryMax, and at
// least the Retry-After the server asked for (capped at RetryMax).
func (s *Source) retry(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return err
		}
		after, ok := retryable(err)
		if !ok || attempt >= s.opts.MaxRetries {
			return err
		}
		d := backoff(attempt, s.opts.RetryMin, s.opts.RetryMax)
		d = max(d, min(after, s.opts.RetryMax))
		s.log.Debug("gmail API call failed; retrying", "err", err, "attempt", attempt+1, "wait", d)
		if err := s.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// retryable says whether err is worth retrying and the Retry-After it carried.
func retryable(err error) (time.Duration, bool) {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		after := retryAfter(gerr.Header)
		switch {
		case gerr.Code == http.StatusTooManyRequests, gerr.Code == http.StatusRequestTimeout, gerr.Code >= 500:
			return after, true
		case gerr.Code == http.StatusForbidden:
			return after, isRateLimit(err)
		}
		return 0, false
	}
	var rerr *oauth2.RetrieveError
	if errors.As(err, &rerr) {
		return 0, rerr.Response != nil && (rerr.Response.StatusCode >= 500 || rerr.Response.StatusCode == http.StatusTooManyRequests)
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return 0, true
	}
	return 0, false
}

// retryAfter reads Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// errCode is the HTTP status of a Google API error, or 0.
func errCode(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	return 0
}

// isRateLimit reports a 403 whose reason is Gmail's per-user or per-project
// rate limit (retryable), as opposed to a permission problem.
func isRateLimit(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && slices.ContainsFunc(gerr.Errors, func(e googleapi.ErrorItem) bool {
		return e.Reason == "rateLimitExceeded" || e.Reason == "userRateLimitExceeded"
	})
}
