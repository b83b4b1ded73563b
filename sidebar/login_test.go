package sidebar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the OWASP parameters", h)
	}
	h2, _ := HashPassword("s3cret pw")
	if h == h2 {
		t.Error("two hashes of one password are equal: no random salt")
	}
	parts := strings.Split(h, "$")
	cases := []struct {
		name, hash, pw string
		want           error // nil: ok; ErrPasswordMismatch; other: any error but mismatch
	}{
		{"right password", h, "s3cret pw", nil},
		{"wrong password", h, "s3cret pW", ErrPasswordMismatch},
		{"empty password", h, "", ErrPasswordMismatch},
		{"other parameters still verify", mustHashWith(t, "pw", "m=8192,t=1,p=2"), "pw", nil},
		{"bcrypt string", "$2a$10$abcdefghijklmnopqrstuu", "pw", errOther},
		{"argon2i", strings.Replace(h, "argon2id", "argon2i", 1), "s3cret pw", errOther},
		{"memory bomb", "$argon2id$v=19$m=4294967295,t=2,p=1$" + parts[4] + "$" + parts[5], "pw", errOther},
		{"time bomb", "$argon2id$v=19$m=19456,t=1000,p=1$" + parts[4] + "$" + parts[5], "pw", errOther},
		{"bad salt", "$argon2id$v=19$m=19456,t=2,p=1$!!$" + parts[5], "pw", errOther},
		{"truncated", strings.Join(parts[:5], "$"), "pw", errOther},
		{"version 16", strings.Replace(h, "v=19", "v=16", 1), "s3cret pw", errOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyPassword(tc.hash, tc.pw)
			switch tc.want {
			case nil:
				if err != nil {
					t.Errorf("VerifyPassword = %v, want nil", err)
				}
			case errOther:
				if err == nil || errors.Is(err, ErrPasswordMismatch) {
					t.Errorf("VerifyPassword = %v, want a format error", err)
				}
			default:
				if !errors.Is(err, tc.want) {
					t.Errorf("VerifyPassword = %v, want %v", err, tc.want)
				}
			}
		})
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("HashPassword(\"\") succeeded")
	}
	if p, q := GeneratePassword(), GeneratePassword(); len(p) < 20 || p == q {
		t.Errorf("GeneratePassword = %q, %q", p, q)
	}
}

var errOther = errors.New("any error but a mismatch")

// mustHashWith re-derives a hash of pw with other argon2id parameters by
// rewriting a HashPassword result through VerifyPassword's own format.
func mustHashWith(t *testing.T, pw, params string) string {
	t.Helper()
	var m, tm, p uint32
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.ParseUint(v, 10, 32)
		switch k {
		case "m":
			m = uint32(n)
		case "t":
			tm = uint32(n)
		case "p":
			p = uint32(n)
		}
	}
	return hashWith(pw, []byte("0123456789abcdef"), tm, m, uint8(p))
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(3, 10*time.Minute, func() time.Time { return now })
	try := func(acct, ip string) (time.Duration, bool) {
		release, wait, ok := l.reserve(acct, ip, acct+"|"+ip)
		_ = release
		return wait, ok // kept: a failure
	}
	look := func(acct, ip string) (time.Duration, bool) {
		release, wait, ok := l.reserve(acct, ip, acct+"|"+ip)
		if ok {
			release() // only looking
		}
		return wait, !ok
	}
	for i := range 3 {
		if _, ok := try("acct:x", "ip:a"); !ok {
			t.Fatalf("blocked after %d failures", i)
		}
		now = now.Add(time.Minute)
	}
	if wait, b := look("acct:y", "ip:a"); !b || wait != 7*time.Minute {
		t.Fatalf("after 3 failures from ip:a: blocked=%v wait=%v, want 7m (the address's budget)", b, wait)
	}
	// The account's owner, elsewhere, is not locked out: past the budget
	// each try waits a delay that doubles from a second.
	if _, b := look("acct:x", "ip:b"); b {
		t.Fatal("the account is locked for another address a minute after the failures")
	}
	if _, ok := try("acct:x", "ip:b"); !ok {
		t.Fatal("4th failure refused")
	}
	if wait, b := look("acct:x", "ip:c"); !b || wait != 2*time.Second {
		t.Errorf("right after the 4th failure: blocked=%v wait=%v, want 2s", b, wait)
	}
	for range 10 { // a distributed guesser, as fast as allowed
		wait, _ := look("acct:x", "ip:d")
		now = now.Add(wait)
		try("acct:x", "ip:d")
		now = now.Add(time.Millisecond)
	}
	if wait, b := look("acct:x", "ip:e"); !b || wait > maxAccountDelay {
		t.Errorf("after many failures: blocked=%v wait=%v, want at most %v", b, wait, maxAccountDelay)
	}
	l.unlock("acct:x")
	if _, b := look("acct:x", "ip:e"); b {
		t.Error("account still delayed after unlock")
	}
	// A released reservation (a success) does not count.
	release, _, _ := l.reserve("acct:z", "ip:f", "acct:z|ip:f")
	release()
	for range 2 {
		try("acct:z", "ip:f")
	}
	if _, b := look("acct:z", "ip:f"); b {
		t.Error("a released reservation was counted as a failure")
	}
	now = now.Add(10 * time.Minute)
	if _, b := look("acct:y", "ip:a"); b {
		t.Error("still blocked after the failures left the window")
	}
}

