-- Elements an EHR export (Synthea R4) sends on every encounter, kept as sent
-- (issue 27): Encounter.type (what kind of visit: SNOMED CT or local codes,
-- every coding and the text) as a jsonb list of CodeableConcepts in `types`
-- (null where none was sent). The responsible participant's period
-- (Encounter.participant[0].period) is kept in the existing `participant`
-- jsonb beside its individual and type, so it needs no column.
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS types jsonb;
