-- 0700_outbox: events an outbox consumer gave up on (outbox/), so that the
-- consumer can go on with the events after them without losing these: the
-- row keeps the last error until an admin redelivers or drops it
-- (`sidedesk outbox retry | drop`). redeliver = 1 asks the consumer's
-- runner, in whichever process holds its lease, to deliver the event again.
CREATE TABLE outbox_dead_letters (
    consumer        TEXT    NOT NULL,
    event_id        INTEGER NOT NULL REFERENCES events (id),
    tenant_id       TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    first_failed_at TEXT    NOT NULL,
    dead_at         TEXT    NOT NULL,
    redeliver       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, event_id)
);