// TestLoginOwnerNotLockedOut: a guesser at one address runs out of its
// budget; the account's owner, at another, waits a second, not the
// window; an admin's unlock lets them in at once.
func TestLoginOwnerNotLockedOut(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newPanelFixture(t, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	c := f.client()
	_, res := f.getDoc(c, "/login")
	tok := setCookieValue(res, loginCookie)
	try := func(pw, ip string) *http.Response {
		res := f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {agentEmail}, "password": {pw}},
			map[string]string{"X-Forwarded-For": ip})
		if v := setCookieValue(res, loginCookie); v != "" {
			tok = v
		}
		res.Body.Close()
		return res
	}
	for i := range DefaultLoginFailures {
		if res := try("guess"+strconv.Itoa(i), "203.0.113.7"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d", i+1, res.StatusCode)
		}
	}
	if res := try("guess", "203.0.113.7"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the guesser's 6th try = %d, want 429", res.StatusCode)
	}
	res = try(agentPass, "198.51.100.9")
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 1 {
		t.Fatalf("the owner right after the burst: %d, Retry-After %q; want 429 for a second", res.StatusCode, res.Header.Get("Retry-After"))
	}
	now = now.Add(time.Second)
	if res := try(agentPass, "198.51.100.9"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner a second later = %d, want 303", res.StatusCode)
	}
	// Many more guesses from many addresses: the delay grows, capped.
	for i := range 12 {
		now = now.Add(maxAccountDelay)
		try("guess", fmt.Sprintf("192.0.2.%d", i))
	}
	res = try(agentPass, "198.51.100.9")
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests || ra > int(maxAccountDelay/time.Second) {
		t.Fatalf("after a long attack: %d, Retry-After %q; want 429 within %v", res.StatusCode, res.Header.Get("Retry-After"), maxAccountDelay)
	}
	f.server.Unlock(ticket.DefaultTenant, agentEmail)
	if res := try(agentPass, "198.51.100.9"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the admin's unlock = %d, want 303", res.StatusCode)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "/sidebar",
		"/sidebar?ticket=3":         "/sidebar?ticket=3",
		"//evil.example/x":          "/sidebar",
		"/\\evil.example":           "/sidebar",
		"https://evil.example/":     "/sidebar",
		"javascript:alert(1)":       "/sidebar",
		"/sidebar\r\nSet-Cookie: x": "/sidebar",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLogin: the form, wrong and right passwords, cookie attributes for
// plain HTTP and HTTPS, the redirect back, logout.
func TestLogin(t *testing.T) {
	f := newPanelFixture(t)
	c := f.client()
	doc, res := f.getDoc(c, "/login?next=%2Fsidebar%3Fticket%3D7")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /login = %d", res.StatusCode)
	}
	tok, _ := doc.Find("input[name=csrf_token]").Attr("value")
	next, _ := doc.Find("input[name=next]").Attr("value")
	if tok == "" || next != "/sidebar?ticket=7" {
		t.Fatalf("login form: token %q next %q", tok, next)
	}
	form := url.Values{"csrf_token": {tok}, "email": {agentEmail}, "password": {"wrong"}, "next": {next}}
	res = f.postForm(c, "/login", form, nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d, want 401", res.StatusCode)
	}
	d, _ := goquery.NewDocumentFromReader(res.Body)
	tok, _ = d.Find("input[name=csrf_token]").Attr("value") // a fresh token came with the answer
	wantContains(t, d, "p.error", "Wrong email or password")

	res = f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {"nobody@acme.example"}, "password": {agentPass}}, nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user = %d, want 401", res.StatusCode)
	}
	tok = freshToken(t, res)

	res = f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {"AGENT@acme.example "}, "password": {agentPass}, "next": {next}}, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sidebar?ticket=7" {
		t.Fatalf("right password = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	sc := setCookie(res, sessionCookie)
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") || strings.Contains(sc, "SameSite=None") {
		t.Errorf("session cookie over plain HTTP = %q: SameSite=None needs Secure, which HTTP cannot have", sc)
	}
	if strings.Contains(f.logs.String(), agentPass) {
		t.Error("the password is in the log")
	}

	// Logout needs the CSRF token, then ends the session.
	doc = f.panelDoc(c, "from=x@y.example")
	csrf, _ := doc.Find("form[action='/logout'] input[name=csrf_token]").Attr("value")
	if res := f.postForm(c, "/logout", url.Values{}, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without token = %d, want 403", res.StatusCode)
	}
	res = f.postForm(c, "/logout", url.Values{"csrf_token": {csrf}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", res.StatusCode)
	}
	if res := f.get(c, "/sidebar"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("panel after logout = %d, want 303 to login", res.StatusCode)
	}
}

