/**
 * Labs' observation table partitioned by patient (issue 23, large clinical
 * tables; subgraphs/labs/migrations/009_observation_partitions.sql), on both
 * backends:
 *
 * - A database of the release before keeps every row through the conversion
 *   (the results, their history, their last-updated times) and ends with the
 *   fresh install's schema; its triggers still work.
 * - Every read path that knows the patient reads one partition, by an index:
 *   the statements are the product's own, recorded as the labs service issues
 *   them while a real stack answers the chart, the timeline page, FHIR
 *   searches on Observation (a patient's, by code, a report with its results)
 *   and the equivalent-result lookup; each is then run under EXPLAIN ANALYZE
 *   with its own parameters. The patient lists name their patients through
 *   patient_ids_of_filters, which PostgreSQL computes while planning, so
 *   they are pruned at plan time; a partition pruned at run time would show
 *   as never executed (Actual Loops 0), and counts as not scanned. The
 *   timeline's nodes come with their patient (Observation's federation key
 *   `id patientId`), so they too are read in one partition. A lookup by
 *   id alone (FHIR read, node(id:)) reads every partition, the cost
 *   docs/performance.md names.
 */
import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepLastUpdated } from '../lib/records/last-updated.js';
import { migrate, type Database } from '../lib/runtime/db.js';
import { migrateSubgraph, migrationsDirectory, PUBLISHING_MIGRATIONS, RECORDS_MIGRATIONS } from '../lib/runtime/subgraph.js';
import { scratchDatabases, schemaOf } from './support/scratch-databases.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const MIGRATION = '009_observation_partitions.sql';
const PARTITIONS = 16;



/** Every row of a table, as text, digested (count and md5 of the sorted rows). */
async function digest(db: Database, table: string): Promise<string> {
  const [row] = await db.query<{ rows: number; digest: string }>(
    `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest FROM ${table} t`);
  return `${row!.rows} ${row!.digest}`;
}

