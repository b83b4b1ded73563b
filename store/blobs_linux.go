package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f at off to
// disk, and returns at once (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE). It is a hint: durability still comes from the
// fsync in Blobs.Sync, so an error is ignored.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
