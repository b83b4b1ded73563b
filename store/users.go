package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"

	"github.com/sidedesk/sidedesk/ticket"
)

const userColumns = `id, tenant_id, email, name, role, password_hash, created_at, disabled_at`

// scanUser reads a row of userColumns.
func scanUser(sc scanner) (ticket.User, error) {
	var (
		u                 ticket.User
		hash              sql.NullString
		created, disabled sql.NullString
	)
	if err := sc.Scan(&u.ID, &u.Tenant, &u.Email, &u.Name, &u.Role, &hash, &created, &disabled); err != nil {
		return u, err
	}
	u.PasswordHash = hash.String
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return u, err
	}
	u.DisabledAt, err = parseTime(disabled)
	return u, err
}

// CreateUser adds a user to tenant. email is normalised and must be a bare
// address; role must be RoleAdmin or RoleAgent (errors wrap
// ticket.ErrInvalid); a taken email gives ErrUserExists. passwordHash ""
// means no password.
func (s *Store) CreateUser(ctx context.Context, tenant, email, name, role, passwordHash string) (ticket.User, error) {
	email = ticket.NormEmail(email)
	if tenant == "" {
		return ticket.User{}, fmt.Errorf("store: create user: %w tenant: empty", ticket.ErrInvalid)
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
		return ticket.User{}, fmt.Errorf("store: create user: %w email %q", ticket.ErrInvalid, email)
	}
	if role != ticket.RoleAdmin && role != ticket.RoleAgent {
		return ticket.User{}, fmt.Errorf("store: create user: %w role %q (want admin or agent)", ticket.ErrInvalid, role)
	}
	u := ticket.User{Tenant: tenant, Email: email, Name: name, Role: role, PasswordHash: passwordHash}
	created := fmtTime(s.nowUTC())
	u.CreatedAt, _ = parseTime(sql.NullString{String: created, Valid: true})
	hash := sql.NullString{String: passwordHash, Valid: passwordHash != ""}
	err := s.write(ctx, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM users WHERE tenant_id = ? AND email = ?`, tenant, email).Scan(&one)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %s", ticket.ErrUserExists, email)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		return q.QueryRowContext(ctx, `INSERT INTO users (tenant_id, email, name, role, password_hash, created_at)
            VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, tenant, email, name, role, hash, created).Scan(&u.ID)
	})
	if err != nil {
		return ticket.User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// UserByEmail finds the tenant's user with this email (normalised here);
// ticket.ErrNotFound when there is none.
func (s *Store) UserByEmail(ctx context.Context, tenant, email string) (ticket.User, error) {
	email = ticket.NormEmail(email)
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND email = ?`,
		tenant, email))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.User{}, fmt.Errorf("store: user %s: %w", email, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.User{}, fmt.Errorf("store: user %s: %w", email, err)
	}
	return u, nil
}
