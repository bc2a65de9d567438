/**
 * `npx tsx scripts/bench-observation-planning.ts` (PostgreSQL at SEED_POSTGRES_URL, default the local server)
 *
 * What partitioning labs' observation by patient costs and saves per statement (issue 23; docs/performance.md):
 * two scratch databases, labs migrated without and with migration 009, the same 300,000 results of 10,000
 * patients in each; then, 60 times each under EXPLAIN (ANALYZE, BUFFERS), the chart's list of one patient (the
 * product's SQL from selectPatientPages, and the same without patient_ids_of_filters) and a timeline page's 30
 * nodes by id alone and by (patient, id); medians of planning and execution time, and buffers. Then the list as a
 * prepared statement (as the product's named statements run): planning time of runs 1–5 and the median of 11–40,
 * which tells whether PostgreSQL settled on a generic plan. The databases are dropped at the end.
 */
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate, openDatabase, type Database } from '../lib/runtime/db.js';
import { keepLastUpdated } from '../lib/records/last-updated.js';
import { migrateSubgraph, migrationsDirectory, PUBLISHING_MIGRATIONS, RECORDS_MIGRATIONS } from '../lib/runtime/subgraph.js';
import { patientList, selectPatientPages } from '../lib/records/connection.js';
const ADMIN = process.env.SEED_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
async function db(name: string): Promise<Database> {
  const a = new pg.Client({ connectionString: ADMIN }); await a.connect();
  await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); await a.query(`CREATE DATABASE ${name}`); await a.end();
  return openDatabase(ADMIN.replace(/\/postgres$/, `/${name}`));
}
const results: Record<string, unknown> = {};
for (const partitioned of [false, true]) {
  const d = await db(partitioned ? 'observation_planning_partitioned' : 'observation_planning_flat');
  if (partitioned) await migrateSubgraph(d, 'labs');
  else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lab-'));
    for (const f of readdirSync(migrationsDirectory('labs')).filter((f) => f < '009')) cpSync(path.join(migrationsDirectory('labs'), f), path.join(dir, f));
    await migrate(d, PUBLISHING_MIGRATIONS, 'publishing/'); await migrate(d, RECORDS_MIGRATIONS, 'records/'); await migrate(d, dir); await keepLastUpdated(d, 'labs');
  }
  await d.query(`INSERT INTO observation (id, patient_id, organization_id, code, display, value_quantity, unit, effective)
    SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((i % 10000)::text, 12, '0'))::uuid, 'org-a', '2345-7', 'Glucose', 5.5, 'mmol/L', timestamptz '2015-01-01' + i * interval '1 hour'
    FROM generate_series(1, 300000) AS i`);
  await d.query('ANALYZE observation');
  if (!partitioned) await d.query(`CREATE FUNCTION patient_ids_of_filters(filters jsonb) RETURNS uuid[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(array_agg((e->>'id')::uuid), '{}') FROM jsonb_array_elements(filters) AS e $$`);
  const patient = '00000000-0000-4000-8000-000000000042';
  const ids = (await d.query<{ id: string }>('SELECT id FROM observation WHERE patient_id = $1 LIMIT 30', [patient])).map((r) => r.id);
  const spec = patientList('Observation');
  let captured: { sql: string; params: unknown[] } | undefined;
  await selectPatientPages({ query: async (sql: string, params: unknown[]) => { captured = { sql, params }; return []; } } as never, spec,
    [{ id: patient, orgs: ['org-a'], pairs: [], bg_orgs: [] } as never], { first: 50, after: null, from: null, to: null });
  if (!captured!.sql.includes('patient_ids_of_filters')) throw new Error('the product SQL lacks the ids');
  const statements: Record<string, { sql: string; params: unknown[] }> = {
    list: captured!,
    listWithoutIds: { sql: captured!.sql.replace(/\n\s*AND r.patient_id = ANY\(patient_ids_of_filters\(\$1::jsonb\)\)/, ''), params: captured!.params },
    nodesById: { sql: 'SELECT * FROM observation WHERE id = ANY($1::uuid[])', params: [ids] },
    nodesByPatient: { sql: 'SELECT * FROM observation WHERE patient_id = ANY($2::uuid[]) AND id = ANY($1::uuid[])', params: [ids, [patient]] },
  };
  for (const [name, s] of Object.entries(statements)) {
    const plan: number[] = []; const exec: number[] = []; let buffers = 0;
    for (let i = 0; i < 60; i++) {
      const [row] = await d.query<{ 'QUERY PLAN': any }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${s.sql}`, s.params);
      const p = (typeof row!['QUERY PLAN'] === 'string' ? JSON.parse(row!['QUERY PLAN']) : row!['QUERY PLAN'])[0];
      plan.push(p['Planning Time']); exec.push(p['Execution Time']); buffers = p.Plan['Shared Hit Blocks'] + p.Plan['Shared Read Blocks'];
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(3);
    results[`${partitioned ? 'partitioned' : 'flat'} ${name}`] = { planningMs: med(plan), executionMs: med(exec), buffers };
  }
  // Prepared as the product's named statements are: after five custom plans PostgreSQL may keep a generic one.
  const c = new pg.Client({ connectionString: ADMIN.replace(/\/postgres$/, `/${partitioned ? 'observation_planning_partitioned' : 'observation_planning_flat'}`) }); await c.connect();
  for (const which of ['list', 'listWithoutIds']) {
  await c.query(`DEALLOCATE ALL`);
  await c.query(`PREPARE s AS ${statements[which]!.sql}`);
  const lit = (v: unknown) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
  const plan: number[] = [];
  for (let i = 0; i < 40; i++) {
    const { rows } = await c.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE s(${statements.list!.params.map(lit).join(', ')})`);
    plan.push(rows[0]['QUERY PLAN'][0]['Planning Time']);
  }
  results[`${partitioned ? 'partitioned' : 'flat'} ${which} prepared (runs 1-5, 11-40)`] = { planningMs: `${plan.slice(0, 5).map((x) => x.toFixed(3)).join('/')} then ${[...plan.slice(10)].sort((x, y) => x - y)[15]!.toFixed(3)}` };
  plan.length = 0;
  }
  await c.end();
  await d.close();
  const a = new pg.Client({ connectionString: ADMIN }); await a.connect(); await a.query(`DROP DATABASE IF EXISTS ${partitioned ? 'observation_planning_partitioned' : 'observation_planning_flat'} WITH (FORCE)`); await a.end();
}
console.table(results);
