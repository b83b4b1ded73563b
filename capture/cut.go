package capture

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// Cutting: when the raw message's blob writer is a ticket.CutWriter, the
// parser tells it which runs of the raw bytes are the canonical base64 of
// an attachment it stores decoded, so the store keeps those bytes once
// (decoded) instead of twice, and rebuilds the raw message on read.
//
// Raw offsets: the parser knows, for the body of the message and of every
// part it splits, the raw offset of the next byte it will read (a body is
// a contiguous run of the raw bytes: multipart splitting only cuts, never
// changes, them). Nothing is cut where that does not hold: after bare-CR
// normalisation, inside a multipart that is itself transfer-encoded, in
// uuencoded blocks.
//
// The writer holds the raw bytes back until the parser says they are safe
// (below every place a run may still start: the innermost multipart
// reader's position) and drops a run's lines as they are checked. A run is
// cut only as far as it is canonical: every line the same length (a
// multiple of 4), one kind of line ending, only the standard alphabet,
// padding only at the end with its unused bits zero. Anything after the
// first line that is not is kept as it is.

// cutMinBytes is the least decoded size cut: below it the index entry
// saves too little.
const cutMinBytes = 1024

// topBody is the message's body: what the header reading left (rest),
// then the buffered reader.
type topBody struct {
	rest []byte
	br   *bufio.Reader
	cr   *CountingReader
}

func (t *topBody) Read(p []byte) (int, error) {
	if len(t.rest) > 0 {
		n := copy(p, t.rest)
		t.rest = t.rest[n:]
		return n, nil
	}
	return t.br.Read(p)
}

// pos is the raw offset of the next byte Read returns.
func (t *topBody) pos() int64 {
	return t.cr.N - int64(t.br.Buffered()) - int64(len(t.rest))
}

// posFunc returns the raw position of a body reader's next byte, or nil
// when its bytes are not a contiguous run of the raw message.
func posFunc(r io.Reader) func() int64 {
	switch r := r.(type) {
	case *topBody:
		return r.pos
	case *partBody:
		if r.m.src != nil {
			return r.pos
		}
	case plainReader:
		return posFunc(r.Reader)
	}
	return nil
}

// safe is the raw offset below which no run can start any more: the
// CutWriter may write what is before it as it is.
func (p *parser) safe() int64 {
	switch {
	case p.noCut:
		return math.MaxInt64
	case p.run != nil:
		return p.run.elided
	case len(p.posStack) > 0:
		return p.posStack[len(p.posStack)-1]()
	}
	return 0
}

// tapBase64 puts a runTap under a base64 decoder of a body whose raw
// offsets are known.
func (p *parser) tapBase64(dec decoder, body io.Reader) {
	d, ok := dec.(*b64Reader)
	if !ok || p.raw == nil || p.noCut {
		return
	}
	if pf := posFunc(body); pf != nil {
		start := pf()
		d.r = &runTap{r: d.r, p: p, start: start, elided: start}
	}
}

// tapIdentity puts a tap under the decoder of a part that is stored as
// an attachment byte for byte (an attached message, a binary or 7bit file:
// a content type that is not text and no transfer encoding), checking
// from its first byte on: its run is cut as the attachment blob itself.
func (p *parser) tapIdentity(dec *decoder, ct string, body io.Reader) *runTap {
	pr, ok := (*dec).(plainReader)
	if !ok || p.raw == nil || p.noCut || p.run != nil || len(p.atts) >= maxAttachments ||
		strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "multipart/") {
		return nil
	}
	pf := posFunc(body)
	if pf == nil {
		return nil
	}
	start := pf()
	t := &runTap{r: pr.Reader, p: p, start: start, elided: start, active: true, identity: true}
	*dec = plainReader{t}
	p.run = t
	return t
}

// startRun returns the run of the attachment r is about to be read for:
// the part's own when it is kept as the blob's bytes (tapIdentity), else
// the tap under its base64 decoder, made to check from now on if nothing
// was read through it yet.
func (p *parser) startRun(r io.Reader) *runTap {
	if p.run != nil {
		if p.run.identity {
			return p.run
		}
		return nil
	}
	d, ok := r.(*b64Reader)
	if !ok {
		return nil
	}
	t, ok := d.r.(*runTap)
	if !ok || t.seen > 0 {
		return nil
	}
	t.active = true
	p.run = t
	return t
}

