/**
 * Migrations every subgraph applies besides its own, on both backends:
 *
 * - The publishing protocol owns its migrations (lib/ingest/migrations,
 *   applied to every subgraph as `publishing/…`): the five identical
 *   `*_ingest.sql` files each subgraph used to carry are gone for new
 *   installs, and a database that applied them upgrades to exactly the schema
 *   a fresh install has, keeping what it held.
 * - The record tables' last-updated functions are one migration
 *   (lib/records/migrations, `records/…`) and each table's column, index and
 *   triggers are derived from the catalogue (lib/records/last-updated.ts):
 *   the five `020_last_updated.sql` files of release 718a7a5 are gone for new
 *   installs, and a database of that release upgrades to exactly the schema a
 *   fresh install has, keeping its rows and their last-updated times.
 *
 * The previous releases' migrations are rebuilt as those releases had them,
 * checked against their own checksums: for the publishing release, each
 * subgraph's files, and the one staging file the three identical copies were
 * (and identity's and labs' began with): its five lines of comment, then the
 * text the protocol's migration carries from its first statement on; for
 * release 718a7a5, each subgraph's files as they are, and its
 * 020_last_updated.sql: its comment, the functions the records migration
 * carries to the byte, and each table's statements as the catalogue derives
 * them today, in that file's spelling.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, type Database } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { lastUpdatedSchema, type LastUpdatedTable } from '../lib/records/last-updated.js';
import { migrateSubgraph, migrationsDirectory, PUBLISHING_MIGRATIONS, RECORDS_MIGRATIONS } from '../lib/runtime/subgraph.js';
import { scratchDatabases, schemaOf } from './support/scratch-databases.js';
import { BACKENDS } from './support/harness.js';

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
/** The schema with its functions: an upgrade must end with the same trigger functions as a fresh install. */
const schemaWithFunctions = (db: Database) => schemaOf(db, { functions: true });

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

/** The records migration: the two functions every 020_last_updated.sql carried (the second, with its comment, where it had parts). */
const RECORDS = readFileSync(path.join(RECORDS_MIGRATIONS, '001_last_updated.sql'), 'utf8');
const PARTS_FUNCTION = RECORDS.slice(RECORDS.indexOf('-- A row held inside a record'));
const RECORD_FUNCTION = RECORDS.slice(RECORDS.indexOf('CREATE OR REPLACE FUNCTION record_last_updated'), RECORDS.indexOf(PARTS_FUNCTION) - 1);

/** The comment every 020_last_updated.sql began with, but for what it said of the rows already there. */
const LAST_UPDATED_INTRO = `-- Last updated: when each record last changed (issue 21's \`_since\`, FHIR
-- meta.lastUpdated and \`_lastUpdated\`, GraphQL \`lastUpdated\` and the
-- connections' \`updatedSince\`). The column is the catalogue's
-- (lib/records/record-types.ts, LAST_UPDATED_COLUMN); docs/last-updated.md.
--
-- Set by the database, so every write path keeps it, whatever code runs it:
-- an insert takes the default (the transaction's time, now()); an update that
-- changes anything takes now() from the trigger below, and one that changes
-- nothing (a republish of the same record, as sent before) keeps the old
-- time. A writer that sets the column itself (a child row's trigger bumping
-- its parent) is left alone.
--
`;
const EXISTING_ROWS = `-- Rows that exist when this migration runs get the migration's time (the
-- time of the transaction that applies it): these tables kept no time of
-- their own writes.
`;
const OVER_INCLUSIVE = `-- A change is only ever later than it is, so an export \`_since\` a time
-- before the upgrade returns them (over-inclusive, never a record missed).
`;

/** Release 718a7a5's 020_last_updated.sql of each subgraph: its sha256, and what its text had besides the derived statements. */
const RELEASE_718A7A5: Record<SubgraphName, { sha256: string; existingRows?: string; order?: string[]; before?: Record<string, string>; partsComment?: string }> = {
  identity: {
    sha256: 'cf4f537153e1c5c2dfe2dd0dbe9d73b064534044e56fa8bbcfcb1b9d099cdbae',
    existingRows: `-- Rows that exist when this migration runs get their creation time where the table kept one (patient,
-- consent_directive: created_at), else the migration's time (patient_identifier).
`,
    order: ['patient', 'consent_directive', 'patient_identifier'],
    partsComment: `-- The Patient resource holds the patient's identifiers and what the
-- registering organisations sent: a change to either moves the patient's time.

`,
  },
  encounters: {
    sha256: '58cb86fc739467c30bf2ad3e56bb4882efeb5585a0547fb4a7aaa7510edbb02f',
    partsComment: "-- An encounter's participants are elements of its Encounter resource.\n",
  },
  labs: { sha256: '852524aff439fc4f22d8dc752561199746df19419a0df83f54b7c8c9d544ab5a' },
  imaging: {
    sha256: '42c746d94e83842df1e2c8ac39833d4fbb207c94211094e3cb86917475190fa1',
    before: {
      imaging_report: `-- A radiology report is read through its study (ImagingStudy.report, and the
-- DiagnosticReport the export builds from it): it has its own time, and a
-- change to it moves its study's, so \`updatedSince\` on the studies finds it.
`,
    },
  },
  'public-health': { sha256: '1905bab6ec79a81f835ff48ed83fb12cb399d0319151677895d9e2d32a7c71d7' },
};

