package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/oauth"
	"github.com/sidedesk/sidedesk/ticket"
)

// The OAuth 2.0 authorization server's tables (migration 2200):
// oauth.Store.

func words(s string) []string { return strings.Fields(s) }

func joinWords(ws []string) string { return strings.Join(ws, " ") }

const oauthClientColumns = `id, tenant_id, name, secret_hash, scopes, redirect_uris, created_at, revoked_at`

func scanOAuthClient(sc scanner) (oauth.Client, error) {
	var (
		c                 oauth.Client
		scopes, redirects string
		created, revoked  sql.NullString
	)
	if err := sc.Scan(&c.ID, &c.Tenant, &c.Name, &c.SecretHash, &scopes, &redirects, &created, &revoked); err != nil {
		return c, err
	}
	c.Scopes = words(scopes)
	for _, u := range strings.Split(redirects, "\n") {
		if u != "" {
			c.RedirectURIs = append(c.RedirectURIs, u)
		}
	}
	var err error
	if c.CreatedAt, err = parseTime(created); err != nil {
		return c, err
	}
	c.RevokedAt, err = parseTime(revoked)
	return c, err
}

// CreateOAuthClient registers a client; oauth.ErrExists when the tenant
// has a live client of that name.
func (s *Store) CreateOAuthClient(ctx context.Context, c oauth.Client) error {
	if c.Tenant == "" || c.ID == "" || c.Name == "" {
		return errors.New("store: create OAuth client: tenant, id and name are required")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.nowUTC()
	}
	err := s.write(ctx, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM oauth_clients WHERE tenant_id = ? AND name = ? AND revoked_at IS NULL`,
			c.Tenant, c.Name).Scan(&one)
		switch {
		case err == nil:
			return fmt.Errorf("%w: a client named %q in tenant %q", oauth.ErrExists, c.Name, c.Tenant)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// A revoked client's name is free again: the old row keeps its id
		// (so its tokens stay dead) under a name nobody will type.
		if _, err := q.ExecContext(ctx, `UPDATE oauth_clients SET name = name || ' (revoked ' || id || ')'
            WHERE tenant_id = ? AND name = ? AND revoked_at IS NOT NULL`, c.Tenant, c.Name); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `INSERT INTO oauth_clients (`+oauthClientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			c.ID, c.Tenant, c.Name, c.SecretHash, joinWords(c.Scopes), strings.Join(c.RedirectURIs, "\n"), fmtTime(c.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create OAuth client: %w", err)
	}
	return nil
}

// OAuthClient loads a client by id, revoked or not.
func (s *Store) OAuthClient(ctx context.Context, id string) (oauth.Client, error) {
	c, err := scanOAuthClient(s.r.QueryRowContext(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("store: OAuth client %q: %w", id, oauth.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: OAuth client %q: %w", id, err)
	}
	return c, nil
}

// OAuthClients lists a tenant's clients ("": every tenant's), oldest
// first.
func (s *Store) OAuthClients(ctx context.Context, tenant string) ([]oauth.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE ? = '' OR tenant_id = ?
        ORDER BY created_at, id`, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: OAuth clients: %w", err)
	}
	defer rows.Close()
	var out []oauth.Client
	for rows.Next() {
		c, err := scanOAuthClient(rows)
		if err != nil {
			return nil, fmt.Errorf("store: OAuth clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeOAuthClient revokes a tenant's client and all its tokens.
func (s *Store) RevokeOAuthClient(ctx context.Context, tenant, id string) error {
	now := fmtTime(s.nowUTC())
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, ?)
            WHERE tenant_id = ? AND id = ?`, now, tenant, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return oauth.ErrNotFound
		}
		if _, err := q.ExecContext(ctx, `UPDATE oauth_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL`, now, id); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM oauth_auth_requests WHERE client_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: revoke OAuth client %q: %w", id, err)
	}
	return nil
}

const oauthRequestColumns = `id, tenant_id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode,
    code_challenge, code_method, user_id, granted_scopes, auth_time, created_at`

func scanOAuthRequest(sc scanner) (oauth.AuthRequest, error) {
	var (
		r                 oauth.AuthRequest
		scopes, granted   string
		user              sql.NullInt64
		authTime, created sql.NullString
	)
	if err := sc.Scan(&r.ID, &r.Tenant, &r.ClientID, &r.RedirectURI, &scopes, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeMethod, &user, &granted, &authTime, &created); err != nil {
		return r, err
	}
	r.Scopes, r.GrantedScopes, r.UserID = words(scopes), words(granted), user.Int64
	var err error
	if r.AuthTime, err = parseTime(authTime); err != nil {
		return r, err
	}
	r.CreatedAt, err = parseTime(created)
	return r, err
}

// PutOAuthRequest stores a new authorization request.
func (s *Store) PutOAuthRequest(ctx context.Context, r oauth.AuthRequest) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.nowUTC()
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO oauth_auth_requests (`+oauthRequestColumns+`)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', NULL, ?)`,
			r.ID, r.Tenant, r.ClientID, r.RedirectURI, joinWords(r.Scopes), r.State, r.Nonce, r.ResponseType, r.ResponseMode,
			r.CodeChallenge, r.CodeMethod, fmtTime(r.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put OAuth request: %w", err)
	}
	return nil
}

func (s *Store) oauthRequestWhere(ctx context.Context, what, where string, arg any) (oauth.AuthRequest, error) {
	r, err := scanOAuthRequest(s.r.QueryRowContext(ctx, `SELECT `+oauthRequestColumns+` FROM oauth_auth_requests WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("store: OAuth request %s: %w", what, oauth.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: OAuth request %s: %w", what, err)
	}
	return r, nil
}

// OAuthRequest loads a pending authorization request.
func (s *Store) OAuthRequest(ctx context.Context, id string) (oauth.AuthRequest, error) {
	return s.oauthRequestWhere(ctx, "by id", "id = ?", id)
}

// OAuthRequestByCode loads the request an authorization code was issued
// for.
func (s *Store) OAuthRequestByCode(ctx context.Context, codeHash string) (oauth.AuthRequest, error) {
	return s.oauthRequestWhere(ctx, "by code", "code_hash = ?", codeHash)
}

// oauthExec runs one statement that must change a row (oauth.ErrNotFound
// otherwise).
func (s *Store) oauthExec(ctx context.Context, what, query string, args ...any) error {
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return oauth.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// ConsentOAuthRequest records the agent's consent to a request.
func (s *Store) ConsentOAuthRequest(ctx context.Context, id string, userID int64, granted []string, at time.Time) error {
	return s.oauthExec(ctx, "consent OAuth request", `UPDATE oauth_auth_requests
        SET user_id = ?, granted_scopes = ?, auth_time = ? WHERE id = ? AND user_id IS NULL`,
		userID, joinWords(granted), fmtTime(at), id)
}

// SetOAuthCode records the code issued for a consented request.
func (s *Store) SetOAuthCode(ctx context.Context, id, codeHash string) error {
	return s.oauthExec(ctx, "set OAuth code", `UPDATE oauth_auth_requests SET code_hash = ?
        WHERE id = ? AND user_id IS NOT NULL AND code_hash IS NULL`, codeHash, id)
}

// DeleteOAuthRequest ends a request (its code was exchanged, or it was
// refused).
func (s *Store) DeleteOAuthRequest(ctx context.Context, id string) error {
	return s.oauthExec(ctx, "delete OAuth request", `DELETE FROM oauth_auth_requests WHERE id = ?`, id)
}

const oauthTokenColumns = `id, kind, token_hash, family, tenant_id, client_id, user_id, scopes, auth_time,
    created_at, expires_at, used_at, revoked_at`

func scanOAuthToken(sc scanner) (oauth.Token, error) {
	var (
		t                                      oauth.Token
		hash                                   sql.NullString
		user                                   sql.NullInt64
		scopes                                 string
		authTime, created, expires, used, revd sql.NullString
	)
	if err := sc.Scan(&t.ID, &t.Kind, &hash, &t.Family, &t.Tenant, &t.ClientID, &user, &scopes, &authTime,
		&created, &expires, &used, &revd); err != nil {
		return t, err
	}
	t.Hash, t.UserID, t.Scopes = hash.String, user.Int64, words(scopes)
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&t.AuthTime, authTime}, {&t.CreatedAt, created}, {&t.ExpiresAt, expires}, {&t.UsedAt, used}, {&t.RevokedAt, revd}} {
		v, err := parseTime(f.src)
		if err != nil {
			return t, err
		}
		*f.dst = v
	}
	return t, nil
}

func insertOAuthTokens(ctx context.Context, q querier, now time.Time, ts []oauth.Token) error {
	for _, t := range ts {
		if t.CreatedAt.IsZero() {
			t.CreatedAt = now
		}
		var hash sql.NullString
		if t.Hash != "" {
			hash = sql.NullString{String: t.Hash, Valid: true}
		}
		var user sql.NullInt64
		if t.UserID != 0 {
			user = sql.NullInt64{Int64: t.UserID, Valid: true}
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO oauth_tokens (`+oauthTokenColumns+`)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
			t.ID, t.Kind, hash, t.Family, t.Tenant, t.ClientID, user, joinWords(t.Scopes), nullTime(t.AuthTime),
			fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

// InsertOAuthTokens stores newly issued tokens.
func (s *Store) InsertOAuthTokens(ctx context.Context, ts ...oauth.Token) error {
	if err := s.write(ctx, func(q querier) error { return insertOAuthTokens(ctx, q, s.nowUTC(), ts) }); err != nil {
		return fmt.Errorf("store: insert OAuth tokens: %w", err)
	}
	return nil
}

// RotateOAuthRefresh exchanges refresh token oldID for the tokens ts; a
// second exchange of oldID revokes its family and answers oauth.ErrReused
// (OAuth 2.0 Security BCP, section 4.14.2: reuse means it leaked).
func (s *Store) RotateOAuthRefresh(ctx context.Context, oldID string, ts ...oauth.Token) error {
	now := s.nowUTC()
	reused := false
	err := s.write(ctx, func(q querier) error {
		var family string
		if err := q.QueryRowContext(ctx, `SELECT family FROM oauth_tokens WHERE id = ? AND kind = 'refresh'`, oldID).Scan(&family); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return oauth.ErrNotFound
			}
			return err
		}
		res, err := q.ExecContext(ctx, `UPDATE oauth_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL`,
			fmtTime(now), oldID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			reused = true
			_, err := q.ExecContext(ctx, `UPDATE oauth_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`, fmtTime(now), family)
			return err
		}
		return insertOAuthTokens(ctx, q, now, ts)
	})
	if err == nil && reused {
		err = oauth.ErrReused
	}
	if err != nil {
		return fmt.Errorf("store: rotate OAuth refresh token: %w", err)
	}
	return nil
}

func (s *Store) oauthTokenWhere(ctx context.Context, what, where string, arg any) (oauth.Token, error) {
	t, err := scanOAuthToken(s.r.QueryRowContext(ctx, `SELECT `+oauthTokenColumns+` FROM oauth_tokens WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("store: OAuth token %s: %w", what, oauth.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("store: OAuth token %s: %w", what, err)
	}
	return t, nil
}

// OAuthToken loads a token by id.
func (s *Store) OAuthToken(ctx context.Context, id string) (oauth.Token, error) {
	return s.oauthTokenWhere(ctx, "by id", "id = ?", id)
}

// OAuthRefreshToken loads a refresh token by the hash of its value.
func (s *Store) OAuthRefreshToken(ctx context.Context, hash string) (oauth.Token, error) {
	return s.oauthTokenWhere(ctx, "by hash", "token_hash = ? AND kind = 'refresh'", hash)
}

// RevokeOAuthToken revokes one token (RFC 7009); revoking one already
// revoked is no error.
func (s *Store) RevokeOAuthToken(ctx context.Context, id string) error {
	return s.oauthExec(ctx, "revoke OAuth token", `UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		fmtTime(s.nowUTC()), id)
}

// RevokeOAuthFamily revokes every token of a grant.
func (s *Store) RevokeOAuthFamily(ctx context.Context, family string) error {
	return s.oauthExec(ctx, "revoke OAuth grant", `UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE family = ?`,
		fmtTime(s.nowUTC()), family)
}

// PruneOAuth deletes authorization requests made before t and tokens
// that expired before t.
func (s *Store) PruneOAuth(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(q querier) error {
		for _, stmt := range []string{`DELETE FROM oauth_auth_requests WHERE created_at < ?`, `DELETE FROM oauth_tokens WHERE expires_at < ?`} {
			res, err := q.ExecContext(ctx, stmt, fmtTime(before))
			if err != nil {
				return err
			}
			m, _ := res.RowsAffected()
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune OAuth: %w", err)
	}
	return n, nil
}

// OAuthAgent is what the authorization server needs of a user.
func (s *Store) OAuthAgent(ctx context.Context, tenant string, id int64) (oauth.Agent, error) {
	u, err := s.UserByID(ctx, tenant, id)
	if errors.Is(err, ticket.ErrNotFound) {
		return oauth.Agent{}, fmt.Errorf("store: OAuth agent %d: %w", id, oauth.ErrNotFound)
	}
	if err != nil {
		return oauth.Agent{}, err
	}
	return oauth.Agent{ID: u.ID, Tenant: u.Tenant, Email: u.Email, Name: u.Name, Admin: u.Role == ticket.RoleAdmin,
		Disabled: !u.DisabledAt.IsZero()}, nil
}
