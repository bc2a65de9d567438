-- Laboratory results partitioned by patient (issue 23: large clinical tables).
--
-- observation is the largest table (about 28 rows a patient: 28 million at a
-- million patients). Every read path but one knows the patient: the chart's
-- latest results, the timeline page, the FHIR searches (a patient's, or each
-- patient of a compartment), the equivalent-result lookup of result
-- recognition and ingest, bulk export per patient. So the table is
-- partitioned by HASH of patient_id, 16 ways: a patient's rows live in one
-- partition, a statement that names the patient is pruned to it (at plan
-- time, or at executor start for a generic plan: "Subplans Removed"; the
-- lists name their patients through patient_ids_of_filters, below), and every
-- partition's indexes are a sixteenth of the whole, which keeps them in
-- memory as the table grows. Hash rather than range: patients have no order
-- that groups them usefully, and hash keeps the partitions the same size
-- with no partition to add over time. Sixteen: enough that one partition's
-- indexes of a province-sized table stay a few GB; few enough that a probe
-- of every partition (below) stays cheap.
--
-- The primary key is (patient_id, id): a partitioned table's unique keys
-- must hold the partition key, and it puts a patient's rows next to each
-- other in the key too, so resolving a page of a patient's results by
-- (patient_id, id) reads a few adjacent leaves instead of one random leaf of
-- a uuid key per row. Ids stay unique in practice (random uuids, made by
-- the owner), but no longer by a constraint of the database.
--
-- Looking a result up by its id alone (FHIR read Observation/{id}, node(id:),
-- a federation reference, an ingest update) cannot be pruned: observation_id
-- (id) is an index of every partition, so such a lookup is one index probe
-- per partition (16), each in a sixteenth of the index. docs/performance.md.
--
-- The conversion keeps every row: a partitioned copy is made, filled from
-- the old table, and takes its name, all in this migration's transaction.
-- Indexes are built after the rows are in (faster than maintaining them row
-- by row). The last-updated index and trigger (lib/records/last-updated.ts)
-- go with the old table and are made again by migrateSubgraph after the
-- migrations, as for any table that misses them; observation_keep_history
-- is made again here.
CREATE TABLE observation_partitioned (LIKE observation INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY HASH (patient_id);

DO $$
BEGIN
  FOR i IN 0..15 LOOP
    EXECUTE format('CREATE TABLE observation_p%s PARTITION OF observation_partitioned FOR VALUES WITH (MODULUS 16, REMAINDER %s)', lpad(i::text, 2, '0'), i);
  END LOOP;
END $$;

INSERT INTO observation_partitioned SELECT * FROM observation;

DROP TABLE observation;

ALTER TABLE observation_partitioned RENAME TO observation;

ALTER TABLE observation ADD CONSTRAINT observation_pkey PRIMARY KEY (patient_id, id);
ALTER TABLE observation ADD CONSTRAINT observation_report_id_fkey FOREIGN KEY (report_id) REFERENCES diagnostic_report (id);
-- Lookups by id alone: one probe per partition.
CREATE INDEX observation_id ON observation (id);
CREATE INDEX observation_patient_time ON observation (patient_id, effective DESC, id DESC);
-- Result recognition: recent results of one LOINC code for a patient.
CREATE INDEX observation_patient_code_time ON observation (patient_id, code, effective DESC);
CREATE INDEX observation_report ON observation (report_id);

CREATE TRIGGER observation_keep_history BEFORE UPDATE ON observation
  FOR EACH ROW EXECUTE FUNCTION observation_keep_history();

-- The patients of a list's consent filters (lib/records/connection.ts,
-- patientPagesFrom: a JSON array of {id, …}). Immutable, so PostgreSQL
-- computes it while planning a statement whose filters it knows: the list
-- then plans and reads only those patients' partitions instead of all 16.
CREATE FUNCTION patient_ids_of_filters(filters jsonb) RETURNS uuid[] AS $$
  SELECT coalesce(array_agg((f->>'id')::uuid), '{}') FROM jsonb_array_elements(filters) AS f
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;
