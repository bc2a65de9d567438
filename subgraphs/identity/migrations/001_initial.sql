-- Identity: patients, their identifiers, and the alliance registry.
CREATE TABLE organization (
  id text PRIMARY KEY,
  name text NOT NULL,
  type text NOT NULL,
  part_of text REFERENCES organization (id),
  city text
);

CREATE TABLE practitioner (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organization (id),
  family text NOT NULL,
  given text NOT NULL,
  role text NOT NULL
);
CREATE INDEX practitioner_organization ON practitioner (organization_id);

CREATE TABLE patient (
  id uuid PRIMARY KEY,
  family text NOT NULL,
  given text[] NOT NULL,
  birth_date date,
  gender text NOT NULL,
  phone text,
  email text,
  address_line text,
  address_city text,
  address_postal_code text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per identifier; (system, value) identifies one patient alliance-wide.
CREATE TABLE patient_identifier (
  patient_id uuid NOT NULL REFERENCES patient (id),
  system text NOT NULL,
  value text NOT NULL,
  type text NOT NULL,
  assigner_organization_id text REFERENCES organization (id),
  PRIMARY KEY (system, value)
);
CREATE INDEX patient_identifier_patient ON patient_identifier (patient_id);
CREATE INDEX patient_identifier_assigner ON patient_identifier (assigner_organization_id, patient_id);
