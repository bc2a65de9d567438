-- A clinical note's encounter (issue 27): DocumentReference.context.encounter
-- and DiagnosticReport.encounter, the Encounter the note was written in. The
-- Encounter is the encounters subgraph's record: kept by id (an existing
-- Encounter/<id>, or the id encounters gave an Encounter of the same
-- transaction), resolved through the federation and exported back as a
-- reference to it.
ALTER TABLE clinical_note ADD COLUMN encounter_id uuid;
