package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestDeliver(t *testing.T) {
	raw, err := os.ReadFile("testdata/outlook-inline-image.eml")
	if err != nil {
		t.Fatal(err)
	}
	blobs := dirBlobs{dir: t.TempDir()}
	sink := &fakeSink{res: ticket.Result{MessageID: 7, Classification: ticket.ClassNormal}}
	now := time.Date(2026, 11, 17, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	res, err := Deliver(context.Background(), Delivery{Mailbox: "support", SourceKey: "imap:1:42"},
		bytes.NewReader(raw), blobs, sink, ParseOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.MessageID != 7 || len(sink.got) != 1 {
		t.Fatalf("res = %+v, ingested %d", res, len(sink.got))
	}
	in := sink.got[0]
	sum := sha256.Sum256(raw)
	if in.Tenant != ticket.DefaultTenant || in.Mailbox != "support" || in.SourceKey != "imap:1:42" {
		t.Errorf("identity = %q %q %q", in.Tenant, in.Mailbox, in.SourceKey)
	}
	if in.Raw.SHA256 != hex.EncodeToString(sum[:]) || in.Raw.Size != int64(len(raw)) {
		t.Errorf("Raw = %+v", in.Raw)
	}
	if in.BodyHash != "" {
		t.Errorf("BodyHash = %s, want none: the duplicate look-up works it out when it needs it", in.BodyHash)
	}
	if !in.ReceivedAt.Equal(now) || in.ReceivedAt.Location() != time.UTC {
		t.Errorf("ReceivedAt = %v", in.ReceivedAt)
	}
	if in.Subject != "RE: Dashboard shows wrong totals [#1042]" || len(in.Attachments) != 1 {
		t.Errorf("parsed = %q with %d attachments", in.Subject, len(in.Attachments))
	}
	rc, err := blobs.Open(context.Background(), in.Raw.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(stored, raw) {
		t.Error("raw blob differs from the delivered bytes")
	}
}

func TestPipelineMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if m2 := NewMetrics(reg); m2.MessagesCaptured != m.MessagesCaptured {
		t.Error("second NewMetrics on one registry should reuse the collectors")
	}
	sink := &fakeSink{res: ticket.Result{Classification: ticket.ClassBounce}}
	p := &Pipeline{Blobs: newMemBlobs(), Sink: sink, Metrics: m}
	for _, f := range []string{"bounce-postfix.eml", "broken-encodings.eml"} {
		raw, _ := os.ReadFile(filepath.Join("testdata", f))
		if _, err := p.Deliver(context.Background(), Delivery{Mailbox: "support"}, bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
	}
	sink.res.Duplicate = true
	p.Deliver(context.Background(), Delivery{Mailbox: "support"}, strings.NewReader("Subject: dup\r\n\r\n"))
	sink.err = errors.New("db down")
	if _, err := p.Deliver(context.Background(), Delivery{Mailbox: "support"}, strings.NewReader("Subject: x\r\n\r\n")); err == nil {
		t.Error("sink error not returned")
	}
	if got := testutil.ToFloat64(m.MessagesCaptured.WithLabelValues("support", "bounce")); got != 2 {
		t.Errorf("captured = %v, want 2 (duplicates not counted)", got)
	}
	if got := testutil.ToFloat64(m.ParseErrors.WithLabelValues("support")); got != 1 {
		t.Errorf("parse errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.CaptureErrors.WithLabelValues("support")); got != 1 {
		t.Errorf("capture errors = %v, want 1", got)
	}
	var nilM *Metrics
	nilM.Captured("x", "")
	nilM.IdleReconnect("x")
	nilM.SetLag("x", 1)
	nilM.CaptureError("x")
	nilM.ParseError("x")
}

func TestStatus(t *testing.T) {
	s := NewStatus()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("X", 7200))
	s.Update("b", func(m *MailboxStatus) { m.Kind = "imap"; m.Connected = true; m.LastSync = at; m.Captured++ })
	s.Update("a", func(m *MailboxStatus) { m.Kind = "gmail"; m.LastError = "auth failed"; m.LastErrorAt = at })
	s.Update("b", func(m *MailboxStatus) { m.Captured++ })
	snap := s.Snapshot()
	if len(snap) != 2 || snap[0].Name != "a" || snap[1].Captured != 2 {
		t.Fatalf("snapshot = %+v", snap)
	}
	b, _ := json.Marshal(snap)
	want := `[{"name":"a","kind":"gmail","connected":false,"last_error":"auth failed","last_error_at":"2026-11-20T08:00:00Z","captured":0},` +
		`{"name":"b","kind":"imap","connected":true,"last_sync":"2026-11-20T08:00:00Z","captured":2}]`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
}

// bigMessage streams a message with a base64 attachment of n bytes.
func bigMessage(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprint(pw, "From: big@x.example\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=BIG\r\n\r\n"+
			"--BIG\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--BIG\r\nContent-Type: application/octet-stream; name=big.bin\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n")
		chunk := bytes.Repeat([]byte{0xAB, 0xCD, 0xEF}, 19) // 57 bytes → one 76-char line
		line := make([]byte, 0, 80)
		for written := 0; written < n; written += len(chunk) {
			line = base64.StdEncoding.AppendEncode(line[:0], chunk)
			line = append(line, '\r', '\n')
			if _, err := pw.Write(line); err != nil {
				return
			}
		}
		fmt.Fprint(pw, "--BIG--\r\n")
		pw.Close()
	}()
	return pr
}

// peakBlobs samples the heap while an attachment streams through it.
type peakBlobs struct {
	discardBlobs
	peak uint64
}

func (b *peakBlobs) Create() (ticket.BlobWriter, error) {
	w := newTestWriter(nil)
	w.onWrite = func(total int64) {
		if total%(8<<20) < 32<<10 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.peak = max(b.peak, ms.HeapAlloc)
		}
	}
	return w, nil
}

func TestParseStreamsLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	size, limit := 50<<20, int64(16<<20)
	if raceEnabled {
		size, limit = 12<<20, 6<<20
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	blobs := &peakBlobs{}
	in, err := Parse(context.Background(), bigMessage(size), blobs, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Attachments) != 1 || in.Attachments[0].Size < int64(size) || in.Text != "see attachment" || in.ParseError != "" {
		t.Fatalf("parsed %+v", in)
	}
	growth := int64(blobs.peak) - int64(before.HeapAlloc)
	t.Logf("heap growth while streaming a %d MB attachment: %.1f MB", size>>20, float64(growth)/(1<<20))
	if growth > limit {
		t.Errorf("heap grew by %d MB while parsing a %d MB message; want under %d MB", growth>>20, size>>20, limit>>20)
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\n--a--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := Parse(context.Background(), bytes.NewReader(raw), newMemBlobs(), ParseOptions{MaxBodyBytes: 1 << 16})
		if err != nil {
			t.Fatalf("Parse error on in-memory input: %v", err)
		}
		if strings.Contains(in.ParseError, "panic") {
			t.Fatalf("parser panicked: %s", in.ParseError)
		}
		if !utf8.ValidString(in.Text) || !utf8.ValidString(in.HTML) || !utf8.ValidString(in.Subject) {
			t.Fatal("invalid UTF-8 in Text/HTML/Subject")
		}
	})
}

