-- An org's domain is first a claim, unique in its tenant, that serves nothing;
-- it becomes the org's portal domain (orgs.domain, unique across the server)
-- once DNS proves the claimant controls it. Claims never conflict across
-- tenants, so setting a domain reveals nothing about other tenants.
ALTER TABLE orgs ADD COLUMN domain_claim TEXT;
ALTER TABLE orgs ADD COLUMN domain_token TEXT;
ALTER TABLE orgs ADD COLUMN domain_verified_at TEXT;
-- Domains set before claims existed were already unique server-wide: they stay verified.
UPDATE orgs SET domain_claim = domain, domain_token = 'orgscope-verify=' || md5(random()::text || id), domain_verified_at = updated_at
    WHERE domain IS NOT NULL;
CREATE UNIQUE INDEX orgs_domain_claim ON orgs (tenant_id, domain_claim);
