package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/sidedesk/sidedesk/ticket"
)

// testWriter is the ticket.BlobWriter of the test blob stores: it hashes
// what it is given, copies it to w (when set), and calls commit or abort.
type testWriter struct {
	h       hash.Hash
	n       int64
	w       io.Writer
	onWrite func(total int64)
	commit  func(ticket.BlobRef) error
	abort   func()
}

func newTestWriter(w io.Writer) *testWriter { return &testWriter{h: sha256.New(), w: w} }

func (w *testWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	if w.w != nil {
		if _, err := w.w.Write(p); err != nil {
			return 0, err
		}
	}
	w.n += int64(len(p))
	if w.onWrite != nil {
		w.onWrite(w.n)
	}
	return len(p), nil
}

func (w *testWriter) Commit(context.Context) (ticket.BlobRef, error) {
	ref := ticket.BlobRef{SHA256: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	if w.commit != nil {
		if err := w.commit(ref); err != nil {
			return ticket.BlobRef{}, err
		}
	}
	return ref, nil
}

func (w *testWriter) Abort() {
	if w.abort != nil {
		w.abort()
	}
}

// memBlobs keeps blobs in memory, keyed by SHA-256. Sync counts its calls.
type memBlobs struct {
	mu    sync.Mutex
	m     map[string][]byte
	syncs int
}

func newMemBlobs() *memBlobs { return &memBlobs{m: map[string][]byte{}} }

func (b *memBlobs) Create() (ticket.BlobWriter, error) {
	var buf bytes.Buffer
	w := newTestWriter(&buf)
	w.commit = func(ref ticket.BlobRef) error {
		b.mu.Lock()
		b.m[ref.SHA256] = buf.Bytes()
		b.mu.Unlock()
		return nil
	}
	return w, nil
}

func (b *memBlobs) CreateNew() (ticket.BlobWriter, error) { return b.Create() }

func (b *memBlobs) Sync(context.Context) error {
	b.mu.Lock()
	b.syncs++
	b.mu.Unlock()
	return nil
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

func (b dirBlobs) Create() (ticket.BlobWriter, error) {
	f, err := os.CreateTemp(b.dir, "put-*")
	if err != nil {
		return nil, err
	}
	w := newTestWriter(f)
	w.commit = func(ref ticket.BlobRef) error {
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), filepath.Join(b.dir, ref.SHA256))
	}
	w.abort = func() {
		f.Close()
		os.Remove(f.Name())
	}
	return w, nil
}

func (b dirBlobs) CreateNew() (ticket.BlobWriter, error) { return b.Create() }

func (dirBlobs) Sync(context.Context) error { return nil }

func (b dirBlobs) Open(_ context.Context, sha string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(b.dir, sha))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("dirblobs: %s: %w", sha, ticket.ErrNotFound)
	}
	return f, err
}

// discardBlobs hashes and drops everything (memory tests).
type discardBlobs struct{}

func (discardBlobs) Create() (ticket.BlobWriter, error) { return newTestWriter(nil), nil }

func (discardBlobs) CreateNew() (ticket.BlobWriter, error) { return newTestWriter(nil), nil }

func (discardBlobs) Sync(context.Context) error { return nil }

func (discardBlobs) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, ticket.ErrNotFound
}

// fakeSink is a Sink that answers each message with answer (nil: res and
// err) and records what it was given. broken makes Commit break its
// contract: "plain error" fails without a BatchError, "short" returns no
// results.
type fakeSink struct {
	mu      sync.Mutex
	pending map[*ticket.Pending]ticket.Inbound
	got     []ticket.Inbound
	commits int
	answer  func(ticket.Inbound) (ticket.Result, error)
	res     ticket.Result
	err     error
	broken  string
}

func (s *fakeSink) Prepare(_ context.Context, in ticket.Inbound) *ticket.Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := new(ticket.Pending)
	if s.pending == nil {
		s.pending = map[*ticket.Pending]ticket.Inbound{}
	}
	s.pending[p] = in
	return p
}

func (s *fakeSink) Commit(_ context.Context, ps []*ticket.Pending) ([]ticket.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	switch s.broken {
	case "plain error":
		return make([]ticket.Result, len(ps)), errRefused
	case "short":
		return nil, nil
	}
	res := make([]ticket.Result, len(ps))
	be := &ticket.BatchError{Errs: make([]error, len(ps))}
	failed := false
	for i, p := range ps {
		in, ok := s.pending[p]
		if !ok {
			be.Errs[i], failed = errors.New("fakeSink: not prepared here"), true
			continue
		}
		s.got = append(s.got, in)
		if s.answer != nil {
			res[i], be.Errs[i] = s.answer(in)
		} else {
			res[i], be.Errs[i] = s.res, s.err
		}
		failed = failed || be.Errs[i] != nil
	}
	if failed {
		return res, be
	}
	return res, nil
}

var errRefused = errors.New("refused")

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
