/**
 * seed:large at scale: the same rows seedPatients writes (scripts/seed-data.ts),
 * loaded the way a bulk load is fast.
 *
 * - Generation runs in worker threads (scripts/seed-worker.ts), each given a
 *   range of patients at a time; a patient's rows depend only on (seed, index),
 *   so ranges are generated independently and the set is the same.
 * - Each thread COPYs what it generated into the five databases, on
 *   connections of its own, while it generates its next range: the databases
 *   load in parallel and generation overlaps writing (a single-threaded loop
 *   generated a batch, then waited for the slowest database; a main thread
 *   writing every thread's rows was itself the bottleneck, at 100% of a core).
 * - Indexes and constraints of the patient tables are dropped before the load
 *   and built after it (deferConstraints / restoreConstraints): maintaining
 *   ten random-UUID btrees per row is what made the old load slow down as the
 *   tables grew. What was dropped is kept in a table of the database itself
 *   (seed_deferred_ddl), so a load that is interrupted is restored by the next
 *   run rather than leaving a database without its keys.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SubgraphName } from '../lib/runtime/services.js';
import type { Anchor } from '../lib/synthetic/generator.js';
import { SUBGRAPH_SEEDERS } from '../subgraphs/seeders.js';
import { connectWith as connect } from './large-set.js';
import type { SeedWorkerData, SeedWorkerMessage, SeedWorkerRequest } from './seed-worker.js';

export interface ParallelSeedOptions {
  seed: number;
  anchor: Anchor;
  from?: number;
  patients: number;
  /** Patients per chunk handed to a worker. */
  chunk?: number;
  /** Generator threads (default: the machine's parallelism). */
  workers?: number;
  /** Called after every chunk all subgraphs have written: patients done, rows written. */
  onProgress?: (patients: number, rows: number) => void;
}

/** The patient tables of a subgraph (what its seeder writes per patient). */
export function patientTables(name: SubgraphName): string[] {
  return SUBGRAPH_SEEDERS[name].patientRows([]).map((t) => t.table);
}

/**
 * Writes patients [from, from + patients) into the subgraphs' PostgreSQL
 * databases: each generator thread takes a range of patients at a time,
 * generates and encodes it, and COPYs it into the five databases on
 * connections of its own while it generates its next range. Returns the
 * number of rows written.
 */
export async function seedPatientsParallel(urls: Record<SubgraphName, string>, options: ParallelSeedOptions): Promise<number> {
  const from = options.from ?? 0;
  const end = from + options.patients;
  const chunkSize = Math.max(1, options.chunk ?? 2000);
  const workerCount = Math.max(1, Math.min(options.workers ?? availableParallelism(), Math.ceil(options.patients / chunkSize)));
  // Commits need not wait for the disk: a crashed seed is run again anyway. Triggers are off for the writers' sessions
  // (session_replication_role, which needs a superuser, as the benchmark's postgres role is): the last-updated triggers
  // (lib/records/record-types.ts) bump a patient's last_updated for every identifier or registration inserted, and with
  // the patient's keys deferred each of those updates scans the table, so the load grew quadratic (100,000 patients:
  // over an hour instead of two minutes). Skipping them changes no row: every row takes last_updated's default, the
  // load's own time, which is what the triggers would have written; keys are checked when restored.
  const sessionSettings = ['SET synchronous_commit = off', 'SET session_replication_role = replica'];
  let next = from;
  let patientsDone = 0;
  let rows = 0;
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      let running = 0;
      const fail = (error: unknown) => {
        if (failed) return;
        failed = true;
        reject(error instanceof Error ? error : new Error(String(error)));
      };
      // The next range for a thread that can take one, or the end of its work.
      const dispatch = (worker: Worker) => {
        if (failed) return;
        if (next >= end) {
          worker.postMessage(null satisfies SeedWorkerRequest);
          return;
        }
        const to = Math.min(next + chunkSize, end);
        worker.postMessage({ from: next, to } satisfies SeedWorkerRequest);
        next = to;
      };
      for (let i = 0; i < workerCount; i++) {
        // A young generation of 192 MB (V8's default is 16–48): a slice of patients' objects (seed-worker.ts) then dies
        // young instead of being promoted and collected by full collections, which took a quarter of generation's CPU.
        const worker = new Worker(new URL('./seed-worker.ts', import.meta.url), {
          workerData: { seed: options.seed, anchor: options.anchor, urls, sessionSettings } satisfies SeedWorkerData,
          resourceLimits: { maxYoungGenerationSizeMb: 192 },
        });
        running++;
        worker.on('message', (message: SeedWorkerMessage) => {
          if (message.type === 'failed') fail(new Error(message.message));
          else if (message.type === 'generated') dispatch(worker);
          else {
            patientsDone += message.patients;
            rows += message.rows;
            options.onProgress?.(patientsDone, rows);
          }
        });
        worker.on('error', fail);
        worker.on('exit', (code) => {
          running--;
          if (code !== 0) fail(new Error(`a seed thread exited with code ${code}`));
          else if (running === 0 && !failed) {
            if (patientsDone === options.patients) resolve();
            else fail(new Error(`the seed threads stopped after ${patientsDone} of ${options.patients} patients`));
          }
        });
        workers.push(worker);
        dispatch(worker);
      }
    });
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return rows;
}

