-- Clinical observations (issue 27): FHIR Observations of every category but
-- laboratory (vital signs, exam, survey, social history, imaging, procedure,
-- therapy, activity), as institutions send them. Every CodeableConcept keeps
-- every coding with its system and the text, as sent (jsonb
-- {coding: [{system, code, display}], text}); value[x] of every type is kept
-- under its own key ({quantity | codeableConcept | string | boolean | integer
-- | range | ratio | dateTime | period}), and the numeric value of a Quantity
-- besides in value_quantity for search and lists.
CREATE TABLE IF NOT EXISTS clinical_observation (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  status text NOT NULL,
  -- The observation-category codes (vital-signs, social-history…), for filters; every category coding as sent in categories.
  category_codes text[] NOT NULL DEFAULT '{}',
  categories jsonb NOT NULL DEFAULT '[]',
  -- Every code of every coding of Observation.code, for filters; the concept as sent in code.
  codes text[] NOT NULL DEFAULT '{}',
  code jsonb NOT NULL,
  value jsonb,
  value_quantity double precision,
  data_absent_reason jsonb,
  interpretation jsonb,
  body_site jsonb,
  method jsonb,
  components jsonb,
  -- Other clinical observations this one groups or was derived from (ids, in the order sent).
  has_member uuid[] NOT NULL DEFAULT '{}',
  derived_from uuid[] NOT NULL DEFAULT '{}',
  notes text[],
  effective timestamptz NOT NULL,
  -- effectiveDateTime / effectivePeriod as sent (their precision kept); effective is its instant (a period's start).
  effective_source jsonb,
  issued timestamptz,
  -- Performers other than the publishing organisation: logical references as sent (identifier, display).
  performers jsonb,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS clinical_observation_patient_time ON clinical_observation (patient_id, effective DESC, id DESC);
