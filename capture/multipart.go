package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// multipartReader splits a multipart body (RFC 2046 §5.1.1) leniently: it
// accepts CRLF and bare LF line endings, even mixed, part headers that are
// malformed or missing, and a body that ends without the close delimiter. It
// streams: no part is held in memory.
type multipartReader struct {
	br       *bufio.Reader
	dash     []byte // "--" boundary
	started  bool
	final    bool // the close delimiter was seen
	done     bool // no more parts
	eof      bool // the body ended before the close delimiter
	cur      *partBody
	preamble []byte // kept (bounded) in case no part is ever found
	parts    int
	err      error // I/O error from below
	// lineByLine turns partBody.bulk off (ParseOptions.lineByLine).
	lineByLine bool
	// src is the raw offset of the next byte of the body being split
	// (cut.go); nil when its bytes are not a run of the raw message.
	src func() int64
}

// pos is the raw offset of the next byte m reads (src must be set).
func (m *multipartReader) pos() int64 { return m.src() - int64(m.br.Buffered()) }

const preambleKeep = 64 << 10

func newMultipartReader(r io.Reader, boundary string) *multipartReader {
	return &multipartReader{
		br:   getReader(&partReaders, r, 16<<10),
		dash: []byte("--" + boundary),
	}
}

// delimiter reports whether line is a delimiter line "--boundary" or the
// close delimiter "--boundary--", each with optional trailing white space.
func (m *multipartReader) delimiter(line []byte) (ok, final bool) {
	if !bytes.HasPrefix(line, m.dash) {
		return false, false
	}
	rest := line[len(m.dash):]
	if bytes.HasPrefix(rest, []byte("--")) {
		rest, final = rest[2:], true
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false, false
		}
	}
	return true, final
}

// next returns the next part's header and body; io.EOF after the last one.
// Header problems are returned in problems.
func (m *multipartReader) next() (h header, body *partBody, problems []string, err error) {
	if m.cur != nil {
		if _, err := io.Copy(io.Discard, m.cur); err != nil {
			return nil, nil, nil, err
		}
		m.cur = nil
	}
	if m.err != nil {
		return nil, nil, nil, m.err
	}
	if m.done {
		return nil, nil, nil, io.EOF
	}
	if !m.started {
		for {
			line, long, err := readLine(m.br, 4096)
			if err != nil && !errors.Is(err, io.EOF) {
				m.err = err
				return nil, nil, nil, err
			}
			if len(line) == 0 {
				m.done, m.eof = true, true
				return nil, nil, nil, io.EOF
			}
			if !long {
				if ok, final := m.delimiter(line); ok {
					if final {
						m.done, m.final = true, true
						return nil, nil, nil, io.EOF
					}
					break
				}
			}
			if len(m.preamble) < preambleKeep {
				m.preamble = append(m.preamble, line...)
			}
			if errors.Is(err, io.EOF) {
				m.done, m.eof = true, true
				return nil, nil, nil, io.EOF
			}
		}
		m.started = true
	}
	h, rest, problems, err := readHeader(m.br, maxPartFields)
	if err != nil {
		m.err = err
		return nil, nil, nil, err
	}
	m.parts++
	p := &partBody{m: m, atLineStart: true}
	if m.src != nil {
		p.start = m.pos() - int64(len(rest))
	}
	if rest != nil {
		if ok, final := m.delimiter(rest); ok {
			// An empty part with no header/body separator.
			p.done = true
			m.final = final
			m.done = final
			m.cur = p
			return h, p, problems, nil
		}
		p.data(rest, nil)
	}
	m.cur = p
	return h, p, problems, nil
}

// partBody reads one part's body up to (not including) the line break
// before the next delimiter line.
type partBody struct {
	m           *multipartReader
	pendNL      []byte // the line ending held back: it may belong to the delimiter
	buf         []byte
	off         int
	atLineStart bool
	done        bool
	start, read int64 // raw offset of the body (when m.src is set); bytes returned
}

