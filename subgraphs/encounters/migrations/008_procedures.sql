-- Procedures (FHIR Procedure), performed and recorded during encounters by
-- the producing organisation's clinicians. Concepts are CodeableConcepts kept
-- as sent ({coding: [{system, code, display}], text}, every coding with its
-- system: SNOMED CT, ICD-10-PCS, CPT, local); references the registry does not
-- hold (a location, a performer known by identifier) are kept as sent
-- ({reference, type, identifier: {system, value}, display}).
CREATE TABLE procedure (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  encounter_id uuid,
  status text NOT NULL CHECK (status IN ('preparation', 'in-progress', 'not-done', 'on-hold', 'stopped', 'completed', 'entered-in-error', 'unknown')),
  code jsonb NOT NULL,
  performed_date_time timestamptz,
  performed_period_start timestamptz,
  performed_period_end timestamptz,
  -- Its place on the timeline: performedDateTime, or performedPeriod.start.
  performed_at timestamptz NOT NULL,
  reason_codes jsonb NOT NULL DEFAULT '[]',
  -- The Condition it was performed for (reasonReference), a diagnosis of this subgraph.
  reason_condition_id uuid,
  body_sites jsonb NOT NULL DEFAULT '[]',
  outcome jsonb,
  -- [{function: CodeableConcept | null, actor: reference as sent}]
  performers jsonb NOT NULL DEFAULT '[]',
  location jsonb,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX procedure_patient_time ON procedure (patient_id, performed_at DESC, id DESC);
