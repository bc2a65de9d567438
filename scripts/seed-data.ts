/**
 * Seeding: generates patients once and writes each subgraph's part into that
 * subgraph's own database, in batches (COPY on PostgreSQL). Every command
 * that seeds (npm start, seed:large, the tests' stacks) goes through
 * `seedDemoData`, which records the seed and the anchor it used, so whatever
 * compares a database with the generator regenerates it with those.
 */
import type { Database } from '../lib/runtime/db.js';
import type { SubgraphName } from '../lib/runtime/services.js';
import { anchorTime, generatePatients, type Anchor } from '../lib/synthetic/generator.js';
import { SUBGRAPH_SEEDERS } from '../subgraphs/seeders.js';

export interface SeedOptions {
  seed: number;
  /** The day every generated date is relative to (YYYY-MM-DD); see lib/synthetic/generator.ts. */
  anchor: Anchor;
  from?: number;
  patients: number;
  batchSize?: number;
  onBatch?: (done: number, rows: number) => void;
}

/** The synthetic data set a database holds (identity's demo_dataset). */
export interface DemoDataset {
  seed: number;
  anchor: Anchor;
  patients: number;
}

/** Loads reference data (registries, programmes, recognition tables) into every database given. */
export async function seedReferenceData(databases: Partial<Record<SubgraphName, Database>>, seed: number): Promise<void> {
  for (const [name, db] of Object.entries(databases) as [SubgraphName, Database][]) {
    for (const reference of SUBGRAPH_SEEDERS[name].reference(seed)) await reference.write(db);
  }
}

/**
 * Fills reference tables that are still empty (a table a later migration
 * added to an existing demo database, such as a recognition table or an
 * immunisation schedule); tables already holding rows are left as they are.
 */
export async function seedMissingReferenceData(databases: Partial<Record<SubgraphName, Database>>, seed: number): Promise<string[]> {
  const filled: string[] = [];
  for (const [name, db] of Object.entries(databases) as [SubgraphName, Database][]) {
    for (const reference of SUBGRAPH_SEEDERS[name].reference(seed)) {
      const [row] = await db.query<{ present: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${reference.table}) AS present`);
      if (row?.present) continue;
      await reference.write(db);
      filled.push(`${name}.${reference.table}`);
    }
  }
  return filled;
}

/** Writes patients [from, from + patients) into the databases given. Returns the number of rows written. */
export async function seedPatients(databases: Partial<Record<SubgraphName, Database>>, options: SeedOptions): Promise<number> {
  anchorTime(options.anchor);
  const batchSize = options.batchSize ?? 500;
  const from = options.from ?? 0;
  let rows = 0;
  for (let start = from; start < from + options.patients; start += batchSize) {
    const bundles = [...generatePatients(options.seed, start, Math.min(start + batchSize, from + options.patients), options.anchor)];
    await Promise.all(
      (Object.entries(databases) as [SubgraphName, Database][]).map(async ([name, db]) => {
        // Tables in order (parents first), one after the other within a database.
        for (const table of SUBGRAPH_SEEDERS[name].patientRows(bundles)) {
          await db.bulkInsert(table.table, table.columns, table.rows);
          rows += table.rows.length;
        }
      }),
    );
    options.onBatch?.(start + bundles.length - from, rows);
  }
  return rows;
}

/**
 * Seeds empty databases with the demo set: reference data, then patients,
 * then the record of what was seeded (seed, anchor, patients) in identity.
 */
export async function seedDemoData(databases: Record<SubgraphName, Database>, options: SeedOptions): Promise<number> {
  await seedReferenceData(databases, options.seed);
  const rows = await seedPatients(databases, options);
  await databases.identity.query(
    `INSERT INTO demo_dataset (id, seed, anchor, patients) VALUES (1, $1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET seed = EXCLUDED.seed, anchor = EXCLUDED.anchor, patients = EXCLUDED.patients, seeded_at = now()`,
    [options.seed, options.anchor, (options.from ?? 0) + options.patients]);
  return rows;
}

/** The demo set identity's database holds, as seeded (null: not seeded by these commands). */
export async function demoDataset(identity: Database): Promise<DemoDataset | null> {
  const [row] = await identity.query<{ seed: string | number; anchor: string; patients: number }>('SELECT seed, anchor, patients FROM demo_dataset WHERE id = 1');
  return row ? { seed: Number(row.seed), anchor: String(row.anchor), patients: row.patients } : null;
}

/** Whether the identity database already holds patients (seed once). */
export async function hasPatients(identity: Database): Promise<boolean> {
  const [row] = await identity.query<{ present: boolean }>('SELECT EXISTS (SELECT 1 FROM patient) AS present');
  return Boolean(row?.present);
}