describe.each(BACKENDS)('converting an unpartitioned observation on %s', (backend) => {
  const store = scratchDatabases(backend, 'fpr_partition');
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-partition-'));
  afterAll(async () => {
    await store.drop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('keeps every row, its history and its last-updated time, and ends with the fresh install\'s schema', async () => {
    // The release before: labs' migrations up to the one before this, then what migrateSubgraph derived then.
    const directory = mkdtempSync(path.join(scratch, 'labs-'));
    const before = readdirSync(migrationsDirectory('labs')).filter((f) => f.endsWith('.sql') && f < MIGRATION);
    for (const file of before) cpSync(path.join(migrationsDirectory('labs'), file), path.join(directory, file));
    const [old, fresh] = [await store.open(), await store.open()];
    try {
      await migrate(old, PUBLISHING_MIGRATIONS, 'publishing/');
      await migrate(old, RECORDS_MIGRATIONS, 'records/');
      expect(await migrate(old, directory)).toEqual(before);
      await keepLastUpdated(old, 'labs');
      expect((await old.query<{ relkind: string }>("SELECT relkind FROM pg_class WHERE relname = 'observation'"))[0]!.relkind).toBe('r');

      // What a running release holds: reports, results of many patients (one in a report), one corrected since.
      const patients = Array.from({ length: 40 }, () => randomUUID());
      const report = randomUUID();
      await old.query(`INSERT INTO diagnostic_report (id, patient_id, organization_id, code, display, category, status, effective)
        VALUES ($1, $2, 'org-x', '24323-8', 'Metabolic panel', 'LAB', 'final', '2020-01-01T00:00:00Z')`, [report, patients[0]]);
      await old.query(`INSERT INTO observation (id, patient_id, organization_id, report_id, code, display, value_quantity, unit, effective, status, sensitivity_labels, note, last_updated)
        SELECT gen_random_uuid(), ($1::uuid[])[1 + i % 40], 'org-x', CASE WHEN i % 40 = 0 THEN $2::uuid END, '2345-7', 'Glucose', i / 10.0, 'mmol/L',
               timestamptz '2018-01-01T00:00:00Z' + i * interval '1 day', 'final', CASE WHEN i % 7 = 0 THEN ARRAY['HIV'] ELSE '{}' END, 'n' || i,
               timestamptz '2021-02-03T04:05:06Z' + i * interval '1 second'
          FROM generate_series(1, 400) AS i`, [patients, report]);
      const [corrected] = await old.query<{ id: string; patient_id: string }>('SELECT id, patient_id FROM observation ORDER BY effective LIMIT 1');
      await old.query("UPDATE observation SET status = 'corrected', value_quantity = 99 WHERE id = $1", [corrected!.id]);
      const held = { observation: await digest(old, 'observation'), history: await digest(old, 'observation_history') };
      expect(held.history.startsWith('1 ')).toBe(true);

      const applied = await migrateSubgraph(old, 'labs');
      expect(applied[0]).toBe(MIGRATION);
      // The last-updated index and trigger went with the old table: made again by the derived step.
      expect(applied.slice(1)).toEqual([
        'CREATE INDEX IF NOT EXISTS observation_patient_last_updated ON observation (patient_id, last_updated)',
        'CREATE TRIGGER observation_last_updated BEFORE UPDATE ON observation FOR EACH ROW EXECUTE FUNCTION record_last_updated()',
      ]);
      expect(await digest(old, 'observation')).toBe(held.observation);
      expect(await digest(old, 'observation_history')).toBe(held.history);
      await migrateSubgraph(fresh, 'labs');
      expect(await schemaOf(old)).toEqual(await schemaOf(fresh));
      expect(await migrateSubgraph(old, 'labs')).toEqual([]);

      // Partitioned by patient, 16 ways, every row in its patient's partition (tableoid: where it is stored).
      expect((await old.query<{ relkind: string }>("SELECT relkind FROM pg_class WHERE relname = 'observation'"))[0]!.relkind).toBe('p');
      const spread = await old.query<{ partition: string; patients: number }>(
        'SELECT tableoid::regclass::text AS partition, count(DISTINCT patient_id)::int AS patients FROM observation GROUP BY 1');
      expect(spread.length).toBeGreaterThan(1);
      const [{ n }] = await old.query<{ n: number }>('SELECT count(*)::int AS n FROM (SELECT patient_id FROM observation GROUP BY patient_id HAVING count(DISTINCT tableoid) > 1) x') as [{ n: number }];
      expect(n).toBe(0);
      expect(await old.query("SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'observation'::regclass")).toEqual([{ n: PARTITIONS }]);

      // The triggers still work: a correction keeps the version it replaces and moves the last-updated time.
      await old.query("UPDATE observation SET status = 'amended' WHERE patient_id = $1 AND id = $2", [corrected!.patient_id, corrected!.id]);
      expect(await old.query("SELECT version->>'status' AS status FROM observation_history WHERE observation_id = $1 ORDER BY replaced_at", [corrected!.id]))
        .toEqual([{ status: 'final' }, { status: 'corrected' }]);
      const [moved] = await old.query<{ t: Date }>('SELECT last_updated AS t FROM observation WHERE id = $1', [corrected!.id]);
      expect(moved!.t.getTime()).toBeGreaterThan(Date.parse('2022-01-01T00:00:00Z'));
      // A patient merge (lib/ingest/participant.ts, patientLinkRoute) moves the merged patient's results to the
      // survivor: an update of the partition key, so between partitions; every row arrives, its history kept.
      const where = await old.query<{ patient_id: string; partition: string; n: number }>(
        'SELECT patient_id, tableoid::regclass::text AS partition, count(*)::int AS n FROM observation WHERE patient_id <> $1 GROUP BY 1, 2 ORDER BY 1', [corrected!.patient_id]);
      const merged = where[0]!;
      const survivor = where.find((w) => w.partition !== merged.partition)!;
      const historyBefore = (await old.query<{ n: number }>('SELECT count(*)::int AS n FROM observation_history'))[0]!.n;
      const relinked = await old.query('UPDATE observation SET patient_id = $2 WHERE patient_id = $1 RETURNING id', [merged.patient_id, survivor.patient_id]);
      expect(relinked.length).toBe(merged.n);
      expect(await old.query('SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM observation WHERE patient_id = $1 GROUP BY 1', [survivor.patient_id]))
        .toEqual([{ partition: survivor.partition, n: survivor.n + merged.n }]);
      expect((await old.query<{ n: number }>('SELECT count(*)::int AS n FROM observation_history'))[0]!.n).toBe(historyBefore + merged.n);
      // The key is (patient_id, id); the foreign key to the report holds.
      await expect(old.query(`INSERT INTO observation (id, patient_id, organization_id, code, display, effective) VALUES ($1, $2, 'org-x', '2345-7', 'Glucose', now())`,
        [corrected!.id, corrected!.patient_id])).rejects.toThrow(/duplicate key|observation_p\d+_pkey/);
      await expect(old.query(`INSERT INTO observation (id, patient_id, organization_id, report_id, code, display, effective) VALUES ($1, $2, 'org-x', $3, '2345-7', 'Glucose', now())`,
        [randomUUID(), patients[1], randomUUID()])).rejects.toThrow(/foreign key/);
    } finally {
      await Promise.all([old.close(), fresh.close()]);
    }
  }, 120_000);
});

/** A plan node of EXPLAIN (FORMAT JSON). */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Loops'?: number;
  'Subplans Removed'?: number;
  Plans?: PlanNode[];
}

/** The scans of observation's partitions in a plan: which partition, how (node type), how many times run. */
function partitionScans(node: PlanNode, into: { partition: string; type: string; loops: number }[] = []) {
  // A bitmap heap scan reads through its bitmap index scan child, an index scan through its index.
  if (node['Relation Name'] && /^observation_p\d+$/.test(node['Relation Name'])) into.push({ partition: node['Relation Name'], type: node['Node Type'], loops: node['Actual Loops'] ?? 0 });
  for (const child of node.Plans ?? []) partitionScans(child, into);
  return into;
}

const BY_INDEX = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']);

describe.each(BACKENDS)('the read paths of observation on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientId: string;
  let token: string;
  /** The labs statements the product issued while answering the requests of a test (SQL and parameters). */
  let recorded: { sql: string; params: unknown[] }[] = [];
  let query: Database['query'];

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 30 });
    base = stack.url.replace(/\/graphql$/, '');
    const labs = stack.databases.labs;
    // Other patients' results, so each partition holds thousands of rows (a plan on a few pages may rightly scan them).
    await labs.query(`INSERT INTO observation (id, patient_id, organization_id, code, display, value_quantity, unit, effective)
      SELECT gen_random_uuid(), gen_random_uuid(), 'org-county-north', '2345-7', 'Glucose', 5.5, 'mmol/L', timestamptz '2015-01-01T00:00:00Z' + i * interval '1 hour'
        FROM generate_series(1, 64000) AS i`);
    await labs.query('ANALYZE observation');
    // The patient with a report and the most results.
    [{ patient_id: patientId }] = await labs.query<{ patient_id: string }>(
      `SELECT o.patient_id FROM observation o WHERE EXISTS (SELECT 1 FROM diagnostic_report d WHERE d.patient_id = o.patient_id)
        GROUP BY o.patient_id ORDER BY count(*) DESC, o.patient_id LIMIT 1`) as [{ patient_id: string }];
    token = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId });
    // Records what the labs service runs, then runs it: the statements are the product's, with their parameters.
    query = labs.query.bind(labs);
    labs.query = (async (sql: string, params: unknown[] = []) => {
      recorded.push({ sql, params });
      return query(sql, params);
    }) as Database['query'];
  }, 240_000);
  /** With PRINT_PLANS=<file>: the plans in text, written there at the end (docs/plans/observation-partitions.txt). */
  const printed: string[] = [];
  afterAll(async () => {
    if (process.env.PRINT_PLANS && printed.length) appendFileSync(process.env.PRINT_PLANS, `# ${backend}\n\n${printed.join('\n')}\n`);
    await stack?.close();
  });

  /** The observation statements the labs service ran for `request`, each with the scans of its EXPLAIN ANALYZE. */
  async function plansOf(request: () => Promise<void>) {
    recorded = [];
    await request();
    const statements = recorded.filter((s) => /\bobservation\b/.test(s.sql) && /^\s*SELECT/i.test(s.sql));
    expect(statements.length).toBeGreaterThan(0);
    return Promise.all(statements.map(async (s) => {
      const [row] = await query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${s.sql}`, s.params);
      const raw = row!['QUERY PLAN'];
      const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
      if (process.env.PRINT_PLANS) {
        const text = await query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${s.sql}`, s.params);
        printed.push(`## ${expect.getState().currentTestName}\n\n${s.sql.replace(/\s+/g, ' ')}\n\n${text.map((l) => l['QUERY PLAN'].replace(/'\{[^}]{100,}\}'/g, "'{…}'")).join('\n')}\n`);
      }
      return { sql: s.sql, scans: partitionScans(plan[0]!.Plan) };
    }));
  }

  /** One partition scanned, by an index; the 15 others pruned at plan time (not in the plan at all). */
  function expectOnePartition(plans: { sql: string; scans: { partition: string; type: string; loops: number }[] }[]) {
    for (const plan of plans) {
      expect(plan.scans.length, `pruned at plan time: ${plan.sql}`).toBe(1);
      const run = plan.scans.filter((s) => s.loops > 0);
      expect(run.length, plan.sql).toBe(1);
      expect(BY_INDEX.has(run[0]!.type), `${run[0]!.type} in ${plan.sql}`).toBe(true);
    }
  }

  const graphql = async (text: string, variables: Record<string, unknown>) => {
    const response = await stack.graphql(token, text, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };
  const fhir = async (url: string) => {
    const response = await fetch(`${base}${url}`, { headers: { accept: 'application/fhir+json', authorization: `Bearer ${token}` } });
    expect(response.status, url).toBe(200);
    return response.json() as Promise<{ entry?: { resource: { resourceType: string; id: string } }[] }>;
  };

  it('the chart\'s latest results', async () => {
    expectOnePartition(await plansOf(async () => {
      const data = await graphql(`query($id: ID!) { patient(id: $id) { observations(first: 50) { edges { node { id code { code } effectiveDateTime } } } } }`, { id: patientId });
      expect(data.patient.observations.edges.length).toBeGreaterThan(0);
    }));
  });

  it('the timeline page: its keys, then its nodes by (patient, id)', async () => {
    const plans = await plansOf(async () => {
      const data = await graphql(`query($id: ID!) { patient(id: $id) { timeline(first: 50, kinds: [LAB_RESULT]) { edges { node { __typename ... on Observation { id code { code } } } } } } }`, { id: patientId });
      expect(data.patient.timeline.edges.length).toBeGreaterThan(0);
      expect(data.patient.timeline.edges.every((e: { node: { id?: string } | null }) => e.node?.id)).toBe(true);
    });
    const [keys, nodes] = [plans.filter((p) => /jsonb_to_recordset/.test(p.sql)), plans.filter((p) => /patient_id = ANY\(\$2::uuid\[\]\) AND id = ANY/.test(p.sql))];
    expect([keys.length, nodes.length]).toEqual([1, 1]);
    expect(plans.length).toBe(2);
    expectOnePartition(keys);
    expectOnePartition(nodes);
  });

  it('a result by id alone (FHIR read): one probe per partition, the cost docs/performance.md names', async () => {
    const [{ id }] = await query<{ id: string }>('SELECT id FROM observation WHERE patient_id = $1 LIMIT 1', [patientId]) as [{ id: string }];
    const plans = await plansOf(async () => {
      const response = await fetch(`${base}/fhir/Observation/${id}`, { headers: { accept: 'application/fhir+json', authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
    });
    expect(plans.map((p) => p.sql)).toEqual(['SELECT * FROM observation WHERE id = ANY($1::uuid[])']);
    // Every partition is read; how is the planner's choice for the size (at a few thousand rows a partition it may
    // rightly read one by a scan; at millions, by observation_id).
    expect(plans[0]!.scans.filter((s) => s.loops > 0).length).toBe(PARTITIONS);
  });

  it('FHIR searches on Observation: the patient\'s, by code, and a report with its results', async () => {
    expectOnePartition(await plansOf(async () => {
      const bundle = await fhir(`/fhir/Observation?patient=${patientId}&_count=20&_sort=-date`);
      expect(bundle.entry?.length).toBeGreaterThan(0);
    }));
    const [{ code }] = await query<{ code: string }>('SELECT code FROM observation WHERE patient_id = $1 LIMIT 1', [patientId]) as [{ code: string }];
    expectOnePartition(await plansOf(async () => {
      const bundle = await fhir(`/fhir/Observation?patient=${patientId}&code=http://loinc.org|${code}`);
      expect(bundle.entry?.length).toBeGreaterThan(0);
    }));
    expectOnePartition(await plansOf(async () => {
      const bundle = await fhir(`/fhir/DiagnosticReport?patient=${patientId}&_include=DiagnosticReport:result`);
      expect(bundle.entry?.some((e) => e.resource.resourceType === 'Observation')).toBe(true);
    }));
  });

  it('the equivalent-result lookup (result recognition)', async () => {
    const [{ code }] = await query<{ code: string }>("SELECT code FROM observation WHERE patient_id = $1 AND code ~ '^[0-9]+-[0-9]$' LIMIT 1", [patientId]) as [{ code: string }];
    expectOnePartition(await plansOf(async () => {
      await graphql(`query($id: ID!, $code: String!) { patient(id: $id) { equivalentLabResults(code: $code, withinDays: 3650, first: 20) { edges { node { id } } } } }`, { id: patientId, code });
    }));
  });

  it('the check can fail: a statement that does not name the patient scans every partition', async () => {
    const [row] = await query<{ 'QUERY PLAN': unknown }>('EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM observation WHERE code = $1', ['2345-7']);
    const raw = row!['QUERY PLAN'];
    const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
    expect(partitionScans(plan[0]!.Plan).filter((s) => s.loops > 0).length).toBe(PARTITIONS);
  });
});

