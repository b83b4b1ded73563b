package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// recordingCuts is a CutWriter that counts the runs it is told of, over
// the store's own writer.
type recordingCuts struct {
	ticket.CutWriter
	runs []ticket.Base64Run
}

func (r *recordingCuts) Cut(run ticket.Base64Run) error {
	r.runs = append(r.runs, run)
	return r.CutWriter.Cut(run)
}

func openCutStore(t testing.TB) *store.Store {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{Path: dir + "/s.db", BlobDir: dir + "/blobs"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// captureCut stores raw the way Pipeline.prepare does, cutting, and
// returns what was parsed, the runs cut and the stored raw message's ref.
func captureCut(t testing.TB, st *store.Store, raw []byte, oneByte bool) (ticket.Inbound, []ticket.Base64Run, ticket.BlobRef) {
	t.Helper()
	ctx := context.Background()
	bw, err := st.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	cw := &recordingCuts{CutWriter: bw.(ticket.CutWriter)}
	var r io.Reader = bytes.NewReader(raw)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	tee := io.TeeReader(r, cw)
	in, err := parse(ctx, tee, st.Blobs(), ParseOptions{MaxBodyBytes: 1 << 16}, cw)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		t.Fatal(err)
	}
	ref, err := cw.Commit(ctx)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return in, cw.runs, ref
}

func readBlob(t testing.TB, st *store.Store, sha string) []byte {
	t.Helper()
	rc, err := st.Blobs().Open(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", sha, err)
	}
	return b
}

// checkCutRoundTrip: cutting changes nothing a parse returns, and the raw
// message reads back byte for byte, before and after its index commits.
func checkCutRoundTrip(t testing.TB, st *store.Store, raw []byte, oneByte bool) []ticket.Base64Run {
	t.Helper()
	plain, err := Parse(context.Background(), bytes.NewReader(raw), newMemBlobs(), ParseOptions{MaxBodyBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	in, runs, ref := captureCut(t, st, raw, oneByte)
	if !reflect.DeepEqual(in, plain) {
		t.Fatalf("a parse that cuts differs from one that does not:\ncut   %+v\nplain %+v", in, plain)
	}
	sum := sha256.Sum256(raw)
	if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Size != int64(len(raw)) {
		t.Fatalf("raw ref %+v, want the SHA-256 and size (%d) of the bytes", ref, len(raw))
	}
	if got := readBlob(t, st, ref.SHA256); !bytes.Equal(got, raw) {
		t.Fatalf("the raw message read back (%d bytes) differs from what was captured (%d bytes); runs %+v", len(got), len(raw), runs)
	}
	if err := st.WithTx(context.Background(), func(ticket.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, st, ref.SHA256); !bytes.Equal(got, raw) {
		t.Fatalf("the raw message read back from the index differs from what was captured")
	}
	for _, a := range in.Attachments {
		readBlob(t, st, a.SHA256) // every attachment is there, decoded
	}
	return runs
}

func TestCutFixturesRoundTrip(t *testing.T) {
	st := openCutStore(t)
	var cut int
	for _, raw := range fixtures(t) {
		for _, oneByte := range []bool{false, true} {
			runs := checkCutRoundTrip(t, st, raw, oneByte)
			if !oneByte {
				cut += len(runs)
			}
		}
	}
	if cut < 2 {
		t.Errorf("%d base64 runs cut over all fixtures; attachments.eml and rfc2231-filenames.eml have one each", cut)
	}
}

// b64Body is data as base64 in lines of line characters.
func b64Body(data []byte, line int, eol string) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(enc) > line {
		lines, enc = append(lines, enc[:line]), enc[line:]
	}
	return strings.Join(append(lines, enc), eol)
}

func cutMail(body, eol string) []byte {
	head := "From: a@example.com\nSubject: cut\nContent-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\nContent-Type: text/plain\n\nhi\n--zz\n" +
		"Content-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\n"
	return []byte(strings.ReplaceAll(head, "\n", eol) + body + eol + "--zz--" + eol)
}

// TestCutOnlyCanonicalBase64: what is cut is exactly the canonical part
// of a run; anything else is kept as it is, and every variant still reads
// back byte for byte.
func TestCutOnlyCanonicalBase64(t *testing.T) {
	st := openCutStore(t)
	data := make([]byte, 6000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	full := b64Body(data, 76, "\r\n")
	lineBytes := int64(78)
	cases := []struct {
		name string
		raw  []byte
		want int64 // bytes cut; 0: none
	}{
		{"canonical CRLF", cutMail(full, "\r\n"), int64(len(full))},
		{"canonical LF, 64 a line", cutMail(b64Body(data, 64, "\n"), "\n"), int64(len(b64Body(data, 64, "\n")))},
		{"blank line before the boundary", cutMail(full+"\r\n", "\r\n"), int64(len(full))},
		{"a line of 75 in the middle", cutMail(full[:20*78]+full[20*78+1:], "\r\n"), 20 * lineBytes},
		{"a space at the end of line 30", cutMail(full[:30*78-2]+" "+full[30*78-2:], "\r\n"), 29 * lineBytes},
		{"non-zero padding bits", cutMail(full[:len(full)-3]+"B==", "\r\n"), int64(len(full)) - int64(len(full))%lineBytes},
		{"URL-safe alphabet", cutMail(strings.NewReplacer("+", "-", "/", "_").Replace(full), "\r\n"), 0},
		{"a first line of 78", cutMail(full[:76]+"AA"+full[76:], "\r\n"), 0},
		{"too small to cut", cutMail(b64Body(data[:500], 76, "\r\n"), "\r\n"), 0},
		{"mixed line endings", cutMail(strings.Replace(full, "\r\n", "\n", 50), "\r\n"), 50 * 77},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runs := checkCutRoundTrip(t, st, c.raw, false)
			var got int64
			for _, r := range runs {
				got += r.End - r.Start
			}
			if c.want >= 0 && got != c.want {
				t.Errorf("%d bytes cut (%+v), want %d", got, runs, c.want)
			}
		})
	}
}

// FuzzCutRoundTrip: whatever the input and however it is read, cutting
// never changes the parse, and the raw message reads back exactly.
func FuzzCutRoundTrip(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b, false)
	}
	data := bytes.Repeat([]byte("0123456789abcdefghij\x00\xff"), 100)
	f.Add(cutMail(b64Body(data, 76, "\r\n"), "\r\n"), false)
	f.Add(cutMail(b64Body(data, 72, "\n")+"\n\n", "\n"), true)
	f.Add(cutMail(b64Body(data[:1501], 76, "\r\n")+"\r\n"+b64Body(data[:900], 76, "\r\n"), "\r\n"), false)
	st := openCutStore(f)
	f.Fuzz(func(t *testing.T, raw []byte, oneByte bool) {
		checkCutRoundTrip(t, st, raw, oneByte)
	})
}

