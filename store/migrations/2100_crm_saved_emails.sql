-- 2100_crm_saved_emails: emails a CRM connector copied into the CRM
-- (Salesforce EmailMessage or Task), per record, so the panel shows them
-- and the same email is saved to a record once however many agents save it.
CREATE TABLE crm_saved_emails (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    provider       TEXT    NOT NULL,
    object         TEXT    NOT NULL,
    record_id      TEXT    NOT NULL,
    external_id    TEXT    NOT NULL,
    message_id     INTEGER NOT NULL DEFAULT 0,
    ticket_id      INTEGER NOT NULL DEFAULT 0,
    rfc_message_id TEXT    NOT NULL DEFAULT '',
    created_by     TEXT    NOT NULL DEFAULT '',
    created_at     TEXT    NOT NULL
);
CREATE INDEX crm_saved_emails_record ON crm_saved_emails (tenant_id, provider, object, record_id);
CREATE INDEX crm_saved_emails_rfc ON crm_saved_emails (tenant_id, provider, rfc_message_id);
CREATE INDEX crm_saved_emails_message ON crm_saved_emails (tenant_id, provider, message_id);
CREATE INDEX crm_saved_emails_ticket ON crm_saved_emails (tenant_id, provider, ticket_id);
