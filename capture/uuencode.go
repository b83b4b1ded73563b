package capture

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"path"
	"regexp"
	"strings"
)

// uuencode (the pre-MIME attachment format, still sent by old mailers and
// some gateways): "begin MODE NAME", lines of 4-character groups led by a
// length character, a "`" (or space) line, "end". As a
// Content-Transfer-Encoding (x-uuencode) or as blocks inside a plain text
// body, which become attachments.

// uuBeginRE is a block's first line.
var uuBeginRE = regexp.MustCompile(`^begin(?:-base64)? +[0-7]{3,4} +(.+?)\s*$`)

// uuDecodeLine appends the bytes of one encoded line to out; ok is false
// for a line that is not uuencoded data.
func uuDecodeLine(line []byte, out []byte) ([]byte, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return out, false
	}
	n := int((line[0] - ' ') & 63)
	if n == 0 {
		return out, true // the closing "`" line
	}
	body := line[1:]
	if (n+2)/3*4 > len(body)+2 { // encoders may drop trailing pad chars
		return out, false
	}
	var group [4]byte
	for i := 0; n > 0; i += 4 {
		for j := range 4 {
			c := byte(' ')
			if i+j < len(body) {
				c = body[i+j]
			}
			if c < ' ' || c > '`' {
				return out, false
			}
			group[j] = (c - ' ') & 63
		}
		b := [3]byte{group[0]<<2 | group[1]>>4, group[1]<<4 | group[2]>>2, group[2]<<6 | group[3]}
		k := min(3, n)
		out = append(out, b[:k]...)
		n -= k
	}
	return out, true
}

// uuReader decodes a part whose Content-Transfer-Encoding is x-uuencode.
type uuReader struct {
	br      *bufio.Reader
	out     []byte
	done    bool
	bad     int
	name    string // from the begin line
	started bool
	plain   bool // no begin line: the bytes are given back as they are
}

func newUUReader(r io.Reader) *uuReader { return &uuReader{br: bufio.NewReaderSize(r, 32<<10)} }

// maxUUPreamble bounds what is read looking for the begin line.
const maxUUPreamble = 64 << 10

// begin reads up to the "begin" line and returns the file name it gives.
// Without one (within maxUUPreamble) the part is not uuencoded after all:
// what was read and the rest are given back as they are (plain).
func (u *uuReader) begin() string {
	var skipped []byte
	for !u.started {
		line, err := u.br.ReadBytes('\n')
		if m := uuBeginRE.FindSubmatch(bytes.TrimRight(line, "\r\n")); m != nil {
			u.started, u.name = true, string(m[1])
			break
		}
		skipped = append(skipped, line...)
		if err != nil || len(skipped) > maxUUPreamble {
			u.started, u.plain, u.out = true, true, skipped
		}
	}
	return u.name
}

func (u *uuReader) Read(p []byte) (int, error) {
	u.begin()
	if u.plain {
		if len(u.out) > 0 {
			n := copy(p, u.out)
			u.out = u.out[n:]
			return n, nil
		}
		return u.br.Read(p)
	}
	for len(u.out) == 0 && !u.done {
		line, err := u.br.ReadBytes('\n')
		t := bytes.TrimRight(line, "\r\n")
		if string(bytes.TrimSpace(t)) == "end" {
			u.done = true
			break
		}
		var ok bool
		if u.out, ok = uuDecodeLine(t, u.out[:0]); !ok && len(t) > 0 {
			u.bad++
		}
		if err != nil {
			u.done = true
		}
	}
	if len(u.out) == 0 {
		return 0, io.EOF
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

func (u *uuReader) problem() string {
	switch {
	case u.plain:
		return "uuencode: no begin line: the part kept as it is"
	case u.bad > 0:
		return "uuencode: lines that are not uuencoded skipped"
	}
	return ""
}

// uuBlock is one uuencoded file found in a text body.
type uuBlock struct {
	name string
	data []byte
}

// extractUUBlocks takes the uuencoded files out of a plain text body: the
// text without them (a line "[attachment: NAME]" where each was) and the
// files. A block without its "end" is left in the text.
func extractUUBlocks(s string) (string, []uuBlock) {
	if !strings.Contains(s, "begin ") {
		return s, nil
	}
	lines := strings.SplitAfter(s, "\n")
	var (
		out    strings.Builder
		blocks []uuBlock
	)
	for i := 0; i < len(lines); i++ {
		m := uuBeginRE.FindStringSubmatch(strings.TrimRight(lines[i], "\r\n"))
		if m == nil {
			out.WriteString(lines[i])
			continue
		}
		var data []byte
		end := -1
		for j := i + 1; j < len(lines); j++ {
			t := strings.TrimRight(lines[j], "\r\n")
			if strings.TrimSpace(t) == "end" {
				end = j
				break
			}
			var ok bool
			if data, ok = uuDecodeLine([]byte(t), data); !ok {
				break
			}
		}
		if end < 0 {
			out.WriteString(lines[i])
			continue
		}
		blocks = append(blocks, uuBlock{name: m[1], data: data})
		out.WriteString("[attachment: " + m[1] + "]\n")
		i = end
	}
	return out.String(), blocks
}

// typeByName is the media type a file name suggests, else
// application/octet-stream.
func typeByName(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		mt, _, err := mime.ParseMediaType(t)
		if err == nil {
			return mt
		}
	}
	return "application/octet-stream"
}
