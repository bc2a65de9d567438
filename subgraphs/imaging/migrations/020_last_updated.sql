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

ALTER TABLE imaging_study ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS imaging_study_patient_last_updated ON imaging_study (patient_id, last_updated);
CREATE TRIGGER imaging_study_last_updated BEFORE UPDATE ON imaging_study
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

ALTER TABLE clinical_note ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS clinical_note_patient_last_updated ON clinical_note (patient_id, last_updated);
CREATE TRIGGER clinical_note_last_updated BEFORE UPDATE ON clinical_note
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

-- A radiology report is read through its study (ImagingStudy.report, and the
-- DiagnosticReport the export builds from it): it has its own time, and a
-- change to it moves its study's, so `updatedSince` on the studies finds it.
ALTER TABLE imaging_report ADD COLUMN IF NOT EXISTS last_updated timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER imaging_report_last_updated BEFORE UPDATE ON imaging_report
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();

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
CREATE TRIGGER imaging_report_touches_imaging_study AFTER INSERT OR UPDATE OR DELETE ON imaging_report
  FOR EACH ROW EXECUTE FUNCTION record_child_touches_parent('imaging_study', 'study_id');
