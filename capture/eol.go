package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// bareCRReader turns each bare CR (a CR not followed by LF: classic Mac
// line endings, some broken gateways) into CRLF, for parsing only; the
// raw bytes are stored as they came. Copies in chunks: only mail that has
// bare CRs is read through it.
type bareCRReader struct {
	r       io.Reader
	buf     []byte
	carryCR bool // the last chunk ended in CR: its LF (or not) is unknown yet
	pending []byte
	err     error
}

func newBareCRReader(r io.Reader) *bareCRReader {
	return &bareCRReader{r: r, buf: make([]byte, 32<<10)}
}

func (c *bareCRReader) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			if c.carryCR {
				c.carryCR = false
				c.pending = []byte("\r\n")
				break
			}
			return 0, c.err
		}
		n, err := c.r.Read(c.buf)
		c.err = err
		chunk := c.buf[:n]
		out := make([]byte, 0, n+n/16+2)
		if c.carryCR && n > 0 {
			c.carryCR = false
			out = append(out, '\r', '\n')
			if chunk[0] == '\n' {
				chunk = chunk[1:]
			}
		}
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\r')
			if i < 0 {
				out = append(out, chunk...)
				break
			}
			out = append(out, chunk[:i]...)
			switch {
			case i+1 == len(chunk):
				c.carryCR = true // decided by the next chunk
			case chunk[i+1] == '\n':
				out = append(out, '\r', '\n')
				i++
			default:
				out = append(out, '\r', '\n')
			}
			chunk = chunk[i+1:]
		}
		c.pending = out
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// lineEndings looks at the start of a message (what br has buffered, up
// to its size) and reports whether it has bare CRs, and whether it mixes
// ending styles (CRLF or LF lines beside bare-CR ones).
func lineEndings(br *bufio.Reader) (bareCR, mixed bool, err error) {
	head, err := br.Peek(br.Size())
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return false, false, err // reading the raw bytes failed: Parse reports it
	}
	// Most mail has a CR at every line end, each followed by LF: jump
	// from CR to CR.
	for rest := head; ; {
		k := bytes.IndexByte(rest, '\r')
		if k < 0 || k+1 >= len(rest) {
			break
		}
		if rest[k+1] != '\n' {
			bareCR = true
			break
		}
		rest = rest[k+2:]
	}
	if !bareCR {
		return false, false, nil
	}
	return true, bytes.IndexByte(head, '\n') >= 0, nil
}
