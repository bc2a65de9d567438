-- Care plans (FHIR CarePlan) and care teams (FHIR CareTeam) published by the
-- institutions that make them: public-health keeps them beside its programmes
-- and follow-up tasks. Concepts are CodeableConcepts kept as sent
-- ({coding: [{system, code, display}], text}); references the registry does
-- not hold (a location, a practitioner known by identifier) are kept as sent
-- ({reference, type, identifier: {system, value}, display}).
CREATE TABLE care_team (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  status text CHECK (status IN ('proposed', 'active', 'suspended', 'inactive', 'entered-in-error')),
  period_start timestamptz NOT NULL,
  period_end timestamptz,
  -- [{role: [CodeableConcept], member: reference as sent}]
  participants jsonb NOT NULL DEFAULT '[]',
  reason_codes jsonb NOT NULL DEFAULT '[]',
  -- managingOrganization was sent: the producer (no other organisation may be named).
  managed_by_producer boolean NOT NULL DEFAULT false,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX care_team_patient_time ON care_team (patient_id, period_start DESC, id DESC);

CREATE TABLE care_plan (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown')),
  intent text NOT NULL CHECK (intent IN ('proposal', 'plan', 'order', 'option')),
  categories jsonb NOT NULL DEFAULT '[]',
  period_start timestamptz NOT NULL,
  period_end timestamptz,
  -- [{code: CodeableConcept | null, status, location: reference as sent | null}]
  activities jsonb NOT NULL DEFAULT '[]',
  -- The Conditions it addresses (encounters' diagnoses, by id: another subgraph's records).
  addresses_condition_ids uuid[] NOT NULL DEFAULT '{}',
  -- The care team that carries it out (this subgraph's).
  care_team_id uuid,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX care_plan_patient_time ON care_plan (patient_id, period_start DESC, id DESC);
