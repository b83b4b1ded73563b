package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AcquireLease takes or renews the lease name for holder until now+ttl. It
// reports true when holder holds the lease afterwards: it was free, expired,
// or already holder's (renewed). Another holder's live lease is left alone
// (false, nil). Lease names are global; callers put the tenant into them
// (e.g. "capture:default:support").
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" {
		return false, errors.New("store: acquire lease: name and holder are required")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("store: acquire lease %s: ttl %v must be positive", name, ttl)
	}
	now := s.nowUTC()
	var got string
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
            WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
			name, holder, fmtTime(clampTime(now.Add(ttl))), fmtTime(now))
		if err != nil {
			return err
		}
		return q.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = ?`, name).Scan(&got)
	})
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %s: %w", name, err)
	}
	return got == holder, nil
}

// ReleaseLease gives up holder's lease name; releasing a lease one does not
// hold (any more) is not an error and leaves the other holder's lease alone.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release lease %s: %w", name, err)
	}
	return nil
}

// LeaseHolder is who holds lease name now ("" when nobody does).
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, error) {
	var h string
	err := s.r.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = ?`, name).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: lease holder %s: %w", name, err)
	}
	return h, nil
}

// TakeLease gives lease name to holder until now+ttl if from still holds
// it (a holder known to be dead); it reports whether holder has it now.
func (s *Store) TakeLease(ctx context.Context, name, from, holder string, ttl time.Duration) (bool, error) {
	var n int64
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND holder = ?`,
			holder, fmtTime(clampTime(s.nowUTC().Add(ttl))), name, from)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: take lease %s: %w", name, err)
	}
	return n == 1, nil
}
