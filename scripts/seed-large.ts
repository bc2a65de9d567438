/**
 * `npm run seed:large -- [--patients 100000] [--seed N] [--anchor YYYY-MM-DD] [--reset] [--workers N] [--batch-size 2000] [--database-prefix fpr_]`
 *
 * Seeds the benchmark set into real PostgreSQL: one database per subgraph,
 * from <SUBGRAPH>_DATABASE_URL, or by default `fpr_<subgraph>` databases
 * (`--database-prefix` names another set, e.g. fpr1m_ for a million patients
 * beside the 100,000) on SEED_POSTGRES_URL, postgres://postgres@127.0.0.1:5432
 * by default (created if missing). Generation is
 * deterministic, so the same seed and anchor give the same set (the anchor,
 * the day its dates are relative to, is DEMO_ANCHOR or today unless given,
 * as for npm start; `--anchor 2026-06-30` gives the tests' dates); rows go in
 * with COPY, with a progress bar and a summary of rows and time. The seed and
 * anchor are recorded in identity's demo_dataset, like npm start's.
 *
 * The rows are the ones seedDemoData writes (test/seed-large.e2e.test.ts
 * compares the two); how they are loaded is scripts/seed-parallel.ts:
 * generator threads (--workers, default one per core) hand chunks of
 * --batch-size patients to one COPY writer per subgraph, with the patient
 * tables' indexes and keys dropped during the load and built afterwards.
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import pg from 'pg';
import type { Database } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { openSubgraphDatabase } from '../lib/runtime/subgraph.js';
import { anchorTime, DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { demoAnchor } from './demo.js';
import { hasPatients, seedReferenceData } from './seed-data.js';
import { SEED_SERVER } from './large-set.js';
import { deferConstraints, patientTables, restoreConstraints, seedPatientsParallel } from './seed-parallel.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(DEFAULT_SEED) },
    anchor: { type: 'string' },
    reset: { type: 'boolean', default: false },
    'batch-size': { type: 'string', default: '2000' },
    workers: { type: 'string' },
    'database-prefix': { type: 'string', default: 'fpr_' },
  },
});
const patients = Number(values.patients);
const seed = Number(values.seed);
const anchor = values.anchor ?? demoAnchor();
anchorTime(anchor);
const SERVER = SEED_SERVER;
const prefix = values['database-prefix'];
if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new Error(`--database-prefix must be lower-case letters, digits and underscores (got ${prefix})`);

async function ensureDatabase(name: SubgraphName): Promise<string> {
  const configured = process.env[`${SUBGRAPHS[name].envPrefix}_DATABASE_URL`];
  if (configured) {
    if (!configured.startsWith('postgres')) throw new Error(`${SUBGRAPHS[name].envPrefix}_DATABASE_URL must be a PostgreSQL URL for the large set`);
    return configured;
  }
  const database = `${prefix}${name.replace('-', '_')}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * --reset: each database becomes a fresh install (its schema dropped, its migrations applied again), not a
 * truncation. Migrations write rows of their own (the audit trail's legacy segment and chain heads, reference
 * tables), and emptying every table took those too: on a reset set, identity then tried to create a partition
 * the legacy one already covers, and every audit append failed.
 */
async function freshInstall(name: SubgraphName, db: Database): Promise<Database> {
  await db.query('DROP SCHEMA public CASCADE');
  await db.query('CREATE SCHEMA public');
  await db.close();
  return openSubgraphDatabase(name, urls[name]);
}

const started = Date.now();
const urls = Object.fromEntries(await Promise.all(SUBGRAPH_NAMES.map(async (name) => [name, await ensureDatabase(name)] as const))) as Record<SubgraphName, string>;
let databases = Object.fromEntries(
  await Promise.all(SUBGRAPH_NAMES.map(async (name) => [name, await openSubgraphDatabase(name, urls[name])] as const)),
) as Record<SubgraphName, Database>;

