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
	"strings"
	"sync"
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestBlobsRoundTrip(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	contents := [][]byte{[]byte("From: a@x\r\n\r\nhello\r\n"), {}, bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000)}
	var refs []ticket.BlobRef
	for _, content := range contents {
		ref, err := b.Put(ctx, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Size != int64(len(content)) {
			t.Errorf("Put = %+v, want sha %x size %d", ref, sum, len(content))
		}
		assertContent(t, b, ref.SHA256, content) // served before any Sync
		refs = append(refs, ref)
	}
	if n := indexRows(t, s); n != 0 {
		t.Errorf("%d index rows before any transaction, want 0", n)
	}
	commit(t, s)
	if n := indexRows(t, s); n != len(contents) {
		t.Errorf("%d index rows after a transaction, want %d", n, len(contents))
	}
	if n := b.Pending(); n != 0 {
		t.Errorf("%d blobs pending after the transaction, want 0", n)
	}
	for i, ref := range refs {
		assertContent(t, b, ref.SHA256, contents[i]) // now from the index
	}
	// One pack holds them all, back to back.
	if got, want := packBytes(t, b), int64(len(contents[0])+len(contents[2])); got != want {
		t.Errorf("packs hold %d bytes, want %d", got, want)
	}
}

// commit runs an empty write transaction: it makes the blobs stored so
// far durable and indexes them.
func commit(t *testing.T, s *Store) {
	t.Helper()
	if err := s.WithTx(context.Background(), func(ticket.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func indexRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM blob_index`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// packBytes is the size of every pack file together.
func packBytes(t *testing.T, b *Blobs) int64 {
	t.Helper()
	entries, err := os.ReadDir(b.packDir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
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
	if br, ok := rc.(*BlobReader); !ok || br.Size() != int64(len(want)) {
		t.Errorf("Open gave %T, want a *BlobReader of size %d", rc, len(want))
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
	// Again while pending, and again once indexed: stored once.
	for _, when := range []string{"pending", "indexed"} {
		if ref2, err := b.Put(ctx, strings.NewReader("same")); err != nil || ref2 != ref {
			t.Fatalf("Put of %s content = %+v, %v; want %+v", when, ref2, err, ref)
		}
		if got := packBytes(t, b); got != 4 {
			t.Errorf("%s: packs hold %d bytes after two Puts of 4, want 4", when, got)
		}
		commit(t, s)
	}
	if n := indexRows(t, s); n != 1 {
		t.Errorf("%d index rows, want 1", n)
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
	w, err := b.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("aborted"))
	w.Abort()
	if got := packBytes(t, b); got != 0 {
		t.Errorf("packs hold %d bytes after failed Puts, want 0", got)
	}
	if n := b.Pending(); n != 0 {
		t.Errorf("%d blobs pending after failed Puts, want 0", n)
	}
	// The pack they used takes the next blob from its start.
	ref, err := b.Put(context.Background(), strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	assertContent(t, b, ref.SHA256, []byte("kept"))
	if got := packBytes(t, b); got != 4 {
		t.Errorf("packs hold %d bytes, want 4", got)
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

// TestBlobsDurability checks when a blob becomes durable and indexed, and
// that a "crash" (the store closed, then opened again) keeps exactly the
// blobs some transaction indexed.
func TestBlobsDurability(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		skipFsync   bool
		step        func(*Store) error // what runs between Put and the check
		wantDurable bool
		wantIndexed bool
	}{
		{name: "nothing", step: func(*Store) error { return nil }},
		{name: "Sync", step: func(s *Store) error { return s.Blobs().Sync(ctx) }, wantDurable: true},
		{name: "WithTx", step: func(s *Store) error {
			return s.WithTx(ctx, func(ticket.Tx) error { return nil })
		}, wantDurable: true, wantIndexed: true},
		{name: "WithTx that fails", step: func(s *Store) error {
			s.WithTx(ctx, func(ticket.Tx) error { return errors.New("rolled back") })
			return nil
		}, wantDurable: true},
		{name: "a store write of its own (no Sync)", step: func(s *Store) error {
			return s.SetSyncState(ctx, "default", "support", []byte("{}"))
		}},
		{name: "Sync, then a store write of its own", step: func(s *Store) error {
			if err := s.Blobs().Sync(ctx); err != nil {
				return err
			}
			return s.SetSyncState(ctx, "default", "support", []byte("{}"))
		}, wantDurable: true, wantIndexed: true},
		{name: "skip fsync, store write", skipFsync: true, step: func(s *Store) error {
			return s.SetSyncState(ctx, "default", "support", []byte("{}"))
		}, wantDurable: true, wantIndexed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Path: filepath.Join(dir, "db"), BlobDir: filepath.Join(dir, "blobs"), SkipBlobFsync: tt.skipFsync}
			s, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var refs []ticket.BlobRef
			for i := range 20 { // more than syncParallel
				ref, err := s.Blobs().Put(ctx, strings.NewReader(strings.Repeat("x", i+1)))
				if err != nil {
					t.Fatal(err)
				}
				refs = append(refs, ref)
			}
			if err := tt.step(s); err != nil {
				t.Fatal(err)
			}
			b := s.Blobs()
			b.mu.Lock()
			for _, ref := range refs {
				e, pending := b.entries[ref.SHA256]
				if durable := !pending || e.durable; durable != tt.wantDurable {
					t.Errorf("blob %.8s durable %v, want %v", ref.SHA256, durable, tt.wantDurable)
				}
			}
			b.mu.Unlock()
			wantRows := 0
			if tt.wantIndexed {
				wantRows = len(refs)
			}
			if n := indexRows(t, s); n != wantRows {
				t.Errorf("%d index rows, want %d", n, wantRows)
			}
			for _, ref := range refs {
				assertContent(t, b, ref.SHA256, []byte(strings.Repeat("x", int(ref.Size))))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// Opened again: what was indexed is there, the rest is not.
			s2, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			for _, ref := range refs {
				rc, err := s2.Blobs().Open(ctx, ref.SHA256)
				if tt.wantIndexed {
					if err != nil {
						t.Errorf("blob %.8s after reopening: %v", ref.SHA256, err)
						continue
					}
					rc.Close()
				} else if !errors.Is(err, ticket.ErrNotFound) {
					t.Errorf("unindexed blob %.8s after reopening: %v, want ErrNotFound", ref.SHA256, err)
				}
			}
		})
	}
}

// TestBlobsConcurrent runs Puts, Opens and transactions at once (run with
// -race): whatever a goroutine Put is readable at any time, before and
// after its index row commits.
func TestBlobsConcurrent(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	b.limit = 200 // many packs: rolling over under load too
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
					if err := s.WithTx(ctx, func(ticket.Tx) error { return nil }); err != nil {
						t.Error(err)
						return
					}
				}
				assertContent(t, b, ref.SHA256, content)
			}
		})
	}
	wg.Wait()
	commit(t, s)
	if n := indexRows(t, s); n != 40 {
		t.Errorf("%d index rows, want 40 distinct blobs", n)
	}
	if n := b.Pending(); n != 0 {
		t.Errorf("%d pending, want 0", n)
	}
	b.mu.Lock()
	open := len(b.open)
	b.mu.Unlock()
	if open > 4 {
		t.Errorf("%d packs open after all Puts ended, want at most one per writer (4)", open)
	}
}

// TestBlobsPackRollover: a full pack takes no more blobs and is closed
// once they are durable; every blob stays readable.
func TestBlobsPackRollover(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	b.limit = 1000
	ctx := context.Background()
	var refs []ticket.BlobRef
	for i := range 10 {
		ref, err := b.Put(ctx, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 300)))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	commit(t, s)
	entries, _ := os.ReadDir(b.packDir)
	if len(entries) != 3 { // 4 blobs of 300 fill a pack past 1000
		t.Errorf("%d packs, want 3", len(entries))
	}
	b.mu.Lock()
	open := len(b.open)
	b.mu.Unlock()
	if open != 1 {
		t.Errorf("%d packs open, want 1 (the one not full)", open)
	}
	for i, ref := range refs {
		assertContent(t, b, ref.SHA256, bytes.Repeat([]byte{byte(i)}, 300))
	}
}

// TestBlobsEarlierFileLayout: blobs an earlier version stored as one file
// each are read, and not stored again.
func TestBlobsEarlierFileLayout(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	content := []byte("stored by an earlier version")
	sum := sha256.Sum256(content)
	sha := hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Dir(b.path(sha)), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.path(sha), content, 0o640); err != nil {
		t.Fatal(err)
	}
	// As if opened on that directory (an upgrade).
	if b.legacy = hasLegacyBlobs(b.Dir()); !b.legacy {
		t.Fatal("a directory of the earlier layout not recognised")
	}
	assertContent(t, b, sha, content)
	ref, err := b.Put(context.Background(), bytes.NewReader(content))
	if err != nil || ref.SHA256 != sha {
		t.Fatalf("Put = %+v, %v", ref, err)
	}
	if got := packBytes(t, b); got != 0 {
		t.Errorf("packs hold %d bytes, want 0 (already stored)", got)
	}
}

// TestBlobsTwoProcesses: two stores on one database and blob directory
// (serve and a capture --once) each append to packs of their own and read
// each other's blobs once indexed.
func TestBlobsTwoProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{Path: filepath.Join(dir, "db"), BlobDir: filepath.Join(dir, "blobs")}
	var stores []*Store
	for range 2 {
		s, err := Open(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	var refs []ticket.BlobRef
	for i, s := range stores {
		ref, err := s.Blobs().Put(ctx, strings.NewReader(fmt.Sprint("from process ", i)))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	for _, s := range stores {
		commit(t, s)
	}
	for i, s := range stores {
		other := refs[1-i]
		assertContent(t, s.Blobs(), other.SHA256, []byte(fmt.Sprint("from process ", 1-i)))
	}
	entries, _ := os.ReadDir(stores[0].Blobs().packDir)
	if len(entries) != 2 {
		t.Errorf("%d packs, want one per process", len(entries))
	}
}

// TestBlobsCreateNew: CreateNew skips the index look-up; content stored
// before is then kept twice, and the index keeps the first copy.
func TestBlobsCreateNew(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	ref, err := b.Put(ctx, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s)
	w, err := b.CreateNew()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	ref2, err := w.Commit(ctx)
	if err != nil || ref2 != ref {
		t.Fatalf("CreateNew commit = %+v, %v; want %+v", ref2, err, ref)
	}
	if got := packBytes(t, b); got != 10 {
		t.Errorf("packs hold %d bytes, want 10 (stored twice)", got)
	}
	commit(t, s)
	if n, p := indexRows(t, s), b.Pending(); n != 1 || p != 0 {
		t.Errorf("%d index rows, %d pending; want 1 and 0", n, p)
	}
	assertContent(t, b, ref.SHA256, []byte("hello"))
}

// TestBlobsIndexManyAtOnce: a transaction indexes more blobs than one
// INSERT carries (indexChunk), and a blob indexed before is skipped.
func TestBlobsIndexManyAtOnce(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	ctx := context.Background()
	first, err := b.Put(ctx, strings.NewReader("blob 0"))
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s)
	var refs []ticket.BlobRef
	for i := range 2*indexChunk + 17 {
		w, err := b.CreateNew() // "blob 0" again: a second copy, indexed once
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "blob %d", i)
		ref, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	commit(t, s)
	if n := indexRows(t, s); n != 2*indexChunk+17 {
		t.Errorf("%d index rows, want %d", n, 2*indexChunk+17)
	}
	if refs[0] != first {
		t.Fatalf("same content, different address: %+v %+v", refs[0], first)
	}
	for i, ref := range refs {
		assertContent(t, b, ref.SHA256, fmt.Appendf(nil, "blob %d", i))
	}
}

// TestBlobUsage: the bytes a crash left at the end of a pack (no index row
// references them) are reported reclaimable; referenced blobs are not.
func TestBlobUsage(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ref, err := s.Blobs().Put(ctx, strings.NewReader(strings.Repeat("raw mail ", 100)))
	if err != nil {
		t.Fatal(err)
	}
	// A transaction indexes the blob.
	inTx(t, s, func(ticket.Tx) error { return nil })
	packs, err := s.BlobUsage(ctx)
	if err != nil || len(packs) != 1 || packs[0].LiveBytes != ref.Size || packs[0].Reclaimable() != 0 || packs[0].Blobs != 1 {
		t.Fatalf("usage %+v %v, want one pack of %d referenced bytes", packs, err, ref.Size)
	}
	// A crash's leftover: bytes appended that no row references.
	f, err := os.OpenFile(filepath.Join(s.blobs.packDir, packs[0].Name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 4096))
	f.Close()
	packs, _ = s.BlobUsage(ctx)
	if packs[0].Reclaimable() != 4096 || packs[0].LiveBytes != ref.Size {
		t.Errorf("after a leftover: %+v, want 4096 reclaimable", packs[0])
	}
}

// TestCompactBlobs: compaction keeps every referenced blob byte for byte
// and gives back the rest; a crash between the copy and the index update
// loses nothing (the next run removes its half-made pack); a pack whose
// bytes do not match their SHA-256 is left alone; packs of live
// processes are never touched.
func TestCompactBlobs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put := func(text string) ticket.BlobRef {
		ref, err := s.Blobs().Put(ctx, strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	a, b, c := put(strings.Repeat("alpha ", 500)), put(strings.Repeat("bravo ", 700)), put(strings.Repeat("charlie ", 900))
	inTx(t, s, func(ticket.Tx) error { return nil })
	// c's row never committed (a crash), and a tail of garbage.
	if _, err := s.w.ExecContext(ctx, `DELETE FROM blob_index WHERE sha256 = ?`, c.SHA256); err != nil {
		t.Fatal(err)
	}
	packs, _ := s.BlobUsage(ctx)
	f, _ := os.OpenFile(filepath.Join(s.blobs.packDir, packs[0].Name), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(make([]byte, 1000))
	f.Close()
	read := func(ref ticket.BlobRef) string {
		rc, err := s.Blobs().Open(ctx, ref.SHA256)
		if err != nil {
			return "error: " + err.Error()
		}
		defer rc.Close()
		data, _ := io.ReadAll(rc)
		return string(data)
	}

	// Live processes' packs (this test's own) are left alone.
	if res, err := s.CompactBlobs(ctx, 0, false); err != nil || res.Compacted != 0 || res.Skipped != 1 {
		t.Fatalf("with the writer alive: %+v %v, want it skipped", res, err)
	}
	alive, afterCopy := gcPackAlive, gcAfterCopy
	defer func() { gcPackAlive, gcAfterCopy = alive, afterCopy }()
	gcPackAlive = func(name string) bool { return false }

	// A failure after the copy, before the index moved: nothing lost,
	// and the half-made copy is removed at once.
	gcAfterCopy = func() error { return errors.New("killed") }
	if _, err := s.CompactBlobs(ctx, 0, false); err == nil {
		t.Fatal("the injected failure was not reported")
	}
	gcAfterCopy = func() error { return nil }
	if read(a) != strings.Repeat("alpha ", 500) || read(b) != strings.Repeat("bravo ", 700) {
		t.Fatal("a blob was lost by a failure during compaction")
	}
	if now, _ := s.BlobUsage(ctx); len(now) != 1 {
		t.Fatalf("after the failed compaction %d packs, want the half-made one removed", len(now))
	}
	// What a kill at that moment leaves: an unreferenced copy, which the
	// next run removes whole.
	os.WriteFile(filepath.Join(s.blobs.packDir, "20260101T000000.000000000-99999-1.pack"), make([]byte, 7200), 0o640)
	if dry, _ := s.CompactBlobs(ctx, 0, true); dry.Freed < c.Size+1000 {
		t.Errorf("dry run %+v, want at least %d to free", dry, c.Size+1000)
	}

	res, err := s.CompactBlobs(ctx, 0, false)
	if err != nil || res.Compacted != 1 || res.Removed != 1 {
		t.Fatalf("compaction %+v %v, want the pack compacted and the crash's half-made pack removed", res, err)
	}
	if read(a) != strings.Repeat("alpha ", 500) || read(b) != strings.Repeat("bravo ", 700) {
		t.Fatal("a referenced blob changed")
	}
	if !strings.Contains(read(c), "not found") && !strings.Contains(read(c), "no such file") {
		t.Errorf("the unreferenced blob is still there: %q", read(c)[:20])
	}
	after, _ := s.BlobUsage(ctx)
	var recl, live int64
	for _, p := range after {
		recl, live = recl+p.Reclaimable(), live+p.LiveBytes
	}
	if recl != 0 || live != a.Size+b.Size || len(after) != 1 {
		t.Errorf("after compaction %+v: want one pack, nothing reclaimable", after)
	}

	// A damaged pack (a flipped byte in a referenced blob) is left alone.
	s.w.ExecContext(ctx, `DELETE FROM blob_index WHERE sha256 = ?`, b.SHA256) // something to reclaim
	pl, _, _ := s.blobs.lookupIndex(ctx, a.SHA256)
	name := pl.pack
	pf, _ := os.OpenFile(filepath.Join(s.blobs.packDir, name), os.O_RDWR, 0)
	pf.WriteAt([]byte{'X'}, pl.off+3)
	pf.Close()
	if _, err := s.CompactBlobs(ctx, 0, false); err == nil || !strings.Contains(err.Error(), "does not match its SHA-256") {
		t.Errorf("a damaged pack: %v, want refused", err)
	}
	if _, err := os.Stat(filepath.Join(s.blobs.packDir, name)); err != nil {
		t.Errorf("the damaged pack was removed: %v", err)
	}
}