// runTap passes a part's raw bytes to its decoder, checking a base64 run
// (or following a part kept as the blob's bytes, identity).
type runTap struct {
	r        io.Reader
	p        *parser
	start    int64 // raw offset of the part's body
	seen     int64
	active   bool
	identity bool // the part's bytes are the attachment's (no check)
	// The check.
	stopped  bool  // a byte that is not canonical: the run ends at the last full line
	line     int   // characters per line, set by the first line
	crlf     bool  //
	cur      int   // characters in the line being read
	cr       bool  // it has a CR (must come last)
	pad      int   // '=' in it
	last     byte  // value of the last alphabet character
	full     int64 // full lines checked
	final    int   // characters of a last, shorter or padded line (0: none yet)
	finalEOL bool  // that line was ended
	finalPad int   // its padding
	elided   int64 // raw offset up to which the writer dropped the run
	lines    int64 // full lines elided
	eof      bool
}

func (t *runTap) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	t.seen += int64(n)
	if err == io.EOF {
		t.eof = true
	}
	switch {
	case !t.active || t.stopped:
	case t.identity:
		t.elideIdentity()
	default:
		t.check(b[:n])
		t.elide()
	}
	return n, err
}

// elideIdentity hands the writer what was read of a part kept as the
// blob's bytes, once it is enough to cut.
func (t *runTap) elideIdentity() {
	to := t.start + t.seen
	if t.seen < cutMinBytes || to <= t.elided {
		return
	}
	if t.p.raw.Elide(t.elided, to) {
		t.elided = to
		return
	}
	t.stopped = true
	if t.elided == t.start && t.p.run == t {
		t.p.run = nil // nothing cut: nothing more held for it
	}
}

func (t *runTap) stop() {
	t.stopped = true
	t.final = 0
	t.elide()
	if t.lines == 0 && t.p.run == t {
		// Nothing cut: the bytes held for the run may be written now (a
		// large attachment that is not canonical must not be held).
		t.p.run = nil
	}
}

func (t *runTap) eolLen() int64 {
	if t.crlf {
		return 2
	}
	return 1
}

// check follows data through the canonical-base64 state machine.
func (t *runTap) check(data []byte) {
	for len(data) > 0 && !t.stopped {
		if t.final > 0 && t.finalEOL {
			t.stop() // more after what looked like the last line
			return
		}
		i := bytes.IndexByte(data, '\n')
		seg := data
		if i >= 0 {
			seg = data[:i]
			if t.fullLine(seg) {
				data = data[i+1:]
				continue
			}
		}
		for _, c := range seg {
			if t.cr || t.final > 0 {
				t.stop() // a CR not before a LF; characters after the last line
				return
			}
			v := b64Value[c]
			switch {
			case c == '\r':
				t.cr = true
				continue
			case c == '=':
				t.pad++
				if t.pad > 2 {
					t.stop()
					return
				}
			case v < 64 && c != '-' && c != '_' && t.pad == 0:
				t.last = v
			default:
				t.stop()
				return
			}
			t.cur++
			if t.line > 0 && t.cur > t.line || t.cur > maxCutLine {
				t.stop()
				return
			}
		}
		if i < 0 {
			return
		}
		data = data[i+1:]
		t.endLine(true)
	}
}

// notStd is 1 for every byte outside the standard base64 alphabet.
var notStd = func() (t [256]byte) {
	for i := range t {
		if v := b64Value[i]; v >= 64 || i == '-' || i == '_' {
			t[i] = 1
		}
	}
	return t
}()

