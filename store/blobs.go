package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Blobs stores immutable byte strings by content: a blob's name is the hex
// SHA-256 of its bytes, its file BlobDir/ab/cdef… (the first two hex digits
// name a subdirectory). It is safe for concurrent use, also by several
// processes sharing the directory.
//
// Durability is grouped: Put writes a temporary file without fsyncing it
// and keeps it pending; Sync makes every pending blob durable (fsync) and
// only then gives it its name (rename). Store.WithTx calls Sync before it
// begins, so a committed row never references a blob that a power loss
// could take away; a goroutine also syncs behind the Puts, so that Sync
// mostly finds the work done, and many Puts share each round of
// concurrent fsyncs. Invariant: a blob name exists only once its bytes are
// durable.
type Blobs struct {
	dir   string
	fsync bool

	mu      sync.Mutex        // guards pending, spare, kick, stop
	pending map[string]string // sha256 → temporary file, written, not yet durable
	syncMu  sync.Mutex        // serialises Sync: returning from it means durable

	// Two goroutines, started by the first Put and ended by close, keep
	// file system waits off the Put path: one creates empty temporary
	// files ahead into spare (creating a file waits for the journal, which
	// fsyncs keep busy); the other, woken through kick, syncs pending
	// blobs behind the Puts, so the Sync before a transaction finds little
	// left to do. Its Syncs batch themselves: what is Put during one is
	// synced by the next.
	spare   chan spareFile
	kick    chan struct{}
	stop    chan struct{} // closed by close
	workers sync.WaitGroup

	bufs sync.Pool     // *putBuffers: a Put's buffers are big, Puts are many
	turn atomic.Uint32 // round robin over the temporary-file directories
}

// putBuffers are the buffers of one Put.
type putBuffers struct {
	w    *bufio.Writer
	copy []byte
}

// spareFile is an empty temporary file made ahead of its Put.
type spareFile struct {
	f       *os.File
	created time.Time
}

// spareFiles is how many empty temporary files wait for Puts: about a
// commit group's worth of raw messages and attachments.
const spareFiles = 64

// staleTempAge is how old a ".put-*" file must be for Open to treat it as a
// crash leftover. A live process Syncs its pending blobs within seconds;
// the margin keeps a second process (doctor, migrate) that opens the store
// from removing a busy one's files.
const staleTempAge = time.Hour

// syncParallel bounds the fsyncs Sync runs at once: enough to fill a
// device queue and let the file system fold them into few journal commits.
const syncParallel = 8

func newBlobs(dir string, fsync bool) (*Blobs, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: blob directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("store: create blob directory: %w", err)
	}
	markTopDir(abs)
	b := &Blobs{dir: abs, fsync: fsync, pending: map[string]string{}}
	for i := range tempDirs {
		if err := os.MkdirAll(b.tempDir(i), 0o750); err != nil {
			return nil, fmt.Errorf("store: create blob directory: %w", err)
		}
	}
	b.removeStale(time.Now().Add(-staleTempAge))
	return b, nil
}

// tempDirs is how many directories temporary files are made in, in turn
// (BlobDir/.tmp-0 …): each sits in a block group of its own (markTopDir),
// so one group running out of inodes does not make every file creation
// expensive.
const tempDirs = 16

func (b *Blobs) tempDir(i int) string {
	return filepath.Join(b.dir, fmt.Sprintf(".tmp-%x", i%tempDirs))
}

// nextTempDir picks the directory of the next temporary file.
func (b *Blobs) nextTempDir() string { return b.tempDir(int(b.turn.Add(1) % tempDirs)) }

