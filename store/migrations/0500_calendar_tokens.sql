-- 0500_calendar_tokens: skip unchanged calendars on the periodic sync
-- (store/calendar.go).
--
-- source_version is an opaque digest of the agent's calendars' change tokens
-- (CalDAV getctag, RFC 6578 sync-token), never an href, a UID or any other
-- event data; '' when the source offers none. window_end (0100) tells how
-- far ahead the stored intervals are known, so a sync whose source_version
-- is unchanged keeps them while they still cover its window.
ALTER TABLE calendar_sync_status ADD COLUMN source_version TEXT NOT NULL DEFAULT '';
