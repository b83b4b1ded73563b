-- 1100_lifecycle: tokens can be revoked and agents disabled (sidedesk token
-- revoke, sidedesk user disable). A revoked token stays listed with when it
-- was revoked; a disabled agent keeps their tickets and cannot sign in.
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
ALTER TABLE users ADD COLUMN disabled_at TEXT;
CREATE INDEX api_tokens_by_tenant_name ON api_tokens (tenant_id, name);
