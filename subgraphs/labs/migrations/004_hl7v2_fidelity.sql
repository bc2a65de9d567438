-- Results as laboratories send them (HL7 v2, FHIR):
-- * a comparator kept with its number (`<5.0`: FHIR valueQuantity.comparator);
-- * the reference range as sent, when it is text (`4.3 to 6.2`);
-- * codes other than LOINC: the code's system when the result (or report) has
--   no LOINC code (code_system NULL means LOINC), and the laboratory's local
--   code beside a LOINC code;
-- * notes (HL7 v2 NTE, FHIR Observation.note);
-- * the content digest of each HL7 v2 message, so a reused control id with
--   other content is told from a replay.
ALTER TABLE observation ADD COLUMN IF NOT EXISTS value_comparator text CHECK (value_comparator IN ('<', '<=', '>=', '>'));
ALTER TABLE observation ADD COLUMN IF NOT EXISTS reference_text text;
ALTER TABLE observation ADD COLUMN IF NOT EXISTS code_system text;
ALTER TABLE observation ADD COLUMN IF NOT EXISTS local_code text;
ALTER TABLE observation ADD COLUMN IF NOT EXISTS local_system text;
ALTER TABLE observation ADD COLUMN IF NOT EXISTS local_display text;
ALTER TABLE observation ADD COLUMN IF NOT EXISTS note text;
ALTER TABLE diagnostic_report ADD COLUMN IF NOT EXISTS code_system text;
ALTER TABLE diagnostic_report ADD COLUMN IF NOT EXISTS local_code text;
ALTER TABLE diagnostic_report ADD COLUMN IF NOT EXISTS local_system text;
ALTER TABLE diagnostic_report ADD COLUMN IF NOT EXISTS local_display text;
ALTER TABLE hl7v2_message ADD COLUMN IF NOT EXISTS content_hash text;

-- A result updated (a correction, OBX-11 C; a final after a preliminary)
-- keeps its earlier versions: each update copies the row it replaces here.
CREATE TABLE IF NOT EXISTS observation_history (
  observation_id uuid NOT NULL,
  replaced_at timestamptz NOT NULL DEFAULT now(),
  version jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS observation_history_observation ON observation_history (observation_id, replaced_at);

CREATE FUNCTION observation_keep_history() RETURNS trigger AS $$
BEGIN
  INSERT INTO observation_history (observation_id, version) VALUES (OLD.id, to_jsonb(OLD));
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER observation_keep_history BEFORE UPDATE ON observation
  FOR EACH ROW EXECUTE FUNCTION observation_keep_history();
