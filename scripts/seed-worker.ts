/**
 * A seed:large generator thread (scripts/seed-parallel.ts): given a range of
 * patient indexes, generates those patients exactly as generatePatients does
 * (each patient has its own random stream, so any range can be generated on
 * its own) and hands back each subgraph's rows already encoded as COPY text,
 * so the main thread only streams them to the databases.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { copyText } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { anchorTime, generatePatients, type Anchor } from '../lib/synthetic/generator.js';
import { SUBGRAPH_SEEDERS } from '../subgraphs/seeders.js';

/** Rows of one table for one chunk, encoded for COPY. */
export interface EncodedTable {
  table: string;
  columns: string[];
  text: string;
  rows: number;
}

/** A chunk of patients [from, to), each subgraph's tables in insertion order. */
export interface EncodedChunk {
  from: number;
  to: number;
  parts: Record<SubgraphName, EncodedTable[]>;
}

const { seed, anchor } = workerData as { seed: number; anchor: Anchor };
anchorTime(anchor);

parentPort!.on('message', (range: { from: number; to: number } | null) => {
  if (range === null) {
    parentPort!.close();
    return;
  }
  const bundles = [...generatePatients(seed, range.from, range.to, anchor)];
  const parts = {} as Record<SubgraphName, EncodedTable[]>;
  for (const name of SUBGRAPH_NAMES) {
    parts[name] = SUBGRAPH_SEEDERS[name].patientRows(bundles).map((t) => ({ table: t.table, columns: t.columns, text: copyText(t.rows), rows: t.rows.length }));
  }
  parentPort!.postMessage({ from: range.from, to: range.to, parts } satisfies EncodedChunk);
});
