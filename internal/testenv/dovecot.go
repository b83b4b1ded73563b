package testenv

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"iter"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dovecotUID is the uid and gid the userdb gives every test user; the mail
// directories must belong to it (TESTENV.md).
const dovecotUID = 65534

// User is one mailbox account of a test Dovecot.
type User struct {
	Email    string
	Password string
}

// Dovecot is a private Dovecot IMAP server on loopback ports, started by
// StartDovecot and stopped when the test ends.
type Dovecot struct {
	dir     string // config, users, cert, mail
	runDir  string // base_dir: short, because it holds unix sockets
	conf    string
	port    int
	tlsPort int
	pool    *x509.CertPool
	users   []User
	// oauth2URL, when set, is the RFC 7662 introspection endpoint that
	// XOAUTH2 and OAUTHBEARER logins are checked against.
	oauth2URL string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartDovecot starts a Dovecot instance of its own for t with the given
// users, listening on 127.0.0.1 for IMAP (plain and STARTTLS, Addr) and
// IMAPS (TLSAddr) with a fresh self-signed certificate (CertPool). It skips
// or fails t through Unavailable when Dovecot is not installed or cannot
// run here. t.Cleanup stops it.
func StartDovecot(t testing.TB, users ...User) *Dovecot {
	t.Helper()
	if _, err := dovecotBinary(); err != nil {
		Unavailable(t, "dovecot (apt-get install dovecot-imapd)", err)
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "dovecot", errors.New("the test Dovecot needs root (it hands mail dirs to uid 65534)"))
	}
	d, err := NewDovecot(t.TempDir(), users...)
	if err != nil {
		Unavailable(t, "dovecot", err)
	}
	t.Cleanup(d.Close)
	return d
}

// StartDovecotOAuth is StartDovecot with XOAUTH2 and OAUTHBEARER logins
// checked by Dovecot's oauth2 passdb against introspectURL (RFC 7662, POST
// mode; TESTENV.md), besides the users' passwords. A Postfix using its
// AuthSocket then takes XOAUTH2 for SMTP submission too.
func StartDovecotOAuth(t testing.TB, introspectURL string, users ...User) *Dovecot {
	t.Helper()
	if _, err := dovecotBinary(); err != nil {
		Unavailable(t, "dovecot (apt-get install dovecot-imapd)", err)
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "dovecot", errors.New("the test Dovecot needs root (it hands mail dirs to uid 65534)"))
	}
	d, err := newDovecot(t.TempDir(), introspectURL, users...)
	if err != nil {
		Unavailable(t, "dovecot", err)
	}
	t.Cleanup(d.Close)
	return d
}

func dovecotBinary() (string, error) {
	bin, err := exec.LookPath("dovecot")
	if err == nil {
		return bin, nil
	}
	if _, statErr := os.Stat("/usr/sbin/dovecot"); statErr == nil {
		return "/usr/sbin/dovecot", nil
	}
	return "", err
}

// NewDovecot is StartDovecot for programs (benchmarks): it runs Dovecot
// with its files under dir (which must be empty or new) until Close.
func NewDovecot(dir string, users ...User) (*Dovecot, error) {
	return newDovecot(dir, "", users...)
}

