package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Postfix is a private Postfix MTA (TESTENV.md): a submission listener on a
// loopback port of its own (plain text, AUTH PLAIN/LOGIN checked by the
// Dovecot it belongs to), delivering every accepted recipient into that
// Dovecot over LMTP. Its /etc/postfix is neither used nor changed.
type Postfix struct {
	dir  string // absolute: postfix -c wants one
	port int
}

// StartPostfix starts a Postfix for d (a Dovecot from StartDovecot, which
// must have LMTP: dovecot-lmtpd). It skips or fails t through Unavailable
// when Postfix is not installed or cannot run here; t.Cleanup stops it.
func StartPostfix(t testing.TB, d *Dovecot) *Postfix {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		Unavailable(t, "postfix (apt-get install postfix)", err)
	}
	if !lmtpAvailable() {
		Unavailable(t, "dovecot LMTP (apt-get install dovecot-lmtpd)", errors.New("/usr/lib/dovecot/lmtp missing"))
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "postfix", errors.New("the test Postfix runs as root"))
	}
	p, err := newPostfix(t.TempDir(), d)
	if err != nil {
		Unavailable(t, "postfix", err)
	}
	t.Cleanup(p.stop)
	return p
}

func newPostfix(dir string, d *Dovecot) (*Postfix, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// smtpd and Dovecot's auth (user dovecot) must traverse the path.
	for p := dir; p != "/" && p != "." && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			return nil, fmt.Errorf("testenv: chmod %s: %w", p, err)
		}
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	p := &Postfix{dir: dir, port: ports[0]}
	for _, sub := range []string{"etc", "spool"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
myhostname = mta.test
mydomain = test
myorigin = $myhostname
mydestination =
local_recipient_maps =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
transport_maps = static:lmtp:unix:%[2]s
alias_maps =
alias_database =
smtpd_sasl_type = dovecot
smtpd_sasl_path = %[3]s
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
in_flow_delay = 0
smtp_dns_support_level = disabled
biff = no
`, dir, d.LMTPSocket(), d.AuthSocket())
	masterCF := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, p.port)
	for name, body := range map[string]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
	}
	if out, err := exec.Command("/usr/sbin/postfix", "-c", p.etc(), "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testenv: postfix start: %v: %s%s", err, out, p.Log())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("testenv: postfix does not listen on %s: %v\n%s", p.Addr(), err, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Postfix) etc() string { return filepath.Join(p.dir, "etc") }

// Addr is the host:port of the submission listener.
func (p *Postfix) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Port is the submission listener's port.
func (p *Postfix) Port() int { return p.port }

// Log is what Postfix logged so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// Queue lists what waits in the queue (postqueue -p).
func (p *Postfix) Queue() string {
	out, _ := exec.Command("/usr/sbin/postqueue", "-c", p.etc(), "-p").CombinedOutput()
	return strings.TrimSpace(string(out))
}

func (p *Postfix) stop() {
	_ = exec.Command("/usr/sbin/postfix", "-c", p.etc(), "stop").Run()
}