// A load that was interrupted left its indexes and keys in seed_deferred_ddl, and part of its rows.
const interrupted = (await Promise.all(SUBGRAPH_NAMES.map(async (name) => (await databases[name].query<{ present: boolean }>(
  "SELECT to_regclass('seed_deferred_ddl') IS NOT NULL AS present"))[0]?.present))).some(Boolean);
if (interrupted || await hasPatients(databases.identity)) {
  if (!values.reset) {
    console.error(interrupted
      ? 'A previous seed:large was interrupted (its indexes are kept in seed_deferred_ddl); pass --reset to start again.'
      : 'The databases already hold patients; pass --reset to replace them.');
    process.exit(1);
  }
  databases = Object.fromEntries(await Promise.all(SUBGRAPH_NAMES.map(async (name) => [name, await freshInstall(name, databases[name])] as const))) as Record<SubgraphName, Database>;
}

console.log(`Seeding ${patients.toLocaleString()} patients (seed ${seed}, dated relative to ${anchor}) into:`);
for (const name of SUBGRAPH_NAMES) console.log(`  ${name.padEnd(14)} ${urls[name].replace(/:[^:@/]*@/, ':***@')}`);
await seedReferenceData(databases, seed);
let deferred = 0;
for (const name of SUBGRAPH_NAMES) deferred += await deferConstraints(urls[name], patientTables(name));
console.log(`  ${deferred} indexes and keys of the patient tables dropped for the load, built again after it`);
// Without a terminal (a log file, CI) the bar is printed as a line every 10 s.
const bar = new cliProgress.SingleBar({
  format: '  {bar} {percentage}% | {value}/{total} patients | {rows} rows | {rate} rows/s | ETA {eta_formatted}',
  noTTYOutput: true,
  notTTYSchedule: 10_000,
}, cliProgress.Presets.shades_classic);
bar.start(patients, 0, { rows: 0, rate: 0 });
const rows = await seedPatientsParallel(urls, {
  seed,
  anchor,
  patients,
  chunk: Number(values['batch-size']),
  workers: values.workers ? Number(values.workers) : undefined,
  onProgress: (done, written) => bar.update(done, { rows: written.toLocaleString(), rate: Math.round(written / ((Date.now() - started) / 1000)).toLocaleString() }),
});
bar.stop();
const loaded = Date.now();
console.log(`Loaded in ${((loaded - started) / 1000).toFixed(1)} s; building indexes and keys...`);
await restoreConstraints(urls, {
  onStep: (done, total, statement) => console.log(`  [${done}/${total}] ${((Date.now() - loaded) / 1000).toFixed(1)} s  ${statement.slice(0, 110)}`),
});
// The record of what was seeded, as seedDemoData writes it.
await databases.identity.query(
  `INSERT INTO demo_dataset (id, seed, anchor, patients) VALUES (1, $1, $2, $3)
   ON CONFLICT (id) DO UPDATE SET seed = EXCLUDED.seed, anchor = EXCLUDED.anchor, patients = EXCLUDED.patients, seeded_at = now()`,
  [seed, anchor, patients]);

console.log('Analysing tables...');
// The five databases at once (one after the other, they took 19 s at a million patients).
await Promise.all(Object.values(databases).map((db) => db.query('ANALYZE')));
const counts: Record<string, number> = {};
for (const name of SUBGRAPH_NAMES) {
  const tables = await databases[name].query<{ relname: string; n: number }>(
    `SELECT relname, n_live_tup::int AS n FROM pg_stat_user_tables WHERE relname <> 'schema_migrations' ORDER BY relname`,
  );
  for (const table of tables) counts[`${name}.${table.relname}`] = table.n;
}
const seconds = (Date.now() - started) / 1000;
console.log(`\nSeeded ${rows.toLocaleString()} rows in ${seconds.toFixed(1)} s (${Math.round(rows / seconds).toLocaleString()} rows/s).`);
console.table(counts);
for (const db of Object.values(databases)) await db.close();
