package sidebar

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// Argon2id parameters of new hashes: OWASP's Password Storage Cheat Sheet
// minimum for argon2id (19 MiB, 2 passes, 1 lane), ~20-40 ms here. The
// parameters travel in each hash, so raising them later keeps old hashes
// verifiable.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
	// Bounds on the parameters VerifyPassword accepts from a stored hash,
	// so a tampered row cannot make one login allocate gigabytes.
	argonMaxMemory  = 1024 * 1024 // KiB (1 GiB)
	argonMaxTime    = 20
	argonMaxThreads = 16
)

// ErrPasswordMismatch is returned by VerifyPassword for a wrong password.
var ErrPasswordMismatch = errors.New("sidebar: password does not match")

// HashPassword hashes pw with argon2id (RFC 9106) and a random salt, in
// the PHC string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
// (salt and hash in unpadded standard base64).
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("sidebar: hash password: empty password")
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("sidebar: hash password: %w", err)
	}
	return hashWith(pw, salt, argonTime, argonMemory, argonThreads), nil
}

// VerifyPassword checks pw against a hash made by HashPassword (any
// parameters within sane bounds), in constant time for the comparison. It
// returns ErrPasswordMismatch for a wrong password and another error for a
// hash it cannot read.
func VerifyPassword(encoded, pw string) error {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return errors.New("sidebar: verify password: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("sidebar: verify password: unsupported argon2 version %q", parts[2])
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return fmt.Errorf("sidebar: verify password: bad parameter %q", kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return fmt.Errorf("sidebar: verify password: unknown parameter %q", k)
		}
	}
	if m < 8 || m > argonMaxMemory || t < 1 || t > argonMaxTime || p < 1 || p > argonMaxThreads {
		return fmt.Errorf("sidebar: verify password: parameters m=%d,t=%d,p=%d out of bounds", m, t, p)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return errors.New("sidebar: verify password: bad salt")
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return errors.New("sidebar: verify password: bad hash")
	}
	got := argon2.IDKey([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// GeneratePassword returns a random password of 26 base32 characters
// (130 bits), for `sidedesk user add` to print once.
func GeneratePassword() string { return rand.Text() }

// Login rate limiting defaults: at most DefaultLoginFailures failed
// sign-ins per client IP, and per account from one IP, within
// DefaultLoginWindow. Beyond DefaultLoginFailures failures of an account
// from all addresses together, each further try waits a delay that doubles
// per failure from a second up to maxAccountDelay: guessing stays slow
// however many addresses an attacker has, and the account's owner, at
// their own address, waits at most that long, never the whole window.
const (
	DefaultLoginFailures = 5
	DefaultLoginWindow   = 15 * time.Minute
	maxAccountDelay      = time.Minute
)

// maxLimiterKeys bounds the limiter's memory: beyond it, keys whose
// failures all left the window are swept.
const maxLimiterKeys = 100_000

// limiter counts failed sign-ins per key ("ip:1.2.3.4", "acct:tenant/email")
// in a sliding window. It is per process: with several processes each
// allows its own budget, which still bounds guessing to a handful per
// window per process.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	fails  map[string][]time.Time
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, now: now, fails: map[string][]time.Time{}}
}

// recent returns key's failures still inside the window (pruning the rest).
func (l *limiter) recent(key string, now time.Time) []time.Time {
	fs := l.fails[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= l.window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = fs
	return fs
}

// reserve counts one attempt for every key before its password is checked,
// unless a budgeted key has used up its budget or the delayed key (the
// account) must still wait after its latest failure (then it reports the
// wait): checking and counting in one step under the lock, at most max
// checks run per budgeted key and window, and the delayed key's checks are
// spaced, however many requests arrive at once. A failed attempt stays
// counted; release takes the reservation back (a successful sign-in, a
// server error).
func (l *limiter) reserve(delayed string, budgeted ...string) (release func(), wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range budgeted {
		if fs := l.recent(k, now); len(fs) >= l.max {
			wait = max(wait, fs[len(fs)-l.max].Add(l.window).Sub(now))
		}
	}
	if fs := l.recent(delayed, now); len(fs) >= l.max {
		gap := min(time.Second<<min(len(fs)-l.max, 16), maxAccountDelay)
		if since := now.Sub(fs[len(fs)-1]); since < gap {
			wait = max(wait, gap-since)
		}
	}
	if wait > 0 {
		return nil, wait, false
	}
	if len(l.fails) >= maxLimiterKeys {
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	keys := append([]string{delayed}, budgeted...)
	for _, k := range keys {
		l.fails[k] = append(l.fails[k], now)
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, k := range keys {
			fs := l.fails[k]
			if i := slices.Index(fs, now); i >= 0 {
				l.fails[k] = slices.Delete(slices.Clone(fs), i, i+1)
			}
		}
	}, 0, true
}

// unlock forgets every failure of an account (an admin's unlock).
func (l *limiter) unlock(acctKey string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.fails {
		if k == acctKey || strings.HasPrefix(k, acctKey+"|") {
			delete(l.fails, k)
		}
	}
}

func accountKey(tenant, email string) string { return "acct:" + tenant + "/" + ticket.NormEmail(email) }

// Unlock forgets the failed sign-ins of an agent (an admin's unlock, POST
// /api/v1/users/unlock), in this process.
func (s *Server) Unlock(tenant, email string) { s.limiter.unlock(accountKey(tenant, email)) }

// clientIP is the address of the client behind r: the peer, or, when the
// peer is one of trusted (Options.TrustedProxies), the rightmost address
// of X-Forwarded-For that is not a trusted proxy (addresses further left
// were written by the client and prove nothing). Without trusted proxies,
// forwarded headers are ignored: anyone could send them.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if peer = peer.Unmap(); !isTrusted(peer, trusted) {
		return host
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client.String() // garbage: stop at the last good hop
			}
			client = a.Unmap()
			if !isTrusted(client, trusted) {
				return client.String()
			}
		}
	}
	return client.String()
}