// removeStale deletes temporary files last written before cutoff: Puts of
// a process that ended before its Sync. No committed row references them.
// Earlier versions made them in BlobDir itself.
func (b *Blobs) removeStale(cutoff time.Time) {
	dirs := []string{b.dir}
	for i := range tempDirs {
		dirs = append(dirs, b.tempDir(i))
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".put-") || !e.Type().IsRegular() {
				continue
			}
			if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
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
// streams: the bytes go through the hash into a temporary file beside the
// blobs, never all into memory. The blob is pending until the next Sync
// (Store.WithTx runs one before every transaction): Open already serves it,
// but its name appears on disk only once its bytes are durable. Putting
// content that is already stored or pending changes nothing. With
// Options.SkipBlobFsync the blob is named at once.
func (b *Blobs) Put(ctx context.Context, r io.Reader) (ticket.BlobRef, error) {
	tmp, err := b.tempFile()
	if err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	// Sources hand over small reads (an IMAP literal arrives in a few KiB
	// at a time); buffering turns them into few large writes.
	pb, _ := b.bufs.Get().(*putBuffers)
	if pb == nil {
		pb = &putBuffers{w: bufio.NewWriterSize(nil, 256<<10), copy: make([]byte, 64<<10)}
	}
	pb.w.Reset(tmp)
	n, err := io.CopyBuffer(io.MultiWriter(pb.w, h), ctxReader{ctx, r}, pb.copy)
	if err == nil {
		err = pb.w.Flush()
	}
	pb.w.Reset(nil)
	b.bufs.Put(pb)
	if err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	ref := ticket.BlobRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	final := b.path(ref.SHA256)
	if _, err := os.Stat(final); err == nil {
		return ref, nil // already stored; the deferred cleanup drops tmp
	}
	if err := tmp.Close(); err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	if !b.fsync {
		if err := b.name(tmp.Name(), final); err != nil {
			return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
		}
		keep = true
		return ref, nil
	}
	b.mu.Lock()
	if _, ok := b.pending[ref.SHA256]; !ok {
		b.pending[ref.SHA256] = tmp.Name()
		keep = true
	}
	kick := b.kick
	b.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default: // already kicked, or not started (tests)
	}
	return ref, nil
}

// startLocked starts the goroutines once; b.mu is held.
func (b *Blobs) startLocked() {
	if b.stop != nil {
		return
	}
	b.spare, b.kick, b.stop = make(chan spareFile, spareFiles), make(chan struct{}, 1), make(chan struct{})
	spare, kick, stop := b.spare, b.kick, b.stop
	b.workers.Go(func() { b.makeSpares(spare, stop) })
	if b.fsync {
		b.workers.Go(func() { b.syncBehind(kick, stop) })
	}
}

// tempFile returns an empty temporary file: a spare one when ready, else
// a new one.
func (b *Blobs) tempFile() (*os.File, error) {
	b.mu.Lock()
	b.startLocked()
	spare := b.spare
	b.mu.Unlock()
	for {
		select {
		case sf := <-spare:
			// One made long ago (the process was idle) might be taken
			// for a crash leftover by another process opening the store.
			if time.Since(sf.created) < staleTempAge/2 {
				return sf.f, nil
			}
			sf.f.Close()
			os.Remove(sf.f.Name())
			continue
		default:
		}
		return os.CreateTemp(b.nextTempDir(), ".put-*")
	}
}

// makeSpares keeps spare filled until stop is closed.
func (b *Blobs) makeSpares(spare chan<- spareFile, stop <-chan struct{}) {
	for {
		f, err := os.CreateTemp(b.nextTempDir(), ".put-*")
		if err != nil {
			// Put creates its own and reports the error; try again later.
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				continue
			}
		}
		select {
		case spare <- spareFile{f, time.Now()}:
		case <-stop:
			f.Close()
			os.Remove(f.Name())
			return
		}
	}
}

