package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestBlobsRoundTrip(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	noWorkers(b) // the pending state must stay observable
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
		final := filepath.Join(b.Dir(), ref.SHA256[:2], ref.SHA256[2:])
		// Pending: readable, but not named before it is durable.
		if _, err := os.Stat(final); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pending blob already named (stat: %v)", err)
		}
		assertContent(t, b, ref.SHA256, content)
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(final); err != nil {
			t.Errorf("blob not at BlobDir/ab/cdef… after Sync: %v", err)
		}
		assertContent(t, b, ref.SHA256, content)
	}
	assertNoTempFiles(t, b)
}

// noWorkers keeps b from starting its goroutines (no syncing behind the
// Puts, no spare files), as if started, for tests of what only Sync does.
func noWorkers(b *Blobs) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stop, b.spare = make(chan struct{}), make(chan spareFile)
}

func assertContent(t *testing.T, b *Blobs, sha string, want []byte) {
	t.Helper()
	rc, err := b.Open(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Open read %d bytes (%v), want the %d put", len(got), err, len(want))
	}
}

func TestBlobsPutExistingIsNoop(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	noWorkers(b)
	ctx := context.Background()
	ref, err := b.Put(ctx, strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	// Again while pending: one temporary file, not two.
	if ref2, err := b.Put(ctx, strings.NewReader("same")); err != nil || ref2 != ref {
		t.Fatalf("Put of pending content = %+v, %v; want %+v", ref2, err, ref)
	}
	if n := b.Pending(); n != 1 {
		t.Errorf("%d pending after two Puts of one content, want 1", n)
	}
	if err := b.Sync(ctx); err != nil {
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

// assertNoTempFiles checks that no Put left a temporary file; the spare
// ones made ahead are removed first.
func assertNoTempFiles(t *testing.T, b *Blobs) {
	t.Helper()
	b.close()
	if left := tempFiles(b); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// tempFiles lists the temporary files in b's directories.
func tempFiles(b *Blobs) []string {
	left, _ := filepath.Glob(filepath.Join(b.Dir(), ".put-*"))
	more, _ := filepath.Glob(filepath.Join(b.Dir(), ".tmp-*", ".put-*"))
	return append(left, more...)
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
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), ".tmp-") })
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

// TestBlobsDurability checks when a blob gets its name: at once without
// fsync; with fsync, through Sync, which every WithTx runs first, or when
// the goroutine syncing behind the Puts gets to it; never before (checked
// with that goroutine held off).
func TestBlobsDurability(t *testing.T) {
	ctx := context.Background()
	waitSynced := func(s *Store) error {
		for deadline := time.Now().Add(10 * time.Second); s.Blobs().Pending() > 0; {
			if time.Now().After(deadline) {
				return errors.New("the syncer left blobs pending for 10 s")
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	tests := []struct {
		name      string
		skipFsync bool
		noBehind  bool               // no goroutine syncing behind the Puts
		sync      func(*Store) error // what runs between Put and the check
		wantNamed bool
	}{
		{name: "fsync, nothing", noBehind: true, sync: func(*Store) error { return nil }},
		{name: "fsync, Sync", noBehind: true, sync: func(s *Store) error { return s.Blobs().Sync(ctx) }, wantNamed: true},
		{name: "fsync, any WithTx", noBehind: true, sync: func(s *Store) error {
			return s.WithTx(ctx, func(ticket.Tx) error { return nil })
		}, wantNamed: true},
		{name: "fsync, WithTx that fails", noBehind: true, sync: func(s *Store) error {
			s.WithTx(ctx, func(ticket.Tx) error { return errors.New("rolled back") })
			return nil
		}, wantNamed: true},
		{name: "fsync, a store write of its own (no blob references)", noBehind: true, sync: func(s *Store) error {
			return s.SetSyncState(ctx, "default", "support", []byte("{}"))
		}},
		{name: "fsync, synced behind", sync: waitSynced, wantNamed: true},
		{name: "fsync, synced behind, and WithTx", sync: func(s *Store) error {
			return s.WithTx(ctx, func(ticket.Tx) error { return nil })
		}, wantNamed: true},
		{name: "skip fsync", skipFsync: true, sync: func(*Store) error { return nil }, wantNamed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(ctx, Options{Path: filepath.Join(dir, "db"), BlobDir: filepath.Join(dir, "blobs"), SkipBlobFsync: tt.skipFsync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.noBehind {
				noWorkers(s.Blobs())
			}
			var refs []ticket.BlobRef
			for i := range 20 { // more than syncParallel
				ref, err := s.Blobs().Put(ctx, strings.NewReader(strings.Repeat("x", i+1)))
				if err != nil {
					t.Fatal(err)
				}
				refs = append(refs, ref)
			}
			if err := tt.sync(s); err != nil {
				t.Fatal(err)
			}
			for _, ref := range refs {
				_, err := os.Stat(s.Blobs().path(ref.SHA256))
				if named := err == nil; named != tt.wantNamed {
					t.Errorf("blob %.8s named %v, want %v", ref.SHA256, named, tt.wantNamed)
				}
				assertContent(t, s.Blobs(), ref.SHA256, []byte(strings.Repeat("x", int(ref.Size))))
			}
			wantPending := 0
			if !tt.wantNamed {
				wantPending = len(refs)
			}
			if got := s.Blobs().Pending(); got != wantPending {
				t.Errorf("pending %d, want %d", got, wantPending)
			}
			if tt.wantNamed {
				assertNoTempFiles(t, s.Blobs())
			}
		})
	}
}

// TestBlobsSyncLostTempFile: a pending blob whose temporary file vanished
// (removed by hand) fails the Sync once and is forgotten; the others are
// named.
func TestBlobsSyncLostTempFile(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	noWorkers(b)
	ctx := context.Background()
	lost, _ := b.Put(ctx, strings.NewReader("lost"))
	kept, _ := b.Put(ctx, strings.NewReader("kept"))
	b.mu.Lock()
	os.Remove(b.pending[lost.SHA256])
	b.mu.Unlock()
	if err := b.Sync(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Sync = %v, want the lost file's error", err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Errorf("second Sync = %v, want nil", err)
	}
	if _, err := os.Stat(b.path(kept.SHA256)); err != nil {
		t.Errorf("kept blob not named: %v", err)
	}
	if _, err := b.Open(ctx, lost.SHA256); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("Open of the lost blob = %v, want ErrNotFound", err)
	}
}

// TestBlobsConcurrent runs Puts, Opens and Syncs at once (run with -race):
// whatever a goroutine Put is readable at any time, and named after its
// own Sync returns.
func TestBlobsConcurrent(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				content := fmt.Appendf(nil, "goroutine %d blob %d", g, i%10) // repeats: dedupe paths
				ref, err := b.Put(ctx, bytes.NewReader(content))
				if err != nil {
					t.Error(err)
					return
				}
				assertContent(t, b, ref.SHA256, content)
				if i%3 == 0 {
					if err := b.Sync(ctx); err != nil {
						t.Error(err)
						return
					}
					if _, err := os.Stat(b.path(ref.SHA256)); err != nil {
						t.Errorf("not named after Sync: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoTempFiles(t, b)
}

// TestBlobsStaleTempFiles: Open removes temporary files a crashed process
// left (older than staleTempAge), not recent ones another process may be
// writing.
func TestBlobsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, ".put-crashed") // where earlier versions made them
	oldInTmp := filepath.Join(dir, ".tmp-3", ".put-crashed")
	recent := filepath.Join(dir, ".tmp-3", ".put-busy")
	other := filepath.Join(dir, "keep-me")
	os.Mkdir(filepath.Join(dir, ".tmp-3"), 0o750)
	for _, p := range []string{old, oldInTmp, recent, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-staleTempAge - time.Minute)
	os.Chtimes(old, past, past)
	os.Chtimes(oldInTmp, past, past)
	os.Chtimes(other, past, past)
	if _, err := newBlobs(dir, true); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{old: false, oldInTmp: false, recent: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// TestBlobsSpareFiles: Puts take temporary files made ahead, but not one
// made too long ago (another process might take it for a crash leftover);
// closing the store removes the unused ones.
func TestBlobsSpareFiles(t *testing.T) {
	ctx := context.Background()
	t.Run("old spare dropped", func(t *testing.T) {
		b, err := newBlobs(t.TempDir(), true)
		if err != nil {
			t.Fatal(err)
		}
		// Spares fed by hand: no goroutines.
		b.spare, b.stop = make(chan spareFile, 2), make(chan struct{})
		old, _ := os.CreateTemp(b.Dir(), ".put-*")
		fresh, _ := os.CreateTemp(b.Dir(), ".put-*")
		b.spare <- spareFile{old, time.Now().Add(-staleTempAge)}
		b.spare <- spareFile{fresh, time.Now()}
		f, err := b.tempFile()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Name() != fresh.Name() {
			t.Errorf("tempFile = %s, want the fresh spare %s", f.Name(), fresh.Name())
		}
		if _, err := os.Stat(old.Name()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("old spare still there (%v)", err)
		}
	})
	t.Run("close removes spares", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(ctx, Options{Path: filepath.Join(dir, "db"), BlobDir: filepath.Join(dir, "blobs")})
		if err != nil {
			t.Fatal(err)
		}
		b := s.Blobs()
		if left := tempFiles(b); len(left) != 0 {
			t.Errorf("temporary files before any Put: %v", left)
		}
		ref, err := b.Put(ctx, strings.NewReader("first"))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if left := tempFiles(b); len(left) != 0 {
			t.Errorf("temporary files after Close: %v", left)
		}
		assertContent(t, b, ref.SHA256, []byte("first"))
	})
}

// TestBlobsOpenWhileSyncing opens blobs while the goroutine syncing
// behind the Puts renames them: every Open finds the bytes, at the
// temporary file or at the name (a capture re-opens the raw message it has
// just Put, while earlier ones are being synced).
func TestBlobsOpenWhileSyncing(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	var refs []ticket.BlobRef
	for i := range 300 {
		ref, err := b.Put(ctx, strings.NewReader(fmt.Sprint("blob ", i)))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
		for _, r := range refs[max(0, i-5):] {
			rc, err := b.Open(ctx, r.SHA256)
			if err != nil {
				t.Fatalf("Open of blob %d while syncing: %v", i, err)
			}
			rc.Close()
		}
	}
}
