-- 2700_message_refs: which stored messages name a Message-ID in
-- In-Reply-To or References, so a parent that arrives after its reply
-- (a backlog sync, two mailboxes, a slow server) joins the reply's ticket,
-- and replies to a root never captured meet on one ticket.
CREATE TABLE message_refs (
    tenant_id  TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, ref, message_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO message_refs (tenant_id, ref, message_id)
    SELECT m.tenant_id, j.value, m.id FROM messages m, json_each(m.refs) j WHERE j.value <> '';
INSERT OR IGNORE INTO message_refs (tenant_id, ref, message_id)
    SELECT tenant_id, in_reply_to, id FROM messages WHERE in_reply_to <> '';
