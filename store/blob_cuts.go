package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/sidedesk/sidedesk/ticket"
)

// A raw message is stored as a skeleton: its bytes with the base64 runs of
// its attachments cut out (ticket.Base64Run), each cut recorded in the
// blob_index row's cuts column as a reference to the decoded attachment
// blob with what re-encodes it exactly (line length, line ending, whether
// the last line is ended). The attachment's bytes are then stored once,
// decoded — three quarters of their base64 — and a raw message read back
// is rebuilt from the skeleton and the attachments, byte for byte (the
// capture checks a run is canonical base64 before it is cut, so encoding
// the decoded bytes again gives the same characters). Dovecot's
// single-instance attachment storage does the same.

// rawCut is one base64 run cut out of a raw message, or (line 0) a run
// that is the blob's bytes as they are (an attached message, a 7bit or
// binary attachment).
type rawCut struct {
	at   int64  // offset of the run in the raw message
	sha  string // the decoded blob
	size int64  // the run encodes the decoded blob's first size bytes
	line int    // characters per line, a multiple of 4; 0: not encoded
	crlf bool
	eol  bool // the last line is ended too
}

func (c rawCut) eolLen() int64 {
	if c.crlf {
		return 2
	}
	return 1
}

// encLen is the length of the run in the raw message.
func (c rawCut) encLen() int64 {
	if c.line == 0 {
		return c.size
	}
	chars := (c.size + 2) / 3 * 4
	lines := (chars + int64(c.line) - 1) / int64(c.line)
	n := chars + (lines-1)*c.eolLen()
	if c.eol {
		n += c.eolLen()
	}
	return n
}

// minCutBytes is the least decoded size a run is cut for: below it the
// reference (about 40 bytes in the index) saves too little.
const minCutBytes = 1024

// maxCutLine bounds a run's line length (RFC 5322 allows 998 characters).
const maxCutLine = 998

// cutFromRun checks a capture's run and makes it a cut.
func cutFromRun(r ticket.Base64Run) (rawCut, error) {
	c := rawCut{at: r.Start, sha: r.Blob, size: r.Size, line: r.Line, crlf: r.CRLF, eol: r.EOL}
	switch {
	case !validName(r.Blob):
		return c, fmt.Errorf("run's blob %q is not a SHA-256", r.Blob)
	case r.Line < 0 || r.Line%4 != 0 || r.Line > maxCutLine:
		return c, fmt.Errorf("run's line length %d is not a multiple of 4 up to %d", r.Line, maxCutLine)
	case r.Size <= 0 || r.Start < 0:
		return c, fmt.Errorf("run of %d bytes at %d", r.Size, r.Start)
	case r.End-r.Start != c.encLen():
		return c, fmt.Errorf("run %d..%d is %d bytes, its encoding %d", r.Start, r.End, r.End-r.Start, c.encLen())
	}
	return c, nil
}

// encodeCuts is the cuts column: a version byte, then per cut the gap from
// the end of the one before (varint), the decoded blob's SHA-256 (32
// bytes), its size and line length (varints) and a flags byte (1: CRLF, 2:
// the last line is ended).
func encodeCuts(cuts []rawCut) []byte {
	if len(cuts) == 0 {
		return nil
	}
	out := []byte{1}
	var end int64
	for _, c := range cuts {
		out = binary.AppendUvarint(out, uint64(c.at-end))
		sha, _ := hex.DecodeString(c.sha)
		out = append(out, sha...)
		out = binary.AppendUvarint(out, uint64(c.size))
		out = binary.AppendUvarint(out, uint64(c.line))
		var flags byte
		if c.crlf {
			flags |= 1
		}
		if c.eol {
			flags |= 2
		}
		out = append(out, flags)
		end = c.at + c.encLen()
	}
	return out
}

var errBadCuts = errors.New("store: damaged cuts in the blob index")

func decodeCuts(b []byte) ([]rawCut, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("%w: version %d", errBadCuts, b[0])
	}
	b = b[1:]
	var cuts []rawCut
	var end int64
	uvarint := func() int64 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<50 {
			b = nil
			return -1
		}
		b = b[n:]
		return int64(v)
	}
	for len(b) > 0 {
		gap := uvarint()
		if gap < 0 || len(b) < 32 {
			return nil, errBadCuts
		}
		c := rawCut{at: end + gap, sha: hex.EncodeToString(b[:32])}
		b = b[32:]
		c.size = uvarint()
		line := uvarint()
		if c.size <= 0 || line < 0 || line%4 != 0 || line > maxCutLine || len(b) < 1 {
			return nil, errBadCuts
		}
		c.line = int(line)
		c.crlf, c.eol = b[0]&1 != 0, b[0]&2 != 0
		b = b[1:]
		cuts = append(cuts, c)
		end = c.at + c.encLen()
	}
	return cuts, nil
}

// rawSize is the size of the raw message a skeleton of skel bytes with
// cuts rebuilds.
func rawSize(skel int64, cuts []rawCut) int64 {
	n := skel
	for _, c := range cuts {
		n += c.encLen()
	}
	return n
}

// segment is a stretch of a rebuilt raw message: skeleton bytes, or a cut.
type segment struct {
	raw, n int64 // where it starts in the raw message, how long
	skel   int64 // literal: where it starts in the skeleton
	cut    int   // index in cuts; -1 for skeleton bytes
}

