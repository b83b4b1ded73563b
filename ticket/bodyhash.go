package ticket

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// bodyHasher hashes the bytes after a message's header block: after the
// first empty line (CRLF or bare LF). It is Inbound.BodyHash: the same mail
// delivered to two mailboxes differs in its delivery headers, not its body.
// Write the raw message into it.
type bodyHasher struct {
	h      hash.Hash
	inBody bool
	state  int // 0: mid-line, 1: after LF, 2: after LF CR
}

// newBodyHasher returns a hasher at the start of a message.
func newBodyHasher() *bodyHasher { return &bodyHasher{h: sha256.New(), state: 1} }

// Write implements io.Writer; it never fails.
func (b *bodyHasher) Write(p []byte) (int, error) {
	if b.inBody {
		return b.h.Write(p)
	}
	for i, c := range p {
		switch {
		case c == '\n' && b.state >= 1:
			b.inBody = true
			b.h.Write(p[i+1:])
			return len(p), nil
		case c == '\n':
			b.state = 1
		case c == '\r' && b.state == 1:
			b.state = 2
		default:
			b.state = 0
		}
	}
	return len(p), nil
}

// Sum returns the hex SHA-256 of the body, "" when no empty line was
// written (a message without a header/body separator).
func (b *bodyHasher) Sum() string {
	if !b.inBody {
		return ""
	}
	return hex.EncodeToString(b.h.Sum(nil))
}

// BodyHash reads a raw message whose SHA-256 is rawSHA256 and returns its
// body hash: that of the bytes after the header block, or rawSHA256 when
// the message has no header/body separator (all of it is the body).
func BodyHash(r io.Reader, rawSHA256 string) (string, error) {
	h := newBodyHasher()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("ticket: body hash: %w", err)
	}
	if s := h.Sum(); s != "" {
		return s, nil
	}
	return rawSHA256, nil
}