func newDovecot(dir, oauth2URL string, users ...User) (*Dovecot, error) {
	bin, err := dovecotBinary()
	if err != nil {
		return nil, fmt.Errorf("testenv: dovecot not installed (apt-get install dovecot-imapd): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	// Dovecot drops to uid 65534 for mail access: it must traverse the path.
	for p := dir; p != "/" && p != "." && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			return nil, fmt.Errorf("testenv: chmod %s: %w", p, err)
		}
	}
	// Unix socket paths are limited to ~108 bytes: keep base_dir short.
	runDir, err := os.MkdirTemp("", "dc")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	if err := os.Chmod(runDir, 0o755); err != nil {
		os.RemoveAll(runDir)
		return nil, fmt.Errorf("testenv: %w", err)
	}
	d := &Dovecot{
		dir:    dir,
		runDir: runDir,
		conf:   filepath.Join(dir, "dovecot.conf"),
		users:  users,

		oauth2URL: oauth2URL,
	}
	if err := d.setup(bin); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the server and removes its socket directory.
func (d *Dovecot) Close() {
	d.stop()
	os.RemoveAll(d.runDir)
}

func (d *Dovecot) setup(bin string) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	d.port, d.tlsPort = ports[0], ports[1]
	certPEM, keyPEM, err := selfSignedCert()
	if err != nil {
		return fmt.Errorf("testenv: certificate: %w", err)
	}
	d.pool = x509.NewCertPool()
	d.pool.AppendCertsFromPEM(certPEM)

	var usersFile strings.Builder
	for _, u := range d.users {
		fmt.Fprintf(&usersFile, "%s:{PLAIN}%s::::::\n", u.Email, u.Password)
	}
	files := map[string][]byte{
		"cert.pem":     certPEM,
		"key.pem":      keyPEM,
		"users":        []byte(usersFile.String()),
		"dovecot.conf": []byte(d.config()),
	}
	if d.oauth2URL != "" {
		files["oauth2.conf.ext"] = []byte("introspection_mode = post\nintrospection_url = " + d.oauth2URL +
			"\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n")
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(d.dir, name), data, 0o644); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	if err := os.Chmod(filepath.Join(d.dir, "key.pem"), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	for _, p := range []string{"state", "mail"} {
		if err := os.MkdirAll(filepath.Join(d.dir, p), 0o755); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	for _, u := range d.users {
		md := d.MaildirFor(u.Email)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
				return fmt.Errorf("testenv: %w", err)
			}
		}
		if err := chownTree(filepath.Join(d.dir, "mail", u.Email)); err != nil {
			return fmt.Errorf("testenv: chown mail dir: %w", err)
		}
	}
	if err := d.start(bin); err != nil {
		log, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// freePorts returns n distinct free loopback ports. The listeners stay open
// until all are picked: one closed before the next is opened can be handed
// out again (Dovecot then refused its config: "duplicate listener").
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := listenFree()
		if err != nil {
			return nil, fmt.Errorf("testenv: free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lmtpAvailable reports whether Dovecot's LMTP server is installed
// (dovecot-lmtpd): with it, the test Dovecot also takes mail from a test
// Postfix (StartPostfix) over LMTP and authenticates its submission users.
func lmtpAvailable() bool {
	_, err := os.Stat("/usr/lib/dovecot/lmtp")
	return err == nil
}

// lmtpConfig is the part of the config that lets a Postfix deliver over
// LMTP and check logins through Dovecot (TESTENV.md): sockets relative to
// base_dir; mail to user+detail@domain goes to user's INBOX.
const lmtpConfig = `
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
`

func (d *Dovecot) config() string {
	protocols, extra := "imap", ""
	if lmtpAvailable() {
		protocols, extra = "imap lmtp", lmtpConfig
	}
	mechs, passdbMechs, oauthPassdb := "plain login", "", ""
	if d.oauth2URL != "" {
		mechs, passdbMechs = "plain login xoauth2 oauthbearer", "\n  mechanisms = plain login"
		oauthPassdb = "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = " +
			filepath.Join(d.dir, "oauth2.conf.ext") + "\n}\n"
	}
	// Dovecot rejects a block opened and closed on one line (TESTENV.md).
	return fmt.Sprintf(`protocols = `+protocols+`
listen = 127.0.0.1
base_dir = %[2]s
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_mechanisms = `+mechs+`
auth_failure_delay = 0
mail_location = maildir:%[1]s/mail/%%u/Maildir
mail_fsync = never
passdb {
  driver = passwd-file`+passdbMechs+`
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
`+oauthPassdb+`userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
  default_fields = uid=%[5]d gid=%[5]d home=%[1]s/mail/%%u
}
# No growing delay after failed logins (tests of wrong passwords retry).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[3]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[4]d
    ssl = yes
  }
}
`+extra, d.dir, d.runDir, d.port, d.tlsPort, dovecotUID)
}

// LMTPSocket is the unix socket Dovecot takes LMTP deliveries on, and
// AuthSocket the one a Postfix checks submission logins through.
func (d *Dovecot) LMTPSocket() string { return filepath.Join(d.runDir, "lmtp") }

// AuthSocket: see LMTPSocket.
func (d *Dovecot) AuthSocket() string { return filepath.Join(d.runDir, "auth-postfix") }

func (d *Dovecot) start(bin string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return errors.New("testenv: dovecot already running")
	}
	d.removeStaleDotlocks()
	if bin == "" {
		var err error
		if bin, err = dovecotBinary(); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	cmd := exec.Command(bin, "-F", "-c", d.conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: start dovecot: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	d.cmd, d.done = cmd, done

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			d.cmd = nil
			return fmt.Errorf("testenv: dovecot exited at start: %s", out.String())
		default:
		}
		// Ready when both listeners accept and the auth service (which
		// imap-login and Postfix's submission AUTH use, and which starts
		// after the listeners) answers.
		if greeting(d.Addr()) == nil && greeting(d.TLSAddr()) == nil && authReady(d.AuthSocket()) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			d.stopLocked()
			return fmt.Errorf("testenv: dovecot did not accept connections on %s: %s", d.Addr(), out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// greeting reports whether an IMAP server greets on addr.
func greeting(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SetDeadline(time.Now().Add(2 * time.Second))
}

// authReady reports whether Dovecot's auth service answers on the unix
// socket path: it sends its handshake, ending in DONE, on connect.
func authReady(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("testenv: dovecot auth handshake: %w", err)
		}
		if line == "DONE\n" {
			return nil
		}
	}
}

func (d *Dovecot) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *Dovecot) stopLocked() {
	if d.cmd == nil {
		return
	}
	// Kill the whole process group (master, login, auth, imap processes):
	// as abrupt as a crash, and 1 s faster than Dovecot's graceful stop.
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
	// Children (imap, auth) may outlive the master by a moment; wait until
	// the ports are free so a restart can bind them again.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if greeting(d.Addr()) != nil && greeting(d.TLSAddr()) != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.cmd = nil
}

// removeStaleDotlocks deletes the dotlocks (dovecot-uidlist.lock) that an
// imap process killed mid-sync leaves in a maildir (start runs it before
// the server does). They are empty, so
// Dovecot cannot tell their owner is gone and waits out its 2-minute stale
// timeout: the restarted server would sit on the next SELECT that long.
// What an admin does after a crash; the client's own recovery is what the
// tests are about.
func (d *Dovecot) removeStaleDotlocks() {
	_ = filepath.WalkDir(filepath.Join(d.dir, "mail"), func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(e.Name(), ".lock") {
			_ = os.Remove(path)
		}
		return nil
	})
}

// Addr is the host:port of the plain IMAP listener (also offers STARTTLS).
func (d *Dovecot) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// TLSAddr is the host:port of the implicit-TLS (IMAPS) listener.
func (d *Dovecot) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.tlsPort)) }

