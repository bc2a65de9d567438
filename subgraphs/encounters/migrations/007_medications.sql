-- Medications (FHIR MedicationRequest, MedicationAdministration,
-- MedicationStatement), recorded by clinicians of the producing organisation
-- during encounters. Coded elements are CodeableConcepts kept as sent
-- ({coding: [{system, code, display}], text}, every coding with its system:
-- RxNorm, SNOMED CT, ATC, national drug codes, local codes). The medication is
-- either such a concept (medication_code) or the Medication resource the
-- record referenced, contained or an entry of its Bundle (medication: its
-- elements as sent, with the id the export names it by). Dosages are kept in
-- FHIR's shape (Dosage), as sent.
CREATE TABLE medication_request (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  encounter_id uuid,
  reason_condition_id uuid,
  requester_id text,
  status text NOT NULL CHECK (status IN ('active', 'on-hold', 'cancelled', 'completed', 'entered-in-error', 'stopped', 'draft', 'unknown')),
  status_reason jsonb,
  intent text NOT NULL CHECK (intent IN ('proposal', 'plan', 'order', 'original-order', 'reflex-order', 'filler-order', 'instance-order', 'option')),
  categories jsonb NOT NULL DEFAULT '[]',
  priority text CHECK (priority IN ('routine', 'urgent', 'asap', 'stat')),
  medication_code jsonb,
  medication jsonb,
  authored_on timestamptz NOT NULL,
  reason_codes jsonb NOT NULL DEFAULT '[]',
  dosage_instructions jsonb NOT NULL DEFAULT '[]',
  sensitivity_labels text[] NOT NULL DEFAULT '{}',
  CHECK ((medication_code IS NULL) <> (medication IS NULL))
);
CREATE INDEX medication_request_patient_time ON medication_request (patient_id, authored_on DESC, id DESC);

CREATE TABLE medication_administration (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  encounter_id uuid,
  reason_condition_id uuid,
  request_id uuid,
  status text NOT NULL CHECK (status IN ('in-progress', 'not-done', 'on-hold', 'completed', 'entered-in-error', 'stopped', 'unknown')),
  status_reasons jsonb NOT NULL DEFAULT '[]',
  category jsonb,
  medication_code jsonb,
  medication jsonb,
  -- effectiveDateTime (effective_end null, effective_is_period false) or effectivePeriod.
  effective_start timestamptz NOT NULL,
  effective_end timestamptz,
  effective_is_period boolean NOT NULL DEFAULT false,
  -- [{function: CodeableConcept, actor: practitioner id}]
  performers jsonb NOT NULL DEFAULT '[]',
  reason_codes jsonb NOT NULL DEFAULT '[]',
  dosage jsonb,
  sensitivity_labels text[] NOT NULL DEFAULT '{}',
  CHECK ((medication_code IS NULL) <> (medication IS NULL))
);
CREATE INDEX medication_administration_patient_time ON medication_administration (patient_id, effective_start DESC, id DESC);

CREATE TABLE medication_statement (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  encounter_id uuid,
  reason_condition_id uuid,
  information_source_id text,
  status text NOT NULL CHECK (status IN ('active', 'completed', 'entered-in-error', 'intended', 'stopped', 'on-hold', 'unknown', 'not-taken')),
  status_reasons jsonb NOT NULL DEFAULT '[]',
  category jsonb,
  medication_code jsonb,
  medication jsonb,
  -- The timeline's time: the effective start, or when it was asserted where no effective time was given.
  effective_start timestamptz NOT NULL,
  effective_date_time timestamptz,
  effective_period_start timestamptz,
  effective_period_end timestamptz,
  date_asserted timestamptz,
  reason_codes jsonb NOT NULL DEFAULT '[]',
  dosages jsonb NOT NULL DEFAULT '[]',
  sensitivity_labels text[] NOT NULL DEFAULT '{}',
  CHECK ((medication_code IS NULL) <> (medication IS NULL))
);
CREATE INDEX medication_statement_patient_time ON medication_statement (patient_id, effective_start DESC, id DESC);
