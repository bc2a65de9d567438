-- One open task per programme rule and patient was meant for the rules that
-- read home measurements (HTN-BP-3, DM-FPG): further high readings must not
-- pile up tasks. Discharge plans are per stay instead (one task per step and
-- encounter, 004): a second discharge while the first plan is still open is a
-- new plan, not a conflict. The rule index leaves discharge tasks out.
DROP INDEX IF EXISTS follow_up_task_open_rule;
CREATE UNIQUE INDEX follow_up_task_open_rule ON follow_up_task (patient_id, rule_code)
  WHERE status = 'requested' AND rule_code IS NOT NULL AND based_on_encounter_id IS NULL;
