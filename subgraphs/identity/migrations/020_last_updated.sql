-- Last updated: when each record last changed (issue 21's `_since`, FHIR
-- meta.lastUpdated and `_lastUpdated`, GraphQL `lastUpdated` and the
-- connections' `updatedSince`). The column is the catalogue's
-- (lib/records/record-types.ts, LAST_UPDATED_COLUMN); docs/last-updated.md.
--
-- Set by the database, so every write path keeps it, whatever code runs it:
-- an insert takes the default (the transaction's time, now()); an update that
-- changes anything takes now() from the trigger below, and one that changes
-- nothing (a republish of the same record, as sent before) keeps the old
-- time. A writer that sets the column itself (a child row's trigger bumping
-- its parent) is left alone.
--
-- Rows that exist when this migration runs get their creation time where the table kept one (patient,
-- consent_directive: created_at), else the migration's time (patient_identifier).
-- A change is only ever later than it is, so an export `_since` a time
-- before the upgrade returns them (over-inclusive, never a record missed).
CREATE OR REPLACE FUNCTION record_last_updated() RETURNS trigger AS $$
BEGIN
  IF NEW.last_updated IS NOT DISTINCT FROM OLD.last_updated
     AND (to_jsonb(NEW) - 'last_updated') IS DISTINCT FROM (to_jsonb(OLD) - 'last_updated') THEN
    NEW.last_updated := now();
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

ALTER TABLE patient ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
UPDATE patient SET last_updated = created_at;
CREATE INDEX IF NOT EXISTS patient_last_updated ON patient (last_updated);
CREATE TRIGGER patient_last_updated BEFORE UPDATE ON patient
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
UPDATE consent_directive SET last_updated = created_at;
CREATE INDEX IF NOT EXISTS consent_directive_patient_last_updated ON consent_directive (patient_id, last_updated);
CREATE TRIGGER consent_directive_last_updated BEFORE UPDATE ON consent_directive
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE patient_identifier ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER patient_identifier_last_updated BEFORE UPDATE ON patient_identifier
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

-- The Patient resource holds the patient's identifiers and what the
-- registering organisations sent: a change to either moves the patient's time.

-- A row held inside a record (TG_ARGV[0]: the record's table, TG_ARGV[1]: the
-- child's column naming it) changes that record: its last_updated moves too.
-- A change of the child's own bookkeeping (updated_at) alone is no change.
CREATE OR REPLACE FUNCTION record_child_touches_parent() RETURNS trigger AS $$
DECLARE
  ids uuid[] := '{}';
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'updated_at' - 'last_updated') IS NOT DISTINCT FROM (to_jsonb(OLD) - 'updated_at' - 'last_updated') THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    ids := ids || ((to_jsonb(OLD) ->> TG_ARGV[1])::uuid);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    ids := ids || ((to_jsonb(NEW) ->> TG_ARGV[1])::uuid);
  END IF;
  -- Rows already stamped by this transaction (a record and its children written together) are not written twice.
  EXECUTE format('UPDATE %I SET last_updated = now() WHERE id = ANY($1) AND last_updated < now()', TG_ARGV[0]) USING ids;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER patient_identifier_touches_patient AFTER INSERT OR UPDATE OR DELETE ON patient_identifier
  FOR EACH ROW EXECUTE FUNCTION record_child_touches_parent('patient', 'patient_id');
CREATE TRIGGER patient_registration_touches_patient AFTER INSERT OR UPDATE OR DELETE ON patient_registration
  FOR EACH ROW EXECUTE FUNCTION record_child_touches_parent('patient', 'patient_id');
