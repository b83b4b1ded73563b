package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/sidedesk/sidedesk/ticket"
)

// memBlobs keeps blobs in memory, keyed by SHA-256.
type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemBlobs() *memBlobs { return &memBlobs{m: map[string][]byte{}} }

func (b *memBlobs) Put(_ context.Context, r io.Reader) (ticket.BlobRef, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return ticket.BlobRef{}, err
	}
	sum := sha256.Sum256(data)
	ref := ticket.BlobRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	b.mu.Lock()
	b.m[ref.SHA256] = data
	b.mu.Unlock()
	return ref, nil
}

func (b *memBlobs) Open(_ context.Context, sha string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[sha]
	if !ok {
		return nil, fmt.Errorf("memblobs: %s: %w", sha, ticket.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// dirBlobs stores blobs as files in a directory, streaming (the shape of
// the real store).
type dirBlobs struct{ dir string }

func (b dirBlobs) Put(_ context.Context, r io.Reader) (ticket.BlobRef, error) {
	f, err := os.CreateTemp(b.dir, "put-*")
	if err != nil {
		return ticket.BlobRef{}, err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ticket.BlobRef{}, err
	}
	ref := ticket.BlobRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	return ref, os.Rename(f.Name(), filepath.Join(b.dir, ref.SHA256))
}

func (b dirBlobs) Open(_ context.Context, sha string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(b.dir, sha))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("dirblobs: %s: %w", sha, ticket.ErrNotFound)
	}
	return f, err
}

// discardBlobs hashes and drops everything (memory tests).
type discardBlobs struct{}

func (discardBlobs) Put(_ context.Context, r io.Reader) (ticket.BlobRef, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return ticket.BlobRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, err
}

func (discardBlobs) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, ticket.ErrNotFound
}

// recordingSink records what it was given.
type recordingSink struct {
	mu  sync.Mutex
	got []ticket.Inbound
	res ticket.Result
	err error
}

func (s *recordingSink) Ingest(_ context.Context, in ticket.Inbound) (ticket.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, in)
	return s.res, s.err
}

func parseFile(tb interface {
	Helper()
	Fatalf(string, ...any)
}, name string) (ticket.Inbound, *memBlobs) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	blobs := newMemBlobs()
	in, err := Parse(context.Background(), bytes.NewReader(raw), blobs, ParseOptions{})
	if err != nil {
		tb.Fatalf("Parse(%s): %v", name, err)
	}
	return in, blobs
}