func freshToken(t *testing.T, res *http.Response) string {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := d.Find("input[name=csrf_token]").Attr("value")
	return tok
}

func setCookie(res *http.Response, name string) string {
	for _, v := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

// TestLoginCookieHTTPS: with an https PublicURL the cookie is what the
// Outlook iframe needs: Secure; SameSite=None; Partitioned.
func TestLoginCookieHTTPS(t *testing.T) {
	f := newPanelFixture(t, func(o *Options) { o.PublicURL = "https://desk.example" })
	c := f.client()
	doc, res := f.getDoc(c, "/login")
	tok, _ := doc.Find("input[name=csrf_token]").Attr("value")
	if sc := setCookie(res, loginCookie); !strings.Contains(sc, "Secure") {
		t.Errorf("login cookie = %q, want Secure", sc)
	}
	// The jar does not send Secure cookies over http: send it by hand.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(url.Values{
		"csrf_token": {tok}, "email": {agentEmail}, "password": {agentPass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://desk.example")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: tok})
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d", res.StatusCode)
	}
	sc := setCookie(res, sessionCookie)
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=None", "Partitioned"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
}

// TestLoginRateLimit: after 5 failures from one address, that address is
// locked out (429 with Retry-After), even with the right password, until
// the window passes.
func TestLoginRateLimit(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newPanelFixture(t, func(o *Options) { o.Now = func() time.Time { return now } })
	c := f.client()
	_, res := f.getDoc(c, "/login")
	tok := setCookieValue(res, loginCookie)
	try := func(pw string) *http.Response {
		res := f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {agentEmail}, "password": {pw}}, nil)
		if v := setCookieValue(res, loginCookie); v != "" {
			tok = v
		}
		return res
	}
	for i := range DefaultLoginFailures {
		if res := try("guess" + strconv.Itoa(i)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, res.StatusCode)
		}
	}
	res = try(agentPass)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("6th try = %d, want 429", res.StatusCode)
	}
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra != int(DefaultLoginWindow/time.Second) {
		t.Errorf("Retry-After = %q, want %d", res.Header.Get("Retry-After"), int(DefaultLoginWindow/time.Second))
	}
	now = now.Add(DefaultLoginWindow)
	if res := try(agentPass); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window = %d, want 303", res.StatusCode)
	}
}