// Port is the plain IMAP port; TLSPort the IMAPS port.
func (d *Dovecot) Port() int { return d.port }

// TLSPort is the IMAPS port.
func (d *Dovecot) TLSPort() int { return d.tlsPort }

// CertPool holds the self-signed certificate the server presents (valid for
// 127.0.0.1 and localhost).
func (d *Dovecot) CertPool() *x509.CertPool { return d.pool }

// TLSConfig is a client configuration that trusts the server's certificate.
func (d *Dovecot) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: d.pool, ServerName: "127.0.0.1"}
}

// Log returns what Dovecot logged so far, for failure messages.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
	return string(b)
}

// Stop stops the server; the directories and ports stay reserved for Start.
func (d *Dovecot) Stop(t testing.TB) {
	t.Helper()
	d.stop()
}

// Start starts a stopped server again on the same directories and ports.
func (d *Dovecot) Start(t testing.TB) {
	t.Helper()
	if err := d.start(""); err != nil {
		t.Fatalf("%v\n%s", err, d.Log())
	}
}

// Restart stops and starts the server (same directories and ports): every
// client connection is dropped.
func (d *Dovecot) Restart(t testing.TB) {
	t.Helper()
	d.Stop(t)
	d.Start(t)
}

// MaildirFor is the Maildir of user's INBOX. A folder F lives in its
// subdirectory ".F" (Maildir++).
func (d *Dovecot) MaildirFor(user string) string {
	return filepath.Join(d.dir, "mail", user, "Maildir")
}

