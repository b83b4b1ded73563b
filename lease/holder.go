package lease

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
)

// NewHolder names this process as a lease holder:
// "host:pid:random:pid-namespace". The first two and the last let another
// process on the same host (and in the same PID namespace) see that the
// holder's process is gone and take over at once, instead of waiting out
// the lease (a restart after kill -9).
func NewHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return strings.ReplaceAll(host, ":", "_") + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b) + ":" + pidNamespace()
}

// gone reports whether holder is provably dead: a process of this host
// and PID namespace that no longer exists. Anything else (another host,
// another namespace, an older holder format, a PID taken again by some
// other process) is not provably dead.
func gone(holder string) bool {
	parts := strings.Split(holder, ":")
	if len(parts) != 4 {
		return false
	}
	host, _ := os.Hostname()
	ns := pidNamespace()
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 || ns == "" || parts[0] != strings.ReplaceAll(host, ":", "_") || parts[3] != ns || pid == os.Getpid() {
		return false
	}
	return !processExists(pid)
}
