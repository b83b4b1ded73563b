-- 1600_calendar_feeds: each agent's free/busy feed URL can be rotated on its
-- own (sidedesk calendar rotate-feed): the generation goes into the URL's
-- token; generation 0 (no row) is the URL of before.
CREATE TABLE calendar_feed_generations (
    tenant_id  TEXT    NOT NULL,
    agent_id   TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    rotated_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
) WITHOUT ROWID;