// TestCutMutatedFixtures runs the round trip over fixtures with random
// damage (bytes changed, cut short, delimiter-like lines put in), the
// kind real mail has, so `make test` covers more than the fuzz seeds.
func TestCutMutatedFixtures(t *testing.T) {
	st := openCutStore(t)
	fx := fixtures(t)
	rng := rand.New(rand.NewPCG(9, 9))
	for range 600 {
		raw := append([]byte(nil), fx[rng.IntN(len(fx))]...)
		for k := rng.IntN(4); k >= 0; k-- {
			switch rng.IntN(3) {
			case 0:
				if len(raw) > 0 {
					raw[rng.IntN(len(raw))] = byte(rng.UintN(256))
				}
			case 1:
				if len(raw) > 0 {
					raw = raw[:rng.IntN(len(raw))]
				}
			case 2:
				p := rng.IntN(len(raw) + 1)
				raw = append(raw[:p:p], append([]byte("\r\n--"), raw[p:]...)...)
			}
		}
		checkCutRoundTrip(t, st, raw, rng.IntN(2) == 0)
	}
}

// BenchmarkCutCheck is the canonical-base64 check of a capture that cuts,
// per byte of base64.
func BenchmarkCutCheck(b *testing.B) {
	data := bytes.Repeat([]byte("sidedesk\x00\x01\xfe"), 100000)
	body := []byte(b64Body(data, 76, "\r\n"))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		t := &runTap{}
		for off := 0; off < len(body); off += 32 << 10 {
			t.check(body[off:min(len(body), off+32<<10)])
		}
		if t.stopped || t.full == 0 {
			b.Fatalf("a canonical body stopped the check: %+v", t)
		}
	}
}

// TestCutIdentityRuns: an attached message and a 7bit or binary file are
// kept once: the raw message refers to the attachment blob for their
// bytes. A text part or a small one is kept as it is.
func TestCutIdentityRuns(t *testing.T) {
	st := openCutStore(t)
	inner := "From: b@example.com\r\nSubject: forwarded\r\n\r\n" + strings.Repeat("the forwarded text, line after line\r\n", 200)
	part := func(headers, body string) []byte {
		return []byte("From: a@example.com\r\nSubject: fw\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nsee attached\r\n--zz\r\n" +
			headers + "\r\n\r\n" + body + "\r\n--zz--\r\n")
	}
	bin := strings.Repeat("\x00\x01binary\xff\r\n", 300)
	cases := []struct {
		name string
		raw  []byte
		want int64
	}{
		{"message/rfc822", part("Content-Type: message/rfc822", inner), int64(len(inner))},
		{"binary pdf", part("Content-Type: application/pdf\r\nContent-Transfer-Encoding: binary", bin), int64(len(bin))},
		{"7bit octet-stream, no name", part("Content-Type: application/octet-stream", inner), int64(len(inner))},
		{"a text/csv attachment is kept as it is", part("Content-Type: text/csv\r\nContent-Disposition: attachment; filename=a.csv", inner), 0},
		{"a small attached message", part("Content-Type: message/rfc822", inner[:600]), 0},
		{"quoted-printable is not the attachment's bytes", part("Content-Type: application/pdf\r\nContent-Transfer-Encoding: quoted-printable", inner), 0},
		// No blank line after the part's header: its first line was read
		// with the header and may be written before the run could start.
		{"a part without the blank line", []byte("Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: application/pdf\r\n%PDF-1.4\r\n" +
			bin + "\r\n--zz--\r\n"), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runs := checkCutRoundTrip(t, st, c.raw, false)
			checkCutRoundTrip(t, st, c.raw, true)
			var got int64
			for _, r := range runs {
				if r.Line != 0 {
					t.Errorf("run %+v: want one kept as the blob's bytes (Line 0)", r)
				}
				got += r.End - r.Start
			}
			if c.want >= 0 && got != c.want {
				t.Errorf("%d bytes cut (%+v), want %d", got, runs, c.want)
			}
		})
	}
}
