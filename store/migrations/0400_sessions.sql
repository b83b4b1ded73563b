-- 0400_sessions: web sessions of the agent panel.
--
-- Only the SHA-256 of a session id is stored: a copy of the table (a backup,
-- a read replica) does not let anyone sign in. csrf_token is the session's
-- synchronizer token (OWASP CSRF cheat sheet): useless without the cookie.
CREATE TABLE web_sessions (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id_hash    TEXT    NOT NULL UNIQUE,
    csrf_token TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
);
-- DeleteExpiredSessions.
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
-- DeleteUserSessions (password change, sign out everywhere).
CREATE INDEX web_sessions_by_user ON web_sessions (tenant_id, user_id);
