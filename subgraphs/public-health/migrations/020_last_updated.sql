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

ALTER TABLE immunization ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS immunization_patient_last_updated ON immunization (patient_id, last_updated);
CREATE TRIGGER immunization_last_updated BEFORE UPDATE ON immunization
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE program_enrollment ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS program_enrollment_patient_last_updated ON program_enrollment (patient_id, last_updated);
CREATE TRIGGER program_enrollment_last_updated BEFORE UPDATE ON program_enrollment
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE follow_up_task ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS follow_up_task_patient_last_updated ON follow_up_task (patient_id, last_updated);
CREATE TRIGGER follow_up_task_last_updated BEFORE UPDATE ON follow_up_task
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE care_plan ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS care_plan_patient_last_updated ON care_plan (patient_id, last_updated);
CREATE TRIGGER care_plan_last_updated BEFORE UPDATE ON care_plan
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE care_team ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS care_team_patient_last_updated ON care_team (patient_id, last_updated);
CREATE TRIGGER care_team_last_updated BEFORE UPDATE ON care_team
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE home_measurement ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS home_measurement_patient_last_updated ON home_measurement (patient_id, last_updated);
CREATE TRIGGER home_measurement_last_updated BEFORE UPDATE ON home_measurement
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();
