package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestBlobsRoundTrip(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	for _, content := range [][]byte{[]byte("From: a@x\r\n\r\nhello\r\n"), {}, bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000)} {
		ref, err := b.Put(ctx, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Size != int64(len(content)) {
			t.Errorf("Put = %+v, want sha %x size %d", ref, sum, len(content))
		}
		if _, err := os.Stat(filepath.Join(b.Dir(), ref.SHA256[:2], ref.SHA256[2:])); err != nil {
			t.Errorf("blob not at BlobDir/ab/cdef…: %v", err)
		}
		rc, err := b.Open(ctx, ref.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("Open read %d bytes (%v), want the %d put", len(got), err, len(content))
		}
	}
}

func TestBlobsPutExistingIsNoop(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	ref, err := b.Put(ctx, strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(b.Dir(), ref.SHA256[:2], ref.SHA256[2:])
	before, _ := os.Stat(p)
	ref2, err := b.Put(ctx, strings.NewReader("same"))
	if err != nil || ref2 != ref {
		t.Fatalf("second Put = %+v, %v; want %+v", ref2, err, ref)
	}
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) {
		t.Error("second Put replaced the stored file")
	}
	assertNoTempFiles(t, b)
}

func assertNoTempFiles(t *testing.T, b *Blobs) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(b.Dir(), ".put-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	f.n--
	return copy(p, "partial"), nil
}

func TestBlobsPutFailureLeavesNothing(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	if _, err := b.Put(context.Background(), &failingReader{n: 3}); err == nil {
		t.Error("Put from a failing reader succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Put(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v, want context.Canceled", err)
	}
	assertNoTempFiles(t, b)
	entries, _ := os.ReadDir(b.Dir())
	if len(entries) != 0 {
		t.Errorf("blob dir not empty after failed Puts: %v", entries)
	}
}

func TestBlobsOpenRejectsBadNames(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	// A file outside the blob tree that traversal would reach.
	secret := filepath.Join(filepath.Dir(b.Dir()), "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	ref, _ := b.Put(ctx, strings.NewReader("x"))
	for _, name := range []string{
		"", "abc", "../secret", "../../etc/passwd",
		strings.ToUpper(ref.SHA256),
		ref.SHA256[:2] + "/" + ref.SHA256[3:],
		"..%2f" + ref.SHA256[5:],
		strings.Repeat("g", 64),
		ref.SHA256 + "0",
		"/" + ref.SHA256[1:],
	} {
		rc, err := b.Open(ctx, name)
		if err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded", name)
			continue
		}
		if !errors.Is(err, ErrInvalidBlobName) {
			t.Errorf("Open(%q) = %v, want ErrInvalidBlobName", name, err)
		}
	}
	if _, err := b.Open(ctx, strings.Repeat("0", 64)); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("Open of an absent blob = %v, want ErrNotFound", err)
	}
}

// noise yields n bytes cycling through one pseudo-random block, without
// allocating per Read.
type noise struct {
	n     int64
	off   int
	block []byte
}

func newNoise(n int64) *noise {
	block := make([]byte, 64<<10+13) // odd length: blocks straddle reads
	x := uint64(88172645463325252)
	for i := range block {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		block[i] = byte(x)
	}
	return &noise{n: n, block: block}
}

func (r *noise) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	c := copy(p, r.block[r.off:])
	r.off = (r.off + c) % len(r.block)
	r.n -= int64(c)
	return c, nil
}

func TestBlobsPutStreams50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	s := newStore(t)
	b := s.Blobs()
	const size = 50 << 20
	src := newNoise(size)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ref, err := b.Put(context.Background(), src)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != size {
		t.Errorf("size %d, want %d", ref.Size, size)
	}
	// Everything allocated during the Put, freed or not: a buffered copy
	// costs well under a MiB; holding the content would cost 50.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("Put of 50 MB allocated %d bytes; it must stream", alloc)
	}
	// Check the content hash independently.
	h := sha256.New()
	io.Copy(h, newNoise(size))
	if want := hex.EncodeToString(h.Sum(nil)); ref.SHA256 != want {
		t.Errorf("sha256 %s, want %s", ref.SHA256, want)
	}
}
