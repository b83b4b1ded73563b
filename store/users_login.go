package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// UserByID loads one of the tenant's users by id; ticket.ErrNotFound when
// the tenant has no such user.
func (s *Store) UserByID(ctx context.Context, tenant string, id int64) (ticket.User, error) {
	return userByID(ctx, s.r, tenant, id)
}

func userByID(ctx context.Context, q querier, tenant string, id int64) (ticket.User, error) {
	var (
		u       ticket.User
		hash    sql.NullString
		created sql.NullString
	)
	err := q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND id = ?`,
		tenant, id).Scan(&u.ID, &u.Tenant, &u.Email, &u.Name, &u.Role, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.User{}, fmt.Errorf("store: user %d: %w", id, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.User{}, fmt.Errorf("store: user %d: %w", id, err)
	}
	u.PasswordHash = hash.String
	if u.CreatedAt, err = parseTime(created); err != nil {
		return ticket.User{}, err
	}
	return u, nil
}

// SetPassword replaces the password hash of the tenant's user with this
// email ("" removes the password: the user can no longer sign in) and ends
// the user's web sessions in the same transaction, so a changed password
// locks out whoever knew the old one. ticket.ErrNotFound when there is no
// such user.
func (s *Store) SetPassword(ctx context.Context, tenant, email, passwordHash string) error {
	email = ticket.NormEmail(email)
	hash := sql.NullString{String: passwordHash, Valid: passwordHash != ""}
	err := s.write(ctx, func(q querier) error {
		var id int64
		err := q.QueryRowContext(ctx, `UPDATE users SET password_hash = ? WHERE tenant_id = ? AND email = ? RETURNING id`,
			hash, tenant, email).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", email, ticket.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM web_sessions WHERE tenant_id = ? AND user_id = ?`, tenant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	return nil
}
