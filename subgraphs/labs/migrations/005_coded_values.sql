-- A coded result (FHIR Observation.valueCodeableConcept: a blood group, a
-- culture's organism) kept as sent, every coding with its system and the
-- text (issue 27: coded values no longer turn into text). Null for results
-- with a quantity or a string.
ALTER TABLE observation ADD COLUMN IF NOT EXISTS value_concept jsonb;
