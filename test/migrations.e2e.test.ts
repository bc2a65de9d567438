/**
 * The publishing protocol owns its migrations (lib/ingest/migrations,
 * applied to every subgraph as `publishing/…`): the five identical
 * `*_ingest.sql` files each subgraph used to carry are gone for new installs,
 * and a database that applied them upgrades to exactly the schema a fresh
 * install has, keeping what it held, on both backends.
 *
 * The previous release's migrations are rebuilt as that release had them,
 * checked against its own checksums: each subgraph's files, and the one
 * staging file the three identical copies were (and identity's and labs'
 * began with): its five lines of comment, then the text the protocol's
 * migration carries from its first statement on.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { migrateSubgraph, migrationsDirectory, PUBLISHING_MIGRATIONS } from '../lib/runtime/subgraph.js';
import { BACKENDS, type Backend } from './support/harness.js';

/** The previous release's staging file: its comment, then the statements the protocol's migration keeps unchanged. */
const STAGING_COMMENT = `-- Publishing records (FHIR writes, HL7 v2): this owner's side of the
-- all-or-nothing protocol (lib/ingest/participant.ts). Staged entries wait
-- here, invisible to every read, until the gateway delivers the decision that
-- identity recorded; reservations keep two transactions from staging the same
-- business identifier or updating the same record at once.
`;
const PUBLISHING = readFileSync(path.join(PUBLISHING_MIGRATIONS, '001_publishing.sql'), 'utf8');
const STAGING = STAGING_COMMENT + PUBLISHING.slice(PUBLISHING.indexOf('CREATE TABLE'));