// FolderDir is the Maildir directory of folder ("INBOX" or a folder name).
func (d *Dovecot) FolderDir(user, folder string) string {
	if folder == "" || strings.EqualFold(folder, "INBOX") {
		return d.MaildirFor(user)
	}
	return filepath.Join(d.MaildirFor(user), "."+folder)
}

// MaildirMessage is one message for FillMaildir.
type MaildirMessage struct {
	Raw []byte
	// Received becomes the file time, which Dovecot reports as INTERNALDATE.
	// Zero means now.
	Received time.Time
}

// FillMaildir writes msgs into the Maildir dir as a delivery agent does:
// each into tmp/, then renamed into new/, where Dovecot picks them up on the
// next command. It chowns the files to the mail user and returns how many
// it wrote. It is much faster than IMAP APPEND for large mailboxes.
func FillMaildir(dir string, msgs iter.Seq[MaildirMessage]) (int, error) {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return 0, fmt.Errorf("testenv: %w", err)
		}
		if err := os.Chown(filepath.Join(dir, sub), dovecotUID, dovecotUID); err != nil {
			return 0, fmt.Errorf("testenv: %w", err)
		}
	}
	if err := os.Chown(dir, dovecotUID, dovecotUID); err != nil {
		return 0, fmt.Errorf("testenv: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.NewReplacer("/", "_", ":", "_").Replace(host)
	base := time.Now().UnixNano()
	n := 0
	for m := range msgs {
		name := fmt.Sprintf("%d.M%dP%d.%s,S=%d", base/1e9, base%1e9+int64(n), os.Getpid(), host, len(m.Raw))
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, m.Raw, 0o600); err != nil {
			return n, fmt.Errorf("testenv: %w", err)
		}
		if err := os.Chown(tmp, dovecotUID, dovecotUID); err != nil {
			return n, fmt.Errorf("testenv: %w", err)
		}
		if !m.Received.IsZero() {
			if err := os.Chtimes(tmp, m.Received, m.Received); err != nil {
				return n, fmt.Errorf("testenv: %w", err)
			}
		}
		if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
			return n, fmt.Errorf("testenv: %w", err)
		}
		n++
	}
	return n, nil
}

// Client logs user in over the plain listener; t.Cleanup logs it out.
func (d *Dovecot) Client(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr(), nil)
	if err != nil {
		t.Fatalf("testenv: dial dovecot: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, d.password(t, user)).Wait(); err != nil {
		t.Fatalf("testenv: login %s: %v", user, err)
	}
	return c
}

func (d *Dovecot) password(t testing.TB, user string) string {
	for _, u := range d.users {
		if u.Email == user {
			return u.Password
		}
	}
	t.Fatalf("testenv: no dovecot user %q", user)
	return ""
}

