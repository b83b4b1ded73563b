package gmailsource

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestDecodeRawMessage(t *testing.T) {
	msg := "From: a@b.example\r\nSubject: hi\r\n\r\nbody \xff\xfe bytes?>\r\n"
	url := base64.URLEncoding.EncodeToString([]byte(msg))
	tests := []struct {
		name, json string
		wantDate   int64
		wantErr    bool
	}{
		{"gmail order", `{"id":"18c1","threadId":"18c1","labelIds":["INBOX","UNREAD"],"snippet":"x \"q\" \u00e9","historyId":"5","internalDate":"1700000000123","sizeEstimate":42,"raw":"` + url + `"}`, 1700000000123, false},
		{"raw first, padding escaped", `{"raw":"` + strings.ReplaceAll(url, "=", `\u003d`) + `", "internalDate": "7"}`, 7, false},
		{"unpadded", "{\n  \"raw\": \"" + base64.RawURLEncoding.EncodeToString([]byte(msg)) + "\"\n}", 0, false},
		{"standard alphabet, escaped slash", `{"raw":"` + strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(msg)), "/", `\/`) + `"}`, 0, false},
		{"nested objects skipped", `{"payload":{"headers":[{"name":"a","value":"}]"}]},"raw":"` + url + `"}`, 0, false},
		{"no raw", `{"id":"1"}`, 0, true},
		{"truncated", `{"raw":"` + url[:10], 0, true},
		{"not json", `<html>`, 0, true},
		{"bad base64", `{"raw":"@@@@"}`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			date, err := decodeRawMessage(bufio.NewReader(strings.NewReader(tc.json)), &out)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != msg || date != tc.wantDate {
				t.Fatalf("got %q date %d", out.String(), date)
			}
		})
	}
}

// A 12 MB raw message streams through the decoder into a spool file with a
// small, bounded amount of allocation (it never holds the message).
func TestDecodeRawStreamsLargeMessage(t *testing.T) {
	const size = 12 << 20
	pr, pw := io.Pipe()
	want := sha256.New()
	go func() {
		pw.Write([]byte(`{"id":"big","internalDate":"1","raw":"`))
		enc := base64.NewEncoder(base64.URLEncoding, pw)
		buf := make([]byte, 64<<10)
		rand.NewChaCha8([32]byte{1}).Read(buf)
		for n := 0; n < size; n += len(buf) {
			buf[0], buf[1] = byte(n>>16), byte(n>>24) // no two chunks alike
			want.Write(buf)
			enc.Write(buf)
		}
		enc.Close()
		pw.Write([]byte(`"}`))
		pw.Close()
	}()
	sp := newSpool(64 << 10)
	defer sp.Close()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if _, err := decodeRawMessage(bufio.NewReaderSize(pr, 32<<10), sp); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if sp.file == nil || sp.Size() != size {
		t.Fatalf("spool: file %v size %d", sp.file != nil, sp.Size())
	}
	// The generator goroutine allocates a little too; the decoder's share
	// is a few buffers. Holding the message would be > 12 MB.
	if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 2<<20 {
		t.Fatalf("decoding allocated %d MB for a %d MB message", grew>>20, size>>20)
	}
	r, err := sp.Reader()
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	io.Copy(got, r)
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("spooled bytes differ")
	}
	name := sp.file.Name()
	sp.Close()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("spool file left behind: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 12 {
		d := backoff(attempt, 1, 64)
		hi := min(int64(1)<<attempt, 64)
		if int64(d) < hi/2 || int64(d) > hi {
			t.Fatalf("backoff(%d) = %d, want in [%d, %d]", attempt, d, hi/2, hi)
		}
	}
}
