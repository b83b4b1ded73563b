// Package testenv gives tests the real servers they need (Dovecot, Radicale,
// Chromium, PostgreSQL): it finds or installs them and starts private
// instances on loopback ports. A test whose server cannot be had is skipped
// with the reason, unless SIDEDESK_INTEGRATION=require (as CI sets), in which
// case it fails.
package testenv

import (
	"net"
	"os"
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

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
