-- The encounter an immunisation was given in, and the encounter a care plan
-- or a care team was made in (FHIR Immunization.encounter,
-- CarePlan.encounter, CareTeam.encounter; issue 27: EHR exports such as
-- Synthea name it on every one). The encounter is the encounters subgraph's
-- record: its id only, no foreign key (another store), as labs keeps it
-- (labs 007). Null when none was sent. Where the dose was given
-- (Immunization.location) is a logical Location reference kept as sent
-- (jsonb {reference, type, identifier, display}), as a care plan activity's.
ALTER TABLE immunization ADD COLUMN IF NOT EXISTS encounter_id uuid;
ALTER TABLE immunization ADD COLUMN IF NOT EXISTS location jsonb;
ALTER TABLE care_plan ADD COLUMN IF NOT EXISTS encounter_id uuid;
ALTER TABLE care_team ADD COLUMN IF NOT EXISTS encounter_id uuid;
