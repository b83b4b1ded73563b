-- 0800_calendar_times: the calendar tables store times like every other
-- table (store/time.go: fixed-width UTC with nanoseconds), instead of
-- second-precision RFC 3339, so that one format is compared everywhere.
-- '' stays '' (not synced / never attempted).
UPDATE busy_intervals SET
    start_at = substr(start_at, 1, 19) || '.000000000Z',
    end_at   = substr(end_at, 1, 19) || '.000000000Z'
WHERE length(start_at) = 20;
UPDATE calendar_sync_status SET
    last_sync    = CASE WHEN length(last_sync) = 20 THEN substr(last_sync, 1, 19) || '.000000000Z' ELSE last_sync END,
    last_attempt = CASE WHEN length(last_attempt) = 20 THEN substr(last_attempt, 1, 19) || '.000000000Z' ELSE last_attempt END,
    window_start = CASE WHEN length(window_start) = 20 THEN substr(window_start, 1, 19) || '.000000000Z' ELSE window_start END,
    window_end   = CASE WHEN length(window_end) = 20 THEN substr(window_end, 1, 19) || '.000000000Z' ELSE window_end END;
