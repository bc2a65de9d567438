-- Where the patient went after an inpatient stay (FHIR discharge-disposition code).
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS discharge_disposition text;
