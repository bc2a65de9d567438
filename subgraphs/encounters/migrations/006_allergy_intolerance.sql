-- Allergies and intolerances (FHIR AllergyIntolerance), recorded by clinicians
-- of the producing organisation. The substance and each reaction's substance
-- and manifestations are CodeableConcepts kept as sent: {coding: [{system,
-- code, display}], text}, every coding with its system.
CREATE TABLE allergy_intolerance (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  recorder_id text,
  code jsonb NOT NULL,
  clinical_status text CHECK (clinical_status IN ('active', 'inactive', 'resolved')),
  verification_status text CHECK (verification_status IN ('unconfirmed', 'confirmed', 'refuted', 'entered-in-error')),
  type text CHECK (type IN ('allergy', 'intolerance')),
  categories text[] NOT NULL DEFAULT '{}',
  criticality text CHECK (criticality IN ('low', 'high', 'unable-to-assess')),
  onset_date_time timestamptz,
  onset_string text,
  recorded_date timestamptz NOT NULL,
  -- [{substance, manifestations: [CodeableConcept], severity, onset, description}]
  reactions jsonb NOT NULL DEFAULT '[]',
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX allergy_intolerance_patient_time ON allergy_intolerance (patient_id, recorded_date DESC, id DESC);
