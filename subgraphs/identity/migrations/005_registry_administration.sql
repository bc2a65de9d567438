-- The registry is administered at run time (upsertOrganization,
-- upsertPractitioner): entries are deactivated, never deleted, so the records
-- that name them keep resolving; every change is kept in registry_change.
ALTER TABLE organization ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;
ALTER TABLE organization ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE practitioner ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;
ALTER TABLE practitioner ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS organization_part_of ON organization (part_of) WHERE part_of IS NOT NULL;

-- The registry change log: one row per change of an organisation or a
-- practitioner, written in the same transaction as the change, with who made
-- it, in which request, and the entry before and after. Append-only.
CREATE TABLE registry_change (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  occurred_at timestamptz NOT NULL DEFAULT now(),
  request_id text NOT NULL,
  actor_sub text NOT NULL,
  actor_role text NOT NULL,
  entity_type text NOT NULL CHECK (entity_type IN ('organization', 'practitioner')),
  entity_id text NOT NULL,
  action text NOT NULL CHECK (action IN ('created', 'updated', 'deactivated', 'reactivated')),
  before jsonb,
  after jsonb NOT NULL
);
CREATE INDEX registry_change_entity ON registry_change (entity_type, entity_id, seq DESC);

CREATE FUNCTION registry_change_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'registry changes are append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER registry_change_no_update BEFORE UPDATE OR DELETE ON registry_change
  FOR EACH ROW EXECUTE FUNCTION registry_change_append_only();
