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
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.User{}, fmt.Errorf("store: user %d: %w", id, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.User{}, fmt.Errorf("store: user %d: %w", id, err)
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

// Users lists the tenant's users ("" for every tenant's), by tenant and
// email.
func (s *Store) Users(ctx context.Context, tenant string) ([]ticket.User, error) {
	return listUsers(ctx, s.r, tenant)
}

// Users is Store.Users, prepared: the panel's assignee picker.
func (p *PanelReads) Users(ctx context.Context, tenant string) ([]ticket.User, error) {
	return listUsers(ctx, p.q, tenant)
}

func listUsers(ctx context.Context, q querier, tenant string) ([]ticket.User, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+userColumns+` FROM users
        WHERE ? = '' OR tenant_id = ? ORDER BY tenant_id, email`, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []ticket.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return out, nil
}

// SetUserDisabled disables (or enables again) the tenant's user with this
// email. Disabling ends the user's web sessions in the same transaction, so
// it takes effect on their next request. ticket.ErrNotFound when there is
// no such user.
func (s *Store) SetUserDisabled(ctx context.Context, tenant, email string, disabled bool) error {
	email = ticket.NormEmail(email)
	at := sql.NullString{}
	if disabled {
		at = sql.NullString{String: fmtTime(s.nowUTC()), Valid: true}
	}
	err := s.write(ctx, func(q querier) error {
		var id int64
		err := q.QueryRowContext(ctx, `UPDATE users SET disabled_at = ? WHERE tenant_id = ? AND email = ? RETURNING id`,
			at, tenant, email).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %s: %w", email, ticket.ErrNotFound)
		}
		if err != nil || !disabled {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM web_sessions WHERE tenant_id = ? AND user_id = ?`, tenant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: disable user: %w", err)
	}
	return nil
}

// SetUserRole sets the role (ticket.RoleAdmin or RoleAgent) of the
// tenant's user with this email.
func (s *Store) SetUserRole(ctx context.Context, tenant, email, role string) error {
	if role != ticket.RoleAdmin && role != ticket.RoleAgent {
		return fmt.Errorf("store: set role: %w role %q (want admin or agent)", ticket.ErrInvalid, role)
	}
	email = ticket.NormEmail(email)
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `UPDATE users SET role = ? WHERE tenant_id = ? AND email = ?`, role, tenant, email)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", email, ticket.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set role: %w", err)
	}
	return nil
}
