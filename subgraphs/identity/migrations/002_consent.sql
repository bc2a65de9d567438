-- Consent directives (FHIR Consent-like). A row is one provision: permit or
-- deny an actor some categories and/or sensitivity labels for some purposes
-- during a period. Revocation sets revoked_at; rows are never deleted, so the
-- history of what the patient decided is kept.
CREATE TABLE consent_directive (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id uuid NOT NULL REFERENCES patient (id),
  decision text NOT NULL CHECK (decision IN ('permit', 'deny')),
  actor_type text NOT NULL CHECK (actor_type IN ('organization', 'practitioner', 'app', 'alliance')),
  actor_id text,
  categories text[] NOT NULL DEFAULT '{}',
  labels text[] NOT NULL DEFAULT '{}',
  purposes text[] NOT NULL DEFAULT '{}',
  period_start timestamptz,
  period_end timestamptz,
  recorded_by text NOT NULL,
  recorded_by_role text NOT NULL,
  recorded_at_organization_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  revoked_by text,
  CHECK ((actor_type = 'alliance') = (actor_id IS NULL)),
  CHECK (period_end IS NULL OR period_start IS NULL OR period_end > period_start)
);
CREATE INDEX consent_directive_patient ON consent_directive (patient_id, created_at DESC);
