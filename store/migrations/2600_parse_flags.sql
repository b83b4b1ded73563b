-- 2600_parse_flags: what the parser found wrong with a mail, as short codes
-- (capture.ParseFlags: nul_bytes, 8bit_header, bare_cr, bad_date, ...),
-- space-separated; parse_error keeps the words.
ALTER TABLE messages ADD COLUMN parse_flags TEXT NOT NULL DEFAULT '';
