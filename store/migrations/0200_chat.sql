-- 0200_chat: agents, per-consumer outbox cursors and Slack delivery state.

-- Agents. A later issue adds login on top (password_hash is NULL until then,
-- and for agents who only act from Slack).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    email         TEXT NOT NULL,          -- normalised (lower case)
    name          TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (tenant_id, email)
);

-- How far each outbox consumer ("slack:default", ...) has delivered. Consumer
-- names are global, like lease names: they carry the tenant when they need to.
CREATE TABLE outbox_cursors (
    consumer      TEXT    PRIMARY KEY,
    last_event_id INTEGER NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- Slack messages sidedesk posted: the alert of a ticket in a channel (kind
-- 'alert', ref_id = the ticket id) and a thread reply for one outbox event
-- (kind 'reply', ref_id = the event id). The row is written before the post
-- with ts = '' ("posting"), and gets Slack's ts after it: a row still
-- without ts after a crash means "may have been posted", which the
-- dispatcher resolves by looking for the message's metadata in Slack before
-- posting again.
CREATE TABLE slack_messages (
    tenant_id  TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('alert', 'reply')),
    ref_id     INTEGER NOT NULL,
    ticket_id  INTEGER NOT NULL,
    channel    TEXT    NOT NULL,           -- as configured
    channel_id TEXT    NOT NULL DEFAULT '', -- as Slack answered (chat.update needs it)
    ts         TEXT    NOT NULL DEFAULT '',
    thread_ts  TEXT    NOT NULL DEFAULT '', -- replies: the alert's ts
    started_at TEXT    NOT NULL,
    posted_at  TEXT,
    PRIMARY KEY (tenant_id, kind, ref_id, channel)
);
CREATE INDEX slack_messages_by_ticket ON slack_messages (tenant_id, ticket_id, kind);
