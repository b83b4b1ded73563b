-- 2500_search_detail_none: the search index keeps which messages hold a
-- word, not where in them (FTS5 detail=none, no column sizes): search
-- matches single words only (and prefixes as their words), so positions
-- were never read. The index is 4.5 times smaller (77 MB instead of 350 MB
-- at 1M messages) and reading a common word's postings (a prefix's
-- expansion) twice as fast. Rebuilt here once from the messages.
DROP TRIGGER message_search_insert;
DROP TABLE message_search_vocab;
DROP TABLE message_search;
CREATE VIRTUAL TABLE message_search USING fts5(
    subject, body, sender,
    content = '', detail = none, columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO message_search (rowid, subject, body, sender)
    SELECT id, subject, text_body, from_email || ' ' || from_name FROM messages;
CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (rowid, subject, body, sender)
    VALUES (new.id, new.subject, new.text_body, new.from_email || ' ' || new.from_name);
END;
CREATE VIRTUAL TABLE message_search_vocab USING fts5vocab(message_search, 'row');
