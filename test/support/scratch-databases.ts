/**
 * Scratch databases for tests that migrate or convert a schema themselves
 * (test/migrations.e2e, test/observation-partitions.e2e): an empty database on
 * the backend, and a description of a schema to compare two databases by.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../lib/runtime/db.js';
import type { Backend } from './harness.js';

/** Empty databases on the backend (PGlite in memory, or fresh PostgreSQL databases named `<prefix>_<random>`), dropped by drop(). */
export function scratchDatabases(backend: Backend, prefix: string) {
  const made: string[] = [];
  return {
    async open(): Promise<Database> {
      if (backend === 'pglite') return openDatabase('memory://');
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      const name = `${prefix}_${randomBytes(5).toString('hex')}`;
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      made.push(name);
      const url = new URL(process.env.TEST_DATABASE_URL!);
      url.pathname = `/${name}`;
      return openDatabase(url.toString());
    },
    async drop(): Promise<void> {
      if (!made.length) return;
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      for (const name of made) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/**
 * Tables and columns, indexes, constraints and triggers of the database's schema, and with `functions` each
 * function's definition digested: two databases with the same list have the same schema.
 */
export async function schemaOf(db: Database, options: { functions?: boolean } = {}): Promise<string[]> {
  const rows = await db.query<{ item: string }>(`
    SELECT 'column ' || table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS item
      FROM information_schema.columns WHERE table_schema = current_schema()
    UNION ALL SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
    UNION ALL SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
    ${options.functions ? "UNION ALL SELECT 'function ' || proname || ': ' || md5(pg_get_functiondef(oid)) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace" : ''}
    UNION ALL SELECT 'trigger ' || tgname || ': ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
    ORDER BY 1`);
  return rows.map((r) => r.item);
}
