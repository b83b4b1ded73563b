-- 2300_merge_custom_fields: a merged ticket names the ticket it was merged
-- into (its messages moved there; its number still resolves), and tickets
-- carry custom fields: a JSON object of scalar values by key.
ALTER TABLE tickets ADD COLUMN merged_into INTEGER;
ALTER TABLE tickets ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
