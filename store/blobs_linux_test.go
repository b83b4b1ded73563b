package store

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBlobsSyncDropsThePageCache: once a pack's bytes are durable, Sync
// lets their pages go (a capture's gigabytes of attachments would
// otherwise push the database out of the page cache), and the blob is
// still served whole.
func TestBlobsSyncDropsThePageCache(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	content := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	ref, err := b.Put(ctx, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(b.packDir, "*"))
	if len(packs) != 1 {
		t.Fatalf("packs %v, want one", packs)
	}
	resident := func() int {
		f, err := os.Open(packs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		pg := os.Getpagesize()
		vec := make([]byte, (len(m)+pg-1)/pg)
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)),
			uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatal(errno)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	if n := resident(); n < 512 {
		t.Fatalf("%d pages of the new pack in the page cache before Sync: the check sees nothing", n)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := resident(); n > 1 {
		t.Errorf("%d pages of the durable pack still in the page cache after Sync, want none", n)
	}
	assertContent(t, b, ref.SHA256, content)
}
