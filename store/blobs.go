package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Blobs stores immutable byte strings by content: a blob is named by the
// hex SHA-256 of its bytes.
//
// The bytes live in append-only pack files (BlobDir/packs/*.pack); the
// index from name to (pack, offset, size) is the blob_index table of the
// database. Packs, not a file per blob: creating, fsyncing and renaming a
// file per message cost more kernel time than everything else a capture
// does (measured with perf on ext4: inode allocation, the fsync's inode
// write, the rename), while appending to a few open files and fsyncing
// each once per transaction costs next to nothing.
//
// Durability is grouped and tied to the transactions that use the blobs:
//   - Put (or Create … Commit) appends the bytes to a pack this goroutine
//     holds alone, and keeps the blob as an entry in memory; Open already
//     serves it from there.
//   - Sync fsyncs every pack with entries written before it (once each,
//     concurrently) and marks those entries durable. Store.WithTx runs it
//     before it begins.
//   - Every write transaction inserts the durable entries into blob_index,
//     in the same transaction as the rows that reference them; once it
//     commits, the entries leave memory.
//
// Invariant: an index row exists only for bytes that are durable, and it
// commits no later than the first row that references the blob. A crash
// loses only bytes no committed row references (the tail of a pack, wasted
// until a compaction that does not exist yet). Blobs stored by earlier
// versions as one file each (BlobDir/ab/cdef…) are still read.
//
// It is safe for concurrent use, also by several processes sharing the
// directory and the database: each process appends only to packs it
// created.
type Blobs struct {
	dir     string
	packDir string
	fsync   bool
	limit   int64   // packLimit; smaller in tests
	db      *sql.DB // the read pool, for index look-ups; nil before attach
	legacy  bool    // BlobDir has blobs of the earlier one-file-each layout
	reserve int64   // free bytes kept for the database; 0: none

	lookupMu sync.Mutex
	lookup   *sql.Stmt // the index look-up, prepared on db at first use

	mu      sync.Mutex
	entries map[string]*blobEntry // not (known to be) in the committed index
	idle    []*pack               // open packs no Put holds
	open    map[*pack]bool        // every pack this process has open
	syncMu  sync.Mutex            // serialises Sync: returning from it means durable

	bufs     sync.Pool // *bufio.Writer: a blob's write buffer is big, blobs are many
	copyBufs sync.Pool // *[]byte: Put's copy buffer
	seq      atomic.Uint64
}

// blobEntry is a blob this process stored and the index has not committed.
type blobEntry struct {
	pack      *pack
	off, size int64    // where its stored bytes are in the pack
	cuts      []rawCut // a raw message stored as a skeleton (blob_cuts.go)
	durable   bool     // its pack was fsynced after it was written
}

// pack is one append-only pack file this process writes.
type pack struct {
	name string // file name in packDir
	f    *os.File
	size int64 // where the next blob starts
	// uncached: the bytes before it are durable and were dropped from
	// the page cache.
	uncached int64
	named    bool // its directory entry is durable
	held     bool // a Put is writing it
	full     bool // takes no more blobs; closed once its entries are durable
	failing  bool // a write or fsync failed: takes no more blobs
}

// packLimit is the size at which a pack stops taking blobs. One blob may
// take it past (a pack holds any blob whole).
const packLimit = 256 << 20

// syncParallel bounds the fsyncs Sync runs at once.
const syncParallel = 8

func newBlobs(dir string, fsync bool, reserve int64) (*Blobs, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: blob directory %q: %w", dir, err)
	}
	packDir := filepath.Join(abs, "packs")
	if err := os.MkdirAll(packDir, 0o750); err != nil {
		return nil, fmt.Errorf("store: create blob directory: %w", err)
	}
	return &Blobs{dir: abs, packDir: packDir, fsync: fsync, limit: packLimit, legacy: hasLegacyBlobs(abs), reserve: reserve,
		entries: map[string]*blobEntry{}, open: map[*pack]bool{}}, nil
}

// ErrDiskReserve is what a blob write refused for the disk reserve wraps
// (with syscall.ENOSPC, so it reads as a full disk to every caller).
var ErrDiskReserve = errors.New("free space is below the disk reserve kept for the database")

