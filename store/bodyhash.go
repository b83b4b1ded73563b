package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// noBodyHash marks a stored message whose body hash cannot be worked out
// (its raw blob is gone); it equals no hash.
const noBodyHash = "unavailable"

// backfillBodyHashes gives every stored message without a body hash its
// hash, worked out from its raw blob. Capture works the hash out while a
// message streams in; databases written before it did have rows without
// one, and the duplicate look-up (MessageByBody) matches hashes only. It
// runs once, after the migrations, in chunks: the blobs are read outside
// any transaction, and each chunk's rows are written in one short one.
// A row whose hash another process filled meanwhile is left as it is.
func (s *Store) backfillBodyHashes(ctx context.Context) error {
	const chunk = 500
	type row struct {
		id   int64
		raw  string
		hash string
	}
	var (
		after    int64
		done     int
		started  = time.Now()
		reported = started
	)
	for {
		var rows []row
		rs, err := s.r.QueryContext(ctx, `SELECT id, raw_sha256 FROM messages
            WHERE body_hash = '' AND raw_sha256 <> '' AND id > ? ORDER BY id LIMIT ?`, after, chunk)
		if err != nil {
			return fmt.Errorf("store: body hashes: %w", err)
		}
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.id, &r.raw); err != nil {
				rs.Close()
				return fmt.Errorf("store: body hashes: %w", err)
			}
			rows = append(rows, r)
		}
		if err := errors.Join(rs.Close(), rs.Err()); err != nil {
			return fmt.Errorf("store: body hashes: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		for i := range rows {
			h, err := s.blobBodyHash(ctx, rows[i].raw)
			if err != nil {
				return err
			}
			rows[i].hash = h
		}
		err = s.write(ctx, func(q querier) error {
			for _, r := range rows {
				if _, err := q.ExecContext(ctx, `UPDATE messages SET body_hash = ?
                    WHERE id = ? AND body_hash = ''`, r.hash, r.id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: save body hashes: %w", err)
		}
		done += len(rows)
		after = rows[len(rows)-1].id
		if time.Since(reported) > 5*time.Second {
			reported = time.Now()
			s.log.LogAttrs(ctx, slog.LevelInfo, "store: working out body hashes of stored messages",
				slog.Int("done", done))
		}
	}
	if done > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "store: body hashes of stored messages worked out",
			slog.Int("messages", done), slog.Duration("took", time.Since(started).Round(time.Millisecond)))
	}
	return nil
}

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
