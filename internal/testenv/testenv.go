// Package testenv gives tests the real servers they need (Dovecot, Radicale,
// Chromium, PostgreSQL): it finds or installs them and starts private
// instances on loopback ports. A test whose server cannot be had is skipped
// with the reason, unless SIDEDESK_INTEGRATION=require (as CI sets), in which
// case it fails.
package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Required reports whether integration servers are mandatory for this run.
func Required() bool { return os.Getenv("SIDEDESK_INTEGRATION") == "require" }

// Unavailable skips t because what is missing, or fails it when integration
// servers are required.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (SIDEDESK_INTEGRATION=require) but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable, skipping (set SIDEDESK_INTEGRATION=require to fail instead): %v", what, err)
}

// listenFree listens on a free loopback port below the kernel's range of
// ephemeral ports. A server that a test stops and starts again keeps its
// port; while it is down, a client's outgoing connection could be given
// that very port from the ephemeral range, and then connects to itself
// (TCP simultaneous open) or keeps the server from binding its port again.
func listenFree() (net.Listener, error) {
	low := 32768 // Linux's default start of ip_local_port_range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}
