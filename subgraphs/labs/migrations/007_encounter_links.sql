-- The encounter a laboratory result, a clinical observation or a report was
-- made in (FHIR Observation.encounter, DiagnosticReport.encounter; issue 27:
-- EHR exports such as Synthea name it on every one). The encounter is the
-- encounters subgraph's record: its id only, no foreign key (another store).
-- Null when none was sent.
ALTER TABLE observation ADD COLUMN IF NOT EXISTS encounter_id uuid;
ALTER TABLE diagnostic_report ADD COLUMN IF NOT EXISTS encounter_id uuid;
ALTER TABLE clinical_observation ADD COLUMN IF NOT EXISTS encounter_id uuid;
