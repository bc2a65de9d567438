-- References the registry does not know, kept as sent (issue 27): the
-- responsible practitioner named by identifier (or display) with how they
-- took part ({individual: {reference?, type?, identifier?: {system?, value?},
-- display?}, type: [CodeableConcept]}, the FHIR shape), and the Locations
-- of the encounter (a list of such logical references).
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS participant jsonb;
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS locations jsonb;