/** A table's statements as the 020 files spelt them. */
const tableStatements = (t: LastUpdatedTable) => `ALTER TABLE ${t.table} ADD COLUMN IF NOT EXISTS ${t.column} timestamptz NOT NULL DEFAULT now();
${t.from ? `UPDATE ${t.table} SET ${t.column} = ${t.from};\n` : ''}${t.index ? `CREATE INDEX IF NOT EXISTS ${t.index.name} ON ${t.table} (${t.index.columns.join(', ')});\n` : ''}CREATE TRIGGER ${t.trigger} BEFORE UPDATE ON ${t.table}
  FOR EACH ROW EXECUTE FUNCTION record_last_updated();
`;

/**
 * Writes release 718a7a5's migrations of a subgraph into `directory`: its own
 * files as they are (none has changed since), and its 020_last_updated.sql
 * rebuilt, checked against that release's sha256.
 */
function release718a7a5(name: SubgraphName, directory: string): string[] {
  const release = RELEASE_718A7A5[name];
  const { tables, parts } = lastUpdatedSchema(name);
  const ordered = release.order ? release.order.map((table) => tables.find((t) => t.table === table)!) : tables;
  const text = LAST_UPDATED_INTRO + (release.existingRows ?? EXISTING_ROWS) + OVER_INCLUSIVE + RECORD_FUNCTION + '\n'
    + ordered.map((t) => (release.before?.[t.table] ?? '') + tableStatements(t)).join('\n')
    + (parts.length ? '\n' + (release.partsComment ?? '') + PARTS_FUNCTION + parts.map((p) => `CREATE TRIGGER ${p.name} AFTER INSERT OR UPDATE OR DELETE ON ${p.table}
  FOR EACH ROW EXECUTE FUNCTION record_child_touches_parent('${p.parent}', '${p.column}');
`).join('') : '');
  expect(sha256(text), `${name}/020_last_updated.sql as release 718a7a5 had it`).toBe(release.sha256);
  const files = readdirSync(migrationsDirectory(name)).filter((f) => f.endsWith('.sql'));
  for (const file of files) cpSync(path.join(migrationsDirectory(name), file), path.join(directory, file));
  writeFileSync(path.join(directory, '020_last_updated.sql'), text);
  return [...files, '020_last_updated.sql'].sort();
}



