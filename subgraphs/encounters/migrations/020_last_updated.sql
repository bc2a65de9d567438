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
-- Rows that exist when this migration runs get the migration's time (the
-- time of the transaction that applies it): these tables kept no time of
-- their own writes.
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

ALTER TABLE encounter ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS encounter_patient_last_updated ON encounter (patient_id, last_updated);
CREATE TRIGGER encounter_last_updated BEFORE UPDATE ON encounter
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE condition ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS condition_patient_last_updated ON condition (patient_id, last_updated);
CREATE TRIGGER condition_last_updated BEFORE UPDATE ON condition
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE allergy_intolerance ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS allergy_intolerance_patient_last_updated ON allergy_intolerance (patient_id, last_updated);
CREATE TRIGGER allergy_intolerance_last_updated BEFORE UPDATE ON allergy_intolerance
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE medication_request ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS medication_request_patient_last_updated ON medication_request (patient_id, last_updated);
CREATE TRIGGER medication_request_last_updated BEFORE UPDATE ON medication_request
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE medication_administration ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS medication_administration_patient_last_updated ON medication_administration (patient_id, last_updated);
CREATE TRIGGER medication_administration_last_updated BEFORE UPDATE ON medication_administration
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE medication_statement ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS medication_statement_patient_last_updated ON medication_statement (patient_id, last_updated);
CREATE TRIGGER medication_statement_last_updated BEFORE UPDATE ON medication_statement
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE procedure ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS procedure_patient_last_updated ON procedure (patient_id, last_updated);
CREATE TRIGGER procedure_last_updated BEFORE UPDATE ON procedure
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE referral ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS referral_patient_last_updated ON referral (patient_id, last_updated);
CREATE TRIGGER referral_last_updated BEFORE UPDATE ON referral
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

-- An encounter's participants are elements of its Encounter resource.
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
CREATE TRIGGER encounter_participant_touches_encounter AFTER INSERT OR UPDATE OR DELETE ON encounter_participant
  FOR EACH ROW EXECUTE FUNCTION record_child_touches_parent('encounter', 'encounter_id');
