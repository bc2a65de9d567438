-- Appending audit events in one round trip: the chain lock, the chain head
-- and every insert happen in this function, in the caller's transaction (or
-- the statement's own). The canonical text an event's hash covers is built
-- by the application (subgraphs/identity/src/audit.ts, which verifies the
-- chain with the same text); the function links it: hash = SHA-256 of the
-- previous hash, a newline and that text.
CREATE OR REPLACE FUNCTION audit_append(events jsonb) RETURNS integer AS $$
DECLARE
  previous text;
  event jsonb;
  linked text;
  appended integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(727001);
  SELECT hash INTO previous FROM audit_event ORDER BY seq DESC LIMIT 1;
  IF previous IS NULL THEN
    previous := repeat('0', 64);
  END IF;
  FOR event IN SELECT value FROM jsonb_array_elements(events) WITH ORDINALITY AS t(value, ord) ORDER BY ord LOOP
    linked := encode(sha256(convert_to(previous || E'\n' || (event->>'canonical'), 'UTF8')), 'hex');
    INSERT INTO audit_event (id, occurred_at, request_id, actor_sub, actor_role, actor_organization_id, client_id, patient_id, categories,
      record_counts, purpose_of_use, break_glass, break_glass_reason, decision, action, details, prev_hash, hash)
    VALUES ((event->>'id')::uuid, (event->>'occurred_at')::timestamptz, event->>'request_id', event->>'actor_sub', event->>'actor_role',
      event->>'actor_organization_id', event->>'client_id', (event->>'patient_id')::uuid, ARRAY(SELECT jsonb_array_elements_text(event->'categories')),
      event->'record_counts', event->>'purpose_of_use', (event->>'break_glass')::boolean, event->>'break_glass_reason', event->>'decision',
      event->>'action', NULLIF(event->'details', 'null'::jsonb), previous, linked);
    previous := linked;
    appended := appended + 1;
  END LOOP;
  RETURN appended;
END;
$$ LANGUAGE plpgsql;
