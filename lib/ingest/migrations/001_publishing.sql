-- The publishing protocol's staging tables (FHIR writes, HL7 v2): every
-- participant's side of the all-or-nothing protocol (lib/ingest/participant.ts).
-- Staged entries wait here, invisible to every read, until the gateway delivers
-- the decision that identity recorded; reservations keep two transactions from
-- staging the same business identifier or updating the same record at once.
--
-- Applied to every subgraph's database (lib/subgraph.ts, migrateSubgraph),
-- recorded there as publishing/001_publishing.sql. Until this release each
-- subgraph created these tables with an identical migration of its own
-- (*_ingest.sql, from this line on the same text); databases that applied one
-- already hold them, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS ingest_transaction (
  id uuid PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('staged', 'committed', 'aborted')),
  organization_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz
);
CREATE INDEX IF NOT EXISTS ingest_transaction_staged ON ingest_transaction (created_at) WHERE state = 'staged';

CREATE TABLE IF NOT EXISTS ingest_staged (
  transaction_id uuid NOT NULL REFERENCES ingest_transaction (id),
  seq integer NOT NULL,
  entry jsonb NOT NULL,
  PRIMARY KEY (transaction_id, seq)
);

CREATE TABLE IF NOT EXISTS ingest_reservation (
  key text PRIMARY KEY,
  transaction_id uuid NOT NULL REFERENCES ingest_transaction (id)
);
CREATE INDEX IF NOT EXISTS ingest_reservation_transaction ON ingest_reservation (transaction_id);

-- Business identifiers of published records (FHIR Resource.identifier, the
-- institution's own record ids): one record per producing organisation,
-- resource type and identifier, so a retried or replayed publication finds the
-- record it created instead of creating it twice (conditional create).
CREATE TABLE IF NOT EXISTS record_identifier (
  resource_type text NOT NULL,
  organization_id text NOT NULL,
  system text NOT NULL,
  value text NOT NULL,
  record_id uuid NOT NULL,
  PRIMARY KEY (organization_id, resource_type, system, value)
);
CREATE INDEX IF NOT EXISTS record_identifier_record ON record_identifier (record_id);
