
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
