-- 1000_outgoing: the sending state of outgoing messages (agents' replies,
-- acknowledgements). The message itself is a row of messages with
-- direction 'outgoing' and its built bytes in the blob store; this row says
-- whether it was sent (store/delivery.go).
CREATE TABLE deliveries (
    tenant_id   TEXT    NOT NULL,
    message_id  INTEGER NOT NULL,
    ticket_id   INTEGER NOT NULL,
    mailbox     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,            -- reply | ack
    state       TEXT    NOT NULL,            -- queued | sent | failed
    env_from    TEXT    NOT NULL DEFAULT '',
    recipients  TEXT    NOT NULL DEFAULT '[]', -- JSON array of addresses
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    queued_at   TEXT    NOT NULL,
    sent_at     TEXT,
    PRIMARY KEY (tenant_id, message_id),
    FOREIGN KEY (message_id) REFERENCES messages (id)
) WITHOUT ROWID;
-- One acknowledgement per ticket; DeliveryByKind.
CREATE INDEX deliveries_by_ticket ON deliveries (tenant_id, ticket_id, kind);
-- LastAckTo: when an address last got an acknowledgement.
CREATE TABLE ack_recipients (
    tenant_id TEXT NOT NULL,
    email     TEXT NOT NULL,
    acked_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
) WITHOUT ROWID;