func setCookieValue(res *http.Response, name string) string {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestCSRF: every state-changing panel request needs the session's token
// and a same-origin request.
func TestCSRF(t *testing.T) {
	f := newPanelFixture(t)
	f.deliverFile("01-globex-production-down.eml")
	c := f.client()
	csrf := f.signIn(c, agentEmail)
	note := func(form url.Values, hdr map[string]string) int {
		form.Set("id", "1")
		form.Set("note", "n")
		form.Set("ticket", "1")
		return f.postForm(c, "/sidebar/note", form, hdr).StatusCode
	}
	cases := []struct {
		name string
		form url.Values
		hdr  map[string]string
		want int
	}{
		{"no token", url.Values{}, nil, http.StatusForbidden},
		{"wrong token", url.Values{"csrf_token": {csrf + "x"}}, nil, http.StatusForbidden},
		{"wrong header token", url.Values{}, map[string]string{"X-CSRF-Token": "nope", "HX-Request": "true"}, http.StatusForbidden},
		{"cross-site fetch", url.Values{"csrf_token": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site subdomain", url.Values{"csrf_token": {csrf}}, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"foreign origin", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"null origin", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"form token", url.Values{"csrf_token": {csrf}}, nil, http.StatusSeeOther},
		{"form token, same origin", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"htmx header token", url.Values{}, map[string]string{"X-CSRF-Token": csrf, "HX-Request": "true"}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := note(tc.form, tc.hdr); got != tc.want {
				t.Errorf("POST /sidebar/note = %d, want %d", got, tc.want)
			}
		})
	}
	// The login form: double-submit token and origin.
	c2 := f.client()
	_, res := f.getDoc(c2, "/login")
	tok := setCookieValue(res, loginCookie)
	for _, tc := range []struct {
		name string
		tok  string
		hdr  map[string]string
	}{
		{"login without token", "", nil},
		{"login with another token", "forged", nil},
		{"login from another site", tok, map[string]string{"Origin": "https://evil.example"}},
	} {
		res := f.postForm(c2, "/login", url.Values{"csrf_token": {tc.tok}, "email": {agentEmail}, "password": {agentPass}}, tc.hdr)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s = %d, want 403", tc.name, res.StatusCode)
		}
		if v := setCookieValue(res, loginCookie); v != "" {
			tok = v
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies: header ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, proxies, "203.0.113.7"},
		{"trusted peer, one hop", "127.0.0.1:5000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"chain of proxies", "127.0.0.1:5000", []string{"198.51.100.1, 10.1.1.1", "10.2.2.2"}, proxies, "198.51.100.1"},
		{"client-written hops left of the real one", "127.0.0.1:5000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"garbage hop", "127.0.0.1:5000", []string{"198.51.100.1, not-an-ip, 10.1.1.1"}, proxies, "10.1.1.1"},
		{"trusted peer, no header", "127.0.0.1:5000", nil, proxies, "127.0.0.1"},
		{"mapped IPv4", "[::ffff:127.0.0.1]:5000", []string{"::ffff:198.51.100.1"}, proxies, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLoginRateLimitBehindProxy: behind a trusted proxy each client has
// its own sign-in budget, and prepending addresses does not escape it;
// without trusted proxies X-Forwarded-For changes nothing.
func TestLoginRateLimitBehindProxy(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			f := newPanelFixture(t, func(o *Options) {
				if trusted {
					o.TrustedProxies = loopback
				}
			})
			c := f.client()
			_, res := f.getDoc(c, "/login")
			tok := setCookieValue(res, loginCookie)
			try := func(email, xff string) int {
				res := f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {"wrong"}},
					map[string]string{"X-Forwarded-For": xff})
				if v := setCookieValue(res, loginCookie); v != "" {
					tok = v
				}
				return res.StatusCode
			}
			for i := range DefaultLoginFailures { // different accounts: only the IP budget runs out
				xff := "203.0.113.7" // one client
				if !trusted {
					xff = fmt.Sprintf("203.0.113.%d", 7+i) // claims that must not count
				}
				if code := try(fmt.Sprintf("nobody%d@acme.example", i), xff); code != http.StatusUnauthorized {
					t.Fatalf("failure %d = %d, want 401", i+1, code)
				}
			}
			want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusTooManyRequests}[trusted]
			if code := try("someone@acme.example", "198.51.100.9"); code != want {
				t.Errorf("another client = %d, want %d", code, want)
			}
			if trusted {
				if code := try("someone@acme.example", "198.51.100.9, 203.0.113.7"); code != http.StatusTooManyRequests {
					t.Errorf("blocked client prepending an address = %d, want 429", code)
				}
			}
		})
	}
}

