/**
 * Seeding: generates patients once and writes each subgraph's part into that
 * subgraph's own database, in batches (COPY on PostgreSQL).
 */
import type { Database } from '../lib/db.js';
import type { SubgraphName } from '../lib/services.js';
import { generatePatients } from '../lib/synthetic/generator.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';

export interface SeedOptions {
  seed: number;
  from?: number;
  patients: number;
  batchSize?: number;
  onBatch?: (done: number, rows: number) => void;
}

/** Loads reference data (registries, programmes) into every database given. */
export async function seedReferenceData(databases: Partial<Record<SubgraphName, Database>>, seed: number): Promise<void> {
  for (const [name, db] of Object.entries(databases) as [SubgraphName, Database][]) {
    for (const table of SUBGRAPH_MODULES[name].seeder.referenceRows(seed)) await db.bulkInsert(table.table, table.columns, table.rows);
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
    for (const table of SUBGRAPH_MODULES[name].seeder.referenceRows(seed)) {
      const [row] = await db.query<{ present: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${table.table}) AS present`);
      if (row?.present) continue;
      await db.bulkInsert(table.table, table.columns, table.rows);
      filled.push(`${name}.${table.table}`);
    }
  }
  return filled;
}

/** Writes patients [from, from + patients) into the databases given. Returns the number of rows written. */
export async function seedPatients(databases: Partial<Record<SubgraphName, Database>>, options: SeedOptions): Promise<number> {
  const batchSize = options.batchSize ?? 500;
  const from = options.from ?? 0;
  let rows = 0;
  for (let start = from; start < from + options.patients; start += batchSize) {
    const bundles = [...generatePatients(options.seed, start, Math.min(start + batchSize, from + options.patients))];
    await Promise.all(
      (Object.entries(databases) as [SubgraphName, Database][]).map(async ([name, db]) => {
        // Tables in order (parents first), one after the other within a database.
        for (const table of SUBGRAPH_MODULES[name].seeder.patientRows(bundles)) {
          await db.bulkInsert(table.table, table.columns, table.rows);
          rows += table.rows.length;
        }
      }),
    );
    options.onBatch?.(start + bundles.length - from, rows);
  }
  return rows;
}

/** Whether the identity database already holds patients (seed once). */
export async function hasPatients(identity: Database): Promise<boolean> {
  const [row] = await identity.query<{ present: boolean }>('SELECT EXISTS (SELECT 1 FROM patient) AS present');
  return Boolean(row?.present);
}