// reserveCheckEvery is how many bytes a blob writes between two looks at
// the free space (one statfs(2) each).
const reserveCheckEvery = 1 << 20

// checkReserve refuses a blob write when the blobs' filesystem has less
// free than the reserve. Blobs are written before the transaction that
// references them; on a nearly full disk they would take the last space,
// the transaction would fail for want of room in the database's journal,
// and every retry would do the same: space freed by the operator eaten by
// bytes no row references. Keeping the reserve means what was written
// can always commit.
func (b *Blobs) checkReserve() error {
	if b.reserve <= 0 {
		return nil
	}
	free, _, err := freeSpace(b.packDir)
	if err != nil || free >= b.reserve {
		return nil // not measurable: the writes themselves tell
	}
	return fmt.Errorf("%w: %d MB free in %s, %d MB kept for the database ([storage] reserve_mb); free some space: %w",
		ErrDiskReserve, free>>20, b.dir, b.reserve>>20, syscall.ENOSPC)
}

// hasLegacyBlobs reports whether dir has a subdirectory named like the
// earlier layout's (two hex digits).
func hasLegacyBlobs(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); e.IsDir() && len(n) == 2 && validName(n+strings.Repeat("0", 62)) {
			return true
		}
	}
	return false
}

// attach gives b the database whose blob_index it uses. The look-up is
// prepared at the first look-up, not here: Open runs before Migrate, when a
// new or older database has no blob_index yet.
func (b *Blobs) attach(db *sql.DB) {
	b.db = db
}

const lookupBlob = `SELECT pack, pack_offset, size, cuts FROM blob_index WHERE sha256 = ?`

// blobPlace is where a blob's stored bytes are.
type blobPlace struct {
	pack      string
	off, size int64
	cuts      []rawCut
}

// lookupIndex reads sha's place from the committed index; ok is false
// when it is not there.
func (b *Blobs) lookupIndex(ctx context.Context, sha string) (pl blobPlace, ok bool, err error) {
	if b.db == nil {
		return pl, false, nil
	}
	b.lookupMu.Lock()
	if b.lookup == nil {
		// A failure (no blob_index yet) leaves it nil: prepared again
		// at the next look-up.
		b.lookup, _ = b.db.PrepareContext(ctx, lookupBlob)
	}
	st := b.lookup
	b.lookupMu.Unlock()
	var row *sql.Row
	if st != nil {
		row = st.QueryRowContext(ctx, sha)
	} else {
		row = b.db.QueryRowContext(ctx, lookupBlob, sha)
	}
	var cuts []byte
	err = row.Scan(&pl.pack, &pl.off, &pl.size, &cuts)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return pl, false, nil
	case err != nil:
		return pl, false, fmt.Errorf("store: blob index: %w", err)
	}
	if pl.cuts, err = decodeCuts(cuts); err != nil {
		return pl, false, fmt.Errorf("store: blob %s: %w", sha, err)
	}
	return pl, true, nil
}

// Dir is the blob directory.
func (b *Blobs) Dir() string { return b.dir }

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put stores everything r yields and returns its content address. It
// streams: the bytes go through the hash into a pack, never all into
// memory. Open serves the blob at once; it is durable after the next Sync
// (Store.WithTx runs one before every transaction). Putting content that
// is already stored changes nothing.
func (b *Blobs) Put(ctx context.Context, r io.Reader) (ticket.BlobRef, error) {
	w, err := b.create()
	if err != nil {
		return ticket.BlobRef{}, err
	}
	buf, _ := b.copyBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
		*buf = make([]byte, 32<<10)
	}
	_, err = io.CopyBuffer(w, ctxReader{ctx, r}, *buf)
	b.copyBufs.Put(buf)
	if err != nil {
		w.Abort()
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	return w.Commit(ctx)
}

// BlobWriter writes one blob: Write its bytes, then Commit (or Abort). A
// capture tees a message into a BlobWriter while it parses it, so the
// bytes are read once. Not safe for concurrent use.
type BlobWriter struct {
	b       *Blobs
	p       *pack
	off     int64
	n       int64 // bytes of the blob
	written int64 // bytes written to the pack (fewer than n with cuts)
	h       hash.Hash
	w       *bufio.Writer
	err     error
	done    bool
	new     bool // CreateNew: no look-up in the committed index
	hold    *holdState
}

