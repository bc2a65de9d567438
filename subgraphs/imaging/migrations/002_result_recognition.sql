-- Result recognition ("avoid repeated tests"): which organisation's imaging
-- studies are recognised across the whole alliance, for which DICOM modality
-- (NULL: every modality), for studies started during which period. Imaging
-- keeps this itself: it never reads identity's organisation registry.
CREATE TABLE imaging_result_recognition (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  modality text CHECK (modality IS NULL OR modality ~ '^[A-Z][A-Z0-9_]{1,15}$'),
  period_start timestamptz NOT NULL,
  period_end timestamptz CHECK (period_end IS NULL OR period_end > period_start),
  basis text NOT NULL
);
CREATE INDEX imaging_result_recognition_organization ON imaging_result_recognition (organization_id, modality);