/** Where a database keeps the DDL a bulk load deferred, until it is built again. */
const DEFERRED = 'seed_deferred_ddl';

/**
 * Drops the indexes and constraints (primary keys, unique, foreign keys) of
 * `tables`, and the foreign keys of other tables pointing at them, keeping
 * their definitions in seed_deferred_ddl in the same transaction. Check
 * constraints and NOT NULL stay: they cost little per row and catch a bad row
 * at once. Returns how many statements were deferred. A partitioned table
 * (labs' observation) is handled on its parent: its partitions' copies of
 * the keys and indexes (conparentid set, indexes attached to the parent's)
 * go and come back with the parent's, so they are not listed on their own.
 */
export async function deferConstraints(url: string, tables: string[]): Promise<number> {
  const client = await connect(url);
  try {
    await client.query('BEGIN');
    await client.query(`CREATE TABLE IF NOT EXISTS ${DEFERRED} (ordinal int PRIMARY KEY, phase int NOT NULL, statement text NOT NULL)`);
    const [{ n }] = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${DEFERRED}`)).rows as [{ n: number }];
    if (n > 0) throw new Error(`${DEFERRED} already holds deferred statements: restore them first`);
    const oids = `(SELECT to_regclass(t)::oid FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL)`;
    // Phase 1: keys and indexes (independent of each other); phase 2: foreign keys (need the keys).
    const { rows: constraints } = await client.query<{ relation: string; name: string; definition: string; type: string }>(
      `SELECT conrelid::regclass::text AS relation, quote_ident(conname) AS name, pg_get_constraintdef(oid) AS definition, contype AS type
         FROM pg_constraint
        WHERE contype IN ('p', 'u', 'f', 'x') AND (conrelid IN ${oids} OR (contype = 'f' AND confrelid IN ${oids}))
          AND conparentid = 0
        ORDER BY contype = 'f' DESC, conrelid::regclass::text, conname`, [tables]);
    const { rows: indexes } = await client.query<{ name: string; definition: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
         FROM pg_index i
        WHERE i.indrelid IN ${oids}
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
        ORDER BY 1`, [tables]);
    const deferred: { phase: number; statement: string }[] = [];
    // Foreign keys go first (ordered first above), so the keys they depend on can be dropped.
    for (const c of constraints) {
      await client.query(`ALTER TABLE ${c.relation} DROP CONSTRAINT ${c.name}`);
      deferred.push({ phase: c.type === 'f' ? 2 : 1, statement: `ALTER TABLE ${c.relation} ADD CONSTRAINT ${c.name} ${c.definition}` });
    }
    for (const index of indexes) {
      await client.query(`DROP INDEX ${index.name}`);
      // A partitioned table's index is defined `ON ONLY` the parent (pg_get_indexdef, as pg_dump attaches each
      // partition's after); built again on the parent it must reach every partition (labs' observation).
      deferred.push({ phase: 1, statement: index.definition.replace(/ ON ONLY /, ' ON ') });
    }
    for (const [i, d] of deferred.entries()) await client.query(`INSERT INTO ${DEFERRED} (ordinal, phase, statement) VALUES ($1, $2, $3)`, [i, d.phase, d.statement]);
    await client.query('COMMIT');
    return deferred.length;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

/** The statements a database still has deferred (none when it has no seed_deferred_ddl). */
async function deferredStatements(url: string): Promise<{ ordinal: number; phase: number; statement: string }[]> {
  const client = await connect(url);
  try {
    const { rows: [exists] } = await client.query<{ present: boolean }>(`SELECT to_regclass('${DEFERRED}') IS NOT NULL AS present`);
    if (!exists?.present) return [];
    return (await client.query<{ ordinal: number; phase: number; statement: string }>(`SELECT ordinal, phase, statement FROM ${DEFERRED} ORDER BY ordinal`)).rows;
  } finally {
    await client.end();
  }
}

/** The table a deferred statement builds on: `ALTER TABLE <t> ADD …` or `CREATE [UNIQUE] INDEX <i> ON [ONLY] <t> USING …`. */
function tableOf(statement: string): string | undefined {
  return /^ALTER TABLE (\S+) /.exec(statement)?.[1] ?? / ON (?:ONLY )?(\S+) USING /.exec(statement)?.[1];
}

/**
 * Builds what deferConstraints dropped, in every database given, and answers
 * how many statements it ran. Keys and indexes (phase 1) run `concurrency`
 * at a time across all databases, largest table first: each build sorts its
 * table once, several keep both cores busy, and the longest builds do not
 * start last and run alone at the end. A database's foreign keys (phase 2)
 * need only the keys they reference, which are built first; its foreign keys
 * then start, one after the other (two foreign keys between the same tables
 * built at once could deadlock on their locks), while the indexes go on
 * building: labs' observation foreign key, a scan of every observation,
 * took 47 s at a million patients on a quiet machine and over 140 s on a
 * busy one, and ran alone at the end when it waited for the indexes. Each
 * statement is removed from seed_deferred_ddl as it commits; the table is
 * dropped at the end.
 */
export async function restoreConstraints(urls: Record<string, string>, options: { concurrency?: number; onStep?: (done: number, total: number, statement: string) => void } = {}): Promise<number> {
  const work = (await Promise.all(Object.values(urls).map(async (url) => (await deferredStatements(url)).map((s) => ({ ...s, url }))))).flat();
  const total = work.length;
  let done = 0;
  const run = async (item: { url: string; ordinal: number; statement: string }) => {
    const client = await connect(item.url, ["SET maintenance_work_mem = '512MB'"]);
    try {
      await client.query('BEGIN');
      await client.query(item.statement);
      await client.query(`DELETE FROM ${DEFERRED} WHERE ordinal = $1`, [item.ordinal]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new Error(`building ${item.statement}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await client.end();
    }
    done++;
    options.onStep?.(done, total, item.statement);
  };
  // Each table's size in bytes, one query per database: its own, plus its partitions' (a partitioned table's own
  // size is 0; pg_partition_tree lists nothing for a table that is not partitioned).
  const sizes = new Map<string, number>();
  await Promise.all(Object.values(urls).map(async (url) => {
    const tables = [...new Set(work.filter((w) => w.url === url).flatMap((w) => tableOf(w.statement) ?? []))];
    const client = await connect(url);
    try {
      const { rows } = await client.query<{ name: string; bytes: string }>(
        `SELECT t AS name, (pg_relation_size(to_regclass(t)) + (SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree(to_regclass(t))))::text AS bytes
           FROM unnest($1::text[]) AS t`, [tables]);
      for (const row of rows) sizes.set(`${url} ${row.name}`, Number(row.bytes));
    } finally {
      await client.end();
    }
  }));
  const size = (item: { url: string; statement: string }) => sizes.get(`${item.url} ${tableOf(item.statement)}`) ?? 0;
  // A foreign key needs only the key it references (a primary key or unique constraint of that table): those keys
  // are built first, and each database's foreign keys start once its referenced keys are there.
  const referenced = new Set(work.filter((w) => w.phase === 2).map((w) => `${w.url} ${/ REFERENCES (\S+?)\(/.exec(w.statement)?.[1]}`));
  const isReferencedKey = (w: { url: string; statement: string }) =>
    / ADD CONSTRAINT \S+ (PRIMARY KEY|UNIQUE) /.test(w.statement) && referenced.has(`${w.url} ${tableOf(w.statement)}`);
  const phase1 = work.filter((w) => w.phase === 1).sort((a, b) => Number(isReferencedKey(b)) - Number(isReferencedKey(a)) || size(b) - size(a));
  const keysLeft = new Map(Object.values(urls).map((url) => [url, phase1.filter((w) => w.url === url && isReferencedKey(w)).length]));
  const foreignKeys: Promise<void>[] = [];
  const failures: unknown[] = [];
  const buildForeignKeys = async (url: string) => {
    try {
      for (const item of work.filter((w) => w.url === url && w.phase === 2)) await run(item);
    } catch (error) {
      failures.push(error);
    }
  };
  const keyBuilt = (item: { url: string; statement: string }) => {
    if (!isReferencedKey(item)) return;
    keysLeft.set(item.url, keysLeft.get(item.url)! - 1);
    if (keysLeft.get(item.url) === 0) foreignKeys.push(buildForeignKeys(item.url));
  };
  for (const [url, left] of keysLeft) if (left === 0) foreignKeys.push(buildForeignKeys(url));
  const runners = Array.from({ length: Math.max(1, options.concurrency ?? availableParallelism()) }, async () => {
    for (let item = phase1.shift(); item; item = phase1.shift()) {
      await run(item);
      keyBuilt(item);
    }
  });
  try {
    await Promise.all(runners);
  } finally {
    // Whatever happened to the indexes, the foreign keys already building finish (or fail) before this returns.
    await Promise.all(foreignKeys);
  }
  if (failures.length) throw failures[0];
  await Promise.all(Object.values(urls).map(async (url) => {
    const client = await connect(url);
    try {
      const { rows: [left] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${DEFERRED}`).catch(() => ({ rows: [{ n: 0 }] }));
      if (left && left.n === 0) await client.query(`DROP TABLE IF EXISTS ${DEFERRED}`);
    } finally {
      await client.end();
    }
  }));
  return total;
}