// holdState is a BlobWriter's between Hold and Commit (ticket.CutWriter).
type holdState struct {
	safe      func() int64
	buf       *[]byte // from heldBufs; its bytes from start on are held
	start     int
	base      int64 // the blob offset of the first held byte
	inRun     bool
	run       int64 // where the run being elided starts
	cuts      []rawCut
	lastCheck int // len(held()) at the last look at safe()
}

// heldBufs recycles holdState buffers: each message's raw bytes pass
// through one, and growing a new one per message was a fifth of a
// capture's allocations (imapbench -memprofile).
var heldBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const heldKeepMax = 1 << 20

// held returns the bytes held back, from base on.
func (hs *holdState) held() []byte { return (*hs.buf)[hs.start:] }

// add appends p to the held bytes, moving them to the buffer's front
// first when that makes room.
func (hs *holdState) add(p []byte) {
	b := *hs.buf
	if hs.start > 0 && len(b)+len(p) > cap(b) {
		n := copy(b, b[hs.start:])
		b, hs.start = b[:n], 0
	}
	*hs.buf = append(b, p...)
}

// drop lets the first k held bytes go (written or elided).
func (hs *holdState) drop(k int) {
	hs.start += k
	hs.base += int64(k)
	hs.lastCheck = max(0, hs.lastCheck-k)
	if hs.start == len(*hs.buf) {
		*hs.buf, hs.start = (*hs.buf)[:0], 0
	}
}

// free gives the buffer back (unless a big message grew it: that memory
// goes); the state is not used afterwards.
func (hs *holdState) free() {
	if hs.buf != nil && cap(*hs.buf) <= heldKeepMax {
		*hs.buf = (*hs.buf)[:0]
		heldBufs.Put(hs.buf)
	}
	hs.buf = nil
}

// Held bytes: safe() is asked again each holdCheckEvery more; past
// holdGiveUp held bytes outside a run, the writer stops cutting and writes
// everything as it is.
const (
	holdCheckEvery = 64 << 10
	holdGiveUp     = 16 << 20
)

// Create starts a blob. Its caller must Commit or Abort it.
func (b *Blobs) Create() (ticket.BlobWriter, error) {
	return b.create()
}

// CreateNew starts a blob whose content is most likely not stored yet (a
// message its mailbox has never delivered before): Commit skips the
// look-up in the committed index, about 50 us of a capture's time per
// message. Should the content be stored after all, its bytes are kept
// twice and the index keeps pointing at the first copy.
func (b *Blobs) CreateNew() (ticket.BlobWriter, error) {
	w, err := b.create()
	if err == nil {
		w.new = true
	}
	return w, err
}

func (b *Blobs) create() (*BlobWriter, error) {
	if err := b.checkReserve(); err != nil {
		return nil, fmt.Errorf("store: blob put: %w", err)
	}
	p, err := b.takePack()
	if err != nil {
		return nil, fmt.Errorf("store: blob put: %w", err)
	}
	bw, _ := b.bufs.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(nil, 256<<10)
	}
	var dst io.Writer = io.NewOffsetWriter(p.f, p.size)
	if b.fsync {
		dst = &writeback{w: dst, f: p.f, from: p.size, at: p.size}
	}
	bw.Reset(dst)
	return &BlobWriter{b: b, p: p, off: p.size, h: sha256.New(), w: bw}, nil
}

// Write appends p to the blob.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("store: blob write after Commit or Abort")
	}
	if w.n/reserveCheckEvery != (w.n+int64(len(p)))/reserveCheckEvery {
		if err := w.b.checkReserve(); err != nil {
			w.err = fmt.Errorf("store: blob write: %w", err)
			return 0, w.err
		}
	}
	w.h.Write(p)
	if hs := w.hold; hs != nil {
		hs.add(p)
		w.n += int64(len(p))
		if len(hs.held())-hs.lastCheck >= holdCheckEvery {
			w.flushHeld(hs.safe())
			hs.lastCheck = len(hs.held())
			if len(hs.held()) > holdGiveUp && !hs.inRun {
				w.flushHeld(hs.base + int64(len(hs.held())))
				hs.free()
				w.hold = nil // cut nothing more
			}
		}
		return len(p), w.err
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	w.written += int64(n)
	if err != nil {
		w.err = fmt.Errorf("store: blob write: %w", err)
	}
	return n, w.err
}

