-- Follow-up rules: tasks remember which rule created them and the readings
-- that triggered it (so a rule fires once per open task), and glucose
-- readings say whether the patient was fasting.
ALTER TABLE follow_up_task ADD COLUMN rule_code text;
ALTER TABLE follow_up_task ADD COLUMN triggering_measurement_ids uuid[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX follow_up_task_open_rule ON follow_up_task (patient_id, rule_code) WHERE status = 'requested' AND rule_code IS NOT NULL;
ALTER TABLE home_measurement ADD COLUMN fasting boolean;