/** The previous release's migrations: file names, and the staging file each carried (with the sha256 that release had). */
const PREVIOUS_RELEASE: Record<SubgraphName, { files: string[]; staging: { file: string; sha256: string } }> = {
  identity: {
    files: ['001_initial.sql', '002_consent.sql', '003_audit.sql', '004_consent_accountability.sql', '004_patient_search.sql', '005_registry_administration.sql',
      '006_demo_dataset.sql', '006_ingest.sql', '007_audit_append.sql'],
    staging: { file: '006_ingest.sql', sha256: '9cd770e025b9b21a6ab8427bfd808439e4cc334f996defd3c0c05411524b542b' },
  },
  encounters: {
    files: ['001_initial.sql', '002_referral_workflow.sql', '003_discharge.sql', '004_incoming_referrals.sql', '005_ingest.sql'],
    staging: { file: '005_ingest.sql', sha256: '80a2de335599f3210dd11b3bfab715b0a186fd6b947eb60339a8aced27946682' },
  },
  labs: {
    files: ['001_initial.sql', '002_result_recognition.sql', '003_ingest.sql', '003_recognition_administration.sql'],
    staging: { file: '003_ingest.sql', sha256: 'baf4cec8fcffae386de72cc3d22587234539145b9e393675361d646c5e6df4f9' },
  },
  imaging: {
    files: ['001_initial.sql', '002_result_recognition.sql', '003_ingest.sql', '003_recognition_administration.sql'],
    staging: { file: '003_ingest.sql', sha256: '80a2de335599f3210dd11b3bfab715b0a186fd6b947eb60339a8aced27946682' },
  },
  'public-health': {
    files: ['001_initial.sql', '002_follow_up_rules.sql', '003_immunization_schedule.sql', '004_discharge_follow_up.sql', '005_open_tasks_paging.sql',
      '006_discharge_tasks_per_stay.sql', '006_ingest.sql'],
    staging: { file: '006_ingest.sql', sha256: '80a2de335599f3210dd11b3bfab715b0a186fd6b947eb60339a8aced27946682' },
  },
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Writes the previous release's migrations of a subgraph into `directory`:
 * the files it had, as they were. The staging file was the fixture, followed
 * (identity, labs) by what that file keeps today.
 */
function previousRelease(name: SubgraphName, directory: string): void {
  const release = PREVIOUS_RELEASE[name];
  for (const file of release.files) {
    if (file === release.staging.file) {
      let current = '';
      try {
        current = readFileSync(path.join(migrationsDirectory(name), file), 'utf8');
      } catch {
        current = ''; // encounters, imaging, public-health: the file was the staging tables alone
      }
      const text = STAGING + current;
      expect(sha256(text), `${name}/${file} as the previous release had it`).toBe(release.staging.sha256);
      writeFileSync(path.join(directory, file), text);
    } else {
      cpSync(path.join(migrationsDirectory(name), file), path.join(directory, file));
    }
  }
}

/** Tables and columns, indexes, constraints, functions and triggers of the database's schema. */
async function schemaOf(db: Database): Promise<string[]> {
  const rows = await db.query<{ item: string }>(`
    SELECT 'column ' || table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS item
      FROM information_schema.columns WHERE table_schema = current_schema()
    UNION ALL SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
    UNION ALL SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
    UNION ALL SELECT 'function ' || proname || ': ' || md5(pg_get_functiondef(oid)) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
    UNION ALL SELECT 'trigger ' || tgname || ': ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
    ORDER BY 1`);
  return rows.map((r) => r.item);
}

/** Empty databases on the backend, dropped at the end. */
function databases(backend: Backend) {
  const made: string[] = [];
  return {
    async open(): Promise<Database> {
      if (backend === 'pglite') return openDatabase('memory://');
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      const name = `fpr_migrate_${randomBytes(5).toString('hex')}`;
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

describe.each(BACKENDS)('publishing migrations on %s', (backend) => {
  const store = databases(backend);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-migrations-'));
  afterAll(async () => {
    await store.drop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it.each(SUBGRAPH_NAMES)('%s: a fresh install has the staging tables from the protocol\'s migrations, not from a file of its own', async (name) => {
    const fresh = await store.open();
    try {
      await migrateSubgraph(fresh, name);
      const versions = (await fresh.query<{ version: string }>('SELECT version FROM schema_migrations')).map((r) => r.version);
      expect(versions).toContain('publishing/001_publishing.sql');
      // The copies are gone for new installs: only identity's and labs' files of that name remain, without the staging tables.
      for (const version of versions.filter((v) => !v.startsWith('publishing/'))) {
        expect(readFileSync(path.join(migrationsDirectory(name), version), 'utf8')).not.toMatch(/CREATE TABLE IF NOT EXISTS (ingest_transaction|ingest_staged|ingest_reservation|record_identifier)\b/);
      }
      const tables = (await fresh.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema()")).map((r) => r.t);
      expect(tables).toEqual(expect.arrayContaining(['ingest_transaction', 'ingest_staged', 'ingest_reservation', 'record_identifier']));
    } finally {
      await fresh.close();
    }
  });

  it.each(SUBGRAPH_NAMES)('%s: a database of the previous release upgrades to the fresh install\'s schema, keeping its staged entries and identifiers', async (name) => {
    const directory = mkdtempSync(path.join(scratch, `${name}-`));
    previousRelease(name, directory);
    const [old, fresh] = [await store.open(), await store.open()];
    try {
      expect(await migrate(old, directory)).toEqual(PREVIOUS_RELEASE[name].files);
      // What a running previous release holds: a staged transaction and a published record's identifier.
      const transaction = randomUUID();
      const record = randomUUID();
      await old.query("INSERT INTO ingest_transaction (id, state, organization_id) VALUES ($1, 'staged', 'org-provincial')", [transaction]);
      await old.query("INSERT INTO ingest_staged (transaction_id, seq, entry) VALUES ($1, 0, '{\"kind\":\"encounter\"}')", [transaction]);
      await old.query("INSERT INTO record_identifier (resource_type, organization_id, system, value, record_id) VALUES ('Encounter', 'org-provincial', 'urn:x', 'v1', $1)", [record]);

      const applied = await migrateSubgraph(old, name);
      expect(applied).toContain('publishing/001_publishing.sql');
      await migrateSubgraph(fresh, name);
      expect(await schemaOf(old)).toEqual(await schemaOf(fresh));

      expect(await old.query('SELECT state FROM ingest_transaction WHERE id = $1', [transaction])).toEqual([{ state: 'staged' }]);
      expect((await old.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_staged WHERE transaction_id = $1', [transaction]))[0]!.n).toBe(1);
      expect(await old.query("SELECT record_id FROM record_identifier WHERE value = 'v1'")).toEqual([{ record_id: record }]);
      // A second run changes nothing.
      expect(await migrateSubgraph(old, name)).toEqual([]);
    } finally {
      await Promise.all([old.close(), fresh.close()]);
    }
  });

  it('the comparison sees a difference (the check can fail)', async () => {
    const [a, b] = [await store.open(), await store.open()];
    try {
      await migrateSubgraph(a, 'imaging');
      await migrateSubgraph(b, 'imaging');
      await b.query('CREATE INDEX record_identifier_value ON record_identifier (value)');
      expect(await schemaOf(a)).not.toEqual(await schemaOf(b));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
