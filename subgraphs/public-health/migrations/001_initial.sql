-- Public health: programmes, enrolments, immunisations, follow-up tasks and
-- home measurements.
CREATE TABLE program (
  id text PRIMARY KEY,
  code text NOT NULL UNIQUE,
  name text NOT NULL,
  organization_id text NOT NULL
);

CREATE TABLE program_enrollment (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  program_id text NOT NULL REFERENCES program (id),
  organization_id text NOT NULL,
  status text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end timestamptz,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX program_enrollment_patient_time ON program_enrollment (patient_id, period_start DESC, id DESC);
CREATE INDEX program_enrollment_program ON program_enrollment (program_id, status);

CREATE TABLE immunization (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  program_id text REFERENCES program (id),
  vaccine_code text NOT NULL,
  vaccine_display text NOT NULL,
  dose_number integer NOT NULL,
  lot_number text,
  occurrence timestamptz NOT NULL,
  status text NOT NULL,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX immunization_patient_time ON immunization (patient_id, occurrence DESC, id DESC);

CREATE TABLE follow_up_task (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  program_id text REFERENCES program (id),
  description text NOT NULL,
  due_date date NOT NULL,
  status text NOT NULL CHECK (status IN ('requested', 'completed', 'cancelled')),
  assigned_role text NOT NULL,
  authored_on timestamptz NOT NULL,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX follow_up_task_patient_time ON follow_up_task (patient_id, authored_on DESC, id DESC);
CREATE INDEX follow_up_task_open ON follow_up_task (organization_id, assigned_role, status, due_date);

-- A home measurement is produced by the patient; organization_id is the
-- organisation responsible for their care (primary care), which receives it.
CREATE TABLE home_measurement (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('blood-pressure', 'glucose', 'weight')),
  code text NOT NULL,
  display text NOT NULL,
  systolic integer,
  diastolic integer,
  value double precision,
  unit text NOT NULL,
  effective timestamptz NOT NULL,
  source text NOT NULL,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX home_measurement_patient_time ON home_measurement (patient_id, effective DESC, id DESC);
