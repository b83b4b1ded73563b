package capture

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// slowB64 is the byte-at-a-time decoder feed replaced by a fast path for
// whole quanta: the reference both must agree with.
func slowB64(in []byte) ([]byte, string) {
	var d b64
	var out []byte
	for _, c := range in {
		v := b64Value[c]
		if v == 0xff {
			switch c {
			case '=':
				out = d.flush(out)
			case ' ', '\t', '\r', '\n', '\f', '\v':
			default:
				d.invalid++
			}
			continue
		}
		d.quad[d.n] = v
		d.n++
		if d.n == 4 {
			out = append(out, d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2, d.quad[2]<<6|d.quad[3])
			d.n = 0
		}
	}
	out = d.flush(out)
	return out, d.problem()
}

// TestB64FastPath checks the lenient decoder against the reference on
// clean MIME bodies, concatenated blocks, junk and white space at every
// offset, and streamed in reads of every size.
func TestB64FastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	wrap := func(s string) []byte {
		var b bytes.Buffer
		for len(s) > 76 {
			b.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		b.WriteString(s + "\r\n")
		return b.Bytes()
	}
	inputs := map[string][]byte{
		"mime lines":    wrap(base64.StdEncoding.EncodeToString(data)),
		"no padding":    []byte(base64.RawStdEncoding.EncodeToString(data[:1000])),
		"concatenated":  []byte(base64.StdEncoding.EncodeToString(data[:10]) + base64.StdEncoding.EncodeToString(data[10:101])),
		"url alphabet":  []byte(base64.URLEncoding.EncodeToString(data[:500])),
		"truncated":     []byte(base64.StdEncoding.EncodeToString(data[:300])[:397]),
		"empty":         {},
		"only junk":     []byte("*** ~~~ \x00\xff"),
		"padding first": []byte("==QUJD"),
	}
	clean := []byte(base64.StdEncoding.EncodeToString(data[:200]))
	for i := 0; i < len(clean); i += 7 {
		for _, junk := range []string{"*", " ", "\r\n", "="} {
			in := append(append(append([]byte{}, clean[:i]...), junk...), clean[i:]...)
			inputs[fmt.Sprintf("%q at %d", junk, i)] = in
		}
	}
	for name, in := range inputs {
		want, wantProblem := slowB64(in)
		got, problem := decodeBase64Lenient(in)
		if !bytes.Equal(got, want) || problem != wantProblem {
			t.Errorf("%s: decoded %d bytes (%q), want %d (%q)", name, len(got), problem, len(want), wantProblem)
		}
		for _, size := range []int{1, 3, 4, 5, 77, 4096} {
			var d b64
			var out []byte
			for off := 0; off < len(in); off += size {
				out = d.feed(in[off:min(off+size, len(in))], out)
			}
			out = d.flush(out)
			if !bytes.Equal(out, want) || d.problem() != wantProblem {
				t.Errorf("%s in reads of %d: decoded %d bytes (%q), want %d (%q)", name, size, len(out), d.problem(), len(want), wantProblem)
			}
		}
	}
	if got, _ := decodeBase64Lenient(wrap(base64.StdEncoding.EncodeToString(data))); !bytes.Equal(got, data) {
		t.Error("clean MIME base64 does not round-trip")
	}
}

// BenchmarkB64Feed decodes MIME-wrapped base64 (76-character lines), as
// attachments arrive.
func BenchmarkB64Feed(b *testing.B) {
	raw := make([]byte, 57*500)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var sb strings.Builder
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	in := []byte(sb.String())
	out := make([]byte, 0, len(in))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var d b64
		out = d.feed(in, out[:0])
	}
}