// Hold makes the writer hold written bytes back until they are below
// safe() (then written as they are) or Elide drops them
// (ticket.CutWriter). It must come before the first Write.
func (w *BlobWriter) Hold(safe func() int64) {
	if w.n == 0 && !w.done {
		w.hold = &holdState{safe: safe, buf: heldBufs.Get().(*[]byte)}
	}
}

// flushHeld writes the held bytes before pos as they are.
func (w *BlobWriter) flushHeld(pos int64) {
	hs := w.hold
	k := min(pos-hs.base, int64(len(hs.held())))
	if k <= 0 {
		return
	}
	if w.err == nil {
		n, err := w.w.Write(hs.held()[:k])
		w.written += int64(n)
		if err != nil {
			w.err = fmt.Errorf("store: blob write: %w", err)
		}
	}
	hs.drop(int(k))
}

// Elide drops the held bytes from..to: they are part of a base64 run Cut
// will describe. A run's calls are contiguous. False when the bytes are no
// longer held (the writer then keeps everything as it is).
func (w *BlobWriter) Elide(from, to int64) bool {
	hs := w.hold
	if hs == nil || w.done || to < from {
		return false
	}
	// Bytes not written yet cannot be elided (a caller's bug), nor bytes
	// no longer held: refused before anything changes.
	end := hs.base + int64(len(hs.held()))
	if to > end || hs.inRun && from != hs.base || !hs.inRun && from < hs.base {
		return false
	}
	if !hs.inRun {
		w.flushHeld(from)
		hs.inRun, hs.run = true, from
	}
	hs.drop(int(to - hs.base))
	return true
}

// Cut ends the run Elide dropped and records what rebuilds it.
func (w *BlobWriter) Cut(r ticket.Base64Run) error {
	hs := w.hold
	if hs == nil || !hs.inRun || r.Start != hs.run || r.End != hs.base {
		return fmt.Errorf("store: blob cut %d..%d does not match the bytes elided", r.Start, r.End)
	}
	c, err := cutFromRun(r)
	if err != nil {
		return fmt.Errorf("store: blob cut: %w", err)
	}
	hs.cuts = append(hs.cuts, c)
	hs.inRun = false
	return nil
}

// writeback starts the disk writes of a pack's new bytes every
// writebackEvery bytes, without waiting for them: the fsync before the
// next transaction then finds them (mostly) on disk instead of writing a
// commit group's megabytes while the committing goroutine waits.
type writeback struct {
	w        io.Writer
	f        *os.File
	from, at int64 // bytes from..at are written, not yet handed to writeback
}

const writebackEvery = 1 << 20

func (wb *writeback) Write(p []byte) (int, error) {
	n, err := wb.w.Write(p)
	wb.at += int64(n)
	if wb.at-wb.from >= writebackEvery {
		startWriteback(wb.f, wb.from, wb.at-wb.from)
		wb.from = wb.at
	}
	return n, err
}

