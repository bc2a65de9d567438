-- Publishing records (FHIR writes, HL7 v2): this owner's side of the
-- all-or-nothing protocol (lib/ingest/participant.ts). Staged entries wait
-- here, invisible to every read, until the gateway delivers the decision that
-- identity recorded; reservations keep two transactions from staging the same
-- business identifier or updating the same record at once.
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

-- The coordinator's durable log of every publishing transaction (the gateway
-- writes it through identity's internal API): which owners take part, the
-- decision, and which owners have been told. One row per transaction; the
-- decision is taken once (pending -> committed or aborted) and never changes,
-- so an owner that was down learns the same outcome on recovery.
CREATE TABLE IF NOT EXISTS ingest_decision (
  transaction_id uuid PRIMARY KEY,
  organization_id text NOT NULL,
  actor jsonb NOT NULL,
  participants text[] NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'committed', 'aborted')),
  delivered boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz
);
CREATE INDEX IF NOT EXISTS ingest_decision_open ON ingest_decision (created_at) WHERE state = 'pending' OR NOT delivered;

-- Master patient index. A patient merged into another (an administrator
-- linked two records of one person) keeps its row, pointing at the survivor;
-- identity answers the survivor for the merged-away id.
ALTER TABLE patient ADD COLUMN IF NOT EXISTS merged_into uuid REFERENCES patient (id);
CREATE INDEX IF NOT EXISTS patient_probable_duplicate ON patient (lower(family), birth_date, gender) WHERE merged_into IS NULL;

-- Probable duplicates found when a publication created a patient: same name,
-- birth date and gender as an existing patient, no shared identifier. Never
-- merged automatically; administrators resolve them (LINK or DISTINCT).
CREATE TABLE IF NOT EXISTS patient_match_candidate (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL REFERENCES patient (id),
  candidate_patient_id uuid NOT NULL REFERENCES patient (id),
  reason text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'linked', 'distinct')),
  created_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  resolved_by text,
  -- Owners whose records of the merged-away patient still wait to be re-pointed to the survivor.
  repoint_pending text[] NOT NULL DEFAULT '{}',
  UNIQUE (patient_id, candidate_patient_id)
);
CREATE INDEX IF NOT EXISTS patient_match_candidate_status ON patient_match_candidate (status, created_at DESC, id DESC);
