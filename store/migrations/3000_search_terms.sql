-- 3000_search_terms: the words of the search index, kept as rows, so a
-- prefix ("wareh*") is expanded to its words with one index range read.
-- fts5vocab (2400) counts every posting of each word it lists (70 ms for a
-- word in every message at 1M messages); this table is written as messages
-- are inserted (store/search_terms.go tokenises as FTS5's unicode61 does)
-- and filled here once from the index.
CREATE TABLE search_terms (
    term TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO search_terms (term) SELECT term FROM message_search_vocab;