// Commit finishes the blob and returns its address. Content already
// stored is not kept twice: its bytes are cut off the pack again.
func (w *BlobWriter) Commit(ctx context.Context) (ticket.BlobRef, error) {
	if w.done {
		return ticket.BlobRef{}, errors.New("store: blob Commit after Commit or Abort")
	}
	var cuts []rawCut
	if hs := w.hold; hs != nil {
		if hs.inRun && w.err == nil {
			w.err = errors.New("store: blob Commit inside a base64 run without its Cut")
		}
		w.flushHeld(hs.base + int64(len(hs.held())))
		cuts = hs.cuts
		hs.free()
		w.hold = nil
	}
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("store: blob write: %w", err)
		}
	}
	if w.err != nil {
		w.Abort()
		return ticket.BlobRef{}, w.err
	}
	ref := ticket.BlobRef{SHA256: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	b := w.b
	stored := false
	if !w.new {
		var err error
		if stored, err = b.indexed(ctx, ref.SHA256); err != nil {
			w.Abort()
			return ticket.BlobRef{}, err
		}
	}
	b.mu.Lock()
	if _, pending := b.entries[ref.SHA256]; pending || stored {
		b.mu.Unlock()
		w.Abort() // the same bytes are there already
		return ref, nil
	}
	b.entries[ref.SHA256] = &blobEntry{pack: w.p, off: w.off, size: w.written, cuts: cuts, durable: !b.fsync}
	w.p.size = w.off + w.written
	b.mu.Unlock()
	w.release()
	return ref, nil
}

// Abort drops the blob: its bytes are cut off the pack.
func (w *BlobWriter) Abort() {
	if w.done {
		return
	}
	if err := w.p.f.Truncate(w.off); err != nil {
		// The pack's tail is unknown: no more blobs go there.
		w.b.mu.Lock()
		w.p.failing = true
		w.b.mu.Unlock()
	}
	w.release()
}

// release hands the pack back and ends the writer.
func (w *BlobWriter) release() {
	w.done = true
	if w.hold != nil {
		w.hold.free()
		w.hold = nil
	}
	w.w.Reset(nil)
	w.b.bufs.Put(w.w)
	w.b.givePack(w.p)
}

// takePack returns an open pack for this Put alone.
func (b *Blobs) takePack() (*pack, error) {
	b.mu.Lock()
	for len(b.idle) > 0 {
		p := b.idle[len(b.idle)-1]
		b.idle = b.idle[:len(b.idle)-1]
		if !p.full && !p.failing {
			p.held = true
			b.mu.Unlock()
			return p, nil
		}
	}
	b.mu.Unlock()
	p, err := b.newPackFile()
	if err != nil {
		return nil, err
	}
	p.held = true
	b.mu.Lock()
	b.open[p] = true
	b.mu.Unlock()
	return p, nil
}