// fullLine is check's fast path: seg (a line without its LF) is at the
// start of a line and is a full line of alphabet characters with the
// run's line ending. Else check goes byte by byte.
func (t *runTap) fullLine(seg []byte) bool {
	if t.cur != 0 || t.cr || t.final != 0 || t.line == 0 {
		return false
	}
	n := len(seg)
	if t.crlf {
		if n == 0 || seg[n-1] != '\r' {
			return false
		}
		n--
	}
	if n != t.line {
		return false
	}
	var bad byte
	for _, c := range seg[:n] {
		bad |= notStd[c]
	}
	if bad != 0 {
		return false
	}
	t.last = b64Value[seg[n-1]]
	t.full++
	return true
}

// maxCutLine is RFC 5322's line length limit.
const maxCutLine = 998

// endLine ends the line being read.
func (t *runTap) endLine(ended bool) {
	k := t.cur
	if t.line == 0 {
		if k == 0 || k%4 != 0 {
			t.stop()
			return
		}
		t.line, t.crlf = k, t.cr
	} else if ended && t.cr != t.crlf {
		t.stop()
		return
	}
	switch {
	case ended && k == t.line && t.pad == 0:
		t.full++
	case k > 0 && k%4 == 0 && k <= t.line && t.padOK():
		t.final, t.finalEOL, t.finalPad = k, ended, t.pad
	default:
		t.stop()
		return
	}
	t.cur, t.cr, t.pad = 0, false, 0
}

// padOK: padding leaves the unused bits of the last quantum zero (else
// encoding the decoded bytes again would not give the same characters).
func (t *runTap) padOK() bool {
	switch t.pad {
	case 1:
		return t.last&3 == 0
	case 2:
		return t.last&15 == 0
	}
	return true
}

// decodedLines is the decoded size of n full lines.
func (t *runTap) decodedLines(n int64) int64 { return n * int64(t.line) / 4 * 3 }

// elide hands the writer the full lines checked so far, once they make
// enough to cut.
func (t *runTap) elide() {
	if t.line == 0 || t.full == t.lines || t.decodedLines(t.full) < cutMinBytes {
		return
	}
	to := t.start + t.full*(int64(t.line)+t.eolLen())
	if !t.p.raw.Elide(t.elided, to) {
		t.stopped = true
		t.full = t.lines // the run ends where the writer stopped taking it
		return
	}
	t.elided, t.lines = to, t.full
}

// finish cuts the run, once its attachment is stored as blob.
func (t *runTap) finish(blob ticket.BlobRef) error {
	t.p.run = nil
	if !t.eof {
		return nil
	}
	if t.identity {
		n := t.elided - t.start
		if n == 0 && t.seen < cutMinBytes {
			return nil // too little: kept as it is
		}
		if !t.stopped && t.seen > n && t.p.raw.Elide(t.elided, t.start+t.seen) {
			n = t.seen
		}
		if n == 0 {
			return nil
		}
		if n > blob.Size || n == t.seen && n != blob.Size {
			return fmt.Errorf("capture: a run of %d bytes is not its attachment of %d (a bug): the message is not stored", n, blob.Size)
		}
		return t.p.raw.Cut(ticket.Base64Run{Start: t.start, End: t.start + n, Blob: blob.SHA256, Size: n})
	}
	if !t.stopped && (t.cur > 0 || t.cr) {
		t.endLine(false) // the last line, not ended
	}
	var final int
	if !t.stopped {
		final = t.final
	}
	size := t.decodedLines(t.full)
	if final > 0 {
		size += int64(final)/4*3 - int64(t.finalPad)
	}
	if t.lines == 0 && size < cutMinBytes {
		return nil // too little: kept as it is
	}
	end := t.start + t.full*(int64(t.line)+t.eolLen()) + int64(final)
	if end > t.elided && !t.p.raw.Elide(t.elided, end) {
		// Only what the writer took is cut.
		final, size, end = 0, t.decodedLines(t.lines), t.elided
		if t.lines == 0 {
			return nil
		}
	}
	if size > blob.Size || !t.stopped && size != blob.Size {
		return fmt.Errorf("capture: a base64 run of %d bytes decodes to %d (a bug): the message is not stored", size, blob.Size)
	}
	return t.p.raw.Cut(ticket.Base64Run{Start: t.start, End: end, Blob: blob.SHA256, Size: size,
		Line: t.line, CRLF: t.crlf, EOL: final == 0})
}
