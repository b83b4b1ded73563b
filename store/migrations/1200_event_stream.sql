-- 1200_event_stream: a tenant's events in order, for GET /api/v1/events.
CREATE INDEX events_by_tenant ON events (tenant_id, id);
