-- Campaigns in the local CRM (crm.ObjCampaign), as Salesforce has them:
-- the API's /api/v1/crm/campaigns reads and writes the same fields with
-- either connector.
CREATE TABLE crm_campaigns (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    external_id   TEXT,
    name          TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT '',
    type          TEXT    NOT NULL DEFAULT '',
    start_date    TEXT,
    end_date      TEXT,
    active        INTEGER NOT NULL DEFAULT 0,
    budgeted_cost REAL    NOT NULL DEFAULT 0,
    description   TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE UNIQUE INDEX crm_campaigns_external ON crm_campaigns (tenant_id, source, external_id);
CREATE INDEX crm_campaigns_name ON crm_campaigns (tenant_id, name);
