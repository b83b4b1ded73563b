package store

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBlobsTopDir: the blob directory is marked as a top of hierarchy
// (chattr +T) where the file system supports it, and the temporary-file
// directories exist.
func TestBlobsTopDir(t *testing.T) {
	b, err := newBlobs(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(b.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("file system without inode flags: %v", err)
	}
	if flags&fsTopDirFl == 0 {
		if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags|fsTopDirFl); err != nil {
			t.Skipf("file system refuses the top-directory flag: %v", err)
		}
		t.Error("blob directory not marked as top directory, though the file system takes the flag")
	}
	for i := range tempDirs {
		if st, err := os.Stat(b.tempDir(i)); err != nil || !st.IsDir() {
			t.Errorf("temporary-file directory %d: %v", i, err)
		}
	}
}
