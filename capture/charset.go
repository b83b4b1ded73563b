package capture

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	_ "github.com/emersion/go-message/charset" // registers x/text charsets with go-message
	"github.com/saintfish/chardet"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// charsetAliases maps labels seen in real mail that the WHATWG and IANA
// indexes do not know (or map to a narrower encoding than senders use) to the
// encoding that decodes them. gb2312 is decoded as GBK, a superset that real
// senders rely on; iso-8859-1 as windows-1252 (as browsers do, WHATWG
// Encoding §4.2), since C1 controls are never meant.
func charsetAlias(label string) encoding.Encoding {
	switch label {
	case "gb2312", "gb_2312-80", "csgb2312", "x-gbk", "cp936", "ms936", "euc-cn", "x-euc-cn", "chinese":
		return simplifiedchinese.GBK
	case "gb18030":
		return simplifiedchinese.GB18030
	case "cp932", "ms932", "x-sjis", "sjis", "shift-jis", "x-ms-cp932", "windows-31j":
		return japanese.ShiftJIS
	case "iso-2022-jp", "csiso2022jp", "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-ms":
		return japanese.ISO2022JP
	case "euc-jp", "x-euc-jp", "eucjp":
		return japanese.EUCJP
	case "ks_c_5601-1987", "ks_c_5601", "cp949", "ms949", "uhc", "x-windows-949", "euckr", "korean":
		return korean.EUCKR
	case "big5-hkscs", "x-x-big5", "cp950", "ms950", "big-5", "big5":
		return traditionalchinese.Big5
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "ibm819", "iso_8859-1:1987", "iso-ir-100", "ansi_x3.110-1983", "cp1252", "x-cp1252", "win-1252", "windows1252":
		return charmap.Windows1252
	case "x-mac-roman", "macroman", "mac", "macintosh", "x-mac":
		return charmap.Macintosh
	case "koi8r", "koi8-r", "koi8":
		return charmap.KOI8R
	case "koi8-u", "koi8u":
		return charmap.KOI8U
	case "cp866", "ibm866":
		return charmap.CodePage866
	case "cp850", "ibm850":
		return charmap.CodePage850
	case "cp437", "ibm437":
		return charmap.CodePage437
	}
	return nil
}

// lookupCharset finds the decoder for a MIME charset label (RFC 2045 §5.1,
// RFC 2278), trying our aliases, then the WHATWG index (built for content in
// the wild), then IANA's. isUTF8 is set for the UTF-8 family; ascii for the
// labels that promise 7-bit text.
func lookupCharset(label string) (enc encoding.Encoding, isUTF8, ascii bool) {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	switch l {
	case "utf-8", "utf8", "x-utf-8", "unicode-1-1-utf-8", "x-utf_8j", "unicode":
		return nil, true, false
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso-646-us", "iso646-us", "us", "csascii", "default", "x-unknown", "unknown-8bit", "x-user-defined", "7bit", "8bit":
		return nil, false, true
	}
	if e := charsetAlias(l); e != nil {
		return e, false, false
	}
	// Normalise iso8859-15, iso_8859_15, iso-8859_15 ... to iso-8859-15 and
	// cp1251 / win-1251 to windows-1251.
	norm := strings.NewReplacer("_", "-", " ", "-").Replace(l)
	if rest, ok := strings.CutPrefix(norm, "iso2022-"); ok {
		norm = "iso-2022-" + rest
	}
	if rest, ok := strings.CutPrefix(norm, "iso8859-"); ok {
		norm = "iso-8859-" + rest
	} else if rest, ok := strings.CutPrefix(norm, "iso-8859"); ok && rest != "" && rest[0] != '-' {
		norm = "iso-8859-" + rest
	}
	for _, p := range []string{"cp", "win-", "windows", "cp-", "x-cp"} {
		if rest, ok := strings.CutPrefix(norm, p); ok && len(rest) == 4 && strings.HasPrefix(rest, "125") {
			norm = "windows-" + rest
		}
	}
	if e := charsetAlias(norm); e != nil {
		return e, false, false
	}
	for _, cand := range []string{l, norm, strings.TrimPrefix(norm, "x-")} {
		if e, err := htmlindex.Get(cand); err == nil && e != nil {
			if n, _ := htmlindex.Name(e); n == "utf-8" {
				return nil, true, false
			}
			return e, false, false
		}
		if e, err := ianaindex.MIME.Encoding(cand); err == nil && e != nil {
			return e, false, false
		}
		if e, err := ianaindex.IANA.Encoding(cand); err == nil && e != nil {
			return e, false, false
		}
	}
	return nil, false, false
}

