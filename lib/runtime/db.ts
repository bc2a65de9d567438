/**
 * The database adapter every subgraph uses. One interface, two engines:
 *
 * - a PostgreSQL server, chosen by a `postgres://` connection URL (production,
 *   CI, the large benchmark set);
 * - embedded PGlite (PostgreSQL compiled to WASM, in-process) when no URL is
 *   set, persisted under `.data/pglite/<service>`, or in memory for tests
 *   (`memory://`).
 *
 * Both run the same SQL and migrations. The adapter counts statements so tests
 * can prove that a query costs a bounded number of round trips (no N+1).
 * A parameter holding a NUL, which PostgreSQL cannot store, is refused as the
 * client's mistake (BAD_USER_INPUT) before the statement runs
 * (lib/runtime/control-characters.ts).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import { refuseNulParameters } from './control-characters.js';
import { ConfigurationError } from '../trust/keys.js';
import { observeQuery, type Telemetry } from './telemetry.js';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Database extends Queryable {
  /** Which engine backs this database. */
  readonly engine: 'pglite' | 'postgres';
  /** Number of SQL statements issued since start (tests read differences). */
  readonly statementCount: number;
  /** Runs `work` in one transaction; rolls back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Loads many rows at once (COPY on PostgreSQL, one INSERT per call on PGlite). */
  bulkInsert(table: string, columns: string[], rows: unknown[][]): Promise<void>;
  /**
   * Measures (and, with tracing on, traces) every statement from now on in the
   * service's telemetry; the returned function stops counting its pool.
   */
  instrument(telemetry: Telemetry): () => void;
  close(): Promise<void>;
}

// PostgreSQL `date` values stay ISO strings (YYYY-MM-DD) on both engines: a
// birth date is a calendar date, not an instant, and must not shift by time zone.
const DATE_OID = 1082;
pg.types.setTypeParser(DATE_OID, (value: string) => value);

/**
 * Named prepared statements on PostgreSQL. An unnamed statement is parsed and
 * planned again on every execution: for the product's consent-filtered page
 * queries that was about 70% of the server's time for a timeline page
 * (parse 32%, bind and plan 40%, execute 25%). A statement named after its
 * text is parsed once per connection, and after five executions PostgreSQL
 * may keep a generic plan (when it is no costlier than the custom ones).
 *
 * Only single data statements with parameters are named (a statement without
 * parameters may hold several, which only the simple protocol runs), and at
 * most MAX_PREPARED distinct texts, so SQL built with varying text cannot
 * grow every connection's cache without bound. `DATABASE_PREPARED_STATEMENTS=off`
 * turns it off (a transaction-pooling PgBouncer older than 1.21 cannot keep
 * them).
 */
const MAX_PREPARED = 500;
const preparedNames = new Map<string, string>();
/** Texts whose prepared plan a schema change invalidated: run unnamed from then on. */
const unpreparable = new Set<string>();

