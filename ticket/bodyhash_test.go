package ticket

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBodyHash(t *testing.T) {
	tests := []struct{ raw, body string }{
		{"A: b\r\n\r\nbody\r\n", "body\r\n"},
		{"A: b\n\nbody\n", "body\n"},
		{"A: b\r\n\nmixed", "mixed"},
		{"\r\nno header", "no header"},
		{"\nno header", "no header"},
		{"A: b\r\n\r\n", ""},
	}
	for _, tt := range tests {
		want := sha256.Sum256([]byte(tt.body))
		for _, chunk := range []int{1, 3, 1000} {
			h := NewBodyHasher()
			for i := 0; i < len(tt.raw); i += chunk {
				h.Write([]byte(tt.raw[i:min(len(tt.raw), i+chunk)]))
			}
			if got := h.Sum("raw"); got != hex.EncodeToString(want[:]) {
				t.Errorf("%q chunk %d: body hash of wrong bytes", tt.raw, chunk)
			}
		}
		got, err := BodyHash(iotest.HalfReader(strings.NewReader(tt.raw)), "raw")
		if err != nil || got != hex.EncodeToString(want[:]) {
			t.Errorf("BodyHash(%q) = %s, %v", tt.raw, got, err)
		}
	}
	h := NewBodyHasher()
	h.Write([]byte("A: b\r\nno separator at all"))
	if h.Sum("rawsum") != "rawsum" {
		t.Error("no separator: Sum should be the raw message's hash")
	}
	if got, err := BodyHash(strings.NewReader("A: b\r\nno separator at all"), "rawsum"); err != nil || got != "rawsum" {
		t.Errorf("no separator: BodyHash = %q, %v; want the raw message's hash", got, err)
	}
	if _, err := BodyHash(iotest.ErrReader(iotest.ErrTimeout), "x"); err == nil {
		t.Error("a read error was not reported")
	}
}