// newPackFile creates an empty pack under a name no other process or
// earlier run uses: time, pid, sequence.
func (b *Blobs) newPackFile() (*pack, error) {
	name := fmt.Sprintf("%s-%d-%d.pack", time.Now().UTC().Format("20060102T150405.000000000"), os.Getpid(), b.seq.Add(1))
	f, err := os.OpenFile(filepath.Join(b.packDir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	return &pack{name: name, f: f}, nil
}

// givePack returns p to the idle packs, or retires it when it is full.
func (b *Blobs) givePack(p *pack) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p.held = false
	if p.size >= b.limit {
		p.full = true
	}
	if p.full || p.failing {
		b.retireLocked(p)
		return
	}
	b.idle = append(b.idle, p)
}

// retireLocked closes p once none of its entries waits for an fsync.
func (b *Blobs) retireLocked(p *pack) {
	for _, e := range b.entries {
		if e.pack == p && !e.durable {
			return // Sync closes it later
		}
	}
	delete(b.open, p)
	p.f.Close()
	for _, e := range b.entries {
		if e.pack == p {
			e.pack = &pack{name: p.name} // readable by name; p.f is gone
		}
	}
}

// indexed reports whether sha is stored already: in the committed index,
// or as a file of the earlier layout.
func (b *Blobs) indexed(ctx context.Context, sha string) (bool, error) {
	_, ok, err := b.lookupIndex(ctx, sha)
	if ok || err != nil || !b.legacy {
		return ok, err
	}
	_, err = os.Stat(b.path(sha))
	return err == nil, nil
}

// Sync makes every blob stored before it durable: it fsyncs each pack
// holding such a blob once (several at once). Calls are serialised, so
// when Sync returns nil everything stored before the call is durable,
// also when another goroutine's Sync did the work. Blobs of a pack whose
// fsync fails stay not durable, and Sync reports it.
func (b *Blobs) Sync(ctx context.Context) error {
	if !b.fsync {
		return nil
	}
	b.mu.Lock()
	pending := b.hasUnsyncedLocked()
	b.mu.Unlock()
	if !pending {
		return nil
	}
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.mu.Lock()
	// Snapshot each pack's entries not durable yet (an earlier Sync may
	// have made some durable meanwhile): what is written later is not
	// covered by this round's fsyncs.
	todo := map[*pack][]*blobEntry{}
	for _, e := range b.entries {
		if !e.durable {
			todo[e.pack] = append(todo[e.pack], e)
		}
	}
	newPack := false
	// What each pack holds now, to drop from the page cache once durable.
	cached := map[*pack][2]int64{}
	for p := range todo {
		newPack = newPack || !p.named
		cached[p] = [2]int64{p.uncached, p.size}
	}
	b.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: blob sync: %w", err)
	}

	var mu sync.Mutex
	var failed []error
	var dirErr error
	sem := make(chan struct{}, syncParallel)
	var wg sync.WaitGroup
	if newPack {
		// A new pack's name must survive a power loss as its bytes do.
		wg.Go(func() { dirErr = syncDir(b.packDir) })
	}
	done := map[*pack]bool{}
	for p := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := p.f.Sync()
			if err == nil {
				// Its pages are clean now: let them go rather than
				// have a capture's gigabytes of attachments push the
				// database's pages out of the page cache. A blob is
				// seldom read soon after it is stored.
				r := cached[p]
				dropCache(p.f, r[0], r[1]-r[0])
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Errorf("pack %s: %w", p.name, err))
				return
			}
			done[p] = true
		})
	}
	wg.Wait()

	b.mu.Lock()
	defer b.mu.Unlock()
	if dirErr != nil {
		failed = append(failed, fmt.Errorf("pack directory: %w", dirErr))
	}
	for p, es := range todo {
		if !done[p] {
			p.failing = true
			continue
		}
		if dirErr != nil && !p.named {
			continue
		}
		p.named = true
		p.uncached = max(p.uncached, cached[p][1])
		for _, e := range es {
			e.durable = true
		}
	}
	for p := range todo {
		if (p.full || p.failing) && b.open[p] && !p.held {
			b.retireLocked(p)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("store: blob sync: %w", errors.Join(failed...))
	}
	return nil
}

// hasUnsyncedLocked reports whether an entry is not durable yet.
func (b *Blobs) hasUnsyncedLocked() bool {
	for _, e := range b.entries {
		if !e.durable {
			return true
		}
	}
	return false
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// indexEntry is one durable blob to insert into blob_index.
type indexEntry struct {
	sha       string
	e         *blobEntry
	pack      string
	off, size int64
	cuts      []byte
}

// durableEntries lists the entries a transaction inserts into the index.
func (b *Blobs) durableEntries() []indexEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []indexEntry
	for sha, e := range b.entries {
		if e.durable && b.cutsDurableLocked(e) {
			out = append(out, indexEntry{sha: sha, e: e, pack: e.pack.name, off: e.off, size: e.size, cuts: encodeCuts(e.cuts)})
		}
	}
	return out
}

// cutsDurableLocked reports whether every attachment a skeleton's cuts
// refer to is durable too (or indexed already): a skeleton indexed before
// them could not be rebuilt after a crash, when a pack's fsync failed.
func (b *Blobs) cutsDurableLocked(e *blobEntry) bool {
	for _, c := range e.cuts {
		if d, ok := b.entries[c.sha]; ok && !d.durable {
			return false
		}
	}
	return true
}

// insertIndex inserts entries into blob_index inside a transaction, up
// to indexChunk rows per statement (a capture commits hundreds at once).
func insertIndex(ctx context.Context, q querier, entries []indexEntry) error {
	err := insertRows(ctx, q, `INSERT INTO blob_index (sha256, pack, pack_offset, size, cuts)`, `ON CONFLICT (sha256) DO NOTHING`,
		5, len(entries), indexChunk, func(args []any, i int) []any {
			e := entries[i]
			return append(args, e.sha, e.pack, e.off, e.size, e.cuts)
		})
	if err != nil {
		return fmt.Errorf("store: blob index: %w", err)
	}
	return nil
}

// indexChunk is how many blob_index rows one INSERT carries.
const indexChunk = 100

