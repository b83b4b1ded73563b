package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sidedesk/sidedesk/ticket"
)

// Limits that keep a hostile header from costing unbounded memory.
const (
	maxHeaderFields = 1000      // fields kept per header block
	maxHeaderValue  = 64 << 10  // bytes kept per field value
	maxHeaderLine   = 128 << 10 // bytes kept of one physical line
	maxPartFields   = 100       // fields kept per MIME part header
)

// field is one header field: the canonical key and the unfolded raw value
// (bytes as they came, possibly 8-bit).
type field struct {
	key, value string
}

// header is a header block in order of appearance.
type header []field

// get returns the first raw value of key (canonical form), or "".
func (h header) get(key string) string {
	for _, f := range h {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// has reports whether the field is present at all.
func (h header) has(key string) bool {
	for _, f := range h {
		if f.key == key {
			return true
		}
	}
	return false
}

// values returns every raw value of key.
func (h header) values(key string) []string {
	var vs []string
	for _, f := range h {
		if f.key == key {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// readLine returns the next physical line with its line ending, keeping at
// most max bytes; the rest of a longer line is read and dropped (long).
func readLine(br *bufio.Reader, max int) (line []byte, long bool, err error) {
	for {
		frag, e := br.ReadSlice('\n')
		switch room := max - len(line); {
		case len(frag) <= room:
			line = append(line, frag...)
		case room > 0:
			line = append(line, frag[:room]...)
			long = true
		default:
			long = true
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		return line, long, e
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func validKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c <= 32 || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

// readHeader reads a header block (RFC 5322 §2.2, §3.2.2 unfolding)
// leniently. It stops at the blank line, at EOF, or at the first line that
// cannot be a header field: then that line is returned in rest, to be read
// as the start of the body, and a problem is noted. An "mbox" From_ line
// before the header is skipped. maxFields bounds the fields kept; the rest
// are read and dropped. err is only an I/O error.
func readHeader(br *bufio.Reader, maxFields int) (h header, rest []byte, problems []string, err error) {
	first := true
	var cur []byte // raw value of the field being unfolded
	var curKey string
	dropped := 0
	flush := func() {
		if curKey == "" {
			return
		}
		if len(h) < maxFields {
			h = append(h, field{key: curKey, value: strings.TrimSpace(string(cur))})
		} else {
			dropped++
		}
		curKey, cur = "", nil
	}
	defer func() {
		if dropped > 0 {
			problems = append(problems, "header: "+strconv.Itoa(dropped)+" fields over the limit dropped")
		}
	}()
	for {
		line, long, e := readLine(br, maxHeaderLine)
		if e != nil && !errors.Is(e, io.EOF) {
			flush()
			return h, nil, problems, e
		}
		if len(line) == 0 { // EOF
			flush()
			return h, nil, problems, nil
		}
		if long {
			problems = appendOnce(problems, "header: overlong line truncated")
		}
		t := trimEOL(line)
		if len(t) == 0 { // the blank line that ends the header
			flush()
			return h, nil, problems, nil
		}
		if first && (hasPrefixBytes(t, "From ") || hasPrefixBytes(t, ">From ")) {
			first = false
			continue
		}
		first = false
		if t[0] == ' ' || t[0] == '\t' {
			if curKey != "" {
				if len(cur) < maxHeaderValue {
					cur = append(cur, ' ')
					cur = append(cur, trimSpaceBytes(t)...)
					if len(cur) > maxHeaderValue {
						cur = cur[:maxHeaderValue]
					}
				}
			} else if len(h) == 0 {
				problems = appendOnce(problems, "header: starts with a continuation line")
			}
			if errors.Is(e, io.EOF) {
				flush()
				return h, nil, problems, nil
			}
			continue
		}
		colon := indexByte(t, ':')
		var key []byte
		if colon > 0 {
			key = trimSpaceBytes(t[:colon])
		}
		if !validKey(key) && moreFieldsFollow(br) {
			// A stray line inside the header (a folded line that lost its
			// indentation, a "---- Original message ----" before the first
			// field, 8-bit garbage): mail readers read on, and so do we.
			if curKey != "" && base64Tail.Match(t) && len(cur) < maxHeaderValue {
				cur = append(cur, trimSpaceBytes(t)...) // the lost fold of a long token
			} else {
				problems = appendOnce(problems, "stray_header_line: a line in the header that is no field was skipped")
			}
			if errors.Is(e, io.EOF) {
				flush()
				return h, nil, problems, nil
			}
			continue
		}
		if !validKey(key) {
			flush()
			if len(h) == 0 {
				problems = append(problems, "no header: message starts with body text")
			} else {
				problems = append(problems, "header not ended by a blank line")
			}
			return h, line, problems, nil
		}
		flush()
		curKey = ticket.CanonicalKey(string(key))
		v := t[colon+1:]
		if len(v) > maxHeaderValue {
			v = v[:maxHeaderValue]
		}
		cur = append([]byte(nil), v...)
		if errors.Is(e, io.EOF) {
			flush()
			return h, nil, problems, nil
		}
	}
}

// commonField matches the header fields real mail carries, to tell a stray
// line inside a header (fields follow it) from a body that starts without
// the blank line (none do).
var commonField = regexp.MustCompile(`(?i)^(from|to|cc|bcc|subject|date|message-id|mime-version|content-[a-z-]+|received|return-path|` +
	`reply-to|sender|in-reply-to|references|delivered-to|x-[a-z0-9-]+|list-[a-z-]+|dkim-signature|arc-[a-z-]+|` +
	`authentication-results|thread-[a-z]+|importance|priority|precedence|auto-submitted|user-agent|organization|` +
	`errors-to|envelope-to|received-spf|feedback-id|accept-language|content-language)[ \t]*:`)

// base64Tail is a folded line of a long token (a tracking header's base64)
// that lost its leading white space.
var base64Tail = regexp.MustCompile(`^[A-Za-z0-9+/=_-]{16,}$`)

// moreFieldsFollow peeks at the lines after the current one (up to the
// blank line, 40 lines or 8 KiB) for a common header field.
func moreFieldsFollow(br *bufio.Reader) bool {
	ahead, _ := br.Peek(min(8<<10, br.Size()))
	for i := 0; i < 40 && len(ahead) > 0; i++ {
		line := ahead
		if j := bytes.IndexByte(ahead, '\n'); j >= 0 {
			line, ahead = ahead[:j], ahead[j+1:]
		} else {
			ahead = nil
		}
		line = trimEOL(line)
		if len(line) == 0 {
			return false // the header ends first
		}
		if commonField.Match(line) {
			return true
		}
	}
	return false
}

func hasPrefixBytes(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// decodeText decodes an unstructured header value for display: RFC 2047
// encoded words (adjacent words of one charset are joined before decoding,
// so a character split across two words survives), raw 8-bit text (RFC 6532
// UTF-8, else the fallback charset), and control characters removed.
func decodeText(raw, fallback string) (string, string) {
	s, problem := decodeWords(raw, fallback)
	return cleanControl(s), problem
}

// cleanControl drops control characters (keeping none: header values are
// one line) and replaces invalid UTF-8.
func cleanControl(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

type wordSeg struct {
	encoded bool
	charset string
	b       []byte
}

// decodeWords implements RFC 2047 §6 decoding leniently: unknown charsets
// and bad encodings fall back instead of failing, encoded words embedded in
// text without the required spaces are decoded too, and whitespace between
// adjacent encoded words is dropped (§6.2).
func decodeWords(s, fallback string) (string, string) {
	if !strings.Contains(s, "=?") {
		if utf8.ValidString(s) {
			return s, ""
		}
		return decodeCharset(fallback, []byte(s))
	}
	var segs []wordSeg
	addPlain := func(p string) {
		if p == "" {
			return
		}
		if n := len(segs); n > 0 && !segs[n-1].encoded {
			segs[n-1].b = append(segs[n-1].b, p...)
			return
		}
		segs = append(segs, wordSeg{b: []byte(p)})
	}
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			addPlain(s[i:])
			break
		}
		j += i
		cs, data, end, ok := parseWord(s, j)
		if !ok {
			addPlain(s[i : j+2])
			i = j + 2
			continue
		}
		gap := s[i:j]
		if n := len(segs); !(n > 0 && segs[n-1].encoded && strings.TrimLeft(gap, " \t\r\n") == "") {
			addPlain(gap)
		}
		if n := len(segs); n > 0 && segs[n-1].encoded && strings.EqualFold(segs[n-1].charset, cs) {
			segs[n-1].b = append(segs[n-1].b, data...)
		} else {
			segs = append(segs, wordSeg{encoded: true, charset: cs, b: data})
		}
		i = end
	}
	var out strings.Builder
	var problem string
	for _, sg := range segs {
		var t, p string
		switch {
		case sg.encoded:
			t, p = decodeCharset(sg.charset, sg.b)
		case utf8.Valid(sg.b):
			t = string(sg.b)
		default:
			t, p = decodeCharset(fallback, sg.b)
		}
		if p != "" && problem == "" {
			problem = p
		}
		out.WriteString(t)
	}
	return out.String(), problem
}

// parseWord parses the encoded word "=?charset?X?text?=" at s[at:]. It
// returns the charset (RFC 2231 §5 language suffix dropped), the decoded
// bytes and the index after the word.
func parseWord(s string, at int) (charset string, data []byte, end int, ok bool) {
	p := at + 2
	q := strings.IndexByte(s[p:], '?')
	if q <= 0 || q > 75 {
		return "", nil, 0, false
	}
	charset = s[p : p+q]
	if strings.ContainsAny(charset, " \t\r\n=\"()<>@,;:") {
		return "", nil, 0, false
	}
	if k := strings.IndexByte(charset, '*'); k >= 0 {
		charset = charset[:k]
	}
	p += q + 1
	if p+2 > len(s) || s[p+1] != '?' {
		return "", nil, 0, false
	}
	enc := s[p] | 0x20
	if enc != 'b' && enc != 'q' {
		return "", nil, 0, false
	}
	p += 2
	win := s[p:min(len(s), p+4096)] // bounded: keeps many "=?" linear
	e := strings.Index(win, "?=")
	if e < 0 {
		return "", nil, 0, false
	}
	text := s[p : p+e]
	if strings.ContainsAny(text, "\r\n") {
		return "", nil, 0, false
	}
	if enc == 'b' {
		data, _ = decodeBase64Lenient([]byte(text))
	} else {
		data = decodeQWord(text)
	}
	return charset, data, p + e + 2, true
}

// decodeQWord decodes RFC 2047 §4.2 "Q" text, keeping malformed escapes.
func decodeQWord(t string) []byte {
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '_':
			b = append(b, ' ')
		case c == '=' && i+2 < len(t) && isHex(t[i+1]) && isHex(t[i+2]):
			b = append(b, unhex(t[i+1])<<4|unhex(t[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// parseMediaHeader parses a Content-Type or Content-Disposition value
// (RFC 2045 §5.1, RFC 2183) leniently: unquoted values with spaces, missing
// semicolons, unterminated quotes. Parameter names are lower-cased; values
// are fully decoded: RFC 2231 continuations and charsets, and RFC 2047
// encoded words in quoted values (which Outlook and Gmail write, against
// RFC 2047 §5). fallback is the charset for raw 8-bit values.
func parseMediaHeader(v, fallback string) (value string, params map[string]string) {
	v = strings.TrimSpace(v)
	semi := strings.IndexByte(v, ';')
	head, rest := v, ""
	if semi >= 0 {
		head, rest = v[:semi], v[semi+1:]
	}
	if sp := strings.IndexAny(head, " \t"); sp >= 0 && strings.Contains(head[sp:], "=") {
		head, rest = head[:sp], head[sp+1:]+";"+rest
	}
	value = strings.ToLower(strings.Trim(strings.TrimSpace(head), `"'`))
	raw := map[string]string{}
	var order []string
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t;")
		if rest == "" {
			break
		}
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		if rest[eq] == ';' {
			rest = rest[eq+1:]
			continue
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				c := rest[i]
				// RFC 2045 quoted-pair; but Windows paths ("C:\\dir\\f.doc")
				// arrive unescaped, so a backslash escapes only '"' and '\\'.
				if c == '\\' && i+1 < len(rest) && (rest[i+1] == '"' || rest[i+1] == '\\') {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			val = b.String()
			if i < len(rest) {
				rest = rest[i+1:]
			} else {
				rest = ""
			}
		} else {
			end := strings.IndexByte(rest, ';')
			if end < 0 {
				end = len(rest)
			}
			val = strings.TrimSpace(rest[:end])
			rest = rest[end:]
		}
		if name == "" {
			continue
		}
		if _, dup := raw[name]; !dup {
			order = append(order, name)
			raw[name] = val
		}
	}
	params = make(map[string]string, len(raw))
	type section struct {
		n        int
		val      string
		extended bool
	}
	cont := map[string][]section{}
	for _, name := range order {
		val := raw[name]
		base, ext := name, false
		if strings.HasSuffix(base, "*") {
			base, ext = strings.TrimSuffix(base, "*"), true
		}
		if k := strings.LastIndexByte(base, '*'); k >= 0 {
			if n, err := strconv.Atoi(base[k+1:]); err == nil && n >= 0 && n < 1000 {
				cont[base[:k]] = append(cont[base[:k]], section{n, val, ext})
				continue
			}
		}
		if ext {
			cont[base] = append(cont[base], section{0, val, true})
			continue
		}
		d, _ := decodeWords(val, fallback)
		params[name] = cleanControl(d)
	}
	// RFC 2231 §3, §4: sections in order; charset'language' on the first
	// extended one; %XX escapes in extended sections only.
	for base, secs := range cont {
		sort.SliceStable(secs, func(i, j int) bool { return secs[i].n < secs[j].n })
		var buf []byte
		charset := ""
		bad := false
		for i, s := range secs {
			val := s.val
			if s.n != i {
				bad = true // a section missing or repeated
			}
			if s.extended {
				if i == 0 {
					a := strings.IndexByte(val, '\'')
					b := -1
					if a >= 0 {
						b = strings.IndexByte(val[a+1:], '\'')
					}
					if b >= 0 {
						charset = val[:a]
						val = val[a+1+b+1:]
					} else {
						bad = true // no charset'language' prefix
					}
				}
				if badPercent(val) {
					bad = true
				}
				buf = append(buf, percentDecode(val)...)
			} else {
				buf = append(buf, val...)
			}
		}
		var d, problem string
		if charset != "" {
			d, problem = decodeCharset(charset, buf)
		} else {
			d, _ = decodeWords(string(buf), fallback)
		}
		if bad || problem != "" {
			params[BadRFC2231Param] = base
		}
		params[base] = cleanControl(d)
	}
	return value, params
}

// BadRFC2231Param is set in parseMediaHeader's params, naming the
// parameter, when an RFC 2231 value was malformed (a missing section, no
// charset'language' prefix, a bad %XX escape, bytes its charset refuses).
const BadRFC2231Param = "\x00bad_rfc2231"

// badPercent reports a "%" not followed by two hex digits.
func badPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			return true
		}
	}
	return false
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}
