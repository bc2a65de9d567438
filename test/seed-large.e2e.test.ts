/**
 * `npm run seed:large` loads exactly what the generator produces: the same
 * rows as seedDemoData (the path npm start and the test stacks take), and the
 * same schema afterwards (every index and key it dropped for the load is
 * built again, and nothing of the load is left behind). Run as a user runs
 * it: the script itself, in a child process, against real PostgreSQL (it
 * seeds only PostgreSQL, so without TEST_DATABASE_URL there is nothing to run).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SUBGRAPH_NAMES, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { openSubgraphDatabase } from '../lib/runtime/subgraph.js';
import { TEST_ANCHOR } from '../lib/synthetic/generator.js';
import { SUBGRAPH_SEEDERS } from '../subgraphs/seeders.js';
import { seedDemoData } from '../scripts/seed-data.js';

const run = promisify(execFile);
const PATIENTS = 240;
const SEED = 7;

async function createDatabases(prefix: string): Promise<Record<SubgraphName, string>> {
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  const urls = {} as Record<SubgraphName, string>;
  for (const name of SUBGRAPH_NAMES) {
    const database = `${prefix}_${name.replace('-', '_')}`;
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(process.env.TEST_DATABASE_URL!);
    url.pathname = `/${database}`;
    urls[name] = url.toString();
  }
  await admin.end();
  return urls;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** A digest of the columns the seeder writes, over all rows, in a stable order. */
async function tableDigest(url: string, table: string, columns: string[]): Promise<{ rows: number; digest: string }> {
  const list = columns.join(', ');
  const [row] = await query<{ rows: number; digest: string }>(url,
    `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest FROM (SELECT ${list} FROM ${table}) t`);
  return row!;
}

/** Indexes, constraints and tables of a database, as definitions. */
async function schema(url: string): Promise<string[]> {
  const rows = await query<{ item: string }>(url, `
    SELECT 'index ' || indexname || ': ' || indexdef AS item FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid) || ' valid=' || convalidated
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public'
    ORDER BY 1`);
  return rows.map((r) => r.item);
}

describe.skipIf(!process.env.TEST_DATABASE_URL)('seed:large on PostgreSQL', () => {
  const prefix = `fpr_seedlarge_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    for (const set of ['a', 'b']) {
      for (const name of SUBGRAPH_NAMES) await admin.query(`DROP DATABASE IF EXISTS ${prefix}_${set}_${name.replace('-', '_')} WITH (FORCE)`);
    }
    await admin.end();
  });

  it('writes the rows seedDemoData writes, in parallel, and leaves the schema as migrated', async () => {
    // Reference: the sequential path every other seeding command takes.
    const reference = await createDatabases(`${prefix}_a`);
    const databases = Object.fromEntries(await Promise.all(SUBGRAPH_NAMES.map(async (name) => [name, await openSubgraphDatabase(name, reference[name])] as const))) as Record<SubgraphName, Awaited<ReturnType<typeof openSubgraphDatabase>>>;
    await seedDemoData(databases, { seed: SEED, anchor: TEST_ANCHOR, patients: PATIENTS, batchSize: 100 });
    await Promise.all(Object.values(databases).map((db) => db.close()));

    // seed:large, as a user runs it: small chunks and two workers, so chunks interleave.
    const loaded = await createDatabases(`${prefix}_b`);
    const env = { ...process.env, ...Object.fromEntries(SUBGRAPH_NAMES.map((name) => [`${SUBGRAPHS[name].envPrefix}_DATABASE_URL`, loaded[name]])) };
    const { stdout } = await run('npx', ['tsx', 'scripts/seed-large.ts', '--patients', String(PATIENTS), '--seed', String(SEED), '--anchor', TEST_ANCHOR, '--batch-size', '35', '--workers', '2'], { env, maxBuffer: 1 << 24 });
    expect(stdout).toMatch(/Seeded [\d,]+ rows in/);
    expect(stdout).toMatch(/indexes and keys of the patient tables dropped for the load/);

    for (const name of SUBGRAPH_NAMES) {
      for (const { table, columns } of SUBGRAPH_SEEDERS[name].patientRows([])) {
        const expected = await tableDigest(reference[name], table, columns);
        expect(expected.rows, `${name}.${table} seeded`).toBeGreaterThan(0);
        expect(await tableDigest(loaded[name], table, columns), `${name}.${table}`).toEqual(expected);
      }
      expect(await schema(loaded[name]), `${name} schema`).toEqual(await schema(reference[name]));
    }
    const [dataset] = await query<{ seed: string; patients: number }>(loaded.identity, 'SELECT seed::text, patients FROM demo_dataset WHERE id = 1');
    expect(dataset).toEqual({ seed: String(SEED), patients: PATIENTS });

    // A second run refuses to seed over the set, and --reset replaces it with the same rows.
    await expect(run('npx', ['tsx', 'scripts/seed-large.ts', '--patients', '10', '--anchor', TEST_ANCHOR], { env })).rejects.toMatchObject({ stderr: expect.stringContaining('--reset') });
    await run('npx', ['tsx', 'scripts/seed-large.ts', '--patients', String(PATIENTS), '--seed', String(SEED), '--anchor', TEST_ANCHOR, '--reset'], { env, maxBuffer: 1 << 24 });
    const [observations] = SUBGRAPH_SEEDERS.labs.patientRows([]).filter((t) => t.table === 'observation');
    expect(await tableDigest(loaded.labs, 'observation', observations!.columns)).toEqual(await tableDigest(reference.labs, 'observation', observations!.columns));
    expect(await schema(loaded.labs)).toEqual(await schema(reference.labs));
  }, 600_000);
});
