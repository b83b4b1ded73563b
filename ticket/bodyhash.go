package ticket

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// BodyHasher works out a message's body hash (Inbound.BodyHash): the
// SHA-256 of the bytes after its header block, after the first empty line
// (CRLF or bare LF). The same mail delivered to two mailboxes differs in
// its delivery headers, not its body. Write the raw message into it as it
// streams by; the zero value is not ready, use NewBodyHasher.
type BodyHasher struct {
	h      hash.Hash
	inBody bool
	state  int // 0: mid-line, 1: after LF, 2: after LF CR
}

// NewBodyHasher returns a hasher at the start of a message.
func NewBodyHasher() *BodyHasher { return &BodyHasher{h: sha256.New(), state: 1} }

// Write implements io.Writer; it never fails.
func (b *BodyHasher) Write(p []byte) (int, error) {
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

// Sum returns the hex body hash of what was written. A message without
// a header/body separator is all body: its hash is rawSHA256, the hex
// SHA-256 of the whole message.
func (b *BodyHasher) Sum(rawSHA256 string) string {
	if !b.inBody {
		return rawSHA256
	}
	return hex.EncodeToString(b.h.Sum(nil))
}

// BodyKey names a message body for a duplicate look-up (Tx.MessageByBody):
// by its body hash when the caller has it, else by the raw message it is
// the body of (the SHA-256 of its blob), whose hash the store works out
// when it has a stored message to compare it with. Mail with the same
// Message-ID is rare, so capture leaves the hash to that look-up instead
// of hashing every message's body as it streams in (a second SHA-256 pass
// over each raw message, 4% of a capture's CPU).
type BodyKey struct {
	Hash string // body hash (see BodyHasher)
	Raw  string // SHA-256 of the raw message, when Hash is ""
}

// BodyHash reads a raw message whose SHA-256 is rawSHA256 and returns its
// body hash (see BodyHasher).
func BodyHash(r io.Reader, rawSHA256 string) (string, error) {
	h := NewBodyHasher()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("ticket: body hash: %w", err)
	}
	return h.Sum(rawSHA256), nil
}
