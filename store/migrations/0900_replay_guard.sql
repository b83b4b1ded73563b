-- 0900_replay_guard: signed requests already acted on (a Slack request's
-- v0 signature, ...), kept until their signature's timestamp is too old to
-- be accepted anyway, so a captured request replayed within that window is
-- refused by every process sharing the database (store/replay.go).
CREATE TABLE replay_guard (
    key        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX replay_guard_expiry ON replay_guard (expires_at);
