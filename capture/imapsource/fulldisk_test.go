package imapsource

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/ticket"
)

// mailWithAttachment is a customer mail carrying size random (so
// incompressible) bytes as a base64 attachment.
func mailWithAttachment(t *testing.T, i, size int) (raw []byte, messageID string) {
	t.Helper()
	blob := make([]byte, size)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	messageID = fmt.Sprintf("full-disk-%d.%d@customer.example", i, time.Now().UnixNano())
	raw = fmt.Appendf(nil, "From: Customer %d <customer%d@customer.example>\r\n"+
		"To: support@acme.example\r\nSubject: Logs, part %d\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n"+
		"Message-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe logs you asked for.\r\n"+
		"--b\r\nContent-Type: application/octet-stream; name=\"logs-%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=\"logs-%d.bin\"\r\n\r\n%s--b--\r\n", i, i, i, messageID, i, i, b.String())
	return raw, messageID
}

// TestFullDiskKeepsNoBytesOfFailedWrites runs capture on a real, small
// filesystem until it is full, then frees space: the captures that failed
// must have left none of their bytes behind (issue 17: "the space an
// operator frees is eaten again by the bytes of retried, never-committed
// blobs"), so the freed space goes to new mail, and nothing committed is
// lost or changed.
func TestFullDiskKeepsNoBytesOfFailedWrites(t *testing.T) {
	const fsSize = 24 << 20
	dir := testenv.SmallFS(t, fsSize)
	const reserve = 2 << 20
	e := newEnvAt(t, dir, reserve)
	ctx := context.Background()

	// Space the operator frees later.
	filler := filepath.Join(dir, "filler")
	const fillerSize = 6 << 20
	if err := os.WriteFile(filler, make([]byte, fillerSize), 0o600); err != nil {
		t.Fatal(err)
	}

	m := startMemServer(t)
	// About 78 mails fill the filesystem; the rest (about 20) must all
	// fit in the space freed later (room for about 30).
	const total, attSize = 95, 200 << 10
	raws := map[string][]byte{}
	var ids []string
	for i := range total {
		raw, id := mailWithAttachment(t, i, attSize)
		m.append(t, raw)
		raws[id] = raw
		ids = append(ids, id)
	}
	// What a mail takes: its raw bytes with the attachment's base64 cut
	// out (store/blob_cuts.go: the run ends before the delimiter's CRLF),
	// and the attachment once, decoded.
	b64Run := int64(base64.StdEncoding.EncodedLen(attSize)+(base64.StdEncoding.EncodedLen(attSize)+75)/76*2) - 2
	perMail := int64(len(raws[ids[0]])) - b64Run + attSize

	src := newSource(t, e.memOptions(m))
	// The disk fills: each pass fails, and the retries (as serve's next
	// passes would) must not eat more space.
	var lastErr error
	for range 4 {
		if _, lastErr = src.Once(ctx); lastErr == nil {
			t.Fatalf("capture of %d × %d KB on a %d MB filesystem succeeded; the test needs it to fill up", total, attSize>>10, fsSize>>20)
		}
	}
	if !errors.Is(lastErr, syscall.ENOSPC) && !strings.Contains(lastErr.Error(), "full") {
		t.Fatalf("capture on a full disk failed with %v, want the full-disk error named", lastErr)
	}
	before, err := e.store.CountMessages(ctx, ticket.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 || before >= total {
		t.Fatalf("%d of %d messages committed before the disk was full; want some, not all", before, total)
	}
	// What the packs hold beyond the committed mail: the blobs of mail
	// prepared ahead of the failure (at most the committer's queue and
	// workers, 18 mails; kept for the retry, which finds them stored),
	// never a failed write's bytes.
	waste := packBytes(t, dir) - int64(before)*perMail
	if waste > 18*perMail {
		t.Errorf("after the failed passes the packs hold %d bytes (%.1f mails' worth) beyond the %d committed mails", waste, float64(waste)/float64(perMail), before)
	}

	// The operator frees space; capture goes on with what there is.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Once(ctx); err != nil {
		t.Errorf("capture after freeing room for %d mails, %d left to capture: %v", fillerSize/perMail, total-before, err)
	}
	after, err := e.store.CountMessages(ctx, ticket.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	// All the rest fit in what was freed (the bug this guards against let
	// 0-9 mails of room for 12 in: retries ate the space).
	if after != total {
		t.Errorf("freeing %d MB (room for %d mails of %d bytes) let %d more mails in, want all %d left", fillerSize>>20, fillerSize/perMail, perMail, after-before, total-before)
	}
	t.Logf("%d mails fit before the disk was full (%d bytes of the packs beyond them); freeing %d MB let %d more in (%d bytes per mail)",
		before, waste, fillerSize>>20, after-before, perMail)

	// Every committed mail reads back byte for byte.
	n := 0
	for _, id := range ids {
		ms, err := e.store.MessagesWithMessageID(ctx, ticket.DefaultTenant, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range ms {
			n++
			rc, err := e.store.Blobs().Open(ctx, msg.Raw.SHA256)
			if err != nil {
				t.Fatalf("raw of %s: %v", id, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, raws[id]) {
				t.Fatalf("raw of %s differs from the mail delivered", id)
			}
		}
	}
	if n != after {
		t.Fatalf("%d messages found by Message-ID, %d counted", n, after)
	}
}

// packBytes is the size of every blob pack under dir.
func packBytes(t *testing.T, dir string) int64 {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, "blobs", "packs", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range packs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
