-- 1400_token_scopes: what each API token may do (ticket.Scope*). Tokens made
-- before keep what they could do then: read and change tickets, look up the
-- CRM, read events.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL
    DEFAULT '["tickets:read","tickets:write","crm:read","events:read"]';
