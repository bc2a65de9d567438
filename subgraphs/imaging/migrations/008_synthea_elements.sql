-- Elements an EHR export (Synthea R4) sends on every imaging study, kept as
-- sent (issue 27): the encounter it was made in (ImagingStudy.encounter: the
-- encounters subgraph's record, its id only, no foreign key: another store;
-- as notes keep it), the procedures performed (ImagingStudy.procedureCode:
-- a jsonb list of CodeableConcepts, every coding as sent) and where it was
-- performed (ImagingStudy.location: a logical Location reference, jsonb
-- {reference, type, identifier, display}). Null where none was sent. The
-- series' start and its instances (DICOM SOP Instance UIDs, SOP classes,
-- numbers, titles) are kept in the existing `series` jsonb (migration 005),
-- so they need no column.
ALTER TABLE imaging_study ADD COLUMN IF NOT EXISTS encounter_id uuid;
ALTER TABLE imaging_study ADD COLUMN IF NOT EXISTS procedure_codes jsonb;
ALTER TABLE imaging_study ADD COLUMN IF NOT EXISTS location jsonb;
