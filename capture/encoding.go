package capture

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"sync"
)

// b64 holds the state of a lenient base64 decoder (RFC 2045 §6.8): bytes
// outside the alphabet are skipped (§6.8 says they "must be ignored"),
// padding ends a quantum and decoding carries on after it (mailers that
// concatenate encoded blocks), and the URL-safe alphabet is accepted.
type b64 struct {
	quad    [4]byte
	n       int
	invalid int // bytes that were neither alphabet, padding nor white space
	partial int // quanta cut short (a lone trailing character)
}

var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(a); i++ {
		t[a[i]] = byte(i)
	}
	t['-'], t['_'] = 62, 63
	return t
}()

func (d *b64) flush(out []byte) []byte {
	switch d.n {
	case 1:
		d.partial++
	case 2:
		out = append(out, d.quad[0]<<2|d.quad[1]>>4)
	case 3:
		out = append(out, d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2)
	}
	d.n = 0
	return out
}

func (d *b64) feed(in, out []byte) []byte {
	// Room for everything in decodes (3 bytes per 4 in), so the loops
	// below store by index instead of appending byte by byte.
	o := len(out)
	out = slices.Grow(out, len(in)/4*3+3)
	buf := out[:cap(out)]
	i := 0
	for i < len(in) {
		if d.n == 0 {
			// Fast path: whole quanta of alphabet characters (the body
			// of every line), two at a time, then one. Values are 0..63;
			// 0xff marks the rest.
			for ; i+8 <= len(in); i += 8 {
				q := in[i : i+8 : i+8]
				v0, v1, v2, v3 := b64Value[q[0]], b64Value[q[1]], b64Value[q[2]], b64Value[q[3]]
				v4, v5, v6, v7 := b64Value[q[4]], b64Value[q[5]], b64Value[q[6]], b64Value[q[7]]
				if (v0|v1|v2|v3|v4|v5|v6|v7)&0xc0 != 0 {
					break
				}
				x := uint64(v0)<<42 | uint64(v1)<<36 | uint64(v2)<<30 | uint64(v3)<<24 |
					uint64(v4)<<18 | uint64(v5)<<12 | uint64(v6)<<6 | uint64(v7)
				w := buf[o : o+6 : o+6]
				w[0], w[1], w[2], w[3], w[4], w[5] = byte(x>>40), byte(x>>32), byte(x>>24), byte(x>>16), byte(x>>8), byte(x)
				o += 6
			}
			for ; i+4 <= len(in); i += 4 {
				a, b, c, e := b64Value[in[i]], b64Value[in[i+1]], b64Value[in[i+2]], b64Value[in[i+3]]
				if (a|b|c|e)&0xc0 != 0 {
					break
				}
				buf[o], buf[o+1], buf[o+2] = a<<2|b>>4, b<<4|c>>2, c<<6|e
				o += 3
			}
			if i >= len(in) {
				break
			}
		}
		c := in[i]
		i++
		v := b64Value[c]
		if v == 0xff {
			switch c {
			case '=':
				out = d.flush(buf[:o])
				buf, o = out[:cap(out)], len(out)
			case ' ', '\t', '\r', '\n', '\f', '\v':
			default:
				d.invalid++
			}
			continue
		}
		d.quad[d.n] = v
		d.n++
		if d.n == 4 {
			buf[o], buf[o+1], buf[o+2] = d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2, d.quad[2]<<6|d.quad[3]
			o += 3
			d.n = 0
		}
	}
	return buf[:o]
}

func (d *b64) problem() string {
	switch {
	case d.invalid > 0:
		return "base64: invalid characters skipped"
	case d.partial > 0:
		return "base64: truncated data"
	}
	return ""
}

// decodeBase64Lenient decodes b in memory; see b64.
func decodeBase64Lenient(b []byte) ([]byte, string) {
	var d b64
	out := d.feed(b, make([]byte, 0, len(b)*3/4+3))
	out = d.flush(out)
	return out, d.problem()
}

// decoder is a transfer-decoding reader that reports what it had to repair.
type decoder interface {
	io.Reader
	problem() string
}

type b64Reader struct {
	r    io.Reader
	d    b64
	in   []byte
	out  []byte
	off  int
	err  error
	bufs *b64Buffers // where in and out came from
}

// b64Buffers are a b64Reader's, recycled: every base64 part of every
// message had two new ones (56 KiB), a tenth of a capture's allocations.
type b64Buffers struct{ in, out []byte }

var b64Bufs = sync.Pool{New: func() any {
	return &b64Buffers{in: make([]byte, 32<<10), out: make([]byte, 0, 24<<10+3)}
}}