// decodeCharset converts b, labelled with charset label, to valid UTF-8. It
// never fails: an unknown label or undecodable bytes fall back to UTF-8 (when
// b is valid UTF-8) or windows-1252, and problem says what happened ("" when
// nothing was wrong). Mislabelled us-ascii holding UTF-8 is common and is
// decoded silently.
func decodeCharset(label string, b []byte) (s string, problem string) {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if l == "utf-7" || l == "unicode-1-1-utf-7" || l == "x-utf-7" {
		return decodeUTF7(b), ""
	}
	// 7-bit charsets (ISO-2022-*, HZ) are plain ASCII on the wire too.
	if isASCII(b) && bytes.IndexByte(b, 0x1b) < 0 && !strings.HasPrefix(l, "hz") {
		return string(b), ""
	}
	enc, isUTF8, ascii := lookupCharset(label)
	switch {
	case isUTF8:
		if utf8.Valid(b) {
			return string(b), ""
		}
		if !hasUTF8Multibyte(b) {
			s, p, _ := guessCharset(b, "charset utf-8 label on non-UTF-8 text")
			return s, p
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), "invalid UTF-8 replaced"
	case ascii:
		if utf8.Valid(b) {
			return string(b), ""
		}
		undeclared := l == "" || l == "us-ascii" || l == "ascii"
		why := "charset " + quoteLabel(label) + " on 8-bit text"
		if undeclared {
			why = "undeclared 8-bit text"
		}
		s, p, guessed := guessCharset(b, why)
		if !guessed && undeclared {
			// Read as windows-1252, the long-standing default: not
			// worth a flag.
			return s, ""
		}
		return s, p
	case enc == nil:
		if utf8.Valid(b) {
			return string(b), "unknown charset " + quoteLabel(label) + " (read as UTF-8)"
		}
		s, p, _ := guessCharset(b, "unknown charset "+quoteLabel(label))
		return s, p
	case strings.HasPrefix(l, "iso-2022") || strings.HasPrefix(l, "csiso2022"):
		if !isASCII(b) {
			// A 7-bit charset holding 8-bit bytes is mislabelled (often
			// Shift_JIS sent as ISO-2022-JP).
			s, p, _ := guessCharset(b, "charset "+quoteLabel(label)+" on 8-bit text")
			return s, p
		}
	case singleByteLatin(l):
		// Latin-1 decodes any bytes: only a strong sign of a multi-byte
		// Asian charset overrides the label (GBK sent as latin-1). Text
		// that dense in 8-bit bytes is asked of the detector; European
		// text, a few accented letters among ASCII, is not (the detector
		// was 4% of a capture's CPU on mixed mail).
		if !denseHighBytes(b) {
			break
		}
		if name, conf := detectCharset(b); conf >= 50 && multiByteAsian(name) {
			if s, ok := decodeAs(name, b); ok {
				return s, FlagCharsetGuessed + ": charset " + quoteLabel(label) + " holds " + name + " text (confidence " + strconv.Itoa(conf) + ")"
			}
		}
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		if utf8.Valid(b) {
			return string(b), "charset " + quoteLabel(label) + " failed to decode (read as UTF-8)"
		}
		s, p, _ := guessCharset(b, "charset "+quoteLabel(label)+" failed to decode")
		return s, p
	}
	return validUTF8(string(out)), ""
}

// minGuessConfidence is the detector's confidence (0-100) below which its
// guess is not taken and the bytes are read as windows-1252.
const minGuessConfidence = 30

// guessCharset decodes b, whose declared charset did not fit, by the
// charset the detector finds (ICU's, saintfish/chardet), else as
// windows-1252 (guessed false); the problem starts with why and says what
// was used.
func guessCharset(b []byte, why string) (s, problem string, guessed bool) {
	if name, conf := detectCharset(b); conf >= minGuessConfidence {
		if s, ok := decodeAs(name, b); ok {
			return s, FlagCharsetGuessed + ": " + why + " (read as " + name + ", confidence " + strconv.Itoa(conf) + ")", true
		}
	}
	w, _ := charmap.Windows1252.NewDecoder().Bytes(b)
	return string(w), why + " (read as windows-1252)", false
}

// decodeAs decodes b as the detector's charset name; ok is false for a
// name we have no decoder for, or bytes it refuses.
func decodeAs(name string, b []byte) (string, bool) {
	e, isUTF8, _ := lookupCharset(name)
	if e == nil || isUTF8 {
		return "", false
	}
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return "", false
	}
	return validUTF8(string(out)), true
}

