-- 1300_webhooks: outbound webhook subscriptions (package webhook) and the
-- log of their deliveries. The signing secret is stored sealed (AES-GCM
-- under a key derived from the secret key), never in the clear.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    event_types     TEXT    NOT NULL DEFAULT '[]', -- JSON array; [] is every type
    secret_sealed   BLOB    NOT NULL,
    created_at      TEXT    NOT NULL,
    failing_since   TEXT,
    disabled_at     TEXT,
    disabled_reason TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id, id);
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id   TEXT    NOT NULL,
    event_id    INTEGER NOT NULL,
    msg_id      TEXT    NOT NULL, -- the webhook-id header
    event_type  TEXT    NOT NULL,
    attempt_at  TEXT    NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0, -- 0: no answer
    error       TEXT    NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);
