-- Imaging: studies (DICOM) and their radiology reports.
CREATE TABLE imaging_study (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  study_instance_uid text NOT NULL UNIQUE,
  modality text NOT NULL,
  modality_display text,
  body_site text,
  body_site_display text,
  description text,
  number_of_series integer NOT NULL,
  number_of_instances integer NOT NULL,
  started timestamptz NOT NULL,
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX imaging_study_patient_time ON imaging_study (patient_id, started DESC, id DESC);
-- Result recognition: recent studies of one modality and body site for a patient.
CREATE INDEX imaging_study_patient_modality ON imaging_study (patient_id, modality, body_site, started DESC);

CREATE TABLE imaging_report (
  id uuid PRIMARY KEY,
  study_id uuid NOT NULL UNIQUE REFERENCES imaging_study (id),
  status text NOT NULL,
  findings text NOT NULL,
  impression text NOT NULL,
  radiologist_id text,
  issued timestamptz
);
