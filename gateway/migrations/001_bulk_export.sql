-- The gateway's own store: FHIR Bulk Data export jobs (gateway/src/fhir/bulk/).
-- Jobs survive a restart: a job found `running` by a starting gateway is
-- started again from the beginning (its parts so far deleted) or failed
-- after too many attempts. Files are listed (bulk_export_file) only in the
-- transaction that completes the job, so a manifest never names a part that
-- was still being written.
CREATE TABLE IF NOT EXISTS bulk_export_job (
  id uuid PRIMARY KEY,
  -- The caller who started it: only they poll, download and cancel.
  owner_sub text NOT NULL,
  owner_client text,
  -- The actor the export reads as (role, organisation, scopes, purpose): consent applies to it at every read.
  actor jsonb NOT NULL,
  level text NOT NULL CHECK (level IN ('system', 'patient', 'group')),
  group_id text,
  -- Resource types to export, _since, _typeFilter queries ({type, query}), explicit patients (POST `patient`).
  types text[] NOT NULL,
  since timestamptz,
  type_filters jsonb NOT NULL DEFAULT '[]',
  patients jsonb,
  request_url text NOT NULL,
  base_url text NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'complete', 'failed', 'cancelled')),
  attempts integer NOT NULL DEFAULT 0,
  patients_done integer NOT NULL DEFAULT 0,
  patients_total integer,
  transaction_time timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  expires_at timestamptz,
  last_polled_at timestamptz,
  -- The running gateway beats while it works; a stale beat after a crash lets another start the job again.
  heartbeat_at timestamptz,
  error text
);
CREATE INDEX IF NOT EXISTS bulk_export_job_status ON bulk_export_job (status, created_at);
CREATE INDEX IF NOT EXISTS bulk_export_job_owner ON bulk_export_job (owner_sub, status);

CREATE TABLE IF NOT EXISTS bulk_export_file (
  job_id uuid NOT NULL REFERENCES bulk_export_job (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  resource_type text NOT NULL,
  -- 'output' (resources) or 'error' (OperationOutcomes).
  kind text NOT NULL DEFAULT 'output' CHECK (kind IN ('output', 'error')),
  count integer NOT NULL,
  bytes bigint NOT NULL,
  storage_key text NOT NULL,
  PRIMARY KEY (job_id, seq)
);
