-- Last updated: when each record last changed (FHIR meta.lastUpdated and
-- `_lastUpdated`, the Bulk Data export's `_since`, GraphQL `lastUpdated` and
-- the connections' `updatedSince`; docs/last-updated.md).
--
-- Applied to every subgraph's database before its own migrations
-- (lib/runtime/subgraph.ts, migrateSubgraph), recorded there as
-- records/001_last_updated.sql. It holds the two trigger functions alone: each
-- record table's column, index and triggers are derived from the catalogue
-- (lib/records/record-types.ts) by lib/records/last-updated.ts after the
-- subgraph's own migrations, so a new record type cannot forget them. Until
-- this release each subgraph created the functions and its tables' column,
-- index and trigger in a migration of its own (020_last_updated.sql, these
-- function bodies to the byte); databases that applied one keep what it made,
-- and CREATE OR REPLACE leaves the functions as they were.
--
-- Set by the database, so every write path keeps it, whatever code runs it:
-- an insert takes the column's default (the transaction's time, now()); an
-- update that changes anything takes now() from this trigger, and one that
-- changes nothing (a republish of the same record, as sent before) keeps the
-- old time. A writer that sets the column itself (a child row's trigger
-- bumping its parent) is left alone.
CREATE OR REPLACE FUNCTION record_last_updated() RETURNS trigger AS $$
BEGIN
  IF NEW.last_updated IS NOT DISTINCT FROM OLD.last_updated
     AND (to_jsonb(NEW) - 'last_updated') IS DISTINCT FROM (to_jsonb(OLD) - 'last_updated') THEN
    NEW.last_updated := now();
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- A row held inside a record (TG_ARGV[0]: the record's table, TG_ARGV[1]: the
-- child's column naming it) changes that record: its last_updated moves too.
-- A change of the child's own bookkeeping (updated_at) alone is no change.
CREATE OR REPLACE FUNCTION record_child_touches_parent() RETURNS trigger AS $$
DECLARE
  ids uuid[] := '{}';
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'updated_at' - 'last_updated') IS NOT DISTINCT FROM (to_jsonb(OLD) - 'updated_at' - 'last_updated') THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    ids := ids || ((to_jsonb(OLD) ->> TG_ARGV[1])::uuid);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    ids := ids || ((to_jsonb(NEW) ->> TG_ARGV[1])::uuid);
  END IF;
  -- Rows already stamped by this transaction (a record and its children written together) are not written twice.
  EXECUTE format('UPDATE %I SET last_updated = now() WHERE id = ANY($1) AND last_updated < now()', TG_ARGV[0]) USING ids;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