// rawView rebuilds a raw message from its skeleton (skel bytes at base in
// f) and the decoded blobs of its cuts. It is an io.ReaderAt, so a
// BlobReader over it serves range requests without rebuilding what comes
// before.
type rawView struct {
	f    io.ReaderAt
	base int64
	cuts []rawCut
	segs []segment
	size int64
	open func(sha string) (*BlobReader, error)

	mu   sync.Mutex
	dec  map[string]*BlobReader
	done bool
}

func newRawView(f io.ReaderAt, base, skel int64, cuts []rawCut, open func(string) (*BlobReader, error)) (*rawView, error) {
	v := &rawView{f: f, base: base, cuts: cuts, open: open, dec: map[string]*BlobReader{}}
	var pos, sk int64
	for i, c := range cuts {
		if c.at < pos {
			return nil, fmt.Errorf("%w: cut at %d overlaps the one before", errBadCuts, c.at)
		}
		if c.at > pos {
			v.segs = append(v.segs, segment{raw: pos, n: c.at - pos, skel: sk, cut: -1})
			sk += c.at - pos
		}
		v.segs = append(v.segs, segment{raw: c.at, n: c.encLen(), cut: i})
		pos = c.at + c.encLen()
	}
	if sk > skel {
		return nil, fmt.Errorf("%w: cuts beyond the %d bytes stored", errBadCuts, skel)
	}
	if skel > sk {
		v.segs = append(v.segs, segment{raw: pos, n: skel - sk, skel: sk, cut: -1})
		pos += skel - sk
	}
	v.size = pos
	return v, nil
}

// ReadAt reads the rebuilt raw message.
func (v *rawView) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("store: negative offset")
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= v.size {
			return n, io.EOF
		}
		i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].raw+v.segs[i].n > at })
		s := v.segs[i]
		rel := at - s.raw
		want := p[n:min(len(p), n+int(s.n-rel))]
		var k int
		var err error
		if s.cut < 0 {
			k, err = v.f.ReadAt(want, v.base+s.skel+rel)
			if errors.Is(err, io.EOF) && k == len(want) {
				err = nil
			}
		} else {
			k, err = v.readCut(v.cuts[s.cut], rel, want)
		}
		n += k
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the skeleton or a blob is shorter than the index says
			}
			return n, err
		}
	}
	return n, nil
}

// cutChunkLines is how many lines of a run one read encodes at most.
const cutChunkLines = 512

// readCut fills p with the run c's encoding from rel on.
func (v *rawView) readCut(c rawCut, rel int64, p []byte) (int, error) {
	dec, err := v.decoded(c.sha)
	if err != nil {
		return 0, err
	}
	if c.line == 0 {
		k, err := dec.ReadAt(p, rel)
		if k == len(p) {
			return k, nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("store: blob %s is shorter than a raw message's cut says", c.sha)
		}
		return k, err
	}
	lineBytes := int64(c.line) + c.eolLen()
	perLine := int64(c.line) / 4 * 3
	lines := (c.size + perLine - 1) / perLine
	n := 0
	var raw, enc, out []byte
	for n < len(p) {
		li := (rel + int64(n)) / lineBytes
		skip := int((rel + int64(n)) % lineBytes)
		count := min(lines-li, max(1, int64(len(p)-n)/lineBytes+2), cutChunkLines)
		from, to := li*perLine, min(c.size, (li+count)*perLine)
		raw = growTo(raw, int(to-from))
		if k, err := dec.ReadAt(raw, from); k < len(raw) {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("store: blob %s is shorter than a raw message's cut says", c.sha)
			}
			return n, err
		}
		enc = growTo(enc, base64.StdEncoding.EncodedLen(len(raw)))
		base64.StdEncoding.Encode(enc, raw)
		out = out[:0]
		eol := "\n"
		if c.crlf {
			eol = "\r\n"
		}
		for j := int64(0); j < count; j++ {
			out = append(out, enc[j*int64(c.line):min(int64(len(enc)), (j+1)*int64(c.line))]...)
			if li+j < lines-1 || c.eol {
				out = append(out, eol...)
			}
		}
		if skip >= len(out) {
			return n, fmt.Errorf("%w: offset beyond a cut", errBadCuts)
		}
		n += copy(p[n:], out[skip:])
	}
	return n, nil
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// decoded opens (once) the decoded blob a cut refers to.
func (v *rawView) decoded(sha string) (*BlobReader, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done {
		return nil, os.ErrClosed
	}
	if r, ok := v.dec[sha]; ok {
		return r, nil
	}
	r, err := v.open(sha)
	if err != nil {
		return nil, fmt.Errorf("store: an attachment of a raw message: %w", err)
	}
	v.dec[sha] = r
	return r, nil
}

// Close closes the decoded blobs it opened.
func (v *rawView) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.done = true
	var errs []error
	for _, r := range v.dec {
		errs = append(errs, r.Close())
	}
	v.dec = nil
	return errors.Join(errs...)
}

// openDecoded opens a cut's decoded blob as a *BlobReader.
func (b *Blobs) openDecoded(sha string) (*BlobReader, error) {
	rc, err := b.Open(context.Background(), sha)
	if err != nil {
		return nil, err
	}
	br, ok := rc.(*BlobReader)
	if !ok {
		rc.Close()
		return nil, fmt.Errorf("store: blob %s cannot be read at an offset", sha)
	}
	return br, nil
}