// isTrusted reports whether a (unmapped) is in a trusted prefix.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxFormBytes bounds a panel or login form body.
const maxFormBytes = 128 << 10

// loginCookie carries the login form's CSRF token (double submit): there
// is no session yet to hold a synchronizer token.
const loginCookie = "sidedesk_login"

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if a, ok := s.agentOf(r); ok && a.Email != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	tenant := r.URL.Query().Get("tenant")
	s.renderLogin(w, r, http.StatusOK, views.Login{Next: next, Tenant: tenant})
}

// renderLogin renders the form with a fresh double-submit token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, l views.Login) {
	tok := randomToken()
	http.SetCookie(w, s.cookie(r, loginCookie, tok, "/login", time.Hour))
	l.Page = views.Page{Title: "Sign in · sidedesk", CSRF: tok, AssetBase: assetBase}
	if l.Tenant == "" {
		l.Tenant = s.loginTenant
	}
	s.renderHTML(w, r, status, views.LoginPage(l))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The form could not be read.", err)
		return
	}
	l := views.Login{
		Next:   localPath(r.PostForm.Get("next")),
		Tenant: strings.TrimSpace(r.PostForm.Get("tenant")),
		Email:  ticket.NormEmail(r.PostForm.Get("email")),
	}
	if l.Tenant == "" {
		l.Tenant = s.loginTenant
	}
	c, _ := r.Cookie(loginCookie)
	if err := s.checkOrigin(r); err != nil || c == nil || !tokensEqual(c.Value, r.PostForm.Get("csrf_token")) {
		l.Error = "The sign-in form expired or came from another site; please try again."
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "sidebar: login CSRF check failed",
			slog.String("request_id", requestID(r)), slog.Any("origin_error", err))
		s.renderLogin(w, r, http.StatusForbidden, l)
		return
	}
	ip := clientIP(r, s.opts.TrustedProxies)
	ipKey, acctKey := "ip:"+ip, accountKey(l.Tenant, l.Email)
	release, wait, ok := s.limiter.reserve(acctKey, ipKey, acctKey+"|"+ipKey)
	if !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		if secs < 90 {
			l.Error = fmt.Sprintf("Too many failed sign-ins. Try again in %d seconds.", secs)
		} else {
			l.Error = fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", (secs+59)/60)
		}
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "sidebar: login rate limited",
			slog.String("ip", ip), slog.String("tenant", l.Tenant), slog.String("email", l.Email))
		s.renderLogin(w, r, http.StatusTooManyRequests, l)
		return
	}
	pw := r.PostForm.Get("password")
	u, err := s.opts.Panel.UserByEmail(r.Context(), l.Tenant, l.Email)
	switch {
	case err == nil && u.PasswordHash != "" && u.DisabledAt.IsZero():
		err = VerifyPassword(u.PasswordHash, pw)
	case err == nil || errors.Is(err, ticket.ErrNotFound):
		// Same work for an unknown account, a disabled one or one without
		// a password, so the answer time does not tell which accounts exist.
		_ = VerifyPassword(s.dummyHash(), pw)
		err = ErrPasswordMismatch
	default:
		release() // our failure, not the user's
		s.htmlError(w, r, http.StatusInternalServerError, "Sign-in is unavailable right now.", err)
		return
	}
	if err != nil {
		if !errors.Is(err, ErrPasswordMismatch) {
			s.log.LogAttrs(r.Context(), slog.LevelError, "sidebar: stored password hash unreadable",
				slog.String("tenant", l.Tenant), slog.String("email", l.Email), slog.String("error", err.Error()))
		}
		// The reservation stays: it is this failure's record.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "sidebar: login failed",
			slog.String("ip", ip), slog.String("tenant", l.Tenant), slog.String("email", l.Email))
		l.Error = "Wrong email or password."
		s.renderLogin(w, r, http.StatusUnauthorized, l)
		return
	}
	release()
	s.limiter.unlock(acctKey)
	if err := s.startSession(w, r, u.Tenant, u.ID); err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "Sign-in is unavailable right now.", err)
		return
	}
	http.SetCookie(w, s.cookie(r, loginCookie, "", "/login", -1))
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "sidebar: agent signed in",
		slog.String("tenant", u.Tenant), slog.String("email", u.Email))
	http.Redirect(w, r, l.Next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.opts.Panel.DeleteSession(r.Context(), HashSessionID(c.Value)); err != nil {
			s.htmlError(w, r, http.StatusInternalServerError, "Sign-out failed; try again.", err)
			return
		}
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", "/", -1))
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", "/login")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// dummyHash is a valid hash of a random password, verified against when
// the account does not exist.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() {
		h, err := HashPassword(rand.Text())
		if err != nil {
			h = "$argon2id$v=19$m=19456,t=2,p=1$c2lkZWRlc2tzaWRlZGVzaw$c2lkZWRlc2tzaWRlZGVza3NpZGVkZXNrc2lkZWRlc2s"
		}
		s.dummy = h
	})
	return s.dummy
}

// localPath accepts only a path of this site ("/sidebar?..."), never
// another origin ("//evil.example", "/\evil", "https://..."), so the login
// redirect cannot be turned into an open redirect. Default "/sidebar".
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/sidebar"
	}
	return p
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokensEqual compares two secrets in constant time; empty never matches.
func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// hashWith is HashPassword with a given salt and parameters.
func hashWith(pw string, salt []byte, t, m uint32, p uint8) string {
	key := argon2.IDKey([]byte(pw), salt, t, m, p, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}
