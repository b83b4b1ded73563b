//go:build !linux

package testenv

import (
	"errors"
	"testing"
)

// SmallFS is Linux's tmpfs mount; elsewhere the test is skipped (or fails
// under SIDEDESK_INTEGRATION=require).
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	Unavailable(t, "a small filesystem (tmpfs)", errors.New("needs Linux"))
	return ""
}
