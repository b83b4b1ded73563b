package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

// b64Lines encodes data as canonical base64 lines of line characters.
func b64Lines(data []byte, line int, eol string, lastEOL bool) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var sb strings.Builder
	for len(enc) > 0 {
		k := min(line, len(enc))
		sb.WriteString(enc[:k])
		enc = enc[k:]
		if len(enc) > 0 || lastEOL {
			sb.WriteString(eol)
		}
	}
	return sb.String()
}

// cutMessage is a raw message with two base64 runs and what they encode.
type cutMessage struct {
	raw  []byte
	runs []ticket.Base64Run
	data [][]byte
}

func newCutMessage(seed uint64) cutMessage {
	rng := rand.New(rand.NewPCG(seed, 1))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	var m cutMessage
	var raw bytes.Buffer
	raw.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhello\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i, spec := range []struct {
		size, line int
		eol        string
		last       bool
	}{{5000 + int(seed%7), 76, "\r\n", false}, {3001, 64, "\n", true}} {
		d := noise(spec.size)
		sum := sha256.Sum256(d)
		enc := b64Lines(d, spec.line, spec.eol, spec.last)
		start := int64(raw.Len())
		raw.WriteString(enc)
		m.runs = append(m.runs, ticket.Base64Run{Start: start, End: int64(raw.Len()), Blob: hex.EncodeToString(sum[:]),
			Size: int64(len(d)), Line: spec.line, CRLF: spec.eol == "\r\n", EOL: spec.last})
		m.data = append(m.data, d)
		if i == 0 {
			raw.WriteString("\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		}
	}
	raw.WriteString("\r\n--b--\r\n")
	m.raw = raw.Bytes()
	return m
}

// writeCut stores m.raw through a holding writer the way a capture does:
// chunk by chunk, each run elided in pieces as its bytes arrive.
func writeCut(t *testing.T, b *Blobs, m cutMessage) ticket.BlobRef {
	t.Helper()
	ctx := context.Background()
	for _, d := range m.data {
		if _, err := b.Put(ctx, bytes.NewReader(d)); err != nil {
			t.Fatal(err)
		}
	}
	cw, err := b.Create()
	if err != nil {
		t.Fatal(err)
	}
	w := cw.(ticket.CutWriter)
	var safe int64
	w.Hold(func() int64 { return safe })
	var pos int64
	run := 0
	for pos < int64(len(m.raw)) {
		k := min(int64(len(m.raw))-pos, 333)
		if _, err := w.Write(m.raw[pos : pos+k]); err != nil {
			t.Fatal(err)
		}
		pos += k
		if run < len(m.runs) {
			r := m.runs[run]
			switch {
			case pos < r.Start:
				safe = pos
			case pos < r.End:
				from := max(r.Start, safe)
				if to := pos - 100; to > from { // the parser lags behind what was read
					if !w.Elide(from, to) {
						t.Fatalf("Elide(%d, %d) refused", from, to)
					}
					safe = to
				}
			default:
				if !w.Elide(max(r.Start, safe), r.End) {
					t.Fatalf("the end of run %d refused", run)
				}
				if err := w.Cut(r); err != nil {
					t.Fatal(err)
				}
				safe, run = r.End, run+1
			}
		} else {
			safe = pos
		}
	}
	if run != len(m.runs) {
		t.Fatalf("%d runs cut, want %d", run, len(m.runs))
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestBlobCutsRebuildRawExactly(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	m := newCutMessage(3)
	ref := writeCut(t, b, m)
	sum := sha256.Sum256(m.raw)
	if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Size != int64(len(m.raw)) {
		t.Fatalf("ref %+v, want the raw message's SHA-256 and its %d bytes", ref, len(m.raw))
	}
	check := func(when string) {
		t.Helper()
		assertContent(t, b, ref.SHA256, m.raw)
		rc, err := b.Open(context.Background(), ref.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		ra := rc.(*BlobReader)
		rng := rand.New(rand.NewPCG(7, 7))
		for range 300 {
			off := rng.Int64N(int64(len(m.raw)))
			n := 1 + rng.IntN(9000)
			got := make([]byte, n)
			k, err := ra.ReadAt(got, off)
			want := m.raw[off:min(int64(len(m.raw)), off+int64(n))]
			if !bytes.Equal(got[:k], want) || (k < n) != (err == io.EOF) {
				t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v; differs from the raw message", when, n, off, k, err)
			}
		}
		if _, err := ra.Seek(int64(m.runs[1].Start)+70, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		tail, _ := io.ReadAll(ra)
		if !bytes.Equal(tail, m.raw[m.runs[1].Start+70:]) {
			t.Errorf("%s: a read after Seek into a run differs", when)
		}
	}
	check("pending")
	commit(t, s)
	check("indexed")

	// The pack holds the skeleton and the decoded attachments: less than
	// the raw message alone.
	decoded := int64(len(m.data[0]) + len(m.data[1]))
	if got := packBytes(t, b); got >= int64(len(m.raw)) || got < decoded {
		t.Errorf("packs hold %d bytes for a %d-byte raw message with %d bytes of attachments", got, len(m.raw), decoded)
	}

	// Compaction moves the skeleton and checks it rebuilt.
	waste, _ := b.Put(context.Background(), strings.NewReader(strings.Repeat("waste ", 300)))
	commit(t, s)
	s.w.Exec(`DELETE FROM blob_index WHERE sha256 = ?`, waste.SHA256)
	alive := gcPackAlive
	defer func() { gcPackAlive = alive }()
	gcPackAlive = func(string) bool { return false }
	if res, err := s.CompactBlobs(context.Background(), 0, false); err != nil || res.Compacted != 1 {
		t.Fatalf("compaction %+v %v", res, err)
	}
	check("compacted")
}

func TestBlobCutsRefuseMismatchedRuns(t *testing.T) {
	s := newStore(t)
	b := s.Blobs()
	m := newCutMessage(1)
	cw, _ := b.Create()
	w := cw.(ticket.CutWriter)
	w.Hold(func() int64 { return 0 })
	w.Write(m.raw)
	r := m.runs[0]
	if !w.Elide(r.Start, r.End) {
		t.Fatal("Elide refused")
	}
	if w.Elide(r.End+5, r.End+10) {
		t.Error("a second Elide not contiguous with the run was taken")
	}
	bad := r
	bad.Size++ // its encoding is no longer the run's length
	if err := w.Cut(bad); err == nil || !strings.Contains(err.Error(), "encoding") {
		t.Errorf("a run whose encoding is not its length: %v", err)
	}
	bad = r
	bad.Line = 75
	if err := w.Cut(bad); err == nil || !strings.Contains(err.Error(), "multiple of 4") {
		t.Errorf("a line length of 75: %v", err)
	}
	if _, err := w.Commit(context.Background()); err == nil || !strings.Contains(err.Error(), "without its Cut") {
		t.Errorf("Commit with a run not cut: %v, want refused", err)
	}
	// A writer that never held takes no Elide.
	cw, _ = b.Create()
	if cw.(ticket.CutWriter).Elide(0, 1) {
		t.Error("Elide without Hold was taken")
	}
	cw.Abort()
}

func TestBlobCutsEncoding(t *testing.T) {
	cuts := []rawCut{{at: 40, sha: strings.Repeat("ab", 32), size: 5000, line: 76, crlf: true},
		{at: 9000, sha: strings.Repeat("0c", 32), size: 1, line: 4, eol: true}}
	got, err := decodeCuts(encodeCuts(cuts))
	if err != nil || len(got) != 2 || got[0] != cuts[0] || got[1] != cuts[1] {
		t.Fatalf("decode(encode) = %+v, %v; want %+v", got, err, cuts)
	}
	if c := (rawCut{size: 57 * 3, line: 76, crlf: true, eol: true}); c.encLen() != 3*78 {
		t.Errorf("three full CRLF lines: %d bytes, want %d", c.encLen(), 3*78)
	}
	if c := (rawCut{size: 58, line: 76}); c.encLen() != 76+1+4 {
		t.Errorf("a line and a bit: %d bytes, want 81", c.encLen())
	}
	for _, bad := range [][]byte{{2}, {1, 5}, append([]byte{1, 0}, make([]byte, 33)...)} {
		if _, err := decodeCuts(bad); err == nil {
			t.Errorf("decodeCuts(%x) took damaged bytes", bad)
		}
	}
}
