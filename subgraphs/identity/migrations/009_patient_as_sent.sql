-- The patient's demographics as the institution sent them (issue 27: nothing
-- accepted is lost). The columns of 001 stay: matching, search and the
-- consent notifications read them (the first name, phone, e-mail and
-- address). These keep every name (prefix, suffix, use), every contact point
-- with its use (a home phone stays home), every address (state, district,
-- country as sent: none is assumed), the death (deceasedDateTime or
-- deceasedBoolean) and the Patient's extensions, FHIR JSON as sent; null for
-- rows recorded before (their lists read from the columns of 001).
ALTER TABLE patient ADD COLUMN IF NOT EXISTS names jsonb;
ALTER TABLE patient ADD COLUMN IF NOT EXISTS telecoms jsonb;
ALTER TABLE patient ADD COLUMN IF NOT EXISTS addresses jsonb;
ALTER TABLE patient ADD COLUMN IF NOT EXISTS deceased jsonb;
ALTER TABLE patient ADD COLUMN IF NOT EXISTS extensions jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS names jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS telecoms jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS addresses jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS deceased jsonb;
ALTER TABLE patient_registration ADD COLUMN IF NOT EXISTS extensions jsonb;
