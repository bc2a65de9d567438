-- Discharge follow-up plans: tasks created when a hospital records an
-- inpatient discharge remember the encounter (owned by the encounters
-- subgraph, referenced by id only). One task per plan step and encounter, so
-- a retried discharge does not create the plan twice.
ALTER TABLE follow_up_task ADD COLUMN based_on_encounter_id uuid;
CREATE UNIQUE INDEX follow_up_task_discharge_step ON follow_up_task (based_on_encounter_id, rule_code) WHERE based_on_encounter_id IS NOT NULL;