// detectSample bounds what the detector reads: enough for a confident
// guess, cheap on a large body.
const detectSample = 8 << 10

// detectCharset is the detector's best charset for b (a name
// lookupCharset knows) and its confidence; 0 when it has none.
func detectCharset(b []byte) (string, int) {
	if len(b) > detectSample {
		b = b[:detectSample]
	}
	all, err := chardet.NewTextDetector().DetectAll(b)
	if err != nil || len(all) == 0 {
		return "", 0
	}
	// The detector runs its recognisers concurrently and sorts them by
	// confidence alone, so among equally confident charsets DetectBest's
	// pick changed from run to run: the same mail read as ISO-8859-1 once
	// and ISO-8859-9 the next. Ties go to ISO-8859-1 (the long-standing
	// default for undeclared 8-bit text), then to the first name.
	r := all[0]
	for _, c := range all[1:] {
		if c.Confidence == r.Confidence && r.Charset != "ISO-8859-1" && (c.Charset == "ISO-8859-1" || c.Charset < r.Charset) {
			r = c
		}
	}
	name := r.Charset
	switch name {
	case "GB-18030":
		name = "gb18030"
	case "UTF-8", "UTF-16BE", "UTF-16LE", "UTF-32BE", "UTF-32LE", "IBM420_rtl", "IBM420_ltr", "IBM424_rtl", "IBM424_ltr":
		return "", 0 // UTF-8 is checked before; the others are not mail
	}
	return name, r.Confidence
}

func singleByteLatin(l string) bool {
	switch l {
	case "iso-8859-1", "latin1", "l1", "iso8859-1", "iso_8859-1", "windows-1252", "cp1252", "iso-8859-15", "latin-9":
		return true
	}
	return false
}

func multiByteAsian(name string) bool {
	switch strings.ToLower(name) {
	case "shift_jis", "euc-jp", "gb18030", "big5", "euc-kr", "iso-2022-jp", "iso-2022-kr", "iso-2022-cn":
		return true
	}
	return false
}

func quoteLabel(l string) string {
	if len(l) > 40 {
		l = l[:40]
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, l), "?")
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// hasUTF8Multibyte reports whether b holds at least one well-formed UTF-8
// multi-byte sequence: if it holds none, invalid UTF-8 is far more likely a
// mislabelled single-byte charset than damaged UTF-8.
func hasUTF8Multibyte(b []byte) bool {
	for len(b) > 0 {
		if b[0] < 0x80 {
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError && n > 1 {
			return true
		}
		b = b[n:]
	}
	return false
}

// decodeUTF7 decodes RFC 2152 UTF-7 leniently: malformed shifts are kept
// as they are.
func decodeUTF7(b []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var out strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '+' {
			if c < 0x80 {
				out.WriteByte(c)
			} else {
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '-' {
			out.WriteByte('+')
			i = j
			continue
		}
		var bits, nbits uint32
		var units []uint16
		for j < len(b) {
			k := strings.IndexByte(alphabet, b[j])
			if k < 0 {
				break
			}
			bits = bits<<6 | uint32(k)
			nbits += 6
			if nbits >= 16 {
				nbits -= 16
				units = append(units, uint16(bits>>nbits))
				bits &= 1<<nbits - 1
			}
			j++
		}
		out.WriteString(decodeUTF16(units))
		if j < len(b) && b[j] == '-' {
			j++
		}
		i = j - 1
	}
	return out.String()
}

func decodeUTF16(u []uint16) string {
	var buf bytes.Buffer
	for i := 0; i < len(u); i++ {
		r := rune(u[i])
		if r >= 0xD800 && r < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000 {
			r = (r-0xD800)<<10 + (rune(u[i+1]) - 0xDC00) + 0x10000
			i++
		} else if r >= 0xD800 && r < 0xE000 {
			r = utf8.RuneError
		}
		buf.WriteRune(r)
	}
	return buf.String()
}

// denseHighBytes reports whether at least a fifth of (the first
// detectSample bytes of) b are 8-bit: true of CJK text in a double-byte
// charset, where every character has an 8-bit lead byte, and false of
// Western European text, whose accented letters are a few in a hundred.
func denseHighBytes(b []byte) bool {
	if len(b) > detectSample {
		b = b[:detectSample]
	}
	high := 0
	for _, c := range b {
		if c >= 0x80 {
			high++
		}
	}
	return high*5 >= len(b)
}
