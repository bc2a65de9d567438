-- The audit trail at scale (issue 23): monthly partitions, and appends that
-- do not queue on one lock for the whole alliance.
--
-- Until now audit_event was one table and one hash chain, and every append
-- took one advisory lock (007): appends from every identity replica queued on
-- it. From here on:
--
-- * audit_event is partitioned by month on occurred_at (UTC). The table as it
--   was becomes the first partition, audit_event_legacy, covering everything
--   up to the end of the month of the upgrade: no event is copied, rewritten
--   or renumbered; its indexes stay and become the partitioned indexes' parts.
--   The one read the conversion costs is the partition check (and the latest
--   occurred_at it needs) over the old table; nothing is written to it.
--   Later months get a partition each (audit_prepare_month), created ahead of
--   time by identity at start-up and daily while it runs, and by an append
--   whose month has none yet.
-- * The chain splits into N shard chains (audit_chain_head, 16 rows). An
--   append takes whichever shard is free (row lock, SKIP LOCKED, in an order
--   that depends on the connection so connections spread over the shards),
--   links its events after that shard's head and moves the head. Concurrent
--   appends from any number of replicas proceed in parallel up to N at a
--   time; a transaction keeps the shard it took (a consent change and its
--   events), so it never holds two. Sharding by patient was rejected: one
--   search's report names up to 1000 patients, so every call would lock most
--   shards and queue again; sharding by replica would make a replica's own
--   connections queue on its shard.
-- * Anchors: the events written before this migration keep their chain
--   (shard NULL, from the genesis hash, in seq order) exactly as it was. Its
--   last hash, recorded in audit_legacy_segment, is where every shard chain
--   starts: a shard's first event has that hash as prev_hash. A shard chain
--   runs on across months, so its first event in a month links to its last
--   event of the month before: the chain crosses partitions by its links,
--   whatever partition a row sits in. Within a shard seq grows in chain order
--   (an append draws seq numbers while it holds the shard), so
--   `npm run audit:verify` walks the whole trail once in seq order, in one
--   snapshot, checking each event against its own chain's previous hash, and
--   checks each shard's recorded head against its last event (events removed
--   from a chain's end).
--
-- The application still builds the canonical text each hash covers
-- (subgraphs/identity/src/audit.ts); hashes are computed as before.
ALTER TABLE audit_event ADD COLUMN shard smallint;

-- Events before this migration: the legacy chain, closed here (its head anchors the shards).
CREATE TABLE audit_legacy_segment (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  head text NOT NULL,
  last_seq bigint,
  upper_bound timestamptz NOT NULL
);

-- The head of each shard chain; its row lock is the shard's append lock.
CREATE TABLE audit_chain_head (
  shard smallint PRIMARY KEY CHECK (shard >= 0),
  hash text NOT NULL,
  last_seq bigint,
  event_count bigint NOT NULL DEFAULT 0
);

-- The partitioned trail, with the old table's columns in their order (no conversion when routing).
CREATE TABLE audit_event_by_month (LIKE audit_event INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at);

DO $$
DECLARE
  legacy_head text;
  legacy_last bigint;
  latest timestamptz;
  bound timestamptz;
