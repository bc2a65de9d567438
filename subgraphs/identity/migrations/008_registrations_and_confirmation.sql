-- Knowing an identifier opens nothing (docs/consent.md).
--
-- A registration is what one organisation sent when it registered the
-- patient: the demographics and identifiers it published. Its staff see that
-- (their own record), not what other organisations recorded; the patient's
-- record as the alliance holds it (the patient row, every identifier, the
-- directives) is open to staff only under the patient's permit. One row per
-- organisation and patient, written by publishing (identity's ingest). A
-- registration made before this table existed (a medical record number
-- without a row) reads as the patient row, its own numbers and the card.
CREATE TABLE IF NOT EXISTS patient_registration (
  patient_id uuid NOT NULL REFERENCES patient (id),
  organization_id text NOT NULL,
  -- created: this registration created the patient; matched: it joined a patient the alliance already knew (the card).
  basis text NOT NULL CHECK (basis IN ('created', 'matched')),
  family text NOT NULL,
  given text[] NOT NULL,
  birth_date date,
  gender text NOT NULL,
  phone text,
  email text,
  address_line text,
  address_city text,
  address_postal_code text,
  -- The identifiers the organisation sent: [{ system, value, type }].
  identifiers jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (patient_id, organization_id)
);
CREATE INDEX IF NOT EXISTS patient_registration_organization ON patient_registration (organization_id, patient_id);

-- The organisation whose registration created the patient: its updates are
-- the patient's record (what the patient, and those they authorise, see).
-- Null for patients created before this column (any registering
-- organisation without a registration row updates them, as before).
ALTER TABLE patient ADD COLUMN IF NOT EXISTS registered_by text;

-- Staff-recorded directives need the patient's confirmation. A directive is
-- in force only when active (and inside its period, not revoked); pending
-- ones wait for the patient (their app), a one-time code sent to the
-- contact they registered, or a countersignature (paper); declined ones
-- never applied. Directives recorded before this column were in force.
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'active';
ALTER TABLE consent_directive ADD CONSTRAINT consent_directive_status CHECK (status IN ('pending', 'active', 'declined'));
-- How it was (or is to be) confirmed: patient (recorded by the patient or their app), patient-app, one-time-code, paper.
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS confirmation text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS confirmed_at timestamptz;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS confirmed_by text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS confirmed_by_role text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS declined_at timestamptz;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS declined_by text;
ALTER TABLE consent_directive ADD COLUMN IF NOT EXISTS flagged_for_review boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS consent_directive_pending ON consent_directive (patient_id) WHERE status = 'pending';

-- One-time codes sent to the patient's registered contact to confirm a
-- staff-recorded directive: only a hash is kept; single use, a few tries,
-- a short life.
CREATE TABLE IF NOT EXISTS consent_confirmation_code (
  directive_id uuid PRIMARY KEY REFERENCES consent_directive (id),
  code_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
