package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// noBodyHash marks a stored message whose body hash cannot be worked out
// (its raw blob is gone); it equals no hash. A stored message's body_hash
// is "" until a duplicate look-up needs it (tx.MessageByBody).
const noBodyHash = "unavailable"

// blobBodyHash works out the body hash of the raw message in the blob
// sha256; noBodyHash when the blob is gone.
func (s *Store) blobBodyHash(ctx context.Context, sha256 string) (string, error) {
	rc, err := s.blobs.Open(ctx, sha256)
	if errors.Is(err, ticket.ErrNotFound) {
		return noBodyHash, nil
	}
	if err != nil {
		return "", fmt.Errorf("store: body hash: %w", err)
	}
	defer rc.Close()
	h, err := ticket.BodyHash(rc, sha256)
	if err != nil {
		return "", fmt.Errorf("store: body hash of blob %s: %w", sha256, err)
	}
	return h, nil
}

// rawBodyHash is the body hash of a message being stored, from its raw
// blob sha256: unlike a stored message's, a missing blob is an error (a
// hash for it would equal every other missing one).
func (s *Store) rawBodyHash(ctx context.Context, sha256 string) (string, error) {
	h, err := s.blobBodyHash(ctx, sha256)
	if err == nil && h == noBodyHash {
		// Not ErrNotFound: that would read as "no duplicate", and the
		// message would be stored pointing at a blob that is not there.
		return "", fmt.Errorf("store: body hash: the raw message's blob %s is not stored", sha256)
	}
	return h, err
}
