package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

var tokenHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// lastUsedGranularity: TokenByHash writes last_used_at only when the stored
// value is older than this, so most authenticated requests stay read-only.
const lastUsedGranularity = time.Minute

// CreateToken stores a token of tenant by its hash (64 lowercase hex
// characters: the SHA-256 of a high-entropy random token).
func (s *Store) CreateToken(ctx context.Context, tenant, name, hash string) (ticket.Token, error) {
	if tenant == "" {
		return ticket.Token{}, errors.New("store: create token: no tenant")
	}
	if !tokenHash.MatchString(hash) {
		return ticket.Token{}, errors.New("store: create token: hash must be 64 lowercase hex characters (SHA-256 of the token)")
	}
	tok := ticket.Token{Tenant: tenant, Name: name, CreatedAt: s.nowUTC()}
	created := fmtTime(tok.CreatedAt)
	tok.CreatedAt, _ = parseTime(sql.NullString{String: created, Valid: true})
	err := s.write(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `INSERT INTO api_tokens (tenant_id, name, token_hash, created_at)
            VALUES (?, ?, ?, ?) RETURNING id`, tenant, name, hash, created).Scan(&tok.ID)
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
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant_id, name, created_at, last_used_at
        FROM api_tokens WHERE token_hash = ?`, hash).Scan(&tok.ID, &tok.Tenant, &tok.Name, &created, &used)
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
