/**
 * `npm run bench:audit-append`: what one audit append costs identity's
 * database, before migration 030 (one chain, one advisory lock for every
 * writer) and after it (monthly partitions, shard chains, a free shard per
 * append), with 1 and 2 concurrent writers (each its own pool, as two identity
 * replicas have).
 *
 * Each append is what identity does for one gateway call: one statement,
 * `SELECT audit_append(...)` built by appendRequestEvents, committed on its
 * own (the gateway's group commit sends several requests per call; here one
 * request of --patients patients per call). The two stores are fresh
 * PostgreSQL databases made on the server of --url (or TEST_DATABASE_URL),
 * prefilled with --prefill events, dropped at the end. Prints, per layout and
 * writer count: appends per second, and the latency of one append (mean, p50,
 * p99), which is what a request waits for its audit events.
 *
 *   nice -n 10 npm run -s bench:audit-append -- --appends 2000 --patients 10
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate, openDatabase, type Database } from '../lib/runtime/db.js';
import { migrationsDirectory, PUBLISHING_MIGRATIONS } from '../lib/runtime/subgraph.js';
import { appendRequestEvents, verifyAuditChain } from '../subgraphs/identity/src/audit.js';
import type { AuditActor } from '../lib/trust/actor.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    appends: { type: 'string', default: '2000' },
    patients: { type: 'string', default: '10' },
    prefill: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '2' },
  },
});
const APPENDS = Number(values.appends);
const PATIENTS = Number(values.patients);
const PREFILL = Number(values.prefill);
const ROUNDS = Number(values.rounds);

const actor: AuditActor = { sub: 'dr-bench', role: 'clinician', org: 'org-provincial', clientId: null, purposeOfUse: 'TREAT', breakGlassReason: null };
const patientIds = Array.from({ length: 1000 }, () => randomUUID());
const request = (i: number, patients = PATIENTS) => ({
  actor, requestId: `bench-${i}-${randomBytes(4).toString('hex')}`,
  patients: Array.from({ length: patients }, (_, k) => ({ patientId: patientIds[(i * patients + k) % patientIds.length]!, recordCounts: { labs: 3, demographics: 1 }, breakGlass: false })),
});

/** A fresh database with identity's migrations: all (after) or all but 030 (before). */
async function store(layout: 'before' | 'after'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `fpr_bench_audit_${layout}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: values.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(values.url!);
  url.pathname = `/${name}`;
  const directory = mkdtempSync(path.join(os.tmpdir(), 'fpr-bench-audit-'));
  for (const file of readdirSync(migrationsDirectory('identity')).filter((f) => f.endsWith('.sql') && (layout === 'after' || !f.startsWith('030_')))) {
    cpSync(path.join(migrationsDirectory('identity'), file), path.join(directory, file));
  }
  const db = await openDatabase(url.toString());
  await migrate(db, PUBLISHING_MIGRATIONS, 'publishing/');
  await migrate(db, directory);
  rmSync(directory, { recursive: true, force: true });
  if (layout === 'after') await db.query('SELECT audit_prepare_partitions(2)');
  for (let done = 0; done < PREFILL; done += 1000) await appendRequestEvents(db, Array.from({ length: 10 }, (_, i) => request(done + i, 100)));
  await db.query('VACUUM ANALYZE');
  await db.close();
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: values.url });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** `writers` loops, each on its own pool of 10 (a replica), each appending APPENDS times one after the other. */
async function run(url: string, writers: number): Promise<{ perSecond: number; mean: number; p50: number; p99: number }> {
  const pools: Database[] = await Promise.all(Array.from({ length: writers }, () => openDatabase(url)));
  // Warm up each pool's connection and plans.
  await Promise.all(pools.map(async (db) => { for (let i = 0; i < 50; i++) await appendRequestEvents(db, [request(i)]); }));
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  await Promise.all(pools.map(async (db, w) => {
    for (let i = 0; i < APPENDS; i++) {
      const t0 = process.hrtime.bigint();
      await appendRequestEvents(db, [request(w * APPENDS + i)]);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(pools.map((db) => db.close()));
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, mean: latencies.reduce((a, b) => a + b, 0) / latencies.length, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

console.log(`audit append: ${APPENDS} appends per writer of ${PATIENTS} patients each, ${PREFILL} events before, ${ROUNDS} rounds (PostgreSQL at ${new URL(values.url!).host})`);
const stores = { before: await store('before'), after: await store('after') };
try {
  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Interleaved, so load from elsewhere on the machine weighs on both alike.
    for (const writers of [1, 2]) {
      for (const layout of ['before', 'after'] as const) {
        const r = await run(stores[layout].url, writers);
        rows.push(`| ${round} | ${layout === 'before' ? 'one chain (007)' : 'partitioned, 16 shards (030)'} | ${writers} | ${r.perSecond.toFixed(0)} | ${r.mean.toFixed(2)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`);
        console.log(rows.at(-1));
      }
    }
  }
  for (const layout of ['before', 'after'] as const) {
    const db = await openDatabase(stores[layout].url);
    const report = await verifyAuditChain(db);
    await db.close();
    if (report.firstBroken) throw new Error(`${layout}: the trail does not verify: ${JSON.stringify(report.firstBroken)}`);
    console.log(`${layout}: ${report.events} events verified (${Object.keys(report.chains ?? {}).length} chain(s))`);
  }
  console.log('\n| round | layout | writers | appends/s | mean ms | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|');
  console.log(rows.join('\n'));
} finally {
  await stores.before.drop();
  await stores.after.drop();
}
