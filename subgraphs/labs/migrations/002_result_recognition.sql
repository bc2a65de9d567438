-- Result recognition ("avoid repeated tests"): which organisation's laboratory
-- results are recognised across the whole alliance, for which LOINC code (NULL:
-- every code), for specimens taken during which period. Labs keeps this itself:
-- it never reads identity's organisation registry.
CREATE TABLE lab_result_recognition (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  code text CHECK (code IS NULL OR code ~ '^[0-9]{1,7}-[0-9]$'),
  period_start timestamptz NOT NULL,
  period_end timestamptz CHECK (period_end IS NULL OR period_end > period_start),
  basis text NOT NULL
);
CREATE INDEX lab_result_recognition_organization ON lab_result_recognition (organization_id, code);
