/**
 * The audit trail at scale (migration 030): monthly partitions and shard
 * chains, on both backends.
 *
 * - An upgrade with a real trail: the product runs on the previous schema
 *   (030 held back), the gateway writes events for real reads and a consent
 *   change; then 030 is applied by the next start: every event is kept as it
 *   was (same rows, same hashes), the trail verifies, new reads append to
 *   shard chains anchored on the old chain's last hash, and it still verifies.
 * - A month crossed: events timed at the last instant of one month and the
 *   first of the next land in two partitions (made on append when missing)
 *   and the trail verifies across them.
 * - Tampering: an edited, deleted or inserted event in a shard, an event
 *   removed from a shard's end or from the old chain's end: audit:verify
 *   names the first broken link.
 * - On PostgreSQL, two identity processes on one database append at once
 *   through their internal API, as the gateway does: nothing lost or
 *   duplicated, the trail verifies; and two uncommitted appends hold two
 *   shards at the same time (no lock for the whole alliance).
 */
import { mkdtempSync, rmSync, cpSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { migrationsDirectory, PUBLISHING_MIGRATIONS, startSubgraph, type RunningSubgraph } from '../lib/runtime/subgraph.js';
import { generateDevKeys, keyringOf, type DevKeys } from '../lib/trust/keys.js';
import { mintDevToken } from '../lib/trust/dev-token.js';
import { DEFAULT_SEED, TEST_ANCHOR, generatePatient } from '../lib/synthetic/generator.js';
import { startStack, type Stack } from '../scripts/stack.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import { AuditBatcher } from '../gateway/src/audit.js';
import { appendRequestEvents, verifyAuditChain, type AuditEventRow } from '../subgraphs/identity/src/audit.js';
import { BACKENDS, postGraphQL, type Backend } from './support/harness.js';
import { internalSigners, staffActor } from './support/internal.js';

const PATIENTS = 12;
const MIGRATION = '030_audit_partitions.sql';
const ids = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i).patient.id);
const READ = 'query($ids: [ID!]!) { patients(ids: $ids) { id name { text } } }';

/** Five stores that outlive a stack: PGlite directories, or PostgreSQL databases. */
async function persistentStores(backend: Backend): Promise<{ urls: Record<SubgraphName, string>; drop(): Promise<void> }> {
  if (backend === 'pglite') {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fpr-audit-partitions-'));
    return {
      urls: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, path.join(root, name)])) as Record<SubgraphName, string>,
      drop: async () => rmSync(root, { recursive: true, force: true }),
    };
  }
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  const prefix = `fpr_auditp_${randomBytes(4).toString('hex')}`;
  const names = SUBGRAPH_NAMES.map((name) => `${prefix}_${name.replace('-', '_')}`);
  for (const name of names) await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    urls: Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => {
      const url = new URL(process.env.TEST_DATABASE_URL!);
      url.pathname = `/${names[i]}`;
      return [name, url.toString()];
    })) as Record<SubgraphName, string>,
    drop: async () => {
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await client.connect();
      for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Identity's store at the previous schema: every migration but 030, which is marked done so the product does not apply it yet. */
async function previousSchema(url: string): Promise<void> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'fpr-identity-previous-'));
  for (const file of readdirSync(migrationsDirectory('identity')).filter((f) => f.endsWith('.sql') && !f.startsWith('030_'))) {
    cpSync(path.join(migrationsDirectory('identity'), file), path.join(directory, file));
  }
  const db = await openDatabase(url);
  try {
    await migrate(db, PUBLISHING_MIGRATIONS, 'publishing/');
    await migrate(db, directory);
    await db.query('INSERT INTO schema_migrations (version) VALUES ($1)', [MIGRATION]);
  } finally {
    await db.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

const startOn = (urls: Record<SubgraphName, string>, keys: DevKeys) => startStack({
  databaseUrls: urls, keys, seedPatients: PATIENTS, seed: DEFAULT_SEED, anchor: TEST_ANCHOR, production: true, corsAllowedOrigins: [], ingestRecoveryIntervalMs: 0,
});

type Stored = AuditEventRow & { shard: number | null; partition: string };
const trail = (db: Database) => db.query<Stored>('SELECT *, tableoid::regclass::text AS partition FROM audit_event ORDER BY seq');
/** The first day (UTC) of the month `months` after this one. */
const monthStart = (months: number) => { const now = new Date(); return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + months, 1)); };
const partitionOf = (day: Date) => `audit_event_${day.getUTCFullYear()}_${String(day.getUTCMonth() + 1).padStart(2, '0')}`;

