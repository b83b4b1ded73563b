-- 1900_ticket_tags: free-form tags on tickets (API: POST and PATCH
-- /api/v1/tickets, ?tag= filter), as a JSON array of normalised tags.
ALTER TABLE tickets ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
