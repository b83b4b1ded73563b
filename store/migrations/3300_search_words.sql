-- 3300_search_words: the search index is fed each message's distinct words,
-- worked out in Go where mail is parsed (store/search_terms.go tokenises
-- as FTS5's unicode61 with remove_diacritics 2 does, and FTS5 leaves those
-- words as they are), instead of a trigger handing it the whole subject,
-- text and sender to tokenise inside the one writing transaction. The
-- index is contentless with detail=none (2500): which messages hold a word
-- is all it keeps, so one copy of each word is the same entry. Rows
-- indexed before stay as they are.
DROP TRIGGER message_search_insert;
