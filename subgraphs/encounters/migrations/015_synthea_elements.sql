-- Elements an EHR export (Synthea R4) sends on every encounter, kept as sent
-- (issue 27): Encounter.type (what kind of visit: SNOMED CT or local codes,
-- every coding and the text) as a jsonb list of CodeableConcepts in `types`
-- (null where none was sent). The responsible participant's period
-- (Encounter.participant[0].period) is kept in the existing `participant`
-- jsonb beside its individual and type, so it needs no column.
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS types jsonb;
-- The display beside a procedure's reasonReference (the diagnosis it was for,
-- in words, as the exporter wrote it: Synthea does), kept as sent; shown only
-- where the diagnosis itself may be (GraphQL: the diagnoses consent category;
-- the export: beside the link, written only when the Condition is in it).
ALTER TABLE procedure ADD COLUMN IF NOT EXISTS reason_reference_display text;
