package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClaimOnce records key (a request's signature, prefixed by its kind:
// "slack:v0=...") as used until until, and reports whether this was its
// first use: false means the same signed request came before (a replay),
// in this process or another sharing the database. Keys past their until
// are forgotten, so until should be the end of the window in which the
// request's signature is accepted at all.
func (s *Store) ClaimOnce(ctx context.Context, key string, until time.Time) (bool, error) {
	if key == "" {
		return false, errors.New("store: claim once: empty key")
	}
	now := fmtTime(s.nowUTC())
	var first bool
	err := s.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM replay_guard WHERE expires_at <= ?`, now); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `INSERT INTO replay_guard (key, expires_at) VALUES (?, ?)
            ON CONFLICT (key) DO NOTHING`, key, fmtTime(until))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: claim once: %w", err)
	}
	return first, nil
}
