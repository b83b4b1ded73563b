-- 0300_crm: the local CRM connector's records (store/crm_local.go, crm_upsert.go, crm_link.go).
-- Records are shaped like Salesforce's standard objects. Every record keeps
-- where it came from (source: 'local', 'csv', 'salesforce', ...) and its id
-- there (external_id, NULL when it has none); imports upsert by
-- (tenant_id, source, external_id). NULLs never collide in the unique
-- indexes, so records without an external id are all kept.
--
-- Times use the store's fixed-width UTC text ("2006-01-02T15:04:05.000000000Z").
-- Account domains and a contact's other emails are kept twice: in the record
-- (space-separated, so a record reads back in one row) and in a look-up table
-- keyed by (tenant_id, domain|email), which is what Match searches. The crm
-- package keeps both in step in one transaction. References between records
-- are checked by the connector (no foreign keys: bulk imports stay fast).

CREATE TABLE crm_accounts (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    external_id    TEXT,
    name           TEXT    NOT NULL,
    website        TEXT    NOT NULL DEFAULT '',
    domains        TEXT    NOT NULL DEFAULT '',   -- space-separated, lower case
    type           TEXT    NOT NULL DEFAULT '',
    tier           TEXT    NOT NULL DEFAULT '',
    industry       TEXT    NOT NULL DEFAULT '',
    annual_revenue REAL    NOT NULL DEFAULT 0,
    owner          TEXT    NOT NULL DEFAULT '',
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);
CREATE UNIQUE INDEX crm_accounts_external ON crm_accounts (tenant_id, source, external_id);
CREATE INDEX crm_accounts_name ON crm_accounts (tenant_id, name COLLATE NOCASE);

-- Which account owns an email domain (several accounts may share one).
CREATE TABLE crm_account_domains (
    tenant_id  TEXT    NOT NULL,
    domain     TEXT    NOT NULL,
    account_id INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, domain, account_id)
) WITHOUT ROWID;

CREATE TABLE crm_contacts (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    external_id  TEXT,
    first_name   TEXT    NOT NULL DEFAULT '',
    last_name    TEXT    NOT NULL DEFAULT '',
    email        TEXT    NOT NULL DEFAULT '',   -- primary, lower case
    other_emails TEXT    NOT NULL DEFAULT '',   -- space-separated, lower case
    phone        TEXT    NOT NULL DEFAULT '',
    title        TEXT    NOT NULL DEFAULT '',
    account_id   INTEGER,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE UNIQUE INDEX crm_contacts_external ON crm_contacts (tenant_id, source, external_id);

-- Every address of every contact (primary and others): the Match look-up.
CREATE TABLE crm_contact_emails (
    tenant_id  TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    contact_id INTEGER NOT NULL,
    is_primary INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, email, contact_id)
) WITHOUT ROWID;

CREATE TABLE crm_leads (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    external_id TEXT,
    first_name  TEXT    NOT NULL DEFAULT '',
    last_name   TEXT    NOT NULL DEFAULT '',
    email       TEXT    NOT NULL DEFAULT '',
    company     TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX crm_leads_external ON crm_leads (tenant_id, source, external_id);
CREATE INDEX crm_leads_email ON crm_leads (tenant_id, email);

CREATE TABLE crm_opportunities (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    external_id TEXT,
    name        TEXT    NOT NULL,
    stage       TEXT    NOT NULL DEFAULT '',
    amount      REAL    NOT NULL DEFAULT 0,
    close_date  TEXT,                          -- NULL: none
    account_id  INTEGER,
    closed      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX crm_opportunities_external ON crm_opportunities (tenant_id, source, external_id);
-- Open opportunities of an account, soonest close first, straight from the index.
CREATE INDEX crm_opportunities_open ON crm_opportunities (tenant_id, account_id, closed, close_date);

CREATE TABLE crm_cases (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    external_id TEXT,
    subject     TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL DEFAULT '',
    ticket_id   INTEGER NOT NULL DEFAULT 0,
    account_id  INTEGER,
    contact_id  INTEGER,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX crm_cases_external ON crm_cases (tenant_id, source, external_id);
CREATE INDEX crm_cases_account ON crm_cases (tenant_id, account_id, updated_at);
CREATE INDEX crm_cases_contact ON crm_cases (tenant_id, contact_id, updated_at);
CREATE INDEX crm_cases_ticket ON crm_cases (tenant_id, ticket_id);

-- Emails and tickets filed against a record ("save to CRM"). message_id and
-- ticket_id are sidedesk row ids (0: none); rfc_message_id is the email's
-- Message-ID ('' : none), so a mail not captured yet can be linked too.
CREATE TABLE crm_links (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    object         TEXT    NOT NULL,
    record_id      TEXT    NOT NULL,
    message_id     INTEGER NOT NULL DEFAULT 0,
    ticket_id      INTEGER NOT NULL DEFAULT 0,
    rfc_message_id TEXT    NOT NULL DEFAULT '',
    created_by     TEXT    NOT NULL DEFAULT '',
    created_at     TEXT    NOT NULL
);
CREATE INDEX crm_links_record ON crm_links (tenant_id, object, record_id);
CREATE INDEX crm_links_message ON crm_links (tenant_id, message_id);
CREATE INDEX crm_links_rfc ON crm_links (tenant_id, rfc_message_id);
CREATE INDEX crm_links_ticket ON crm_links (tenant_id, ticket_id);
