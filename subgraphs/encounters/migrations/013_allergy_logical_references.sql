-- An allergy's recorder and asserter as sent when the registry does not know
-- them (issue 27): a practitioner by identifier with a display (as most
-- systems send them), a PractitionerRole, or for the asserter a RelatedPerson
-- or the Patient, kept as logical references in the FHIR shape
-- {reference?, type?, identifier?: {system?, value?}, display?}. A registry
-- practitioner (Practitioner/<registry id>) as recorder stays recorder_id.
ALTER TABLE allergy_intolerance ADD COLUMN IF NOT EXISTS recorder_reference jsonb;
ALTER TABLE allergy_intolerance ADD COLUMN IF NOT EXISTS asserter jsonb;