// committed forgets entries whose index rows committed.
func (b *Blobs) committed(entries []indexEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ie := range entries {
		if b.entries[ie.sha] == ie.e {
			delete(b.entries, ie.sha)
		}
	}
}

// close closes the packs. Blobs not indexed yet are referenced by nothing
// committed; their bytes stay as waste in their pack.
func (b *Blobs) close() {
	b.lookupMu.Lock()
	if b.lookup != nil {
		b.lookup.Close()
		b.lookup = nil
	}
	b.lookupMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := range b.open {
		p.f.Close()
	}
	b.open, b.idle = map[*pack]bool{}, nil
	for sha, e := range b.entries {
		if !e.durable {
			delete(b.entries, sha)
			continue
		}
		e.pack = &pack{name: e.pack.name}
	}
}

// Pending reports how many blobs this process stored that the index has
// not committed (for tests and metrics).
func (b *Blobs) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

// validName reports whether s is a blob name: 64 lowercase hex digits.
// Anything else (path separators, "..", upper case) is refused before it
// can reach the file system.
func validName(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// path is where an earlier version stored a blob as a file of its own.
func (b *Blobs) path(name string) string {
	return filepath.Join(b.dir, name[:2], name[2:])
}

// ErrInvalidBlobName is returned (wrapped) by Open for a name that is not a
// hex SHA-256.
var ErrInvalidBlobName = errors.New("store: invalid blob name")

// BlobReader reads one blob. It is an io.ReadSeeker (HTTP range requests)
// and knows its Size.
type BlobReader struct {
	*io.SectionReader
	f    *os.File
	view *rawView // a raw message rebuilt from its skeleton; nil for others
}

// Close releases the file under the blob.
func (r *BlobReader) Close() error {
	err := r.f.Close()
	if r.view != nil {
		err = errors.Join(err, r.view.Close())
	}
	return err
}

// Open returns the blob's bytes (a *BlobReader); ticket.ErrNotFound when
// it is not stored, ErrInvalidBlobName when sha256 is not 64 lowercase hex
// digits.
func (b *Blobs) Open(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: blob open: %w", err)
	}
	if !validName(sha256) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidBlobName, sha256)
	}
	// Memory first: an entry leaves it only after its index row
	// committed, so a blob missed here is found in the index.
	var pl blobPlace
	b.mu.Lock()
	e, ok := b.entries[sha256]
	if ok {
		pl = blobPlace{pack: e.pack.name, off: e.off, size: e.size, cuts: e.cuts}
	}
	b.mu.Unlock()
	fromIndex := !ok
	if !ok {
		var err error
		if pl, ok, err = b.lookupIndex(ctx, sha256); err != nil {
			return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
		}
	}
	if !ok {
		return b.openFile(sha256)
	}
	if strings.ContainsAny(pl.pack, `/\`) || strings.HasPrefix(pl.pack, ".") {
		return nil, fmt.Errorf("store: blob %s: bad pack name %q in the index", sha256, pl.pack)
	}
	f, err := os.Open(filepath.Join(b.packDir, pl.pack))
	if errors.Is(err, fs.ErrNotExist) && fromIndex {
		// Compaction (CompactBlobs) moved it between the look-up and the
		// open: the index has its new place.
		if pl, ok, err = b.lookupIndex(ctx, sha256); err == nil && ok {
			f, err = os.Open(filepath.Join(b.packDir, pl.pack))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
	}
	if len(pl.cuts) == 0 {
		return &BlobReader{SectionReader: io.NewSectionReader(f, pl.off, pl.size), f: f}, nil
	}
	v, err := newRawView(f, pl.off, pl.size, pl.cuts, b.openDecoded)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
	}
	return &BlobReader{SectionReader: io.NewSectionReader(v, 0, v.size), f: f, view: v}, nil
}

// openFile opens a blob an earlier version stored as a file of its own.
func (b *Blobs) openFile(sha256 string) (io.ReadCloser, error) {
	f, err := os.Open(b.path(sha256))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, ticket.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
	}
	return &BlobReader{SectionReader: io.NewSectionReader(f, 0, info.Size()), f: f}, nil
}
