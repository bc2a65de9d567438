-- Result recognition is administered at run time (add an entry, end one):
-- each entry names who recorded it and, once ended, who ended it and when.
-- Entries are never deleted or rewritten; ending one closes its period, once.
-- So the table is its own history. Entries seeded before this migration were
-- recorded by no one the table knows.
ALTER TABLE imaging_result_recognition ADD COLUMN IF NOT EXISTS recorded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE imaging_result_recognition ADD COLUMN IF NOT EXISTS recorded_by text NOT NULL DEFAULT 'unrecorded';
ALTER TABLE imaging_result_recognition ALTER COLUMN recorded_by DROP DEFAULT;
ALTER TABLE imaging_result_recognition ADD COLUMN IF NOT EXISTS ended_at timestamptz;
ALTER TABLE imaging_result_recognition ADD COLUMN IF NOT EXISTS ended_by text;
ALTER TABLE imaging_result_recognition ADD CONSTRAINT imaging_result_recognition_ended CHECK ((ended_at IS NULL) = (ended_by IS NULL));
ALTER TABLE imaging_result_recognition ADD CONSTRAINT imaging_result_recognition_basis CHECK (length(basis) BETWEEN 3 AND 500);

CREATE FUNCTION imaging_result_recognition_history() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'recognition entries are never deleted: end them';
  END IF;
  IF OLD.ended_at IS NOT NULL OR NEW.ended_at IS NULL
     OR (NEW.id, NEW.organization_id, NEW.modality, NEW.period_start, NEW.basis, NEW.recorded_at, NEW.recorded_by)
        IS DISTINCT FROM (OLD.id, OLD.organization_id, OLD.modality, OLD.period_start, OLD.basis, OLD.recorded_at, OLD.recorded_by) THEN
    RAISE EXCEPTION 'a recognition entry only changes by being ended, once';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER imaging_result_recognition_history BEFORE UPDATE OR DELETE ON imaging_result_recognition
  FOR EACH ROW EXECUTE FUNCTION imaging_result_recognition_history();
