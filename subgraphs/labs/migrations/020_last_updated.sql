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

ALTER TABLE observation ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS observation_patient_last_updated ON observation (patient_id, last_updated);
CREATE TRIGGER observation_last_updated BEFORE UPDATE ON observation
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE diagnostic_report ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS diagnostic_report_patient_last_updated ON diagnostic_report (patient_id, last_updated);
CREATE TRIGGER diagnostic_report_last_updated BEFORE UPDATE ON diagnostic_report
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE clinical_observation ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS clinical_observation_patient_last_updated ON clinical_observation (patient_id, last_updated);
CREATE TRIGGER clinical_observation_last_updated BEFORE UPDATE ON clinical_observation
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();
