-- 1700_webhook_rotation: a rotated webhook secret keeps signing beside the
-- new one until previous_until, so receivers can switch without a gap.
ALTER TABLE webhooks ADD COLUMN previous_sealed BLOB;
ALTER TABLE webhooks ADD COLUMN previous_until TEXT;
