package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// CreateSession stores a new session of user userID of tenant under
// idHash (64 lowercase hex characters: the SHA-256 of a high-entropy
// random id), expiring at expires.
func (s *Store) CreateSession(ctx context.Context, tenant string, userID int64, idHash, csrfToken string, expires time.Time) (ticket.Session, error) {
	if tenant == "" || userID <= 0 {
		return ticket.Session{}, fmt.Errorf("store: create session: %w tenant or user missing", ticket.ErrInvalid)
	}
	if !tokenHash.MatchString(idHash) {
		return ticket.Session{}, errors.New("store: create session: id hash must be 64 lowercase hex characters")
	}
	if csrfToken == "" {
		return ticket.Session{}, fmt.Errorf("store: create session: %w empty CSRF token", ticket.ErrInvalid)
	}
	now := fmtTime(s.nowUTC())
	exp := fmtTime(expires)
	sess := ticket.Session{Tenant: tenant, UserID: userID, CSRFToken: csrfToken}
	sess.CreatedAt, _ = parseTime(sql.NullString{String: now, Valid: true})
	sess.ExpiresAt, _ = parseTime(sql.NullString{String: exp, Valid: true})
	err := s.write(ctx, func(q querier) error {
		// The user must be of the tenant: a session never crosses tenants.
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM users WHERE tenant_id = ? AND id = ?`, tenant, userID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("user %d: %w", userID, ticket.ErrNotFound)
			}
			return err
		}
		return q.QueryRowContext(ctx, `INSERT INTO web_sessions (tenant_id, user_id, id_hash, csrf_token, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, tenant, userID, idHash, csrfToken, now, exp).Scan(&sess.ID)
	})
	if err != nil {
		return ticket.Session{}, fmt.Errorf("store: create session: %w", err)
	}
	return sess, nil
}

// SessionByHash finds the unexpired session stored under idHash;
// ticket.ErrNotFound when there is none, it has expired, or the hash is
// malformed.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (ticket.Session, error) {
	return sessionByHash(ctx, s.r, s.nowUTC(), idHash)
}

const sessionByHashQuery = `SELECT id, tenant_id, user_id, csrf_token, created_at, expires_at
        FROM web_sessions WHERE id_hash = ? AND expires_at > ?`

func sessionByHash(ctx context.Context, q querier, now time.Time, idHash string) (ticket.Session, error) {
	if !tokenHash.MatchString(idHash) {
		return ticket.Session{}, fmt.Errorf("store: session: %w", ticket.ErrNotFound)
	}
	var (
		sess             ticket.Session
		created, expires sql.NullString
	)
	err := q.QueryRowContext(ctx, sessionByHashQuery, idHash, fmtTime(now)).
		Scan(&sess.ID, &sess.Tenant, &sess.UserID, &sess.CSRFToken, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Session{}, fmt.Errorf("store: session: %w", ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.Session{}, fmt.Errorf("store: session: %w", err)
	}
	if sess.CreatedAt, err = parseTime(created); err != nil {
		return ticket.Session{}, err
	}
	if sess.ExpiresAt, err = parseTime(expires); err != nil {
		return ticket.Session{}, err
	}
	return sess, nil
}

// DeleteSession removes the session stored under idHash (sign out). A
// session that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of one user of tenant (after a
// password change) and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, tenant string, userID int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM web_sessions WHERE tenant_id = ? AND user_id = ?`, tenant, userID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete user sessions: %w", err)
	}
	return n, nil
}

// DeleteExpiredSessions removes sessions that expired before now and
// returns how many; the server calls it now and then.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	var n int64
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, fmtTime(s.nowUTC()))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}