function preparedName(sql: string, params: unknown[]): string | undefined {
  if (params.length === 0 || unpreparable.has(sql) || process.env.DATABASE_PREPARED_STATEMENTS === 'off') return undefined;
  let name = preparedNames.get(sql);
  if (name === undefined) {
    if (preparedNames.size >= MAX_PREPARED || !/^\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b/i.test(sql)) return undefined;
    name = `fpr_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    preparedNames.set(sql, name);
  }
  return name;
}

/**
 * Runs a statement, named when it may be. A migration that changed a table
 * under a running replica invalidates its prepared `SELECT *` ("cached plan
 * must not change result type"): that statement did not run, so outside a
 * transaction it is run again unnamed, and that text stays unnamed.
 */
async function runStatement(client: pg.Pool | pg.PoolClient, sql: string, params: unknown[], inTransaction: boolean): Promise<pg.QueryResult> {
  const name = preparedName(sql, params);
  if (!name) return client.query(sql, params);
  try {
    return await client.query({ name, text: sql, values: params });
  } catch (error) {
    if ((error as { code?: string }).code !== '0A000' || !/cached plan must not change result type/.test((error as Error).message)) throw error;
    unpreparable.add(sql);
    if (inTransaction) throw error;
    return client.query(sql, params);
  }
}

class PostgresDatabase implements Database {
  readonly engine = 'postgres' as const;
  statementCount = 0;
  private telemetry: Telemetry | undefined;
  constructor(private readonly pool: pg.Pool) {}

  instrument(telemetry: Telemetry): () => void {
    this.telemetry = telemetry;
    return telemetry.trackPool(this.pool);
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    refuseNulParameters(params);
    this.statementCount++;
    const run = async () => (await runStatement(this.pool, sql, params, false)).rows as T[];
    return this.telemetry ? observeQuery(this.telemetry, sql, run) : run();
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Queryable = {
      query: async <R>(sql: string, params: unknown[] = []) => {
        refuseNulParameters(params);
        this.statementCount++;
        const run = async () => (await runStatement(client, sql, params, true)).rows as R[];
        return this.telemetry ? observeQuery(this.telemetry, sql, run) : run();
      },
    };
    try {
      await client.query('BEGIN');
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async bulkInsert(table: string, columns: string[], rows: unknown[][]): Promise<void> {
    if (rows.length === 0) return;
    for (const row of rows) refuseNulParameters(row);
    const client = await this.pool.connect();
    try {
      this.statementCount++;
      const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
      await pipeline(Readable.from(copyLines(rows)), stream);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * A value bulkInsert writes as JSON into a jsonb column, whatever its shape
 * (a list of objects, an empty list): other arrays go in as PostgreSQL arrays.
 */
export class JsonValue {
  constructor(readonly json: unknown) {}
}

/**
 * Rows in PostgreSQL's COPY text format, as one string: what bulkInsert sends,
 * for a writer that encodes in one thread and streams in another (seed:large's
 * workers). NUL is refused as in bulkInsert.
 */
export function copyText(rows: unknown[][]): string {
  let text = '';
  for (const row of rows) {
    refuseNulParameters(row);
    text += copyRow(row);
  }
  return text;
}

/** One row in COPY text format, its line feed included (a loop, not map and join: seed:large encodes tens of millions). */
function copyRow(row: unknown[]): string {
  let line = '';
  for (let i = 0; i < row.length; i++) line += (i === 0 ? '' : '\t') + copyValue(row[i]);
  return line + '\n';
}

/** Encodes rows in PostgreSQL's COPY text format, in chunks. */
function* copyLines(rows: unknown[][]): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    chunk += copyRow(row);
    if (chunk.length > 1 << 16) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (value instanceof JsonValue) return copyEscape(JSON.stringify(value.json));
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    return copyEscape('{' + value.map((v) => '"' + String(v).replace(/["\\]/g, '\\$&') + '"').join(',') + '}');
  }
  if (typeof value === 'object') return copyEscape(JSON.stringify(value));
  return copyEscape(String(value));
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function copyEscape(text: string): string {
  // Most values hold none of the four: a test is much cheaper than a replace that finds nothing.
  return COPY_SPECIAL.test(text) ? text.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : text;
}

class PGliteDatabase implements Database {
  readonly engine = 'pglite' as const;
  statementCount = 0;
  private telemetry: Telemetry | undefined;
  constructor(private readonly db: PGliteType) {}

  instrument(telemetry: Telemetry): () => void {
    this.telemetry = telemetry;
    return () => undefined;
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    refuseNulParameters(params);
    this.statementCount++;
    const run = async () => (await this.db.query<T>(sql, params as unknown[])).rows;
    return this.telemetry ? observeQuery(this.telemetry, sql, run) : run();
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (inner) => {
      const tx: Queryable = {
        query: async <R>(sql: string, params: unknown[] = []) => {
          refuseNulParameters(params);
          this.statementCount++;
          const run = async () => (await inner.query<R>(sql, params as unknown[])).rows;
          return this.telemetry ? observeQuery(this.telemetry, sql, run) : run();
        },
      };
      return work(tx);
    });
  }

  async bulkInsert(table: string, columns: string[], rows: unknown[][]): Promise<void> {
    if (rows.length === 0) return;
    // One statement per call: the rows travel as one JSON document and are
    // unpacked by the server with the table's own column types.
    const objects = rows.map((row) => Object.fromEntries(columns.map((c, i) => {
      const value = row[i];
      return [c, value instanceof Date ? value.toISOString() : value instanceof JsonValue ? value.json : value];
    })));
    const columnList = columns.join(', ');
    await this.query(
      `INSERT INTO ${table} (${columnList})
       SELECT ${columnList} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`,
      [JSON.stringify(objects)],
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

// Compiling PGlite's WASM takes a moment and ~100 MB; a process running several
// embedded databases (npm start, the tests) compiles it once and shares it.
let wasmModules: Promise<{ pgliteWasmModule: WebAssembly.Module; initdbWasmModule: WebAssembly.Module }> | undefined;
// A freshly initialised, empty cluster, dumped once per process: creating an
// in-memory database from it skips initdb (about 1.5 s instead of 4 s).
let emptyClusterDump: Promise<Blob> | undefined;

async function loadWasmModules() {
  wasmModules ??= (async () => {
    const require = createRequire(import.meta.url);
    const dist = path.dirname(require.resolve('@electric-sql/pglite'));
    const [pglite, initdb] = await Promise.all([
      readFile(path.join(dist, 'pglite.wasm')),
      readFile(path.join(dist, 'initdb.wasm')),
    ]);
    return {
      pgliteWasmModule: await WebAssembly.compile(pglite),
      initdbWasmModule: await WebAssembly.compile(initdb),
    };
  })();
  return wasmModules;
}

/**
 * Memory of each embedded database: PostgreSQL's defaults (128 MB of shared
 * buffers) are sized for a server of its own, and five embedded stores in one
 * process (npm start) would hold about 1.5 GB for a demo set of a few
 * megabytes. 16 MB of buffers each keeps npm start small; a deployment uses
 * PostgreSQL servers, tuned there.
 */
export const PGLITE_SETTINGS = ['-c', 'shared_buffers=16MB', '-c', 'work_mem=4MB', '-c', 'temp_buffers=2MB', '-c', 'wal_buffers=1MB'];

async function openPGlite(location: string): Promise<PGliteType> {
  const { PGlite } = await import('@electric-sql/pglite');
  const modules = { ...(await loadWasmModules()), startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] };
  const parsers = { [DATE_OID]: (value: string) => value };
  if (location === 'memory://') {
    emptyClusterDump ??= (async () => {
      const template = await PGlite.create({ ...modules, parsers });
      const dump = await template.dumpDataDir('none');
      await template.close();
      return dump;
    })();
    return PGlite.create({ ...modules, parsers, loadDataDir: await emptyClusterDump });
  }
  await mkdir(location, { recursive: true });
  return PGlite.create({ ...modules, parsers, dataDir: location });
}

/**
 * Checks a database URL before anything is opened or created: `postgres://`
 * or `postgresql://` (a server, with a host and a database name),
 * `memory://`, `pglite://<directory>`, or a bare directory path. Anything
 * else that looks like a URL (`mysql://…`, `postgress://…`, `http://…`) is a
 * mistake, refused in one sentence naming `variable`, rather than taken for
 * a directory to create. Returns the URL as given.
 */
export function checkDatabaseUrl(url: string, variable = 'the database URL'): string {
  const shown = url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (!url.trim()) throw new ConfigurationError(`${variable} is empty: unset it for the embedded database, or set postgres://user@host:5432/database`);
  if (scheme === 'postgres' || scheme === 'postgresql') {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigurationError(`${variable} is not a valid PostgreSQL URL (${shown}): write postgres://user[:password]@host[:port]/database`);
    }
    if (!parsed.hostname && !parsed.searchParams.get('host')) throw new ConfigurationError(`${variable} names no server (${shown}): write postgres://user[:password]@host[:port]/database`);
    return url;
  }
  if (url === 'memory://') return url;
  if (scheme === 'pglite') {
    if (!url.slice('pglite://'.length).trim()) throw new ConfigurationError(`${variable} names no directory (${shown}): write pglite://<directory>, or unset it for .data/pglite`);
    return url;
  }
  // A drive letter (C:\data) is a path; any other scheme is not a database this product speaks to.
  if (scheme && !(scheme.length === 1 && /^[a-zA-Z]:[\\/]/.test(url))) {
    throw new ConfigurationError(`${variable} has the scheme ${scheme}:// (${shown}), which is not a database this product uses: `
      + 'set a PostgreSQL URL (postgres://user@host:5432/database), pglite://<directory> for an embedded one, or unset it for .data/pglite');
  }
  return url;
}

/**
 * Opens a database from a connection string:
 * `postgres://…` or `postgresql://…` for a server, `memory://` for an
 * in-memory PGlite, `pglite://<directory>` or a bare path for a persisted one
 * (checked first: checkDatabaseUrl).
 */
export async function openDatabase(url: string, variable?: string): Promise<Database> {
  checkDatabaseUrl(url, variable);
  if (/^postgres(ql)?:\/\//i.test(url)) {
    // Connections stay open once made (idleTimeoutMillis 0; pg-pool's default closes one idle for 10 s). A new one is
    // slow for its first requests: a fresh server process fills its catalog caches (labs' observation has 16
    // partitions, the audit trail one per month and shard) and every prepared statement is parsed and planned again.
    // With the default, a pool shrank in every lull and grew again in the next burst, and the requests that met the
    // new connections were the benchmark's slowest 1%, due about 10 s apart (docs/performance.md, tail latency).
    // Idle connections do not keep a process alive (allowExitOnIdle): a script that ends exits, as it did once its
    // connections had timed out.
    const pool = new pg.Pool({ connectionString: url, max: Number(process.env.DATABASE_POOL_SIZE ?? 10), idleTimeoutMillis: 0, allowExitOnIdle: true });
    pool.on('error', () => undefined); // idle client errors surface on the next query
    const database = new PostgresDatabase(pool);
    await database.query('SELECT 1');
    database.statementCount = 0;
    return database;
  }
  const location = url === 'memory://' ? url : url.replace(/^pglite:\/\//, '');
  try {
    return new PGliteDatabase(await openPGlite(location));
  } catch (error) {
    if (location === 'memory://') throw error;
    // A damaged or foreign data directory: say which, and what to do, not a WASM stack.
    throw new ConfigurationError(`the embedded database in ${location} cannot be opened (${error instanceof Error ? error.message : String(error)}). `
      + 'If it is damaged, move it away (or delete it to start over: npm start seeds fresh demo data), or restore it from a backup.');
  }
}

/**
 * The advisory lock every schema change at start-up takes (migrations, and the last-updated schema derived from the
 * catalogue: lib/records/last-updated.ts), so replicas starting together change a database one at a time.
 */
export const MIGRATION_LOCK_SQL = 'SELECT pg_advisory_xact_lock(824613)';

/**
 * Applies the plain SQL migrations in `directory` (files sorted by name) that
 * this database has not seen, each in its own transaction, under an advisory
 * lock so replicas starting together do not race. Idempotent. A migration
 * set applied to several databases besides their own (the publishing
 * protocol's) records its versions under a `prefix` (`publishing/…`), so
 * they never collide with a database's own file names.
 */
export async function migrate(database: Database, directory: string, prefix = ''): Promise<string[]> {
  const files = (await readdir(directory)).filter((f) => f.endsWith('.sql')).sort();
  const applied: string[] = [];
  await database.transaction(async (tx) => {
    await tx.query(MIGRATION_LOCK_SQL);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = new Set((await tx.query<{ version: string }>('SELECT version FROM schema_migrations')).map((r) => r.version));
    for (const file of files) {
      const version = prefix + file;
      if (done.has(version)) continue;
      const sql = await readFile(path.join(directory, file), 'utf8');
      for (const statement of splitStatements(sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
      applied.push(version);
    }
  });
  return applied;
}

/**
 * Splits a migration file into statements on semicolons at line ends,
 * keeping dollar-quoted bodies ($$ ... $$, used by trigger functions) whole.
 */
function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let inBody = false;
  for (const line of sql.split('\n')) {
    if (!inBody && /^\s*--/.test(line)) continue;
    current += line + '\n';
    if ((line.match(/\$\$/g) ?? []).length % 2 === 1) inBody = !inBody;
    if (!inBody && /;\s*$/.test(line)) {
      statements.push(current.trim().replace(/;$/, ''));
      current = '';
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements.filter(Boolean);
}
