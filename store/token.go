package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

var tokenHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// lastUsedGranularity: TokenByHash writes last_used_at only when the stored
// value is older than this, so most authenticated requests stay read-only.
const lastUsedGranularity = time.Minute

// CreateToken stores a token of tenant by its hash (64 lowercase hex
// characters: the SHA-256 of a high-entropy random token).
func (s *Store) CreateToken(ctx context.Context, tenant, name, hash string, scopes ...string) (ticket.Token, error) {
	if tenant == "" {
		return ticket.Token{}, errors.New("store: create token: no tenant")
	}
	if !tokenHash.MatchString(hash) {
		return ticket.Token{}, errors.New("store: create token: hash must be 64 lowercase hex characters (SHA-256 of the token)")
	}
	if len(scopes) == 0 {
		scopes = ticket.DefaultScopes
	}
	for _, sc := range scopes {
		if !slices.Contains(ticket.AllScopes, sc) {
			return ticket.Token{}, fmt.Errorf("store: create token: %w scope %q (want %s)", ticket.ErrInvalid, sc, strings.Join(ticket.AllScopes, ", "))
		}
	}
	scopesJSON, err := encodeList(scopes)
	if err != nil {
		return ticket.Token{}, err
	}
	tok := ticket.Token{Tenant: tenant, Name: name, CreatedAt: s.nowUTC(), Scopes: scopes}
	created := fmtTime(tok.CreatedAt)
	tok.CreatedAt, _ = parseTime(sql.NullString{String: created, Valid: true})
	err = s.write(ctx, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM api_tokens
            WHERE tenant_id = ? AND name = ? AND revoked_at IS NULL`, tenant, name).Scan(&one)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %q in tenant %q", ticket.ErrTokenExists, name, tenant)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		return q.QueryRowContext(ctx, `INSERT INTO api_tokens (tenant_id, name, token_hash, created_at, scopes)
            VALUES (?, ?, ?, ?, ?) RETURNING id`, tenant, name, hash, created, scopesJSON).Scan(&tok.ID)
	})
	if err != nil {
		return ticket.Token{}, fmt.Errorf("store: create token: %w", err)
	}
	return tok, nil
}

// TokenByHash finds the token with this hash (ticket.ErrNotFound when none,
// also for a malformed hash) and notes its use.
func (s *Store) TokenByHash(ctx context.Context, hash string) (ticket.Token, error) {
	if !tokenHash.MatchString(hash) {
		return ticket.Token{}, fmt.Errorf("store: token: %w", ticket.ErrNotFound)
	}
	var (
		tok           ticket.Token
		created, used sql.NullString
		scopes        string
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant_id, name, created_at, last_used_at, scopes
        FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`, hash).Scan(&tok.ID, &tok.Tenant, &tok.Name, &created, &used, &scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Token{}, fmt.Errorf("store: token: %w", ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.Token{}, fmt.Errorf("store: token: %w", err)
	}
	if tok.CreatedAt, err = parseTime(created); err != nil {
		return ticket.Token{}, err
	}
	if tok.LastUsedAt, err = parseTime(used); err != nil {
		return ticket.Token{}, err
	}
	if tok.Scopes, err = decodeList[string](scopes); err != nil {
		return ticket.Token{}, fmt.Errorf("store: token scopes: %w", err)
	}
	now := s.nowUTC()
	if now.Sub(tok.LastUsedAt) >= lastUsedGranularity {
		stamp := fmtTime(now)
		err := s.write(ctx, func(q querier) error {
			_, err := q.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, stamp, tok.ID)
			return err
		})
		if err != nil {
			// Bookkeeping only: authentication has succeeded.
			s.log.LogAttrs(ctx, slog.LevelWarn, "store: note token use", slog.Int64("token_id", tok.ID),
				slog.String("error", err.Error()))
		} else {
			tok.LastUsedAt, _ = parseTime(sql.NullString{String: stamp, Valid: true})
		}
	}
	return tok, nil
}

// Tokens lists the tenant's tokens ("" for every tenant's), revoked ones
// included, oldest first.
func (s *Store) Tokens(ctx context.Context, tenant string) ([]ticket.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, name, created_at, last_used_at, revoked_at, scopes
        FROM api_tokens WHERE ? = '' OR tenant_id = ? ORDER BY id`, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []ticket.Token
	for rows.Next() {
		var (
			t                      ticket.Token
			created, used, revoked sql.NullString
			scopes                 string
		)
		if err := rows.Scan(&t.ID, &t.Tenant, &t.Name, &created, &used, &revoked, &scopes); err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		if t.Scopes, err = decodeList[string](scopes); err != nil {
			return nil, fmt.Errorf("store: token scopes: %w", err)
		}
		for _, f := range []struct {
			dst *time.Time
			src sql.NullString
		}{{&t.CreatedAt, created}, {&t.LastUsedAt, used}, {&t.RevokedAt, revoked}} {
			if *f.dst, err = parseTime(f.src); err != nil {
				return nil, err
			}
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes the token with this id: from the next request on it
// authenticates nothing. Revoking a revoked token is not an error;
// ticket.ErrNotFound when there is no such token.
func (s *Store) RevokeToken(ctx context.Context, id int64) (ticket.Token, error) {
	var tok ticket.Token
	err := s.write(ctx, func(q querier) error {
		err := q.QueryRowContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?
            RETURNING tenant_id, name`, fmtTime(s.nowUTC()), id).Scan(&tok.Tenant, &tok.Name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %d: %w", id, ticket.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return ticket.Token{}, fmt.Errorf("store: revoke token: %w", err)
	}
	tok.ID = id
	return tok, nil
}
