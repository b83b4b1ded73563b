-- 2800_mailbox_oauth: mailboxes that log in to IMAP and SMTP by XOAUTH2
-- (Microsoft 365, Gmail): the owner's refresh token, sealed with the
-- secret key, where it came from (the panel's consent, or a configured
-- token it rotated from), and whether the provider still takes it.
CREATE TABLE mailbox_oauth (
    tenant_id      TEXT NOT NULL,
    mailbox        TEXT NOT NULL,
    refresh_sealed BLOB NOT NULL,
    origin         TEXT NOT NULL,
    status         TEXT NOT NULL,
    last_error     TEXT NOT NULL DEFAULT '',
    connected_by   TEXT NOT NULL DEFAULT '',
    connected_at   TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, mailbox)
);
