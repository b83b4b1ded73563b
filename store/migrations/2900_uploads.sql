-- 2900_uploads: files uploaded through POST /api/v1/uploads, to attach to
-- replies by id. The bytes are a blob (sha256); a row is the tenant's
-- handle on it.
CREATE TABLE uploads (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL
);
CREATE INDEX uploads_by_tenant ON uploads (tenant_id, id);
