/**
 * Named prepared statements on PostgreSQL (lib/runtime/db.ts): a data statement with
 * parameters is prepared once per connection; a schema change under a
 * running service (a migration adding a column) does not break its prepared
 * `SELECT *`; statements that cannot be prepared still run. Needs the
 * PostgreSQL server of TEST_DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../runtime/db.js';

const adminUrl = process.env.TEST_DATABASE_URL;

describe.runIf(adminUrl)('prepared statements on PostgreSQL', () => {
  const name = `fpr_test_prepared_${randomBytes(4).toString('hex')}`;
  let db: Database;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(adminUrl!);
    url.pathname = `/${name}`;
    // One connection, so every statement below runs on the same session.
    process.env.DATABASE_POOL_SIZE = '1';
    db = await openDatabase(url.toString());
    delete process.env.DATABASE_POOL_SIZE;
    await db.query('CREATE TABLE item (id int PRIMARY KEY, label text); INSERT INTO item VALUES (1, \'one\'), (2, \'two\')');
  });
  afterAll(async () => {
    await db?.close();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  const prepared = async () => (await db.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements')).map((r) => r.statement);

  it('prepares a statement with parameters once, and runs it again by name', async () => {
    const sql = 'SELECT * FROM item WHERE id = ANY($1::int[]) ORDER BY id';
    expect(await db.query(sql, [[1, 2]])).toEqual([{ id: 1, label: 'one' }, { id: 2, label: 'two' }]);
    expect(await db.query(sql, [[2]])).toEqual([{ id: 2, label: 'two' }]);
    expect((await prepared()).filter((statement) => statement === sql)).toHaveLength(1);
  });

  it('keeps answering when a migration changes the table under a prepared SELECT *', async () => {
    const sql = 'SELECT * FROM item WHERE id = $1';
    expect(await db.query(sql, [1])).toEqual([{ id: 1, label: 'one' }]);
    await db.query('ALTER TABLE item ADD COLUMN note text');
    expect(await db.query(sql, [1])).toEqual([{ id: 1, label: 'one', note: null }]);
    expect(await db.query(sql, [2])).toEqual([{ id: 2, label: 'two', note: null }]);
  });

  it('runs statements without parameters, and writes, as before', async () => {
    await db.query('INSERT INTO item (id, label) VALUES ($1, $2)', [3, 'three']);
    await db.transaction(async (tx) => {
      await tx.query('UPDATE item SET label = $1 WHERE id = $2', ['THREE', 3]);
    });
    expect(await db.query('SELECT label FROM item WHERE id = $1', [3])).toEqual([{ label: 'THREE' }]);
    expect((await prepared()).some((statement) => statement.startsWith('UPDATE item SET label'))).toBe(true);
  });
});
