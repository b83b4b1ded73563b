-- 0001_init: the capture core.
--
-- Portability notes (PostgreSQL comes later): times are TEXT in one fixed-width
-- UTC form ("2006-01-02T15:04:05.000000000Z", see store/time.go) so that text
-- order is time order; "INTEGER PRIMARY KEY" becomes an identity column there;
-- BLOB becomes BYTEA. Everything else is plain SQL both accept.

CREATE TABLE tickets (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    number           INTEGER NOT NULL,
    subject          TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL,
    priority         TEXT    NOT NULL,
    requester_name   TEXT    NOT NULL DEFAULT '',
    requester_email  TEXT    NOT NULL DEFAULT '',
    mailbox          TEXT    NOT NULL DEFAULT '',
    assignee         TEXT    NOT NULL DEFAULT '',
    conversation_id  TEXT    NOT NULL DEFAULT '',
    linked_ticket_id INTEGER REFERENCES tickets (id),
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    closed_at        TEXT,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, id)
);
-- ListTickets: keyset pagination on (updated_at, id), with and without filters.
CREATE INDEX tickets_by_updated ON tickets (tenant_id, updated_at, id);
CREATE INDEX tickets_by_status ON tickets (tenant_id, status, updated_at, id);
CREATE INDEX tickets_by_mailbox ON tickets (tenant_id, mailbox, updated_at, id);
CREATE INDEX tickets_by_requester ON tickets (tenant_id, requester_email, updated_at, id);
-- TicketByConversation (Outlook Thread-Index).
CREATE INDEX tickets_by_conversation ON tickets (tenant_id, conversation_id, updated_at, id);

-- Per-tenant ticket numbers, handed out inside the creating transaction.
CREATE TABLE ticket_counters (
    tenant_id   TEXT    PRIMARY KEY,
    last_number INTEGER NOT NULL
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    ticket_id       INTEGER,             -- NULL while held by the loop guard
    mailbox         TEXT    NOT NULL DEFAULT '',
    message_id      TEXT    NOT NULL DEFAULT '',
    in_reply_to     TEXT    NOT NULL DEFAULT '',
    refs            TEXT    NOT NULL DEFAULT '[]', -- JSON array of Message-IDs
    conversation_id TEXT    NOT NULL DEFAULT '',
    direction       TEXT    NOT NULL,
    classification  TEXT    NOT NULL DEFAULT 'normal',
    from_name       TEXT    NOT NULL DEFAULT '',
    from_email      TEXT    NOT NULL DEFAULT '',
    to_addrs        TEXT    NOT NULL DEFAULT '[]', -- JSON array of {name, email}
    cc_addrs        TEXT    NOT NULL DEFAULT '[]',
    reply_to_addrs  TEXT    NOT NULL DEFAULT '[]',
    subject         TEXT    NOT NULL DEFAULT '',
    date            TEXT,
    text_body       TEXT    NOT NULL DEFAULT '',
    html_body       TEXT    NOT NULL DEFAULT '',
    raw_sha256      TEXT    NOT NULL DEFAULT '',
    raw_size        INTEGER NOT NULL DEFAULT 0,
    body_hash       TEXT    NOT NULL DEFAULT '',
    parse_error     TEXT    NOT NULL DEFAULT '',
    held            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TEXT    NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id)
);
-- MessageByHash and TicketIDsByMessageIDs.
CREATE INDEX messages_by_message_id ON messages (tenant_id, message_id, body_hash);
-- TicketMessages.
CREATE INDEX messages_by_ticket ON messages (tenant_id, ticket_id, id);
-- CountFromSender.
CREATE INDEX messages_by_sender ON messages (tenant_id, from_email, date);

-- Capture idempotency: what each (mailbox, source key) delivered.
CREATE TABLE message_sources (
    tenant_id  TEXT    NOT NULL,
    mailbox    TEXT    NOT NULL,
    source_key TEXT    NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    created_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, mailbox, source_key)
);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    position     INTEGER NOT NULL,
    filename     TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT '',
    size         INTEGER NOT NULL DEFAULT 0,
    sha256       TEXT    NOT NULL DEFAULT '',
    is_inline    BOOLEAN NOT NULL DEFAULT FALSE,
    content_id   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX attachments_by_message ON attachments (message_id, position);

-- Everyone on a ticket: its requester and every From/To/Cc address of its
-- messages (threading rule 2: a subject tag only counts from a participant).
CREATE TABLE participants (
    tenant_id TEXT    NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    email     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id, email)
);

-- Transactional outbox.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    ticket_id  INTEGER NOT NULL DEFAULT 0,
    message_id INTEGER NOT NULL DEFAULT 0,
    payload    TEXT,
    created_at TEXT    NOT NULL
);

-- API tokens: only the SHA-256 hex of the token is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);

-- Capture position per mailbox, encoded by the capture source.
CREATE TABLE sync_state (
    tenant_id  TEXT NOT NULL,
    mailbox    TEXT NOT NULL,
    state      BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, mailbox)
);

-- Leases between processes sharing one database (capture of a mailbox).
-- Lease names are global: callers put the tenant into the name.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
