-- The audit trail: one event per disclosed patient per request, chained by
-- hash (each event's hash covers the previous event's hash), append-only.
CREATE TABLE audit_event (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  occurred_at timestamptz NOT NULL,
  request_id text NOT NULL,
  actor_sub text NOT NULL,
  actor_role text NOT NULL,
  actor_organization_id text,
  client_id text,
  patient_id uuid NOT NULL,
  categories text[] NOT NULL,
  record_counts jsonb NOT NULL,
  purpose_of_use text NOT NULL,
  break_glass boolean NOT NULL DEFAULT false,
  break_glass_reason text,
  decision text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL UNIQUE
);
CREATE INDEX audit_event_patient ON audit_event (patient_id, occurred_at DESC);
CREATE INDEX audit_event_actor ON audit_event (actor_sub, occurred_at DESC);
CREATE INDEX audit_event_organization ON audit_event (actor_organization_id, occurred_at DESC);
CREATE INDEX audit_event_break_glass ON audit_event (occurred_at DESC) WHERE break_glass;

-- Append-only: the application role can insert but never change or remove an
-- event (an administrator with superuser rights could still, and the hash
-- chain shows it).
CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
