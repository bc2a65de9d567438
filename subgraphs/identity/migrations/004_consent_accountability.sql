-- Staff-recorded consent is accountable: the signed form's reference, who
-- revoked a directive and where; and the audit trail records consent changes
-- (action) with what changed (details), chained like every other event.
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS attestation text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS revoked_by_role text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS revoked_at_organization_id text;
CREATE INDEX IF NOT EXISTS consent_directive_recorded_at ON consent_directive (recorded_at_organization_id, created_at DESC) WHERE recorded_at_organization_id IS NOT NULL;

ALTER TABLE audit_event ADD COLUMN IF NOT EXISTS action text NOT NULL DEFAULT 'disclosure';
ALTER TABLE audit_event ADD COLUMN IF NOT EXISTS details jsonb;
CREATE INDEX IF NOT EXISTS audit_event_consent_changes ON audit_event (seq DESC) WHERE action <> 'disclosure';
