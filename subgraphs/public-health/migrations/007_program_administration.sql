-- Programmes are administered at run time like identity's registry
-- (organisations, practitioners): created, updated, deactivated, reactivated,
-- never deleted (enrolments, immunisations and tasks keep naming them). Every
-- change is kept in program_change, with its author, request and the entry
-- before and after, written in the same transaction as the change.
ALTER TABLE program ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;
ALTER TABLE program ADD COLUMN IF NOT EXISTS updated_at timestamptz;

CREATE TABLE IF NOT EXISTS program_change (
  seq bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  request_id text NOT NULL,
  actor_sub text NOT NULL,
  actor_role text NOT NULL,
  program_id text NOT NULL,
  action text NOT NULL CHECK (action IN ('created', 'updated', 'deactivated', 'reactivated')),
  before jsonb,
  after jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS program_change_program ON program_change (program_id, seq DESC);
