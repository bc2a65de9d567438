-- Labs: diagnostic reports and the observations they group.
CREATE TABLE diagnostic_report (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  code text NOT NULL,
  display text NOT NULL,
  category text NOT NULL CHECK (category IN ('LAB', 'ECG', 'PATHOLOGY')),
  status text NOT NULL,
  effective timestamptz NOT NULL,
  issued timestamptz,
  conclusion text,
  performer_id text,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX diagnostic_report_patient_time ON diagnostic_report (patient_id, effective DESC, id DESC);

CREATE TABLE observation (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  report_id uuid REFERENCES diagnostic_report (id),
  code text NOT NULL,
  display text NOT NULL,
  category text NOT NULL DEFAULT 'laboratory',
  status text NOT NULL DEFAULT 'final',
  value_quantity double precision,
  value_string text,
  unit text,
  reference_low double precision,
  reference_high double precision,
  interpretation text,
  effective timestamptz NOT NULL,
  issued timestamptz,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX observation_patient_time ON observation (patient_id, effective DESC, id DESC);
-- Result recognition: recent results of one LOINC code for a patient.
CREATE INDEX observation_patient_code_time ON observation (patient_id, code, effective DESC);
CREATE INDEX observation_report ON observation (report_id);
