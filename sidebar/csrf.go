package sidebar

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CSRF defence of the panel (OWASP CSRF Prevention Cheat Sheet), in
// layers:
//
//  1. Fetch metadata: a request whose Sec-Fetch-Site is cross-site or
//     same-site (another subdomain) is refused; same-origin and none
//     (typed URL) pass. Browsers since 2020/2023 send it.
//  2. Origin (RFC 6454 section 7): when present it must be our own
//     origin (PublicURL's, else the request's scheme and Host); "null"
//     (sandboxed or privacy-redirected requests) is refused.
//  3. Synchronizer token: the session's random token must come back as
//     the X-CSRF-Token header (htmx, via hx-headers on <body>) or the
//     csrf_token form field (plain forms without JavaScript).
//
// The session cookie's SameSite=None (needed in Outlook's iframe) offers
// no protection of its own, which is why the token is required on every
// state-changing request, not only when the headers are missing.

// checkOrigin applies layers 1 and 2.
func (s *Server) checkOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("Sec-Fetch-Site %q", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if want := s.origin(r); !strings.EqualFold(origin, want) {
		return fmt.Errorf("origin %q, want %q", origin, want)
	}
	return nil
}

// checkCSRF applies all three layers to a state-changing request; it
// parses the form (bounded) when the token is not in the header.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, want string) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return fmt.Errorf("read form: %w", err)
		}
		got = r.PostForm.Get("csrf_token")
	}
	if !tokensEqual(got, want) {
		return errors.New("missing or wrong CSRF token")
	}
	return nil
}

// origin is the serialised origin (scheme://host[:port]) the panel is
// served from.
func (s *Server) origin(r *http.Request) string {
	if s.base != "" {
		if u, err := url.Parse(s.base); err == nil && u.Host != "" {
			return strings.ToLower(u.Scheme + "://" + u.Host)
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}
