-- 1800_search: full-text search over messages (GET /api/v1/search): subject,
-- text and sender of every message, in a contentless FTS5 index keyed by the
-- message id (the text itself stays in messages only). Kept by a trigger;
-- messages are never deleted. Existing messages are indexed here, once.
CREATE VIRTUAL TABLE message_search USING fts5(
    subject, body, sender,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO message_search (rowid, subject, body, sender)
    SELECT id, subject, text_body, from_email || ' ' || from_name FROM messages;
CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (rowid, subject, body, sender)
    VALUES (new.id, new.subject, new.text_body, new.from_email || ' ' || new.from_name);
END;
