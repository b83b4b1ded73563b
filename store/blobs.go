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

	"github.com/sidedesk/sidedesk/ticket"
)

// Blobs stores immutable byte strings by content: a blob's name is the hex
// SHA-256 of its bytes, its file BlobDir/ab/cdef… (the first two hex digits
// name a subdirectory). It is safe for concurrent use, also by several
// processes sharing the directory.
type Blobs struct {
	dir   string
	fsync bool
}

func newBlobs(dir string, fsync bool) (*Blobs, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: blob directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("store: create blob directory: %w", err)
	}
	return &Blobs{dir: abs, fsync: fsync}, nil
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
// blobs (fsynced unless Options.SkipBlobFsync, then renamed into place),
// never all into memory. Putting
// content that is already stored changes nothing.
func (b *Blobs) Put(ctx context.Context, r io.Reader) (ticket.BlobRef, error) {
	tmp, err := os.CreateTemp(b.dir, ".put-*")
	if err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	// Sources hand over small reads (an IMAP literal arrives in a few KiB
	// at a time); buffering turns them into few large writes.
	bw := bufio.NewWriterSize(tmp, 256<<10)
	n, err := io.CopyBuffer(io.MultiWriter(bw, h), ctxReader{ctx, r}, make([]byte, 64<<10))
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	ref := ticket.BlobRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	final := b.path(ref.SHA256)
	if _, err := os.Stat(final); err == nil {
		return ref, nil // already stored; the deferred cleanup drops tmp
	}
	if b.fsync {
		if err := tmp.Sync(); err != nil {
			return ticket.BlobRef{}, fmt.Errorf("store: blob put: sync: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	sub := filepath.Dir(final)
	if err := os.MkdirAll(sub, 0o750); err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	// Rename is atomic: a reader sees no blob or the whole blob. Two
	// writers of the same content both rename identical bytes.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return ticket.BlobRef{}, fmt.Errorf("store: blob put: %w", err)
	}
	committed = true
	// The directory is not fsynced: the data is durable before the name
	// appears, and the rename is journaled with the next fsync on the file
	// system (SQLite's own WAL sync at checkpoint), a window no wider than
	// synchronous=NORMAL already gives the database: a capture whose commit
	// is lost re-fetches the message. A directory fsync would double the
	// cost of every Put.
	return ref, nil
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

// Open returns the blob's bytes; ticket.ErrNotFound when it is not stored,
// ErrInvalidBlobName when sha256 is not 64 lowercase hex digits. The
// returned ReadCloser is an *os.File (Stat gives its size).
func (b *Blobs) Open(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: blob open: %w", err)
	}
	if !validName(sha256) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidBlobName, sha256)
	}
	f, err := os.Open(b.path(sha256))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, ticket.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %s: %w", sha256, err)
	}
	return f, nil
}
