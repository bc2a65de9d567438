-- An encounter's reasons are kept as sent (issue 27), like a diagnosis's code
-- (migration 010): every Encounter.reasonCode as a CodeableConcept
-- {coding: [{system, code, display}], text}, every coding with its system
-- (ICD-10, ICD-10-CM, SNOMED CT, local codes), in reason_codes (jsonb list;
-- null for encounters recorded before, or without a reason). reason_code and
-- reason_display stay the primary coding (ICD-10 where sent, else ICD-10-CM,
-- else SNOMED CT, else the first), its system in reason_code_system (null:
-- ICD-10, the rows stored before and those referrals create).
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS reason_code_system text;
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS reason_codes jsonb;