BEGIN
  SELECT hash, seq INTO legacy_head, legacy_last FROM audit_event ORDER BY seq DESC LIMIT 1;
  SELECT max(occurred_at) INTO latest FROM audit_event;
  -- The first day (UTC) of the month after the upgrade's, or after the latest event's if a clock ran ahead.
  bound := (date_trunc('month', greatest(now(), coalesce(latest, now())) AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  INSERT INTO audit_legacy_segment (head, last_seq, upper_bound) VALUES (coalesce(legacy_head, repeat('0', 64)), legacy_last, bound);
  INSERT INTO audit_chain_head (shard, hash) SELECT s, coalesce(legacy_head, repeat('0', 64)) FROM generate_series(0, 15) AS s;

  -- The old table becomes the first partition: its trigger and index names move aside for the parent's.
  DROP TRIGGER audit_event_no_update ON audit_event;
  ALTER TABLE audit_event RENAME TO audit_event_legacy;
  ALTER INDEX audit_event_pkey RENAME TO audit_event_legacy_pkey;
  ALTER INDEX audit_event_id_key RENAME TO audit_event_legacy_id_key;
  ALTER INDEX audit_event_hash_key RENAME TO audit_event_legacy_hash_key;
  ALTER INDEX audit_event_patient RENAME TO audit_event_legacy_patient;
  ALTER INDEX audit_event_actor RENAME TO audit_event_legacy_actor;
  ALTER INDEX audit_event_organization RENAME TO audit_event_legacy_organization;
  ALTER INDEX audit_event_break_glass RENAME TO audit_event_legacy_break_glass;
  ALTER INDEX audit_event_consent_changes RENAME TO audit_event_legacy_consent_changes;
  ALTER TABLE audit_event_by_month RENAME TO audit_event;
  EXECUTE format('ALTER TABLE audit_event ATTACH PARTITION audit_event_legacy FOR VALUES FROM (MINVALUE) TO (%L)',
    to_char(bound AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
END;
$$;

-- The sequence numbers every partition draws from belong to the trail, not to its first partition.
ALTER SEQUENCE audit_event_seq_seq OWNED BY audit_event.seq;

-- The same indexes as before, on every partition (the legacy table's own are attached, not rebuilt).
CREATE INDEX audit_event_patient ON audit_event (patient_id, occurred_at DESC);
CREATE INDEX audit_event_actor ON audit_event (actor_sub, occurred_at DESC);
CREATE INDEX audit_event_organization ON audit_event (actor_organization_id, occurred_at DESC);
CREATE INDEX audit_event_break_glass ON audit_event (occurred_at DESC) WHERE break_glass;
CREATE INDEX audit_event_consent_changes ON audit_event (seq DESC) WHERE action <> 'disclosure';

-- Append-only, on every partition (audit_event_append_only from 003).
CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

-- The partition of the month starting at `month` (UTC), created if missing; false when it existed
-- (or the legacy partition covers it). Unique seq and id per partition: a unique index on a
-- partitioned table must hold the partition key, and seq comes from one sequence anyway.
CREATE OR REPLACE FUNCTION audit_prepare_month(month timestamptz) RETURNS boolean AS $$
DECLARE
  first_day timestamp := date_trunc('month', month AT TIME ZONE 'UTC');
  partition_name text := 'audit_event_' || to_char(date_trunc('month', month AT TIME ZONE 'UTC'), 'YYYY_MM');
BEGIN
  IF first_day AT TIME ZONE 'UTC' < (SELECT upper_bound FROM audit_legacy_segment) OR to_regclass(partition_name) IS NOT NULL THEN
    RETURN false;
  END IF;
  -- One creator at a time; whoever waited finds it made.
  PERFORM pg_advisory_xact_lock(727002);
  IF to_regclass(partition_name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF audit_event FOR VALUES FROM (%L) TO (%L)', partition_name,
    to_char(first_day, 'YYYY-MM-DD HH24:MI:SS') || '+00', to_char(first_day + interval '1 month', 'YYYY-MM-DD HH24:MI:SS') || '+00');
  EXECUTE format('CREATE UNIQUE INDEX %I ON %I (seq)', partition_name || '_seq', partition_name);
  EXECUTE format('CREATE UNIQUE INDEX %I ON %I (id)', partition_name || '_id', partition_name);
  RETURN true;
END;
$$ LANGUAGE plpgsql;

-- This month's partition and the next `ahead` months' (identity runs it at start-up and daily).
CREATE OR REPLACE FUNCTION audit_prepare_partitions(ahead integer) RETURNS integer AS $$
DECLARE
  created integer := 0;
BEGIN
  FOR i IN 0..ahead LOOP
    IF audit_prepare_month(((date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC')) THEN
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END;
$$ LANGUAGE plpgsql;

-- Appending: the events' months get their partitions, then the append takes a free shard (or the
-- one its transaction already holds), links each event after that shard's head, in order, and
-- moves the head. Same call and result as 007's.
CREATE OR REPLACE FUNCTION audit_append(events jsonb) RETURNS integer AS $$
DECLARE
  month timestamptz;
  held text := nullif(current_setting('fpr.audit_shard', true), '');
  chosen smallint;
  previous text;
  event jsonb;
  linked text;
  appended_seq bigint;
  appended integer := 0;
BEGIN
  FOR month IN SELECT DISTINCT date_trunc('month', (value->>'occurred_at')::timestamptz, 'UTC') FROM jsonb_array_elements(events) LOOP
    PERFORM audit_prepare_month(month);
  END LOOP;
  IF held IS NOT NULL THEN
    SELECT shard, hash INTO chosen, previous FROM audit_chain_head WHERE shard = held::smallint FOR UPDATE;
  ELSE
    -- A free shard, in this connection's own order of preference (spreads connections over shards).
    SELECT shard, hash INTO chosen, previous FROM audit_chain_head ORDER BY hashint4(shard + pg_backend_pid()) LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF chosen IS NULL THEN
      -- Every shard is busy: wait for this connection's first choice.
      SELECT shard, hash INTO chosen, previous FROM audit_chain_head ORDER BY hashint4(shard + pg_backend_pid()) LIMIT 1 FOR UPDATE;
    END IF;
    PERFORM set_config('fpr.audit_shard', chosen::text, true);
  END IF;
  FOR event IN SELECT value FROM jsonb_array_elements(events) WITH ORDINALITY AS t(value, ord) ORDER BY ord LOOP
    linked := encode(sha256(convert_to(previous || E'\n' || (event->>'canonical'), 'UTF8')), 'hex');
    INSERT INTO audit_event (id, occurred_at, request_id, actor_sub, actor_role, actor_organization_id, client_id, patient_id, categories,
      record_counts, purpose_of_use, break_glass, break_glass_reason, decision, action, details, prev_hash, hash, shard)
    VALUES ((event->>'id')::uuid, (event->>'occurred_at')::timestamptz, event->>'request_id', event->>'actor_sub', event->>'actor_role',
      event->>'actor_organization_id', event->>'client_id', (event->>'patient_id')::uuid, ARRAY(SELECT jsonb_array_elements_text(event->'categories')),
      event->'record_counts', event->>'purpose_of_use', (event->>'break_glass')::boolean, event->>'break_glass_reason', event->>'decision',
      event->>'action', NULLIF(event->'details', 'null'::jsonb), previous, linked, chosen)
    RETURNING seq INTO appended_seq;
    previous := linked;
    appended := appended + 1;
  END LOOP;
  IF appended > 0 THEN
    UPDATE audit_chain_head SET hash = previous, last_seq = appended_seq, event_count = event_count + appended WHERE shard = chosen;
  END IF;
  RETURN appended;
END;
$$ LANGUAGE plpgsql;

SELECT audit_prepare_partitions(2);
