/**
 * What a subgraph's seeder returns: rows for its own tables, in insertion
 * order. The seeding commands generate patients once and hand each subgraph
 * only its own part of every record.
 */
import type { PatientBundle } from './synthetic/generator.js';

export interface TableRows {
  table: string;
  columns: string[];
  rows: unknown[][];
}

export interface Seeder {
  /** Reference data loaded once (registries, programmes). */
  referenceRows(seed: number): TableRows[];
  /** Rows for a batch of generated patients. */
  patientRows(bundles: PatientBundle[]): TableRows[];
}

/** Builds a TableRows from records and a column → value map. */
export function tableRows<T>(table: string, records: T[], columns: Record<string, (record: T) => unknown>): TableRows {
  const names = Object.keys(columns);
  const getters = Object.values(columns);
  return { table, columns: names, rows: records.map((record) => getters.map((get) => get(record))) };
}