// TestLoginRateLimitUnderConcurrency: wrong passwords sent all at once get
// at most the budget of password checks; the rest are refused before any
// check, and the right password sent after them is refused too.
func TestLoginRateLimitUnderConcurrency(t *testing.T) {
	f := newPanelFixture(t)
	const parallel = 30
	type attempt struct {
		c   *http.Client
		tok string
	}
	attempts := make([]attempt, parallel+1)
	for i := range attempts {
		c := f.client()
		_, res := f.getDoc(c, "/login")
		attempts[i] = attempt{c, setCookieValue(res, loginCookie)}
	}
	codes := make([]int, parallel)
	var wg sync.WaitGroup
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := attempts[i]
			res := f.postForm(a.c, "/login", url.Values{"csrf_token": {a.tok}, "email": {agentEmail},
				"password": {"guess" + strconv.Itoa(i)}}, nil)
			res.Body.Close()
			codes[i] = res.StatusCode
		}()
	}
	wg.Wait()
	checked, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Errorf("status %d", c)
		}
	}
	if checked > DefaultLoginFailures || checked+refused != parallel {
		t.Fatalf("%d passwords checked, %d refused; want at most %d checked", checked, refused, DefaultLoginFailures)
	}
	last := attempts[parallel]
	res := f.postForm(last.c, "/login", url.Values{"csrf_token": {last.tok}, "email": {agentEmail}, "password": {agentPass}}, nil)
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password after the burst: %d, want 429", res.StatusCode)
	}
}

// TestDisabledAgent: disabling an agent ends their session at once (the
// next request is signed out) and refuses their sign-in like a wrong
// password; enabled again, they sign in.
func TestDisabledAgent(t *testing.T) {
	f := newPanelFixture(t)
	c := f.client()
	f.signIn(c, agentEmail)
	if err := f.st.SetUserDisabled(context.Background(), ticket.DefaultTenant, agentEmail, true); err != nil {
		t.Fatal(err)
	}
	res := f.get(c, "/sidebar?from=nobody@nowhere.example")
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Fatalf("a disabled agent's session still opens the panel")
	}
	doc, _ := f.getDoc(c, "/login")
	tok, _ := doc.Find(`form input[name=csrf_token]`).Attr("value")
	res = f.postForm(c, "/login", url.Values{"csrf_token": {tok}, "email": {agentEmail}, "password": {agentPass}}, nil)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in of a disabled agent = %d, want 401", res.StatusCode)
	}
	if err := f.st.SetUserDisabled(context.Background(), ticket.DefaultTenant, agentEmail, false); err != nil {
		t.Fatal(err)
	}
	f.signIn(c, agentEmail)
}