describe.each(BACKENDS)('the partitioned audit trail on %s', (backend) => {
  let stores: Awaited<ReturnType<typeof persistentStores>>;
  let keys: DevKeys;
  let stack: Stack;
  let before: Stored[];
  const token = (sub: string) => mintDevToken(keys.issuerPrivate, { sub, role: 'clinician', org: 'org-provincial', purpose_of_use: 'ETREAT', break_glass_reason: 'audit partition test' });
  const read = async (sub: string, patientIds: string[]) => {
    const response = await postGraphQL<any>(stack.gateway.url, { authorization: `Bearer ${await token(sub)}` }, { query: READ, variables: { ids: patientIds } });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response;
  };

  beforeAll(async () => {
    keys = await generateDevKeys('test-');
    stores = await persistentStores(backend);
    await previousSchema(stores.urls.identity);
    // The product on the previous schema: real reads through the gateway, and a consent change, leave the trail.
    stack = await startOn(stores.urls, keys);
    expect(await stack.databases.identity.query("SELECT to_regclass('audit_chain_head') AS head")).toEqual([{ head: null }]);
    for (let i = 0; i < 4; i++) await read(`dr-before-${i}`, ids.slice(i * 3, i * 3 + 3));
    const patient = await mintDevToken(keys.issuerPrivate, { sub: 'patient-0', role: 'patient', patient: ids[0] });
    const granted = await postGraphQL<any>(stack.gateway.url, { authorization: `Bearer ${patient}` }, {
      query: 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }',
      variables: { input: { patientId: ids[0], decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: 'org-county-north', categories: ['LABS'] } },
    });
    expect(granted.errors, JSON.stringify(granted.errors)).toBeUndefined();
    before = await trail(stack.databases.identity);
    expect(before.length).toBeGreaterThanOrEqual(13);
    expect((await verifyAuditChain(stack.databases.identity)).firstBroken).toBeNull();
    await stack.close();
    // The upgrade: the next start applies 030 to the trail the product wrote.
    const db = await openDatabase(stores.urls.identity);
    await db.query('DELETE FROM schema_migrations WHERE version = $1', [MIGRATION]);
    await db.close();
    stack = await startOn(stores.urls, keys);
  }, 600_000);
  afterAll(async () => {
    await stack?.close();
    await stores?.drop();
  });

  it('keeps every event of the old trail as it was, and appends after it in shard chains anchored on its last hash', async () => {
    const db = stack.databases.identity;
    const after = await trail(db);
    const fields = (e: Stored) => ({ ...e, shard: undefined, partition: undefined });
    expect(after.slice(0, before.length).map(fields)).toEqual(before.map(fields));
    expect(after.slice(0, before.length).every((e) => e.shard === null && e.partition === 'audit_event_legacy')).toBe(true);
    const intact = await verifyAuditChain(db);
    expect(intact).toMatchObject({ firstBroken: null, events: before.length, chains: { legacy: before.length } });

    // New reads through the gateway append to shard chains.
    for (let i = 0; i < 3; i++) await read(`dr-after-${i}`, ids.slice(i * 4, i * 4 + 4));
    const appended = (await trail(db)).slice(before.length);
    expect(appended).toHaveLength(12);
    expect(appended.every((e) => e.shard !== null && e.seq > before.at(-1)!.seq)).toBe(true);
    // Each shard's first event links to the old chain's last hash.
    const firsts = new Map<number, Stored>();
    for (const e of appended) if (!firsts.has(e.shard!)) firsts.set(e.shard!, e);
    for (const first of firsts.values()) expect(first.prev_hash).toBe(before.at(-1)!.hash);
    const report = await verifyAuditChain(db);
    expect(report.firstBroken).toBeNull();
    expect(report.events).toBe(before.length + 12);
    // The partitions of this month and the next two exist (the legacy one holds the month of the upgrade).
    const partitions = (await db.query<{ name: string }>("SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'audit_event'::regclass")).map((r) => r.name);
    expect(partitions).toEqual(expect.arrayContaining(['audit_event_legacy', partitionOf(monthStart(1)), partitionOf(monthStart(2))]));
  });

  it('crosses a month: events at the end of one month and the start of the next land in two partitions, made on append, and verify as one trail', async () => {
    const db = stack.databases.identity;
    // Five months ahead: no partition is made that far ahead, so the appends make them.
    const next = monthStart(6);
    const last = new Date(next.getTime() - 1);
    const request = (requestId: string, patientIds: string[]) => ({ requestId, actor: staffActor('org-provincial', { sub: 'dr-month' }), patients: patientIds.map((patientId) => ({ patientId, recordCounts: { demographics: 1 }, breakGlass: false })) });
    expect(await db.query('SELECT to_regclass($1) AS p', [partitionOf(last)])).toEqual([{ p: null }]);
    await appendRequestEvents(db, [request(`month-end-${backend}`, ids.slice(0, 3))], last);
    await appendRequestEvents(db, [request(`month-start-${backend}`, ids.slice(3, 6))], next);
    await read('dr-after-month', ids.slice(6, 8));
    const rows = await db.query<{ request_id: string; partition: string; occurred_at: Date }>(
      "SELECT request_id, tableoid::regclass::text AS partition, occurred_at FROM audit_event WHERE request_id LIKE 'month-%' ORDER BY seq");
    expect(rows.map((r) => [r.request_id, r.partition])).toEqual([
      ...Array(3).fill([`month-end-${backend}`, partitionOf(last)]), ...Array(3).fill([`month-start-${backend}`, partitionOf(next)])]);
    const report = await verifyAuditChain(db);
    expect(report.firstBroken).toBeNull();
    expect(report.partitions).toMatchObject({ [partitionOf(last)]: 3, [partitionOf(next)]: 3 });
  });

  it.runIf(backend === 'postgres')('lets two appends hold two shards at once, and two identity processes append at once without losing or repeating an event', async () => {
    const url = stores.urls.identity;
    const a = new pg.Client({ connectionString: url });
    const b = new pg.Client({ connectionString: url });
    await Promise.all([a.connect(), b.connect()]);
    const event = (requestId: string) => JSON.stringify([{ id: randomUUID(), occurred_at: new Date().toISOString(), request_id: requestId, actor_sub: 'dr-tx', actor_role: 'clinician',
      actor_organization_id: 'org-provincial', client_id: null, patient_id: ids[0], categories: ['demographics'], record_counts: { demographics: 1 }, purpose_of_use: 'TREAT',
      break_glass: false, break_glass_reason: null, decision: 'permit', action: 'disclosure', details: null,
      canonical: `${requestId}: rolled back, never verified` }]);
    try {
      // Both transactions append and stay open: the second does not wait for the first (it would time out if it did).
      await a.query('BEGIN');
      await b.query('BEGIN');
      await b.query("SET LOCAL lock_timeout = '60s'");
      await a.query('SELECT audit_append($1::jsonb)', [event('tx-a')]);
      await b.query('SELECT audit_append($1::jsonb)', [event('tx-b')]);
      const shards = await b.query("SELECT shard FROM audit_event WHERE request_id IN ('tx-a', 'tx-b')");
      expect(shards.rows).toHaveLength(1); // b sees its own event only: a has not committed
    } finally {
      await a.query('ROLLBACK').catch(() => undefined);
      await b.query('ROLLBACK').catch(() => undefined);
      await Promise.all([a.end(), b.end()]);
    }

    // A second identity process on the same database, beside the stack's.
    const second: RunningSubgraph = await startSubgraph(SUBGRAPH_MODULES.identity.module, {
      databaseUrl: url, host: '127.0.0.1', port: 0, keyring: keyringOf(keys.internal, 'identity'), production: true, peers: (name) => stack.subgraphs[name].url,
    });
    try {
      const gateway = internalSigners(keys).as('gateway');
      const identities = [stack.subgraphs.identity.url, second.url];
      // Four writers per process, each a gateway's batcher: 40 requests of 3 patients each.
      const writers = Array.from({ length: 8 }, (_, w) => ({ w, batcher: new AuditBatcher({ auth: gateway, url: () => identities[w % 2]!, timeoutMs: 30_000 }) }));
      const requestIds: string[] = [];
      await Promise.all(writers.map(async ({ w, batcher }) => {
        for (let r = 0; r < 40; r++) {
          const requestId = `two-identities-${w}-${r}`;
          requestIds.push(requestId);
          await batcher.append(requestId, staffActor('org-provincial', { sub: `dr-writer-${w}` }),
            [0, 1, 2].map((k) => ({ patientId: ids[(w + r + k) % ids.length]!, recordCounts: { demographics: 1 }, breakGlass: false })));
        }
      }));
      const counts = await stack.databases.identity.query<{ request_id: string; n: number; patients: number; shards: number }>(
        "SELECT request_id, count(*)::int AS n, count(DISTINCT patient_id)::int AS patients, count(DISTINCT shard)::int AS shards FROM audit_event WHERE request_id LIKE 'two-identities-%' GROUP BY request_id");
      expect(counts).toHaveLength(requestIds.length);
      expect(counts.every((c) => c.n === 3 && c.patients === 3 && c.shards === 1)).toBe(true);
      const report = await verifyAuditChain(stack.databases.identity);
      expect(report.firstBroken).toBeNull();
      if (process.env.PRINT_FIGURES) console.log('shard chains used by two identity processes', JSON.stringify(report.chains));
    } finally {
      await second.close();
    }
  }, 300_000);

  it('names the first broken link: an event edited, deleted or inserted in a shard, or removed from a chain\'s end', async () => {
    const db = stack.databases.identity;
    expect((await verifyAuditChain(db)).firstBroken).toBeNull();
    const events = await trail(db);
    // A shard with at least three events, and its second event.
    const byShard = new Map<number, Stored[]>();
    for (const e of events) if (e.shard !== null) byShard.set(e.shard, [...(byShard.get(e.shard) ?? []), e]);
    const [shard, chain] = [...byShard.entries()].find(([, list]) => list.length >= 3)!;
    const [, middle, following] = chain;
    const untriggered = async (statement: string, params: unknown[]) => {
      await db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
      try {
        await db.query(statement, params);
      } finally {
        await db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
      }
    };
    const columns = Object.keys(middle!).filter((c) => c !== 'partition');
    const restore = (row: Stored) => db.query(
      `INSERT INTO audit_event (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM jsonb_populate_record(NULL::audit_event, $1::jsonb)`,
      [JSON.stringify({ ...row, occurred_at: new Date(row.occurred_at).toISOString() })]);

    // Edited.
    await untriggered('UPDATE audit_event SET actor_sub = $2 WHERE seq = $1', [middle!.seq, 'someone-else']);
    expect((await verifyAuditChain(db)).firstBroken).toMatchObject({ seq: Number(middle!.seq), shard, partition: middle!.partition, reason: expect.stringMatching(/changed/) });
    await untriggered('UPDATE audit_event SET actor_sub = $2 WHERE seq = $1', [middle!.seq, middle!.actor_sub]);
    expect((await verifyAuditChain(db)).firstBroken).toBeNull();

    // Deleted: the next event of its shard no longer links.
    await untriggered('DELETE FROM audit_event WHERE seq = $1', [middle!.seq]);
    expect((await verifyAuditChain(db)).firstBroken).toMatchObject({ seq: Number(following!.seq), shard, reason: expect.stringMatching(/removed/) });
    await restore(middle!);
    expect((await verifyAuditChain(db)).firstBroken).toBeNull();

    // Inserted: a forged event in the shard (a copy of `middle` with another actor): it does not link to the shard's last event.
    const forged = { ...middle!, id: randomUUID(), seq: String(BigInt(events.at(-1)!.seq) + 1000n), actor_sub: 'forger', hash: 'f'.repeat(64) };
    await restore(forged as Stored);
    const inserted = (await verifyAuditChain(db)).firstBroken;
    expect(inserted).toMatchObject({ seq: Number(forged.seq), shard, reason: expect.stringMatching(/removed, inserted or reordered|changed/) });
    await untriggered('DELETE FROM audit_event WHERE seq = $1', [forged.seq]);
    expect((await verifyAuditChain(db)).firstBroken).toBeNull();

    // Removed from a shard's end: its recorded head names the missing event.
    const tail = chain.at(-1)!;
    await untriggered('DELETE FROM audit_event WHERE seq = $1', [tail.seq]);
    expect((await verifyAuditChain(db)).firstBroken).toMatchObject({ seq: Number(tail.seq), shard, reason: expect.stringMatching(/end/) });
    await restore(tail);
    expect((await verifyAuditChain(db)).firstBroken).toBeNull();

    // Removed from the end of the chain written before the upgrade: the shards' anchor no longer matches.
    const legacyTail = before.at(-1)!;
    await untriggered('DELETE FROM audit_event WHERE seq = $1', [legacyTail.seq]);
    expect((await verifyAuditChain(db)).firstBroken).toMatchObject({ shard: expect.any(Number), reason: expect.stringMatching(/anchored/) });
    await restore({ ...legacyTail, partition: 'audit_event_legacy' });
    expect((await verifyAuditChain(db)).firstBroken).toBeNull();
  });
});
