-- Demographics an EHR export (Synthea R4) sends on every Patient, kept as sent
-- (issue 27: nothing accepted is lost), FHIR JSON like the lists of 009:
-- the marital status (Patient.maritalStatus, a CodeableConcept), whether the
-- patient is one of a multiple birth (Patient.multipleBirth[x], as
-- {"boolean": …} or {"integer": …}) and the languages they speak
-- (Patient.communication, a list of {language, preferred}). Null where none
-- was sent, and for rows recorded before. An address's extensions
-- (Patient.address.extension, e.g. geolocation) are kept in `addresses`
-- (009), so they need no column. On the patient row and on each
-- organisation's registration, as the other demographics.
ALTER TABLE patient ADD COLUMN IF NOT EXISTS marital_status jsonb;
ALTER TABLE patient ADD COLUMN IF NOT EXISTS multiple_birth jsonb;
ALTER TABLE patient ADD COLUMN IF NOT EXISTS communications jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS marital_status jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS multiple_birth jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS communications jsonb;
