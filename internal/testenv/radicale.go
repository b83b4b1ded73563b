package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// radicaleBin is where Debian's radicale package installs the server; it
// must be run as such, not through the first python3 on PATH (TESTENV.md).
const radicaleBin = "/usr/bin/radicale"

// Radicale is a private Radicale CalDAV server on a loopback port, started
// by StartRadicale (tests) or LaunchRadicale (programs).
type Radicale struct {
	// URL is the server root, "http://127.0.0.1:PORT".
	URL string
	// Dir holds the config, the users file and the storage.
	Dir string

	users  map[string]string
	client *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

// StartRadicale starts a Radicale of its own for t with the given users,
// each "name" (password "name-secret") or "name:password". It skips or fails
// t through Unavailable when Radicale is not installed or does not start;
// t.Cleanup stops it.
func StartRadicale(t testing.TB, users ...string) *Radicale {
	t.Helper()
	if _, err := os.Stat(radicaleBin); err != nil {
		Unavailable(t, "radicale (apt-get install radicale)", err)
	}
	r, err := LaunchRadicale(t.TempDir(), users...)
	if err != nil {
		Unavailable(t, "radicale", err)
	}
	t.Cleanup(r.Close)
	return r
}

// LaunchRadicale starts Radicale with its files under dir, for programs
// (benchmarks) that have no testing.TB. The caller must Close it.
func LaunchRadicale(dir string, users ...string) (*Radicale, error) {
	if _, err := os.Stat(radicaleBin); err != nil {
		return nil, fmt.Errorf("testenv: radicale not installed: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	r := &Radicale{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		Dir:    dir,
		users:  map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second},
	}
	// Plain-text users file: the test needs no htpasswd binary, and Radicale
	// 3 reads it with htpasswd_encryption = plain.
	var htpasswd strings.Builder
	for _, u := range users {
		name, pw, ok := strings.Cut(u, ":")
		if !ok {
			pw = name + "-secret"
		}
		r.users[name] = pw
		fmt.Fprintf(&htpasswd, "%s:%s\n", name, pw)
	}
	conf := fmt.Sprintf(`[server]
hosts = 127.0.0.1:%d
max_connections = 32
timeout = 30

[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = %s

[web]
type = none

[logging]
level = warning
mask_passwords = True
`, port, filepath.Join(dir, "users"), filepath.Join(dir, "collections"))
	files := map[string]string{"users": htpasswd.String(), "radicale.conf": conf}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Radicale) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(radicaleBin, "--config", filepath.Join(r.Dir, "radicale.conf"))
	cmd.Stdout, cmd.Stderr = &r.out, &r.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: start radicale: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			r.cmd = nil
			return fmt.Errorf("testenv: radicale exited at start: %s", r.out.String())
		default:
		}
		// Any HTTP answer (401 for an anonymous GET /) means it serves.
		if resp, err := r.client.Get(r.URL + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			r.closeLocked()
			return fmt.Errorf("testenv: radicale did not answer on %s: %s", r.URL, r.out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Close stops the server.
func (r *Radicale) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeLocked()
}

func (r *Radicale) closeLocked() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// Password returns a user's password.
func (r *Radicale) Password(user string) string { return r.users[user] }

// Do sends an authenticated request as user to path (relative to URL) and
// returns the status code and body; it fails on transport errors only.
func (r *Radicale) Do(user, method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, r.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(user, r.users[user])
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// MakeCalendar creates the calendar collection /user/name/ (go-webdav's
// client has no MKCALENDAR, so this is a raw RFC 4791 section 5.3.1
// request) and returns its path.
func (r *Radicale) MakeCalendar(user, name string) (string, error) {
	path := "/" + user + "/" + name + "/"
	// An authenticated PROPFIND makes Radicale create the user's principal
	// collection, the parent of the new calendar.
	if _, _, err := r.Do(user, "PROPFIND", "/"+user+"/", "application/xml", nil); err != nil {
		return "", err
	}
	const body = `<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>`
	code, resp, err := r.Do(user, "MKCALENDAR", path, "application/xml", []byte(body))
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated {
		return "", fmt.Errorf("testenv: MKCALENDAR %s: HTTP %d: %s", path, code, resp)
	}
	return path, nil
}

// Put stores an iCalendar object at calendarPath+name as user.
func (r *Radicale) Put(user, calendarPath, name string, ics []byte) error {
	code, resp, err := r.Do(user, "PUT", calendarPath+name, "text/calendar; charset=utf-8", ics)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusNoContent && code != http.StatusOK {
		return fmt.Errorf("testenv: PUT %s%s: HTTP %d: %s", calendarPath, name, code, resp)
	}
	return nil
}

// SeedCalendar writes a calendar collection with its objects straight into
// Radicale's file storage (name -> iCalendar bytes), which is ~100x faster
// than PUT for large fixtures; Radicale indexes them on first access. It
// returns the collection path.
func (r *Radicale) SeedCalendar(user, name string, objects map[string][]byte) (string, error) {
	dir := filepath.Join(r.Dir, "collections", "collection-root", user, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	props := `{"tag": "VCALENDAR", "C:supported-calendar-component-set": "VEVENT"}`
	if err := os.WriteFile(filepath.Join(dir, ".Radicale.props"), []byte(props), 0o644); err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	for n, data := range objects {
		if strings.ContainsAny(n, "/\\") || strings.HasPrefix(n, ".") {
			return "", errors.New("testenv: bad object name")
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			return "", fmt.Errorf("testenv: %w", err)
		}
	}
	return "/" + user + "/" + name + "/", nil
}
