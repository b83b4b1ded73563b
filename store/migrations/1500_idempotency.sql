-- 1500_idempotency: Idempotency-Key of POST /api/v1/tickets: a retried
-- create returns the ticket the first one made (ticket.Service.Create).
CREATE TABLE idempotency_keys (
    tenant_id    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    ticket_id    INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
