-- 3400_crm_accounts_tiered: whether a tenant has any account with a tier
-- (LocalCRM.Tier asks before it matches a captured mail's sender) is one
-- index probe, however many untiered accounts there are.
CREATE INDEX crm_accounts_tiered ON crm_accounts (tenant_id) WHERE tier != '';
