// Package seal encrypts secrets kept at rest (webhook signing secrets,
// CRM refresh tokens) with AES-256-GCM under a key derived from the
// server's secret key. Each sealed value is nonce || ciphertext; the
// purpose is authenticated data, so a value sealed for one use never
// opens as another.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// Box seals and opens values with one key.
type Box struct{ aead cipher.AEAD }

// New makes a Box of a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, errors.New("seal: the key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain for purpose.
func (b *Box) Seal(plain []byte, purpose string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, plain, []byte(purpose))
}

// Open decrypts what Seal made for the same purpose.
func (b *Box) Open(sealed []byte, purpose string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("seal: value too short")
	}
	return b.aead.Open(nil, sealed[:n], sealed[n:], []byte(purpose))
}
