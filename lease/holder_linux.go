package lease

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// pidNamespace identifies this process's PID namespace ("4026531836"):
// PIDs compare only within one.
func pidNamespace() string {
	l, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(l, "pid:["), "]")
}

// processExists: signal 0 checks without signalling; EPERM means it
// exists under another user.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