// qpReaders recycles the quoted-printable decoders' buffered readers.
var qpReaders sync.Pool // *bufio.Reader

// errDecoderReleased is what a decoder reads after release (a bug).
var errDecoderReleased = errors.New("capture: read after the part's decoder was released")

// release gives the buffers back once the part is read; the reader
// fails every read afterwards.
func (r *b64Reader) release() {
	if r.bufs == nil {
		return
	}
	if cap(r.out) <= 1<<20 {
		r.bufs.out = r.out[:0]
		b64Bufs.Put(r.bufs)
	}
	r.bufs, r.in, r.out, r.off, r.err = nil, nil, nil, 0, errDecoderReleased
}

func (r *qpReader) release() {
	if r.br == nil {
		return
	}
	putReader(&qpReaders, r.br)
	r.br = nil
	r.out, r.off, r.err = nil, 0, errDecoderReleased
}

func (r *b64Reader) Read(p []byte) (int, error) {
	for r.off == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.r.Read(r.in)
		r.out = r.d.feed(r.in[:n], r.out[:0])
		r.off = 0
		if err != nil {
			r.out = r.d.flush(r.out)
			r.err = err
		}
	}
	n := copy(p, r.out[r.off:])
	r.off += n
	return n, nil
}

func (r *b64Reader) problem() string { return r.d.problem() }

// qpReader decodes quoted-printable (RFC 2045 §6.7) leniently: malformed
// escapes are kept literally, lower-case hex is accepted, trailing white
// space is removed (rule 3), soft line breaks join lines, and very long lines
// are handled in pieces.
type qpReader struct {
	br      *bufio.Reader
	carry   []byte
	out     []byte
	off     int
	err     error
	invalid int
}

func (r *qpReader) problem() string {
	if r.invalid > 0 {
		return "quoted-printable: malformed escapes kept as they are"
	}
	return ""
}

func (r *qpReader) Read(p []byte) (int, error) {
	for r.off == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.out, r.off = r.out[:0], 0
		frag, err := r.br.ReadSlice('\n')
		line := append(r.carry[:0:0], r.carry...)
		line = append(line, frag...)
		r.carry = r.carry[:0]
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Mid-line: keep back trailing white space and a possibly
			// split escape for the next piece.
			cut := len(line)
			for cut > 0 && (line[cut-1] == ' ' || line[cut-1] == '\t') {
				cut--
			}
			for k := cut - 1; k >= 0 && k >= cut-2; k-- {
				if line[k] == '=' {
					cut = k
					break
				}
			}
			r.carry = append(r.carry, line[cut:]...)
			r.decode(line[:cut])
			continue
		case err != nil:
			r.err = err
		}
		eol := ""
		body := line
		if n := len(body); n > 0 && body[n-1] == '\n' {
			body = body[:n-1]
			eol = "\n"
			if n := len(body); n > 0 && body[n-1] == '\r' {
				body = body[:n-1]
				eol = "\r\n"
			}
		}
		for n := len(body); n > 0 && (body[n-1] == ' ' || body[n-1] == '\t'); n = len(body) {
			body = body[:n-1]
		}
		if n := len(body); n > 0 && body[n-1] == '=' {
			r.decode(body[:n-1]) // soft line break
			continue
		}
		r.decode(body)
		r.out = append(r.out, eol...)
	}
	n := copy(p, r.out[r.off:])
	r.off += n
	return n, nil
}

func (r *qpReader) decode(b []byte) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '=' {
			if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
				r.out = append(r.out, unhex(b[i+1])<<4|unhex(b[i+2]))
				i += 2
				continue
			}
			r.invalid++
		}
		r.out = append(r.out, c)
	}
}

type plainReader struct{ io.Reader }

func (plainReader) problem() string { return "" }

// transferDecoder wraps body in the decoder for a Content-Transfer-Encoding
// (RFC 2045 §6). Unknown encodings are read as they are, with a problem.
func transferDecoder(cte string, body io.Reader) (decoder, string) {
	switch cte {
	case "base64":
		bufs := b64Bufs.Get().(*b64Buffers)
		return &b64Reader{r: body, in: bufs.in, out: bufs.out[:0], bufs: bufs}, ""
	case "quoted-printable":
		return &qpReader{br: getReader(&qpReaders, body, 32<<10)}, ""
	case "", "7bit", "8bit", "binary", "7-bit", "8-bit", "none":
		return plainReader{body}, ""
	case "x-uuencode", "uuencode", "x-uue", "x-uuencoded":
		return newUUReader(body), ""
	}
	return plainReader{body}, "unknown Content-Transfer-Encoding " + quoteLabel(cte)
}