describe.each(BACKENDS)('publishing migrations on %s', (backend) => {
  const store = scratchDatabases(backend, 'fpr_migrate');
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
      for (const version of versions.filter((v) => !v.includes('/'))) { // a set of its own: publishing/…, records/…
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
      expect(await schemaWithFunctions(old)).toEqual(await schemaWithFunctions(fresh));

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
      expect(await schemaWithFunctions(a)).not.toEqual(await schemaWithFunctions(b));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

/** What the upgrade must keep: every row of the record tables and of their parts, last-updated times included. */
async function recordRows(db: Database, name: SubgraphName): Promise<Record<string, string>> {
  const { tables, parts } = lastUpdatedSchema(name);
  const rows: Record<string, string> = {};
  for (const table of [...tables.map((t) => t.table), ...parts.map((p) => p.table)]) {
    const [digest] = await db.query<{ rows: number; digest: string }>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest FROM ${table} t`);
    rows[table] = `${digest!.rows} ${digest!.digest}`;
  }
  return rows;
}

describe.each(BACKENDS)('the record tables\' last-updated schema on %s', (backend) => {
  const store = scratchDatabases(backend, 'fpr_migrate');
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-migrations-lu-'));
  afterAll(async () => {
    await store.drop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it.each(SUBGRAPH_NAMES)('%s: a fresh install gets it from the records migration and the catalogue, not from a file of its own', async (name) => {
    expect(readdirSync(migrationsDirectory(name)).filter((f) => /last_updated/.test(f))).toEqual([]);
    const fresh = await store.open();
    try {
      const applied = await migrateSubgraph(fresh, name);
      expect(applied).toContain('records/001_last_updated.sql');
      const { tables, parts } = lastUpdatedSchema(name);
      // Every table's trigger, and every part's, made by the derived step (and listed by it).
      for (const t of tables) expect(applied).toContain(`CREATE TRIGGER ${t.trigger} BEFORE UPDATE ON ${t.table} FOR EACH ROW EXECUTE FUNCTION record_last_updated()`);
      for (const p of parts) expect(applied.some((s) => s.startsWith(`CREATE TRIGGER ${p.name} AFTER INSERT OR UPDATE OR DELETE ON ${p.table} `))).toBe(true);
      expect(await migrateSubgraph(fresh, name)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it.each(SUBGRAPH_NAMES)('%s: a database of release 718a7a5 upgrades to the fresh install\'s schema, keeping its rows and their last-updated times', async (name) => {
    const directory = mkdtempSync(path.join(scratch, `${name}-`));
    const files = release718a7a5(name, directory);
    const [old, fresh] = [await store.open(), await store.open()];
    try {
      expect(await migrate(old, PUBLISHING_MIGRATIONS, 'publishing/')).toEqual(['publishing/001_publishing.sql']);
      expect(await migrate(old, directory)).toEqual(files);
      // What a running release holds: records written then, one of them changed since (identity: a patient, and an
      // identifier added later, which moved the patient's time; labs: a result corrected at a time of its own).
      if (name === 'identity') {
        const patient = randomUUID();
        await old.query(`INSERT INTO patient (id, family, given, gender, created_at, last_updated) VALUES ($1, 'Kept', '{Time}', 'female', '2019-05-06T07:08:09Z', '2020-01-02T03:04:05Z')`, [patient]);
        await old.query(`INSERT INTO patient_identifier (patient_id, system, value, type) VALUES ($1, 'urn:x', $2, 'MR')`, [patient, randomUUID()]);
      }
      if (name === 'labs') {
        await old.query(`INSERT INTO observation (id, patient_id, organization_id, code, display, value_quantity, unit, effective, status, last_updated)
          VALUES ($1, $2, 'org-x', '2345-7', 'Glucose', 5.1, 'mmol/L', '2018-01-01T00:00:00Z', 'final', '2021-02-03T04:05:06Z')`, [randomUUID(), randomUUID()]);
      }
      const held = await recordRows(old, name);

      const applied = await migrateSubgraph(old, name);
      // The functions again (CREATE OR REPLACE, the same text), and nothing derived: that release made all of it.
      expect(applied).toEqual(['records/001_last_updated.sql']);
      await migrateSubgraph(fresh, name);
      expect(await schemaWithFunctions(old)).toEqual(await schemaWithFunctions(fresh));
      expect(await recordRows(old, name)).toEqual(held);
      if (name === 'labs') expect((await old.query<{ t: Date }>('SELECT last_updated AS t FROM observation'))[0]!.t.toISOString()).toBe('2021-02-03T04:05:06.000Z');
      expect(await migrateSubgraph(old, name)).toEqual([]);
    } finally {
      await Promise.all([old.close(), fresh.close()]);
    }
  });

  it('makes a trigger or an index that is missing, and leaves an index a bulk load deferred to that load', async () => {
    const db = await store.open();
    try {
      await migrateSubgraph(db, 'labs');
      await db.query('DROP TRIGGER observation_last_updated ON observation');
      await db.query('DROP INDEX observation_patient_last_updated');
      expect(await migrateSubgraph(db, 'labs')).toEqual([
        'CREATE INDEX IF NOT EXISTS observation_patient_last_updated ON observation (patient_id, last_updated)',
        'CREATE TRIGGER observation_last_updated BEFORE UPDATE ON observation FOR EACH ROW EXECUTE FUNCTION record_last_updated()',
      ]);
      // npm run seed:large keeps the indexes it dropped in seed_deferred_ddl (scripts/seed-parallel.ts) and builds them after the load.
      const [index] = await db.query<{ definition: string }>("SELECT pg_get_indexdef('observation_patient_last_updated'::regclass) AS definition");
      await db.query('CREATE TABLE seed_deferred_ddl (ordinal int PRIMARY KEY, phase int NOT NULL, statement text NOT NULL)');
      await db.query('INSERT INTO seed_deferred_ddl VALUES (0, 1, $1)', [index!.definition]);
      await db.query('DROP INDEX observation_patient_last_updated');
      expect(await migrateSubgraph(db, 'labs')).toEqual([]);
      await db.query(index!.definition);
      expect(await db.query("SELECT to_regclass('observation_patient_last_updated') IS NOT NULL AS built")).toEqual([{ built: true }]);
    } finally {
      await db.close();
    }
  });
});
