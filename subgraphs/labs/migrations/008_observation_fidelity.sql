-- Observation fidelity (issue 27: nothing accepted is lost).
-- A laboratory result's performers other than the publishing organisation
-- (a practitioner by registry id or by identifier, a display alone): logical
-- references as sent ({reference, type, identifier: {system, value}, display}),
-- as clinical observations keep theirs. Before, a practitioner performer was
-- accepted and dropped.
ALTER TABLE observation ADD COLUMN IF NOT EXISTS performers jsonb;
-- A clinical observation's reference ranges (FHIR Observation.referenceRange:
-- low, high, type, appliesTo, age, text) and its specimen (a logical
-- reference: specimens are not records of their own), as sent; refused by
-- name until now.
ALTER TABLE clinical_observation ADD COLUMN IF NOT EXISTS reference_ranges jsonb;
ALTER TABLE clinical_observation ADD COLUMN IF NOT EXISTS specimen jsonb;
-- A laboratory result's categories as sent (every coding with its display:
-- Synthea writes "laboratory"); before, the export wrote its own display.
ALTER TABLE observation ADD COLUMN IF NOT EXISTS categories jsonb;
