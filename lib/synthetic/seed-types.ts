/**
 * What a subgraph's seeder returns: its reference data (registries,
 * programmes, recognition tables), each written while its table is empty, and
 * rows for its own patient tables, in insertion order. The seeding commands
 * generate patients once and hand each subgraph only its own part of every
 * record.
 */
import type { Database } from '../runtime/db.js';
import type { PatientBundle } from './generator.js';

export interface TableRows {
  table: string;
  columns: string[];
  rows: unknown[][];
}

/**
 * Reference data for one table, written once, while the table is empty: in
 * bulk, or through the owner's own functions where the data is administered
 * at run time (identity's registry goes through the same functions as the
 * administrators' mutations).
 */
export interface ReferenceData {
  table: string;
  write(db: Database): Promise<void>;
}

/** Reference rows written in one bulk insert. */
export const bulkReference = (rows: TableRows): ReferenceData => ({ table: rows.table, write: (db) => db.bulkInsert(rows.table, rows.columns, rows.rows) });

export interface Seeder {
  /** Reference data loaded once (registries, programmes, recognition tables), tables in dependency order. */
  reference(seed: number): ReferenceData[];
  /** Rows for a batch of generated patients. */
  patientRows(bundles: PatientBundle[]): TableRows[];
}

/** Builds a TableRows from records and a column → value map. */
export function tableRows<T>(table: string, records: T[], columns: Record<string, (record: T) => unknown>): TableRows {
  const names = Object.keys(columns);
  const getters = Object.values(columns);
  return { table, columns: names, rows: records.map((record) => getters.map((get) => get(record))) };
}
