-- 2200_oauth: the OAuth 2.0 authorization server (package oauth). Clients
-- belong to a tenant; their secrets, authorization codes and refresh
-- tokens are kept as SHA-256 only (each carries 256 random bits). Access
-- tokens are sealed "id:subject" strings the server decrypts; their rows
-- say what they may do and whether they were revoked.
CREATE TABLE oauth_clients (
    id            TEXT PRIMARY KEY,          -- client_id, "sdc_..."
    tenant_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL DEFAULT '',  -- '' for a public client (PKCE only)
    scopes        TEXT NOT NULL,             -- space-separated, the most it may get
    redirect_uris TEXT NOT NULL DEFAULT '',  -- newline-separated, exact match
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    UNIQUE (tenant_id, name)
);

-- Authorization requests of the code flow, from /oauth/authorize until
-- the code is exchanged (or they expire after ten minutes).
CREATE TABLE oauth_auth_requests (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT '',
    nonce          TEXT NOT NULL DEFAULT '',
    response_type  TEXT NOT NULL,
    response_mode  TEXT NOT NULL DEFAULT '',
    code_challenge TEXT NOT NULL DEFAULT '',
    code_method    TEXT NOT NULL DEFAULT '',
    user_id        INTEGER,                  -- the agent who consented
    granted_scopes TEXT NOT NULL DEFAULT '',
    auth_time      TEXT,
    code_hash      TEXT UNIQUE,
    created_at     TEXT NOT NULL
);

-- Access tokens (one hour) and refresh tokens (rotated on each use; a
-- reused old one revokes its whole family).
CREATE TABLE oauth_tokens (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    token_hash  TEXT UNIQUE,                 -- refresh tokens only
    family      TEXT NOT NULL,               -- the grant a refresh chain belongs to
    tenant_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    user_id     INTEGER,                     -- NULL: the client itself (client credentials)
    scopes      TEXT NOT NULL,
    auth_time   TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,                        -- a refresh token already exchanged
    revoked_at  TEXT
);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family);
CREATE INDEX oauth_tokens_client ON oauth_tokens (client_id);