// pos is the raw offset of the next byte Read returns.
func (p *partBody) pos() int64 { return p.start + p.read }

// data queues one line or line fragment as part data.
func (p *partBody) data(frag []byte, _ error) {
	p.buf = append(p.buf[:0], p.pendNL...)
	p.off = 0
	p.pendNL = p.pendNL[:0]
	n := len(frag)
	if n > 0 && frag[n-1] == '\n' {
		cut := n - 1
		if cut > 0 && frag[cut-1] == '\r' {
			cut--
		}
		p.buf = append(p.buf, frag[:cut]...)
		p.pendNL = append(p.pendNL, frag[cut:]...)
		p.atLineStart = true
		return
	}
	p.buf = append(p.buf, frag...)
	p.atLineStart = false
}

// Read fills b with as many lines as fit: a caller decoding base64 then
// gets 32 KiB at a time rather than one 76-byte line per call (per-call
// costs of every reader in the chain made attachments a third of capture).
func (p *partBody) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if p.off < len(p.buf) {
			c := copy(b[n:], p.buf[p.off:])
			p.off += c
			n += c
			continue
		}
		if p.done {
			break
		}
		if k := p.bulk(b[n:]); k > 0 {
			n += k
			continue
		}
		m := p.m
		if n > 0 && m.br.Buffered() == 0 {
			// Return what is here rather than wait on the source for more.
			break
		}
		frag, err := m.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			m.err, p.done, m.done = err, true, true
			if n > 0 {
				p.read += int64(n)
				return n, nil
			}
			return 0, err
		}
		if len(frag) == 0 && err != nil { // EOF: no close delimiter
			p.done, m.done, m.eof = true, true, true
			continue
		}
		if p.atLineStart && err == nil || p.atLineStart && errors.Is(err, io.EOF) {
			if ok, final := m.delimiter(frag); ok {
				p.done = true
				m.final, m.done = final, final
				if errors.Is(err, io.EOF) {
					m.done = true
				}
				continue
			}
		}
		p.data(frag, err)
		if errors.Is(err, io.EOF) {
			p.done, m.done, m.eof = true, true, true
		}
	}
	p.read += int64(n)
	if n == 0 && p.done {
		if p.m.err != nil {
			return 0, p.m.err
		}
		return 0, io.EOF
	}
	return n, nil
}

// dashLine is where a line that may be a delimiter starts: "--boundary"
// lines start with '-'.
var dashLine = []byte("\n-")

// bulk copies whole lines from the buffered input straight into b, up to
// the first line that starts with '-' (which may be a delimiter: the line
// path looks at it) or the last whole line buffered, holding back the last
// line break as data does. It returns how many bytes it put in b: 0 when
// the line path must take the next line. A base64 attachment is read at
// the speed of copying instead of a ReadSlice, a delimiter check and two
// copies per 76-byte line.
func (p *partBody) bulk(b []byte) int {
	m := p.m
	if m.lineByLine || !p.atLineStart || p.off != len(p.buf) || m.br.Buffered() == 0 {
		return 0
	}
	room := len(b) - len(p.pendNL)
	if room <= 0 {
		return 0
	}
	buf, _ := m.br.Peek(m.br.Buffered())
	if buf[0] == '-' {
		return 0
	}
	if i := bytes.Index(buf, dashLine); i >= 0 {
		buf = buf[:i+1]
	}
	if len(buf) > room {
		buf = buf[:room]
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		return 0
	}
	cut := end
	if cut > 0 && buf[cut-1] == '\r' {
		cut--
	}
	n := copy(b, p.pendNL)
	n += copy(b[n:], buf[:cut])
	p.pendNL = append(p.pendNL[:0], buf[cut:end+1]...)
	if _, err := m.br.Discard(end + 1); err != nil {
		// Discard of buffered bytes cannot fail; keep the reader honest.
		m.err, p.done, m.done = err, true, true
	}
	return n
}
