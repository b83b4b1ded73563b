-- Calendar free/busy (store/calendar.go; times converted by 0800).
-- Only busy intervals are ever stored: no title, description, location,
-- attendee, organizer or UID of any event. Times are RFC 3339 UTC text
-- ("2006-01-02T15:04:05Z"), which sorts correctly as text. The columns are
-- start_at/end_at because END is a reserved word in SQL.
CREATE TABLE busy_intervals (
    tenant_id TEXT NOT NULL,
    agent_id  TEXT NOT NULL,
    start_at  TEXT NOT NULL,
    end_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, start_at)
);

-- One row per agent: the outcome of its latest sync. window_start/window_end
-- bound the time range the stored intervals are known for; last_sync is the
-- last successful sync, last_attempt the latest one, last_error '' when it
-- succeeded.
CREATE TABLE calendar_sync_status (
    tenant_id    TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    last_sync    TEXT NOT NULL DEFAULT '',
    last_attempt TEXT NOT NULL DEFAULT '',
    last_error   TEXT NOT NULL DEFAULT '',
    busy_count   INTEGER NOT NULL DEFAULT 0,
    window_start TEXT NOT NULL DEFAULT '',
    window_end   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, agent_id)
);