// syncBehind syncs pending blobs whenever kicked, until stop is closed.
// A failure is left to the next Sync (a transaction's reports it); the
// pause keeps a failing disk from being hammered.
func (b *Blobs) syncBehind(kick <-chan struct{}, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-kick:
		}
		if err := b.Sync(context.Background()); err != nil {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// close ends the goroutines and removes the spare files. Pending blobs
// stay on disk, to be removed as stale by a later Open.
func (b *Blobs) close() {
	b.mu.Lock()
	spare, stop := b.spare, b.stop
	b.spare, b.kick, b.stop = nil, nil, nil
	b.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	b.workers.Wait()
	for {
		select {
		case sf := <-spare:
			sf.f.Close()
			os.Remove(sf.f.Name())
		default:
			return
		}
	}
}

// name renames a durable (or, with SkipBlobFsync, written) temporary file
// to its blob name. Rename is atomic: a reader sees no blob or the whole
// blob; two writers of the same content both rename identical bytes.
//
// The directory is not fsynced: the data is durable before the name
// appears, and the rename is journaled with the next fsync on the file
// system (SQLite's WAL sync at checkpoint), a window no wider than
// synchronous=NORMAL already gives the database: a capture whose commit is
// lost re-fetches the message.
func (b *Blobs) name(tmp, final string) error {
	if err := os.Rename(tmp, final); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// The first blob of its subdirectory.
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

// Sync makes every blob Put before it durable and gives it its name: it
// fsyncs the pending temporary files (several at once), then renames each
// into place. Calls are serialised, so when Sync returns nil everything
// Put before the call is durable, also when another goroutine's Sync did
// the work. A blob that fails stays pending (and Sync reports it), except
// one whose temporary file vanished: it is dropped, and a capture that
// still needs it fails and re-fetches.
func (b *Blobs) Sync(ctx context.Context) error {
	b.mu.Lock()
	empty := len(b.pending) == 0
	b.mu.Unlock()
	if empty {
		return nil // every Put so far is durable and named
	}
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.mu.Lock()
	work := make([][2]string, 0, len(b.pending))
	for sha, tmp := range b.pending {
		work = append(work, [2]string{sha, tmp})
	}
	b.mu.Unlock()

	errs := make([]error, len(work))
	sem := make(chan struct{}, syncParallel)
	var wg sync.WaitGroup
	for i, w := range work {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = b.syncOne(w[0], w[1])
		})
	}
	wg.Wait()

	b.mu.Lock()
	defer b.mu.Unlock()
	var failed []error
	for i, w := range work {
		switch {
		case errs[i] == nil:
			delete(b.pending, w[0])
		case errors.Is(errs[i], fs.ErrNotExist):
			delete(b.pending, w[0])
			failed = append(failed, errs[i])
		default:
			failed = append(failed, errs[i])
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("store: blob sync: %d of %d blobs not durable: %w", len(failed), len(work), errors.Join(failed...))
	}
	return nil
}

// syncOne fsyncs one pending blob and names it.
func (b *Blobs) syncOne(sha, tmp string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("blob %.12s: %w", sha, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = b.name(tmp, b.path(sha))
	}
	if err != nil {
		return fmt.Errorf("blob %.12s: %w", sha, err)
	}
	return nil
}

// Pending reports how many blobs wait for a Sync (for tests and metrics).
func (b *Blobs) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
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

func (b *Blobs) path(name string) string {
	return filepath.Join(b.dir, name[:2], name[2:])
}

// ErrInvalidBlobName is returned (wrapped) by Open for a name that is not a
// hex SHA-256.
var ErrInvalidBlobName = errors.New("store: invalid blob name")

// Open returns the blob's bytes, a pending one's too; ticket.ErrNotFound when it is not stored,
// ErrInvalidBlobName when sha256 is not 64 lowercase hex digits. The
// returned ReadCloser is an *os.File (Stat gives its size).
func (b *Blobs) Open(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: blob open: %w", err)
	}
	if !validName(sha256) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidBlobName, sha256)
	}
	// Pending first: Sync renames a blob before it forgets the pending
	// entry, so a blob that is neither pending when looked up nor at its
	// temporary file when opened has its name by then.
	b.mu.Lock()
	tmp, pending := b.pending[sha256]
	b.mu.Unlock()
	var f *os.File
	err := fs.ErrNotExist
	if pending {
		f, err = os.Open(tmp)
	}
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(b.path(sha256))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, ticket.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
	}
	return f, nil
}
