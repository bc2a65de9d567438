/**
 * Last updated (docs/last-updated.md), kept by every owner's database: each
 * record table of the catalogue (lib/records/record-types.ts) has the
 * catalogue's column (`timestamptz NOT NULL DEFAULT now()`), an index with the
 * patient, and a trigger that moves it on every update that changes the row;
 * the tables of a record's parts have a trigger that moves the record's time.
 *
 * The two trigger functions are a migration every subgraph applies
 * (lib/records/migrations, recorded as `records/…`); the column, index and
 * triggers of each table are derived here from the catalogue and made by
 * migrateSubgraph (lib/runtime/subgraph.ts) after the subgraph's own
 * migrations, each only where it is missing: a new record type gets them by
 * its catalogue row, and a database that made them with the previous
 * release's `020_last_updated.sql` is left as it is (those files made exactly
 * these, to the name).
 */
import { MIGRATION_LOCK_SQL, type Database } from '../runtime/db.js';
import type { SubgraphName } from '../runtime/subgraph-names.js';
import { ALL_RECORD_TYPES, LAST_UPDATED_COLUMN, lastUpdatedColumnOf } from './record-types.js';

/** What one record table needs for its last-updated time. */
export interface LastUpdatedTable {
  table: string;
  column: string;
  /** The column the rows a database held before it had the column take their time from (else the upgrade's time). */
  from?: string;
  /** Its index: with the patient, so a patient's connection narrowed by `updatedSince` reads the index alone. None for a record held inside another (read through its parent). */
  index?: { name: string; columns: string[] };
  /** Its BEFORE UPDATE trigger (record_last_updated). */
  trigger: string;
}

/** A trigger on a part's table (an encounter's participants) moving its record's time (record_child_touches_parent). */
export interface PartTrigger {
  name: string;
  table: string;
  /** The record's table, and the part's column naming the record. */
  parent: string;
  column: string;
}

/** The last-updated schema of an owner's tables, as its catalogue rows say it. */
export function lastUpdatedSchema(owner: SubgraphName): { tables: LastUpdatedTable[]; parts: PartTrigger[] } {
  const rows = ALL_RECORD_TYPES.filter((row) => row.owner === owner);
  const tables = rows.map((row): LastUpdatedTable => {
    const column = lastUpdatedColumnOf(row);
    // The trigger functions (lib/records/migrations) name the column: another one would be written and never moved.
    if (column !== LAST_UPDATED_COLUMN) throw new Error(`${row.graphqlType}: the last-updated triggers keep ${LAST_UPDATED_COLUMN}, not ${column}`);
    const patient = row.patientColumn ?? 'patient_id';
    // The Patient record is its own patient: its index is on the time alone.
    const index = row.partOf ? undefined : patient === 'id'
      ? { name: `${row.table}_last_updated`, columns: [column] }
      : { name: `${row.table}_patient_last_updated`, columns: [patient, column] };
    return { table: row.table, column, ...(row.lastUpdatedFrom ? { from: row.lastUpdatedFrom } : {}), ...(index ? { index } : {}), trigger: `${row.table}_last_updated` };
  });
  const parts = rows.flatMap((row) => (row.parts ?? []).map((part) => ({ name: `${part.table}_touches_${row.table}`, table: part.table, parent: row.table, column: part.column })));
  return { tables, parts };
}

/**
 * Makes what the owner's tables miss of their last-updated schema, in one
 * transaction under the migrations' advisory lock (replicas starting
 * together). Returns the statements it ran: none on a database that has it
 * all. An index a bulk load deferred (`npm run seed:large` keeps it in
 * seed_deferred_ddl until the load is done) is left to that load to build.
 */
export async function keepLastUpdated(database: Database, owner: SubgraphName): Promise<string[]> {
  const { tables, parts } = lastUpdatedSchema(owner);
  const names = tables.map((t) => t.table);
  const ran: string[] = [];
  await database.transaction(async (tx) => {
    await tx.query(MIGRATION_LOCK_SQL);
    const withColumn = new Set((await tx.query<{ table_name: string; column_name: string }>(
      'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1)', [names]))
      .map((c) => `${c.table_name}.${c.column_name}`));
    const indexes = new Set((await tx.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()')).map((i) => i.indexname));
    const triggers = new Set((await tx.query<{ name: string }>(
      `SELECT c.relname || '.' || t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal`)).map((t) => t.name));
    const [deferredTable] = await tx.query<{ present: boolean }>("SELECT to_regclass('seed_deferred_ddl') IS NOT NULL AS present");
    const deferred = deferredTable?.present ? (await tx.query<{ statement: string }>('SELECT statement FROM seed_deferred_ddl')).map((d) => d.statement) : [];
    const run = async (statement: string) => {
      await tx.query(statement);
      ran.push(statement);
    };
    for (const t of tables) {
      if (!withColumn.has(`${t.table}.${t.column}`)) {
        await run(`ALTER TABLE ${t.table} ADD COLUMN IF NOT EXISTS ${t.column} timestamptz NOT NULL DEFAULT now()`);
        // Before the trigger exists: setting the time is not a change of the record.
        if (t.from) await run(`UPDATE ${t.table} SET ${t.column} = ${t.from}`);
      }
      if (t.index && !indexes.has(t.index.name) && !deferred.some((d) => d.startsWith(`CREATE INDEX ${t.index!.name} ON `))) {
        await run(`CREATE INDEX IF NOT EXISTS ${t.index.name} ON ${t.table} (${t.index.columns.join(', ')})`);
      }
      if (!triggers.has(`${t.table}.${t.trigger}`)) {
        await run(`CREATE TRIGGER ${t.trigger} BEFORE UPDATE ON ${t.table} FOR EACH ROW EXECUTE FUNCTION record_last_updated()`);
      }
    }
    for (const p of parts) {
      if (!triggers.has(`${p.table}.${p.name}`)) {
        await run(`CREATE TRIGGER ${p.name} AFTER INSERT OR UPDATE OR DELETE ON ${p.table} FOR EACH ROW EXECUTE FUNCTION record_child_touches_parent('${p.parent}', '${p.column}')`);
      }
    }
  });
  return ran;
}
