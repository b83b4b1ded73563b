-- 2000_crm_connections: agents' connections to their own CRM account
-- (Salesforce per-agent OAuth): whom the CRM knows them as and the refresh
-- token, sealed with the secret key (never stored in the clear).
CREATE TABLE crm_connections (
    tenant_id      TEXT NOT NULL,
    agent          TEXT NOT NULL,
    provider       TEXT NOT NULL,
    instance_url   TEXT NOT NULL,
    identity_url   TEXT NOT NULL DEFAULT '',
    crm_user_id    TEXT NOT NULL DEFAULT '',
    username       TEXT NOT NULL DEFAULT '',
    refresh_sealed BLOB NOT NULL,
    status         TEXT NOT NULL,
    last_error     TEXT NOT NULL DEFAULT '',
    connected_at   TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, agent, provider)
);
