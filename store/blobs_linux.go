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

// dropCache tells the kernel n bytes of f at off, durable already, will
// not be read soon (posix_fadvise(2) POSIX_FADV_DONTNEED): clean pages are
// let go at once. A hint; an error is ignored.
func dropCache(f *os.File, off, n int64) {
	if n > 0 {
		_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
	}
}

// freeSpace is what the filesystem holding dir has free for an
// unprivileged writer, and its device, to tell two directories on one
// filesystem apart from two on different ones.
func freeSpace(dir string) (free int64, dev uint64, err error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 0, 0, err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(fs.Bavail) * fs.Bsize, st.Dev, nil
}
