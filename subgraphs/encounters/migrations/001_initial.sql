-- Encounters: visits, diagnoses and referrals. Organisation and practitioner
-- ids refer to identity's registry (no cross-database foreign keys).
CREATE TABLE encounter (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  practitioner_id text,
  class text NOT NULL CHECK (class IN ('AMB', 'IMP', 'EMER', 'VR')),
  status text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end timestamptz,
  reason_code text,
  reason_display text,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX encounter_patient_time ON encounter (patient_id, period_start DESC, id DESC);

CREATE TABLE condition (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  encounter_id uuid REFERENCES encounter (id),
  organization_id text NOT NULL,
  code text NOT NULL,
  display text NOT NULL,
  clinical_status text NOT NULL,
  recorded_date timestamptz NOT NULL,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX condition_patient_time ON condition (patient_id, recorded_date DESC, id DESC);
CREATE INDEX condition_encounter ON condition (encounter_id);

CREATE TABLE referral (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  requester_organization_id text NOT NULL,
  requester_practitioner_id text,
  performer_organization_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('requested', 'accepted', 'declined', 'completed', 'cancelled')),
  reason_code text,
  reason_display text,
  note text,
  authored_on timestamptz NOT NULL,
  appointment_time timestamptz,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX referral_patient_time ON referral (patient_id, authored_on DESC, id DESC);
CREATE INDEX referral_performer ON referral (performer_organization_id, status);
