/**
 * A seed:large generator and writer thread (scripts/seed-parallel.ts): given a
 * range of patient indexes, generates those patients exactly as
 * generatePatients does (each patient has its own random stream, so any range
 * can be generated on its own), encodes each subgraph's rows as COPY text and
 * streams them to that subgraph's database on a connection of its own.
 *
 * Each thread writes what it generated: when the threads handed their rows to
 * the main thread to write, that one thread (copying every string out of the
 * message and into the sockets) was the bottleneck of the whole load at 100%
 * of a core while the generators waited.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copyText } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { anchorTime, generatePatients, type Anchor } from '../lib/synthetic/generator.js';
import { SUBGRAPH_SEEDERS } from '../subgraphs/seeders.js';
import { connectWith } from './large-set.js';

/** What the thread is given: the set's seed and anchor, each subgraph's database, and settings for its sessions. */
export interface SeedWorkerData {
  seed: number;
  anchor: Anchor;
  urls: Record<SubgraphName, string>;
  sessionSettings: string[];
}

/** What the main thread sends: the next range of patients [from, to), or null when there is no more. */
export type SeedWorkerRequest = { from: number; to: number } | null;

/**
 * What the thread answers: `generated` when a range is encoded and it can take the next (it writes this one meanwhile),
 * `written` when a range is in every database, `failed` with the reason.
 */
export type SeedWorkerMessage =
  | { type: 'generated'; from: number }
  | { type: 'written'; from: number; patients: number; rows: number }
  | { type: 'failed'; message: string };

/** Rows of one table, encoded for COPY. */
interface EncodedTable {
  table: string;
  columns: string[];
  text: string;
  rows: number;
}

const { seed, anchor, urls, sessionSettings } = workerData as SeedWorkerData;
/** Patients generated and encoded at a time within a range. */
const SLICE = 200;
anchorTime(anchor);

const clients = new Map<SubgraphName, Promise<pg.Client>>();
async function client(name: SubgraphName): Promise<pg.Client> {
  let connection = clients.get(name);
  if (!connection) {
    connection = connectWith(urls[name], sessionSettings);
    clients.set(name, connection);
  }
  return connection;
}

async function copyInto(connection: pg.Client, table: EncodedTable): Promise<void> {
  if (table.rows === 0) return;
  await new Promise<void>((resolve, reject) => {
    const stream = connection.query(copyFrom(`COPY ${table.table} (${table.columns.join(', ')}) FROM STDIN`));
    stream.on('finish', resolve);
    stream.on('error', reject);
    stream.end(table.text);
  });
}

const yieldToSockets = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Each subgraph's rows for patients [from, to), in slices of SLICE patients: a slice's objects are garbage once encoded,
 * while they are still in the young generation (seed-parallel.ts sizes it), instead of a whole range's bundles
 * outliving several collections. Between slices the event loop runs, so the previous range's COPY keeps streaming.
 */
async function encode(from: number, to: number): Promise<Record<SubgraphName, EncodedTable[]>> {
  const parts = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, [] as EncodedTable[]])) as Record<SubgraphName, EncodedTable[]>;
  for (let start = from; start < to; start += SLICE) {
    const bundles = [...generatePatients(seed, start, Math.min(start + SLICE, to), anchor)];
    for (const name of SUBGRAPH_NAMES) {
      SUBGRAPH_SEEDERS[name].patientRows(bundles).forEach((t, i) => {
        const table = (parts[name][i] ??= { table: t.table, columns: t.columns, text: '', rows: 0 });
        table.text += copyText(t.rows);
        table.rows += t.rows.length;
      });
    }
    await yieldToSockets();
  }
  return parts;
}

/** Writes a range's rows, the five databases at once (each table of a subgraph in insertion order). */
async function write(parts: Record<SubgraphName, EncodedTable[]>): Promise<number> {
  const counts = await Promise.all(SUBGRAPH_NAMES.map(async (name) => {
    const connection = await client(name);
    let rows = 0;
    for (const table of parts[name]) {
      await copyInto(connection, table);
      rows += table.rows;
    }
    return rows;
  }));
  return counts.reduce((sum, n) => sum + n, 0);
}

const send = (message: SeedWorkerMessage) => parentPort!.postMessage(message);
// At most one range being written while the next is generated: memory stays at two ranges' rows.
let writing: Promise<void> = Promise.resolve();
let failed = false;
const fail = (error: unknown) => {
  if (failed) return;
  failed = true;
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
};

parentPort!.on('message', (range: SeedWorkerRequest) => {
  if (range === null) {
    void writing.then(async () => {
      await Promise.all([...clients.values()].map((c) => c.then((client) => client.end()).catch(() => undefined)));
      parentPort!.close();
    });
    return;
  }
  void (async () => {
    const parts = await encode(range.from, range.to);
    await writing;
    if (failed) return;
    writing = write(parts).then((rows) => send({ type: 'written', from: range.from, patients: range.to - range.from, rows }), fail);
    send({ type: 'generated', from: range.from });
  })().catch(fail);
});