// Append delivers raw to user's folder with IMAP APPEND (creating the
// folder if needed) and returns the UID Dovecot gave it (UIDPLUS).
func (d *Dovecot) Append(t testing.TB, user, folder string, raw []byte) imap.UID {
	t.Helper()
	c := d.Client(t, user)
	defer c.Close()
	uid, err := appendMsg(c, folder, raw, time.Time{})
	if err != nil {
		t.Fatalf("testenv: append to %s/%s: %v", user, folder, err)
	}
	_ = c.Logout().Wait()
	return uid
}

func appendMsg(c *imapclient.Client, folder string, raw []byte, at time.Time) (imap.UID, error) {
	if folder == "" {
		folder = "INBOX"
	}
	if !strings.EqualFold(folder, "INBOX") {
		// ALREADYEXISTS is fine.
		_ = c.Create(folder, nil).Wait()
	}
	var opts *imap.AppendOptions
	if !at.IsZero() {
		opts = &imap.AppendOptions{Time: at}
	}
	cmd := c.Append(folder, int64(len(raw)), opts)
	if _, err := cmd.Write(raw); err != nil {
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// UIDValidity returns the current UIDVALIDITY of user's folder.
func (d *Dovecot) UIDValidity(t testing.TB, user, folder string) uint32 {
	t.Helper()
	c := d.Client(t, user)
	defer c.Close()
	if folder == "" {
		folder = "INBOX"
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("testenv: select %s/%s: %v", user, folder, err)
	}
	_ = c.Logout().Wait()
	return sel.UIDValidity
}

// ChangeUIDValidity makes Dovecot give user's folder a new UIDVALIDITY and
// renumber its messages, as happens when a server's index is rebuilt: it
// stops the server, deletes the folder's dovecot-uidlist and index files
// and starts it again. It returns the new UIDVALIDITY, which differs from
// the old one.
func (d *Dovecot) ChangeUIDValidity(t testing.TB, user, folder string) uint32 {
	t.Helper()
	old := d.UIDValidity(t, user, folder)
	dir := d.FolderDir(user, folder)
	for attempt := 0; ; attempt++ {
		d.Stop(t)
		dropUIDList(t, dir)
		d.Start(t)
		if v := d.UIDValidity(t, user, folder); v != old {
			return v
		}
		if attempt == 3 {
			t.Fatalf("testenv: UIDVALIDITY of %s/%s stayed %d", user, folder, old)
		}
		// Dovecot derives a new UIDVALIDITY from the clock: wait a second.
		time.Sleep(1100 * time.Millisecond)
	}
}

// RestoreUIDs makes user's folder look restored from a backup taken
// before its newest messages: the same UIDVALIDITY, but UIDs given out
// again from 1 (UIDNEXT falls below UIDs already handed out), as some
// servers do after a restore. Every message present is renumbered;
// newest last. It returns the folder's UIDNEXT afterwards.
func (d *Dovecot) RestoreUIDs(t testing.TB, user, folder string) uint32 {
	t.Helper()
	validity := d.UIDValidity(t, user, folder)
	dir := d.FolderDir(user, folder)
	d.Stop(t)
	dropUIDList(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(fmt.Sprintf("3 V%d N1\n", validity)), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := chownTree(dir); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	d.Start(t)
	c := d.Client(t, user)
	defer c.Close()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("testenv: select %s/%s: %v", user, folder, err)
	}
	if sel.UIDValidity != validity {
		t.Fatalf("testenv: UIDVALIDITY of %s/%s became %d, want it kept at %d", user, folder, sel.UIDValidity, validity)
	}
	return uint32(sel.UIDNext)
}

// dropUIDList removes a stopped Dovecot's UID list and index files of
// one folder, so it numbers the messages afresh on start.
func dropUIDList(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "dovecot-uidlist") || strings.HasPrefix(n, "dovecot.index") {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				t.Fatalf("testenv: %v", err)
			}
		}
	}
}

func chownTree(root string) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, dovecotUID, dovecotUID)
	})
}

func selfSignedCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sidedesk test dovecot"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
