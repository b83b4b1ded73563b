//go:build !linux

package store

import (
	"errors"
	"os"
)

// startWriteback is a no-op where there is no sync_file_range(2): the
// fsync in Blobs.Sync writes everything.
func startWriteback(*os.File, int64, int64) {}

// dropCache is a no-op where there is no posix_fadvise(2).
func dropCache(*os.File, int64, int64) {}

// freeSpace is not measured here: no disk reserve is kept.
func freeSpace(string) (int64, uint64, error) { return 0, 0, errors.ErrUnsupported }
