package testenv

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes on a new temporary directory and
// returns its path, for tests of what happens when a disk fills up: a real
// filesystem that answers ENOSPC, not a stand-in. It needs root (CI runs
// as root, as `make test` does to install the test servers); elsewhere
// the test is skipped, or fails under SIDEDESK_INTEGRATION=require. The
// mount is removed when the test ends.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			err = fmt.Errorf("mount tmpfs on %s: %w (run as root)", dir, err)
		}
		Unavailable(t, "a small filesystem (tmpfs)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
