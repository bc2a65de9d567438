-- Diagnoses keep their code as sent (issue 27): every coding with its system
-- (ICD-10, ICD-10-CM, SNOMED CT, local codes) and the text, as jsonb
-- {coding: [{system, code, display}], text}. code/display stay the primary
-- coding (ICD-10 where sent, else SNOMED CT, else the first), its system in
-- code_system (null: ICD-10, the rows stored before).
ALTER TABLE condition ADD COLUMN IF NOT EXISTS code_system text;
ALTER TABLE condition ADD COLUMN IF NOT EXISTS codings jsonb;
