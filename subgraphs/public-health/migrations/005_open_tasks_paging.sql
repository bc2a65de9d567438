-- openFollowUpTasks pages through one organisation's open tasks by (due date, time authored, id).
CREATE INDEX IF NOT EXISTS follow_up_task_open_page ON follow_up_task (organization_id, assigned_role, due_date, authored_on, id) WHERE status = 'requested';