// fixtures returns the bytes of every testdata/*.eml, the fuzz seeds.
func fixtures(f testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/*.eml")
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzParseBulk: the bulk copy of part bodies (partBody.bulk) gives exactly
// what the line-by-line split gives, whatever the line endings, dashes,
// boundaries and the reads' sizes.
func FuzzParseBulk(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b, false)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\n\nx\r\n-y\n--a-\n\r\n--a--\n"), true)
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\nREVG\r\n\r\n--a--"), false)
	f.Fuzz(func(t *testing.T, raw []byte, oneByte bool) {
		parse := func(opts ParseOptions, r io.Reader) ticket.Inbound {
			in, err := Parse(context.Background(), r, newMemBlobs(), opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			return in
		}
		var r io.Reader = bytes.NewReader(raw)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		bulk := parse(ParseOptions{MaxBodyBytes: 1 << 16}, r)
		lines := parse(ParseOptions{MaxBodyBytes: 1 << 16, lineByLine: true}, bytes.NewReader(raw))
		if !reflect.DeepEqual(bulk, lines) {
			t.Fatalf("bulk and line-by-line parses differ:\nbulk  %+v\nlines %+v", bulk, lines)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	files, _ := filepath.Glob("testdata/*.eml")
	var msgs [][]byte
	total := 0
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		msgs = append(msgs, raw)
		total += len(raw)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range msgs {
			if _, err := Parse(context.Background(), bytes.NewReader(raw), discardBlobs{}, ParseOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkParseLarge(b *testing.B) {
	b.SetBytes(10 << 20)
	for b.Loop() {
		if _, err := Parse(context.Background(), bigMessage(10<<20), discardBlobs{}, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
